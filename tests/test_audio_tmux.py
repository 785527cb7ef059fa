"""Acceptance in a real terminal: `SSH_CONNECTION=x sgtui open EP` in tmux picks the browser
player, shows the URL and the ssh -L line; curl gets the page with the token and 403 without;
`p` sends a play event that `curl -N` reads; the clip URL returns the line's audio."""

from __future__ import annotations

import contextlib
import getpass
import io
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest
from tui_helpers import small_project

from sgtui.media.clipcodec import SAMPLE_RATE, decode_clip
from sgtui.project import Project

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent
SOCKET = f"sgtui-audio-test-{os.getpid()}"  # a private tmux server, no config file


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", "-L", SOCKET, "-f", "/dev/null", *args],
                          capture_output=True, text=True, check=True).stdout


def screen_of(name: str) -> str:
    return tmux("capture-pane", "-p", "-t", name)


def wait_screen(name: str, needle: str, timeout: float = 20.0) -> str:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        text = screen_of(name)
        if needle in text:
            return text
        time.sleep(0.1)
    raise AssertionError(f"{needle!r} never appeared; the screen was:\n{screen_of(name)}")


def curl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-s", "--max-time", "10", *args], capture_output=True)


@pytest.fixture
def session(tmp_path):
    for tool in ("tmux", "curl"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed; this acceptance test needs it "
                        "(scripts/bootstrap.sh installs it)")
    name = f"sgtui-audio-{os.getpid()}-{tmp_path.name}"
    yield name
    with contextlib.suppress(subprocess.CalledProcessError):
        tmux("kill-session", "-t", name)


def test_over_ssh_the_app_serves_the_page_and_p_reaches_curl(session, tmp_path, tmp_path_factory):
    sp = small_project(tmp_path, tmp_path_factory.getbasetemp() / "tui-small")
    cmd = (f"cd {shlex.quote(str(REPO))} && SSH_CONNECTION='10.0.0.9 50000 10.0.0.1 22' "
           f"XDG_CONFIG_HOME={shlex.quote(str(tmp_path / 'cfg'))} "
           f"{shlex.quote(sys.executable)} -m sgtui open {shlex.quote(str(sp.path))} --as tmuxer; "
           "echo SGTUI-EXIT=$?; sleep 30")
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "36", cmd)

    screen = wait_screen(session, "ssh -L")
    m = re.search(r"http://127\.0\.0\.1:(\d+)/\?token=([\w-]+)", screen)
    assert m, screen
    url, port = m.group(0), int(m.group(1))
    user = os.environ.get("LOGNAME") or getpass.getuser()
    with contextlib.suppress(OSError):
        user = os.getlogin()
    assert f"ssh -L {port}:127.0.0.1:{port} {user}@{socket.gethostname()}" in screen

    jar = tmp_path / "cookies"
    page = curl("-c", str(jar), "-w", "%{http_code}", url)
    assert page.stdout.endswith(b"200") and b"Enable sound" in page.stdout
    refused = curl("-w", "%{http_code}", f"http://127.0.0.1:{port}/")
    assert refused.stdout.endswith(b"403")

    stream = subprocess.Popen(["curl", "-sN", "-b", str(jar), f"http://127.0.0.1:{port}/events"],
                              stdout=subprocess.PIPE)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.extend(iter(stream.stdout.readline, b"")),
                              daemon=True)
    reader.start()
    try:
        tmux("send-keys", "-t", session, "Escape")
        wait_screen(session, "♪ page connected")
        assert "♪ page not connected" not in screen_of(session)
        tmux("send-keys", "-t", session, "p")
        end = time.monotonic() + 15
        while not any(line.startswith(b"event: play") for line in got):
            assert time.monotonic() < end, f"no play event on the stream: {got}"
            time.sleep(0.05)
        data = next(got[i + 1] for i, line in enumerate(got) if line.startswith(b"event: play"))
        lid = int(re.search(rb'"url": "/clip/(\d+)"', data).group(1))
        wait_screen(session, "in the browser")
    finally:
        stream.kill()
        stream.wait()

    audio = curl("-b", str(jar), f"http://127.0.0.1:{port}/clip/{lid}")
    with av.open(io.BytesIO(audio.stdout)) as c:
        rs = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        pcm = [f.to_ndarray().reshape(-1) for fr in c.decode(audio=0) for f in rs.resample(fr)]
        pcm += [f.to_ndarray().reshape(-1) for f in rs.resample(None)]
    with Project.open(sp.path, readonly=True) as p:
        stored = p.clip(lid)
        line = p.line(lid)
    want = decode_clip(stored.codec, stored.sample_rate, stored.data)
    assert len(np.concatenate(pcm)) == len(want)
    assert line is not None and line.text.encode() in data  # the event names the line

    tmux("send-keys", "-t", session, "q")
    wait_screen(session, "SGTUI-EXIT=0")
