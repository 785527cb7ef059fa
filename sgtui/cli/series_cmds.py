"""`sgtui series run`: a whole series on a Dask cluster (sgtui/series/; README "A whole
series on many machines")."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from sgtui.cli import validate
from sgtui.cli.common import examples
from sgtui.errors import SgtuiError
from sgtui.paths import check_output_folder, probe


def resources(text: str) -> dict[str, float]:
    """`--resources GPU=1` (several: `GPU=1,MEM=8e9`), as `dask worker --resources` writes them."""
    found: dict[str, float] = {}
    for part in text.replace(",", " ").split():
        name, eq, amount = part.partition("=")
        try:
            value = float(amount)
        except ValueError:
            value = math.nan
        if not eq or not name.isidentifier() or not math.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a list of NAME=AMOUNT with a positive amount (e.g. GPU=1)")
        found[name] = value
    if not found:
        raise argparse.ArgumentTypeError("give NAME=AMOUNT, e.g. GPU=1")
    return found


def register(sub: argparse._SubParsersAction) -> None:
    series = sub.add_parser(
        "series", help="a whole series at once, on this machine or a Dask cluster",
        description="Work on a whole series' folder at once, spread over many machines with "
        "Dask distributed (README: \"A whole series on many machines\").",
        epilog=examples("sgtui series run season1/ -o season1-projects/ --embed",
                        "sgtui series run /nfs/series/ -o /nfs/projects/ --embed "
                        "--scheduler tcp://head:8786 --resources GPU=1"))
    commands = series.add_subparsers(dest="series_command", metavar="COMMAND", required=True)
    p = commands.add_parser(
        "run", help="ingest (and embed) every episode of a folder on a Dask cluster",
        description="Ingest every video of DIR into OUTDIR/NAME.sgproj, as `sgtui ingest DIR` "
        "does, and with --embed embed it, as `sgtui embed` does: one task per step per "
        "episode on a Dask cluster. Without --scheduler the cluster is this machine "
        "(--workers processes); with it, the workers of a running `dask scheduler`, which "
        "need the same sgtui installed and, unless --no-shared-fs, the same paths to DIR "
        "and OUTDIR. A file appears in OUTDIR only once it is whole (built under a hidden "
        "temporary name, then renamed); episodes already complete there are skipped; a task "
        "whose worker dies is run again on another; an episode that fails for its own "
        "reasons (a broken video) is reported and the others go on, and the exit status is "
        "then 2. Ctrl-C cancels everything and leaves only finished files. The run's "
        "report is OUTDIR/series-run.json.",
        epilog=examples(
            "sgtui series run season1/ -o season1-projects/ --embed --workers 4",
            "sgtui series run season1/ -o out/ --subs-pattern 'subs/{stem}.en.ass'",
            "sgtui series run /nfs/s1/ -o /nfs/s1-projects/ --asr --lang ja --embed "
            "--scheduler tcp://head:8786 --resources GPU=1",
            "sgtui series run s1/ -o s1-projects/ --embed --scheduler tcp://head:8786 "
            "--no-shared-fs"),
    )
    p.add_argument("folder", metavar="DIR", type=Path, help="the folder of the series' videos")
    p.add_argument("-o", "--output", metavar="OUTDIR", type=Path, required=True,
                   help="where NAME.sgproj files go (made if missing)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="a running Dask scheduler (tcp://HOST:8786) whose workers do the work")
    where.add_argument("--workers", type=validate.positive_int, metavar="N",
                       help="without --scheduler: worker processes on this machine (default: "
                       "its CPU cores)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--subs-pattern", metavar="P",
                     help="where each video's subtitles are, relative to DIR, with {stem} for "
                     "the video's name without suffix (e.g. 'subs/{stem}.en.ass'); default: a "
                     "subtitle file named like the video, else its embedded text track")
    src.add_argument("--asr", action="store_true",
                     help="no subtitles: recognise speech (as `sgtui ingest --asr`); a heavy "
                     "step, sent to workers with --resources")
    src.add_argument("--vad", action="store_true", help="no subtitles: cut lines by voice activity")
    src.add_argument("--track", metavar="N", type=validate.count,
                     help="read embedded text subtitle track N of every video")
    p.add_argument("--lang", metavar="CODE",
                   help="preferred subtitle track language; with --asr the spoken language")
    p.add_argument("--asr-model", metavar="base|tiny.en|PATH",
                   help="model for --asr (as `sgtui ingest --asr-model`; a PATH must exist on "
                   "every worker)")
    p.add_argument("--zh-script", choices=["hans", "hant", "keep"],
                   help="with --asr: Chinese script (as `sgtui ingest --zh-script`)")
    p.add_argument("--audio-track", metavar="N", type=validate.count, default=0,
                   help="audio track to cut clips from (default 0)")
    p.add_argument("--style", metavar="S", nargs="+", action="extend", default=[],
                   help="keep only these ASS styles (as `sgtui ingest --style`)")
    p.add_argument("--exclude-style", metavar="S", nargs="+", action="extend", default=[],
                   help="leave out these ASS styles")
    p.add_argument("--encoding", metavar="NAME", help="subtitle text encoding (default: detected)")
    p.add_argument("--embed", action="store_true",
                   help="also embed voices and images (as `sgtui embed`); a heavy step, sent "
                   "to workers with --resources")
    p.add_argument("--voice", metavar="ENCODER", type=validate.encoder("voice"),
                   help="voice encoder for --embed (default: the one `sgtui embed` uses)")
    p.add_argument("--image", metavar="ENCODER", type=validate.encoder("image"),
                   help="image encoder for --embed")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"],
                   help="device for --asr and --embed, on the workers")
    p.add_argument("--batch", type=validate.positive_int, default=None, metavar="N",
                   help="batch size for --embed (default 32)")
    p.add_argument("--resources", type=resources, metavar="GPU=1",
                   help="what the heavy steps (--embed, --asr) need from a worker, as its "
                   "`dask worker --resources` declares it: those steps then run only on "
                   "workers that offer it, one per unit. Without --scheduler, every local "
                   "worker declares it")
    p.add_argument("--no-shared-fs", action="store_true",
                   help="the workers cannot see DIR and OUTDIR: each episode's files go to "
                   "its worker and the finished .sgproj comes back to be written here")
    p.add_argument("--force", action="store_true",
                   help="redo the episodes that are already complete, and overwrite files "
                   "in OUTDIR that are not ingests of their video")
    p.set_defaults(handler=cmd_series_run)


def _check_folders(folder: Path, outdir: Path) -> None:
    st = probe(folder)
    if st is None:
        raise SgtuiError(f"folder {folder} does not exist; give the folder that holds the "
                         "series' videos")
    if not stat.S_ISDIR(st.st_mode):
        raise SgtuiError(f"{folder} is a file; `series run` takes the folder of a series' "
                         "videos (for one video use `sgtui ingest`)")
    out = check_output_folder(outdir)
    if out is not None and not os.access(outdir, os.W_OK | os.X_OK):
        raise SgtuiError(f"cannot write in folder {outdir} (read-only or no permission); "
                         "choose an output folder you can write")
    if out is None and not os.access(outdir.parent if str(outdir.parent) else ".", os.W_OK):
        raise SgtuiError(f"cannot make folder {outdir} (its parent is read-only); choose an "
                         "output folder you can write")


def _embed_choice(args: argparse.Namespace):
    from sgtui.features import DEFAULTS
    from sgtui.season import EmbedChoice

    if not args.embed:
        for flag in ("voice", "image", "batch"):
            if getattr(args, flag) is not None:
                raise SgtuiError(f"--{flag} is for --embed; add --embed")
        return None
    if args.scheduler is None and args.device not in ("auto", "cpu"):  # this machine's device
        from sgtui.features.device import resolve_device

        resolve_device(args.device)
    return EmbedChoice(voice=args.voice or DEFAULTS["voice"], image=args.image or DEFAULTS["image"],
                       device=args.device, batch=args.batch or 32)


def cmd_series_run(args: argparse.Namespace) -> int:
    from sgtui.cli.media_cmds import _options

    _check_folders(args.folder, args.output)
    if args.subs_pattern is not None and ("{stem}" not in args.subs_pattern
                                          or os.path.isabs(args.subs_pattern)):
        raise SgtuiError(f"--subs-pattern {args.subs_pattern!r} must be a path relative to DIR "
                         "holding {stem}, e.g. 'subs/{stem}.en.ass'")
    if args.resources and not (args.embed or args.asr):
        raise SgtuiError("--resources is declared by the heavy steps, --embed and --asr; add "
                         "one of them or leave --resources out")
    args.subs, args.list_styles = None, False
    opts = _options(args)
    embed = _embed_choice(args)
    from sgtui import series

    the_plan = series.plan(args.folder, args.output, opts, embed, args.subs_pattern, args.force)
    for note in the_plan.notes:
        print(f"note: {note}", file=sys.stderr)
    for video, why in the_plan.skipped:
        print(f"note: skipped {video}: {why}", file=sys.stderr)
    videos = {ep.name: Path(ep.video).name for ep in the_plan.episodes}
    with _progress(len(the_plan.episodes)) as (show, connected):
        summary = series.run(the_plan, opts, embed, scheduler=args.scheduler,
                             workers=args.workers, resources=args.resources,
                             shared_fs=not args.no_shared_fs, progress=show,
                             connected=connected, argv=sys.argv[1:])
    for o in summary.done:
        print(f"{o.path}: {o.summary or 'embedded'}")
    for o in summary.failed:
        print(f"sgtui: error: {videos.get(o.name, o.name)}: {o.error}", file=sys.stderr)
    from sgtui.series.run import describe

    print(describe(summary))
    if summary.failed:
        return 1 if summary.internal_failure else 2
    return 0


@contextlib.contextmanager
def _progress(total: int) -> Iterator[tuple[Callable | None, Callable]]:
    """(progress, connected) callbacks for `series.run`: a bar of the whole series on a
    terminal (done / running / failed, minutes of video per second), the dashboard's
    address; silent in a pipe apart from the address."""
    def connected(workers: int, dashboard: str | None) -> None:
        where = f"{workers} worker{'s' if workers != 1 else ''}"
        print(f"series: {total} episode{'s' if total != 1 else ''} on {where}"
              + (f"; dashboard: {dashboard}" if dashboard else ""), file=sys.stderr)

    if not sys.stderr.isatty() or not total:
        yield None, connected
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("episodes"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[detail]}"), TimeElapsedColumn(),
                  console=Console(stderr=True)) as prog:
        task = prog.add_task("episodes", total=total, detail="starting the cluster")

        def show(state) -> None:
            prog.update(task, completed=state.done + state.failed,
                        detail=f"{state.running} running, {state.failed} failed, "
                        f"{state.video_minutes_per_second:.2f} min of video/s")

        def connected_here(workers: int, dashboard: str | None) -> None:
            prog.console.print(f"series: {total} episodes on {workers} worker"
                               f"{'s' if workers != 1 else ''}"
                               + (f"; dashboard: {dashboard}" if dashboard else ""))

        yield show, connected_here
