"""`sgtui export`: subtitles with speakers, RTTM, dialogue text and voice datasets."""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

from sgtui.cli import validate
from sgtui.cli.common import check_input, examples, plural, progress_bar
from sgtui.errors import SgtuiError
from sgtui.paths import probe

TEXT_FORMATS = ("srt", "vtt", "ass", "rttm", "chat-haruhi", "csv")
PER_EPISODE = ("srt", "vtt", "ass", "csv")  # one file per episode; rttm/chat-haruhi join them
DATASET_FORMATS = ("gpt-sovits", "bert-vits2", "ljspeech", "audiofolder", "folders")
SUFFIX = {"srt": ".srt", "vtt": ".vtt", "ass": ".ass", "csv": ".csv"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="write subtitles with speakers, RTTM, dialogue or voice datasets",
        description="Export one or several projects (a season; speakers are joined by name). "
        "By default only lines in named clusters are exported; the command prints what it "
        "wrote and what it left out, by reason. Voice datasets cut each line from the source "
        "video at its own rate when it is at hand (identity checked by size and fingerprint), "
        "else from the stored 16 kHz clips (said in the output and sgtui-export.json). "
        "Formats and layouts: README.md, section Export.",
        epilog=examples("sgtui export ep01.sgproj -f srt -o ep01.named.srt",
                        "sgtui export ep*.sgproj -f gpt-sovits -o dataset/ --min-dur 1 --pad-ms 100"),
    )
    p.add_argument("projects", nargs="+", metavar="EP.sgproj")
    p.add_argument("--format", "-f", required=True, choices=TEXT_FORMATS + DATASET_FORMATS)
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="a file ('-' = standard output) for text formats; a folder for datasets, "
                   "and for srt/vtt/ass/csv of several projects (one file per episode)")
    p.add_argument("--zh-script", choices=["hans", "hant", "keep"], default="keep",
                   help="write the lines' Chinese text in simplified (hans) or traditional "
                   "(hant) characters, converted with OpenCC; keep: as stored (default)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing output: a file, or a folder of an earlier sgtui "
                   "export as a whole (a folder without its sgtui-export.json is refused)")
    g = p.add_argument_group("which lines")
    g.add_argument("--speakers", metavar="A,B", help="only these speakers (comma-separated)")
    g.add_argument("--reviewed-only", action="store_true",
                   help="only lines of clusters (or lines) marked reviewed")
    g.add_argument("--include-unnamed", action="store_true",
                   help="export unnamed clusters as EPISODE-c<cluster id> instead of leaving them out")
    g.add_argument("--include-flagged", action="store_true",
                   help="keep flagged lines in voice datasets (text exports always keep them)")
    g.add_argument("--min-dur", type=validate.float_in(0), metavar="S",
                   help="leave out lines shorter than S seconds")
    g.add_argument("--max-dur", type=validate.float_in(0), metavar="S",
                   help="leave out lines longer than S seconds")
    g.add_argument("--min-confidence", type=validate.float_in(0, 1), metavar="C",
                   help="leave out lines whose voice confidence (0 to 1) is below C")
    g = p.add_argument_group("text formats")
    g.add_argument("--name-format", default="{name}: ", metavar="FMT",
                   help="SRT speaker prefix, {name} is the speaker (default '{name}: ')")
    g.add_argument("--layout", choices=["chat-haruhi", "generic"], default="chat-haruhi",
                   help="CSV layout (default chat-haruhi)")
    g = p.add_argument_group("voice datasets")
    g.add_argument("--source", type=Path, metavar="FILE|DIR",
                   help="the source video (or its folder) when it moved since ingest")
    g.add_argument("--rate", type=validate.int_in(*validate.RATE_RANGE), metavar="HZ",
                   help="sample rate, 8000 to 192000 (default: the source's own)")
    g.add_argument("--pad-ms", type=validate.int_in(0, validate.MAX_PAD_MS), default=0, metavar="N",
                   help=f"context kept before and after each line, 0 to {validate.MAX_PAD_MS} ms "
                   "(default 0)")
    g.add_argument("--allow-stored", action="store_true",
                   help="when the source video is not at hand, export the stored 16 kHz clips "
                   "even though --rate/--pad-ms cannot be applied (said in the output and "
                   "sgtui-export.json); without it that is refused")
    g.add_argument("--lang", default="auto", metavar="zh|ja|en|ko|yue",
                   help="language code of the lists (default: guessed from the text's script)")
    p.set_defaults(handler=cmd_export)


def _choice(args: argparse.Namespace):
    from sgtui.export.select import Choice

    speakers = None
    if args.speakers is not None:
        speakers = frozenset(s.strip() for s in args.speakers.split(",") if s.strip())
        if not speakers:
            raise SgtuiError("--speakers is empty; give names separated by commas")
    for flag, v in (("--min-dur", args.min_dur), ("--max-dur", args.max_dur)):
        if v is not None and v < 0:
            raise SgtuiError(f"{flag} must be 0 or more seconds")
    return Choice(speakers=speakers, reviewed_only=args.reviewed_only,
                  include_unnamed=args.include_unnamed, min_dur=args.min_dur, max_dur=args.max_dur,
                  min_confidence=args.min_confidence,
                  drop_flagged=args.format in DATASET_FORMATS and not args.include_flagged)


def _inputs(args: argparse.Namespace) -> list[Path]:
    paths = [Path(p) for p in args.projects]
    for p in paths:
        check_input(p, "project")
    if len({p.resolve() for p in paths}) < len(paths):
        raise SgtuiError("a project is named twice; give each episode once")
    return paths


def _not_an_input(out: Path, inputs: list[Path], sources: list[Path]) -> None:
    """Never write over an input (a project or a source video), hard links included."""
    from sgtui.paths import refuse_input_as_output

    refuse_input_as_output(out, [*inputs, *sources])


def _out_file(out: Path, force: bool) -> None:
    if out.is_dir():
        raise SgtuiError(f"{out} is a folder; give a file name (or '-' for standard output)")
    if out.exists() and not force:
        raise SgtuiError(f"{out} already exists; pass --force to overwrite it or choose another path")
    if not out.parent.exists():
        raise SgtuiError(f"folder {out.parent} does not exist; create it first")


def _write_file(out: Path, body: str) -> None:
    """Write a text export whole: a sibling temporary file renamed over `out` (over the
    file a link points to, when `out` is a symbolic link)."""
    if out.is_symlink():
        out = Path(os.path.realpath(out))
    tmp = out.with_name(f".{out.name}.sgtui-part-{os.getpid()}")
    try:
        tmp.write_text(body, encoding="utf-8", newline="")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _for_text_only(args: argparse.Namespace) -> None:
    fmt = args.format
    given = [flag for flag, v in (("--source", args.source is not None),
                                  ("--rate", args.rate is not None),
                                  ("--pad-ms", args.pad_ms != 0),
                                  ("--allow-stored", args.allow_stored)) if v]
    if given:
        raise SgtuiError(f"{given[0]} is for voice datasets; {fmt} has no audio")


def cmd_export(args: argparse.Namespace) -> int:
    from sgtui.export import folder
    from sgtui.export.select import load_episodes

    paths = _inputs(args)
    choice = _choice(args)
    fmt = args.format
    out = Path(args.output)
    if args.output != "-":
        probe(out)  # a path that cannot be used (a symlink loop...) is refused before any work
    if args.source is not None:
        probe(args.source)  # a loop is a loop, not "does not exist"
    if fmt in DATASET_FORMATS:
        if args.output == "-":
            raise SgtuiError(f"{fmt} writes WAV files and lists; give a folder with -o, not '-'")
    else:
        _for_text_only(args)
    episodes = load_episodes(paths, choice)
    if args.zh_script != "keep":
        episodes = _convert_script(episodes, args.zh_script)
    sources = [Path(ep.meta["source_path"]) for ep in episodes if ep.meta.get("source_path")]
    if args.source is not None:
        sources.append(args.source)
    if fmt in DATASET_FORMATS:
        _not_an_input(out, paths, sources)
        folder.check_folder(out, args.force)
        written = _dataset(args, episodes, out)
    else:
        written = _text(args, episodes, out, paths, sources)
    _summary(episodes, written, out)
    return 0


def _convert_script(episodes: list, script: str) -> list:
    """The episodes with their lines' text in `script` (and a stored ASS file's events)."""
    from dataclasses import replace

    from sgtui.media.asr_script import convert

    out = []
    for ep in episodes:
        texts = convert([el.line.text for el in ep.lines], script)
        lines = [replace(el, line=replace(el.line, text=t))
                 for el, t in zip(ep.lines, texts, strict=True)]
        out.append(replace(ep, lines=lines, meta={**ep.meta, "zh_script": script}))
    return out


def _text(args: argparse.Namespace, episodes: list, out: Path, paths: list[Path],
          sources: list[Path]) -> int:
    from sgtui.export import dialogue, folder, rttm, subtitles

    fmt = args.format
    if "{name}" not in args.name_format:
        raise SgtuiError("--name-format must contain {name}, e.g. '{name}: ' or '[{name}] '")

    def one(ep) -> str:
        if fmt == "srt":
            return subtitles.srt(ep, args.name_format)
        if fmt == "vtt":
            return subtitles.vtt(ep)
        if fmt == "ass":
            return subtitles.ass(ep)
        return dialogue.csv_text(ep, args.layout)

    if fmt in PER_EPISODE and len(episodes) > 1:
        if args.output == "-":
            raise SgtuiError(f"{fmt} of several projects is one file per episode; give a folder with -o")
        _not_an_input(out, paths, sources)
        folder.check_folder(out, args.force)
        from sgtui.export.select import safe_name

        bodies = {f"{safe_name(ep.title)}{SUFFIX[fmt]}": one(ep) for ep in episodes}
        with folder.new_folder(out) as work:
            work.mkdir()
            for name, body in bodies.items():
                (work / name).write_text(body, encoding="utf-8", newline="")
            folder.write_manifest(work, {
                "format": fmt, "lines": sum(len(ep.lines) for ep in episodes),
                "episodes": [{"project": str(ep.path), "title": ep.title, "lines": len(ep.lines),
                              "left_out": dict(ep.left_out)} for ep in episodes],
                "zh_script": args.zh_script,
            })
        return sum(len(ep.lines) for ep in episodes)
    if fmt == "rttm":
        body = rttm.rttm(episodes)
    elif fmt == "chat-haruhi":
        body = dialogue.chat_haruhi(episodes)
    else:
        body = one(episodes[0])
    if args.output == "-":
        sys.stdout.write(body.lstrip("\ufeff") if fmt != "csv" else body)
        sys.stdout.flush()
    else:
        _not_an_input(out, paths, sources)
        _out_file(out, args.force)
        _write_file(out, body)
    return sum(len(ep.lines) for ep in episodes)


def _dataset(args: argparse.Namespace, episodes: list, out: Path) -> int:
    from sgtui.export import folder
    from sgtui.export.datasets import write_dataset

    with folder.new_folder(out) as work:
        rep = write_dataset(args.format, episodes, work, lang=args.lang, source=args.source,
                            rate=args.rate, pad_ms=args.pad_ms, allow_stored=args.allow_stored,
                            final=out, progress=progress_bar)
    for note in rep.notes:
        print(f"note: {note}", file=sys.stderr)
    speakers = ", ".join(f"{s} {n}" for s, n in sorted(rep.speakers.items()))
    print(f"{args.format} ({rep.lang}): {plural(rep.written, 'WAV')} of "
          f"{plural(len(rep.speakers), 'speaker')}"
          + (f" ({speakers})" if speakers else "") + f"; lists: {', '.join(rep.files)}",
          file=sys.stderr)
    return rep.written


def _summary(episodes: list, written: int, out: Path) -> None:
    for ep in episodes:
        if ep.note:
            print(f"note: {ep.note}", file=sys.stderr)
    left: Counter[str] = Counter()
    for ep in episodes:
        left.update(ep.left_out)
    where = "standard output" if str(out) == "-" else str(out)
    msg = f"wrote {plural(written, 'line')} of {plural(len(episodes), 'episode')} to {where}"
    if left:
        msg += "; left out: " + ", ".join(f"{r} {n}" for r, n in left.most_common())
    else:
        msg += "; nothing left out"
    print(msg, file=sys.stderr)
