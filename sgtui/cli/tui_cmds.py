"""`sgtui open` (the annotator on one episode) and `sgtui demo` (on a bundled sample)."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sgtui.cli import validate
from sgtui.cli.common import AS_DEFAULT, examples
from sgtui.errors import SgtuiError

if TYPE_CHECKING:
    from sgtui.tui.player import Player

REPO = Path(__file__).resolve().parents[2]
AUDIO_CHOICES = ("auto", "local", "browser", "none")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "open", help="correct the speaker clusters of an episode in the terminal",
        description="Open EP.sgproj in the annotator. Every action is saved at once in the file's "
        "op log under your name; press ? for the keys, ctrl+p for the command palette.",
        epilog=examples("sgtui open ep01.sgproj",
                        "sgtui open ep01.sgproj --as alice --audio browser --audio-port 23456"),
    )
    p.add_argument("project", metavar="EP.sgproj")
    _common(p)
    p.set_defaults(handler=cmd_open)

    p = sub.add_parser(
        "demo", help="open the annotator on a bundled sample episode",
        description="Copy a bundled sample episode (already embedded and clustered) to "
        "~/.cache/sgtui/ and open it. Nothing is downloaded.",
        epilog=examples("sgtui demo", "sgtui demo --reset --audio none"),
    )
    p.add_argument("--reset", action="store_true", help="start again from a fresh copy")
    p.add_argument("--path-only", action="store_true",
                   help="prepare the demo file and print its path instead of opening it")
    _common(p)
    p.set_defaults(handler=cmd_demo)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--as", dest="annotator", metavar="NAME",
                   help=f"your name in the op log ({AS_DEFAULT})")
    p.add_argument("--audio", choices=AUDIO_CHOICES, default=None,
                   help="playback: the local sound device, a browser page on 127.0.0.1 (reached "
                   "over SSH with ssh -L), none, or auto (default: local when there is a device "
                   "and the session is not SSH, else browser)")
    p.add_argument("--audio-port", metavar="N", type=validate.int_in(1024, 65535), default=None,
                   help="port of the browser page (default: one stable per user and project, "
                   "20000-29999)")


def browser_factory(path: Path, port: int | None) -> Callable[[], Player]:
    """Builds the browser player only when the chosen mode needs it (keeps startup light)."""
    if port is not None and not 1024 <= port <= 65535:
        raise SgtuiError(f"--audio-port {port} is out of range; use a port from 1024 to 65535")

    def make():
        from sgtui.tui.audio_bridge import BrowserPlayer, file_clips

        return BrowserPlayer(file_clips(path), port=port, project=path)

    return make


def run_annotator(path: Path, args: argparse.Namespace) -> int:
    """Open the project, build the player, run the app until the user quits."""
    from sgtui.project import Project, default_annotator
    from sgtui.project.connection import writable
    from sgtui.tui.app import check_keymap
    from sgtui.tui.config import load_config
    from sgtui.tui.player import make_player

    browser = browser_factory(path, getattr(args, "audio_port", None))
    config = load_config()
    check_keymap(config)
    annotator = (args.annotator or config.annotator or default_annotator()).strip()
    if not annotator:
        raise SgtuiError("the annotator name is empty; pass --as NAME")
    # A file this user cannot write opens view-only (the app says so and refuses actions
    # with one line) instead of failing at the first edit.
    project = Project.open(path, readonly=not writable(path))
    try:
        if project.count("lines") == 0:
            raise SgtuiError(f"{path} has no lines yet; ingest a video or import features first")
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise SgtuiError("the annotator needs a terminal; run it in a terminal (or tmux), not a pipe")
        player = make_player(args.audio or config.audio, browser=browser)
        try:
            from sgtui.tui.app import AnnotatorApp, prepare_terminal

            prepare_terminal()

            app = AnnotatorApp(project, annotator, config=config, player=player)
            app.run()
        finally:
            close = getattr(player, "close", None)
            if close is not None:
                close()
    finally:
        project.close()
    # Textual restores the terminal before it reports a crash; the shell must see it too
    return app.return_code or 0


def cmd_open(args: argparse.Namespace) -> int:
    from sgtui.cli.common import check_input

    return run_annotator(check_input(args.project, "project"), args)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sgtui"


def samples_dir() -> Path:
    return Path(os.environ.get("SGTUI_SAMPLES") or REPO / "sample_projects")


def bundled_samples() -> list[Path]:
    """Sample episodes shipped in sample_projects/ (made by `sgtui sample`), sorted."""
    return sorted(samples_dir().glob("*.sgproj"))


def shared_dir() -> Path:
    return Path(os.environ.get("SGTUI_SHARED", REPO.parent / "shared"))


def build_haruhi_demo(out: Path) -> Path:
    """The fallback demo: haruhi03's lines and published voice vectors, clustered."""
    from sgtui.cli.project_cmds import cmd_import_features

    h3 = shared_dir() / "data" / "haruhi03"
    if not (h3 / "lines.csv").exists():
        raise SgtuiError(f"no bundled sample in {samples_dir()} and no shared data at {h3}; "
                         "run 'sgtui sample -o sample_projects' first")
    out.parent.mkdir(parents=True, exist_ok=True)
    ns = argparse.Namespace(lines_csv=str(h3 / "lines.csv"), voice=str(h3 / "voice_ecapa192.npy"),
                            image=None, voice_model="ecapa192-chat-haruhi", image_model="imported",
                            output=str(out), force=True)
    cmd_import_features(ns)
    cluster_project(out)
    return out


def cluster_project(path: Path) -> None:
    """Cluster a fresh demo file that has voice vectors but no clusters yet."""
    from sgtui.project import Project
    from sgtui.workflows import recluster

    with Project.open(path) as project:
        if not project.clusters() and project.encoders():
            recluster(project, annotator="sgtui")  # the starting point, not anyone's undo


def prepare_demo(reset: bool = False) -> Path:
    """The demo file in the cache: a copy of a bundled sample (or of the haruhi03 build)."""
    samples = bundled_samples()
    name = samples[0].name if samples else "haruhi03-demo.sgproj"
    dst = cache_dir() / name
    if dst.exists() and not reset:
        return dst
    dst.parent.mkdir(parents=True, exist_ok=True)
    for extra in (dst.with_name(dst.name + "-wal"), dst.with_name(dst.name + "-shm")):
        extra.unlink(missing_ok=True)
    if samples:
        tmp = dst.with_name(dst.name + ".part")
        shutil.copy(samples[0], tmp)
        cluster_project(tmp)  # also brings an older bundled schema forward
        for backup in tmp.parent.glob(f"{tmp.name}.schema*.bak"):
            backup.unlink()  # the bundled sample itself is the backup of this copy
        tmp.replace(dst)
        return dst
    return build_haruhi_demo(dst)


def cmd_demo(args: argparse.Namespace) -> int:
    path = prepare_demo(args.reset)
    if args.path_only:
        print(path)
        return 0
    print(f"demo episode: {path}", file=sys.stderr)
    return run_annotator(path, args)
