"""`sgtui clip`: lines out as one WAV file, for annotators with no player at all (scp it)."""

from __future__ import annotations

import argparse
from pathlib import Path

from sgtui.cli.common import examples
from sgtui.errors import SgtuiError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "clip", help="write the audio of one or more lines to a WAV file",
        description="Write the stored audio of the given lines to one 16 kHz mono WAV file, "
        "several lines joined with 0.25 s of silence (the same audio as the app's montage). "
        "LINE is a line id: the number the app shows as 'line N' in the line details.",
        epilog=examples("sgtui clip ep01.sgproj 12 -o line12.wav",
                        "sgtui clip ep01.sgproj 12 15 40 -o kyon.wav --force"),
    )
    p.add_argument("project", metavar="EP.sgproj")
    p.add_argument("lines", metavar="LINE", nargs="+", help="line id(s), in the order to play")
    p.add_argument("-o", "--output", metavar="FILE.wav", required=True,
                   help="the WAV file to write (refused if it exists, unless --force)")
    p.add_argument("--force", action="store_true", help="overwrite FILE.wav if it exists")
    p.set_defaults(handler=cmd_clip)


def parse_line_ids(values: list[str]) -> list[int]:
    ids = []
    for v in values:
        if not v.isdigit():
            raise SgtuiError(f"line {v!r} is not a line id; give the number the app shows as "
                             "'line N'")
        ids.append(int(v))
    return ids


def cmd_clip(args: argparse.Namespace) -> int:
    from sgtui.cli.common import check_input, check_output
    from sgtui.media.wavout import write_clips_wav
    from sgtui.project import Project

    ids = parse_line_ids(args.lines)
    out = Path(args.output)
    if out.suffix.lower() != ".wav":
        raise SgtuiError(f"{out} does not end in .wav; sgtui clip writes WAV files")
    check_input(args.project, "project")
    check_output(out, args.force, inputs=[args.project])
    with Project.open(args.project, readonly=True) as project:
        clips = []
        for lid in ids:
            if project.line(lid) is None:
                raise SgtuiError(f"line {lid} does not exist in {args.project}; line ids are "
                                 "shown in the app as 'line N'")
            clip = project.clip(lid)
            if clip is None:
                raise SgtuiError(f"line {lid} has no stored audio clip; ingest the video to "
                                 "store clips")
            clips.append(clip)
    seconds = write_clips_wav(clips, out)
    print(f"{out}: {len(ids)} line{'s' if len(ids) > 1 else ''}, {seconds:.2f} s")
    return 0
