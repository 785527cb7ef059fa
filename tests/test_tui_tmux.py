"""A real terminal: `sgtui open` inside tmux, keys sent with send-keys, the screen read with
capture-pane, and the file checked afterwards with `sgtui ops --json` (the acceptance session)."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tui_helpers import build_small_project

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


# A private tmux server with no config file: a tmux the test runs inside (CI may), a user's
# ~/.tmux.conf or another server's window-size options must not change the terminal's size.
SOCKET = f"sgtui-test-{os.getpid()}"
WIDTH, HEIGHT = 120, 36


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", "-L", SOCKET, "-f", "/dev/null", *args],
                          capture_output=True, text=True, check=True).stdout


class Pane:
    def __init__(self, name: str) -> None:
        self.name = name

    def text(self) -> str:
        return tmux("capture-pane", "-p", "-t", self.name)

    def wait_for(self, needle: str, timeout: float = 20.0) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            screen = self.text()
            if needle in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{needle!r} never appeared; the screen was:\n{self.text()}")

    def keys(self, *keys: str, settle: float = 0.35) -> None:
        for k in keys:
            tmux("send-keys", "-t", self.name, k)
            time.sleep(settle)


@pytest.fixture
def pane(tmp_path):
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed; the real-terminal test needs it (apt install tmux)")
    name = f"sgtui-test-{os.getpid()}-{tmp_path.name}"
    yield name
    with contextlib.suppress(subprocess.CalledProcessError):
        tmux("kill-session", "-t", name)


def start(pane_name: str, project: Path, tmp_path: Path, command: str = "open") -> Pane:
    target = shlex.quote(str(project)) if command == "open" else ""
    # COLUMNS/LINES set to a stale 80x24 (CI runners export them): the app must still use the
    # window's real size, or the status bar's message falls off the right edge.
    cmd = (f"cd {shlex.quote(str(REPO))} && COLUMNS=80 LINES=24 XDG_CONFIG_HOME={shlex.quote(str(tmp_path / 'cfg'))} "
           f"XDG_CACHE_HOME={shlex.quote(str(tmp_path / 'cache'))} "
           f"SGTUI_SAMPLES={shlex.quote(str(project.parent))} "
           f"{shlex.quote(sys.executable)} -m sgtui {command} {target} "
           f"--as tmuxer --audio none; echo SGTUI-EXIT=$?; sleep 30")
    tmux("new-session", "-d", "-s", pane_name, "-x", str(WIDTH), "-y", str(HEIGHT), cmd)
    size = tmux("display-message", "-p", "-t", pane_name, "#{window_width}x#{window_height}").strip()
    assert size == f"{WIDTH}x{HEIGHT}", f"tmux gave a {size} window, not {WIDTH}x{HEIGHT}"
    return Pane(pane_name)


def test_scripted_session_in_tmux_leaves_exactly_those_operations(pane, tmp_path):
    sp = build_small_project(tmp_path / "ep.sgproj", media=True)
    c1, c2, c3, c4 = sp.clusters
    p = start(pane, sp.path, tmp_path)
    screen = p.wait_for("tmuxer")
    assert "clusters" in screen and f"#{c1}" in screen and "0/12 named" in screen
    side = "\n".join(row[-44:] for row in screen.splitlines()[:18])
    assert "▀" in side or "▄" in side, screen  # the keyframe, drawn in half-blocks inside tmux

    p.keys("]", "]", "]")  # the smallest cluster
    p.keys("M")
    p.wait_for("Merge")
    p.keys(str(c3), "Enter")
    p.wait_for("merge 1")
    p.keys("m")
    p.wait_for("Move")
    p.keys(str(c2), "Enter")
    screen = p.wait_for("add 1 · remove 1 · merge 1")
    p.keys("n")
    p.wait_for("Name for")
    p.keys("Cid", "Enter")
    p.wait_for("Cid")
    p.keys("u")
    p.wait_for("undone")
    p.keys("q")
    p.wait_for("SGTUI-EXIT=0")

    r = subprocess.run([sys.executable, "-m", "sgtui", "ops", str(sp.path), "--json"],
                       capture_output=True, text=True, check=True)
    ops = json.loads(r.stdout)
    mine = ops["by_annotator"]["tmuxer"]
    assert mine["raw"] == {"add": 1, "remove": 1, "merge": 1, "rename": 1, "confirm": 0,
                           "undo": 1, "redo": 0, "recluster": 0, "flag": 0}
    assert mine["net"] == {"add": 1, "remove": 1, "merge": 1}
    assert ops["net"] == {"add": 1, "remove": 1, "merge": 1}


def test_demo_in_tmux_shows_clusters_and_a_keyframe(pane, tmp_path):
    samples = tmp_path / "samples"
    samples.mkdir()
    sp = build_small_project(samples / "sample01.sgproj", media=True)
    p = start(pane, sp.path, tmp_path, command="demo")
    screen = p.wait_for("tmuxer")
    assert f"#{sp.clusters[0]}" in screen and "4 clusters" in screen
    side = "\n".join(row[-40:] for row in screen.splitlines()[:18])
    assert "▀" in side or "▄" in side, screen
    p.keys("q")
    p.wait_for("SGTUI-EXIT=0")
    assert (tmp_path / "cache" / "sgtui" / "sample01.sgproj").exists()
