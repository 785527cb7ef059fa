"""`sgtui embed`: store voice and image embeddings for every line of a project."""

from __future__ import annotations

import argparse
import sys

from sgtui.cli import validate
from sgtui.cli.common import examples
from sgtui.errors import SgtuiError
from sgtui.features.registry import DEFAULTS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "embed",
        help="embed every line's clip (voice) and keyframe (image)",
        description="Embed each line's voice clip and keyframe and store the vectors in the "
        "project. Lines already embedded with the same model are skipped; other models' "
        "vectors are kept; the encoder just used becomes the one `cluster` uses. Encoders: voice "
        "campp (default: CAM++ from 3D-Speaker, zh+en, weights installed with sgtui), "
        "resemblyzer (fast, weaker), ecapa[:HUB_ID], anime-ecapa[:char|va]; image grid "
        "(default, offline), clip[:MODEL/TAG]; 'none' skips a modality. See docs/encoders.md.",
        epilog=examples("sgtui embed ep01.sgproj", "sgtui embed ep01.sgproj --image none --json"),
    )
    p.add_argument("project", metavar="EP.sgproj")
    p.add_argument("--voice", default=DEFAULTS["voice"], metavar="NAME",
                   type=validate.encoder("voice"),
                   help=f"voice encoder (default {DEFAULTS['voice']}; resemblyzer is faster and "
                   "weaker; 'none' to skip)")
    p.add_argument("--image", default=DEFAULTS["image"], metavar="NAME", type=validate.encoder("image"),
                   help="image encoder (default grid; 'none' to skip)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--batch", type=validate.positive_int, default=32, metavar="N",
                   help="lines per forward pass")
    p.add_argument("--model-path", metavar="PATH",
                   help="local weights for the chosen encoder that needs them (a folder or file)")
    p.add_argument("--voice-model-path", metavar="PATH",
                   help="local weights for the voice encoder (campp: any CAM++ state dict .pt)")
    p.add_argument("--image-model-path", metavar="PATH", help="local weights for the image encoder")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(handler=run_embed)


def _route_model_path(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """--model-path goes to the one chosen encoder that needs weights (voice if neither)."""
    from sgtui.features.registry import parse_spec

    voice_path, image_path = args.voice_model_path, args.image_model_path
    if args.model_path is None:
        return voice_path, image_path
    chosen = {m: parse_spec(s)[0] for m, s in (("voice", args.voice), ("image", args.image))
              if s.lower() != "none"}
    needing = [m for m, info in chosen.items() if info.needs_weights]
    if len(needing) > 1:
        raise SgtuiError("--model-path is ambiguous with two encoders that need weights; "
                         "use --voice-model-path and --image-model-path")
    target = needing[0] if needing else "voice" if "voice" in chosen else None
    if target is None:
        raise SgtuiError("--model-path given but no chosen encoder takes weights")
    if target == "voice":
        return args.model_path, image_path
    return voice_path, args.model_path


def run_embed(args: argparse.Namespace) -> int:
    from sgtui.cli.common import check_input, print_json, stage_progress
    from sgtui.features.embed import embed_project
    from sgtui.project import Project

    path = check_input(args.project, "project")
    if args.voice == "none" and args.image == "none":
        raise SgtuiError("--voice none and --image none leave nothing to embed; drop one of them")
    voice_path, image_path = _route_model_path(args)
    with Project.open(path) as project, stage_progress("embed") as progress:
        result = embed_project(project, voice=args.voice, image=args.image, device=args.device,
                               batch=args.batch, progress=progress,
                               voice_model_path=voice_path, image_model_path=image_path)
    if args.json:
        print_json(result)
        return 0
    for modality in ("voice", "image"):
        s = result.get(modality)
        if s:
            where = f", {s['device']}" if s["device"] else ""  # no device: nothing to load
            print(f"{modality}: {s['model']} ({s['dim']}-d{where}): {s['embedded']} "
                  f"embedded, {s['already']} already, {s['no_input'] + s['empty']} without "
                  f"input, {s['seconds']:.1f} s")
    shims = {k: v for k, v in result["compat"].items() if v != "native"}
    for lib, how in shims.items():
        print(f"note: {lib} {how}", file=sys.stderr)
    return 0
