"""PulseAudio forwarding, the second way to hear lines over SSH: the local player (simpleaudio →
ALSA) must reach the PulseAudio server named by PULSE_SERVER, as `ssh -R` would provide it.

The test starts a private PulseAudio server (a null sink, the native protocol on a loopback TCP
port), plays a stored clip through the product's local player in a subprocess with only
PULSE_SERVER set, and records the sink's monitor: the server must see a playback stream and
the recording must hold the clip's sound."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tui_helpers import small_project

from sgtui.media.clipcodec import SAMPLE_RATE, decode_clip
from sgtui.project import Project

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent

PLAY = """
import sys, time
from sgtui.media.clipcodec import decode_clip
from sgtui.project import Project
from sgtui.tui.player import SimpleaudioPlayer, make_player
with Project.open(sys.argv[1], readonly=True) as p:
    c = p.clip(int(sys.argv[2]))
player = make_player("local")
assert isinstance(player, SimpleaudioPlayer), player
player.play(decode_clip(c.codec, c.sample_rate, c.data), 16000)
while player.is_playing():
    time.sleep(0.02)
print("played")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def need_tools() -> None:
    """Fail (never skip) with what is missing: bootstrap installs all of it."""
    missing = [t for t in ("pulseaudio", "pactl", "parec") if shutil.which(t) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found; install Debian's pulseaudio "
                    "(scripts/bootstrap.sh does)")
    if not glob.glob("/usr/lib/*/alsa-lib/libasound_module_pcm_pulse.so"):
        pytest.fail("ALSA's pulse plugin (libasound_module_pcm_pulse.so) is missing; install "
                    "Debian's libasound2-plugins (scripts/bootstrap.sh does)")


def test_the_local_player_plays_into_a_pulseaudio_server_named_by_pulse_server(tmp_path, tmp_path_factory):
    need_tools()
    sp = small_project(tmp_path, tmp_path_factory.getbasetemp() / "tui-small")
    lid = sp.ids["A"][0]
    with Project.open(sp.path, readonly=True) as p:
        c = p.clip(lid)
    want = decode_clip(c.codec, c.sample_rate, c.data)

    port = free_port()
    home = tmp_path / "home"
    runtime = tmp_path / "run"
    home.mkdir()
    runtime.mkdir(mode=0o700)
    # A private server: its own HOME and runtime dir (so a user's running PulseAudio, or none,
    # changes nothing); as root it warns that it is not meant to run as root, and runs.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE_", "DBUS_"))}
    env.update(HOME=str(home), XDG_RUNTIME_DIR=str(runtime), PULSE_RUNTIME_PATH=str(runtime / "pulse"))
    server = subprocess.Popen(
        ["pulseaudio", "--daemonize=no", "--exit-idle-time=-1", "-n", "--disallow-exit",
         "--use-pid-file=no", "--load=module-null-sink sink_name=sgtui_test",
         f"--load=module-native-protocol-tcp auth-anonymous=1 listen=127.0.0.1 port={port}",
         "--log-target=stderr"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    client_env = {**env, "PULSE_SERVER": f"tcp:127.0.0.1:{port}",
                  "PYTHONPATH": str(REPO) + os.pathsep + env.get("PYTHONPATH", "")}
    recorder = player = None
    try:
        end = time.monotonic() + 15
        while subprocess.run(["pactl", "info"], env=client_env, capture_output=True).returncode:
            if server.poll() is not None or time.monotonic() > end:
                server.kill()
                pytest.fail(f"the test's PulseAudio server did not start: {server.communicate()[1][-2000:]}")
            time.sleep(0.1)

        raw = tmp_path / "monitor.raw"
        with open(raw, "wb") as out:
            recorder = subprocess.Popen(
                ["parec", "-d", "sgtui_test.monitor", "--raw", "--format=s16le",
                 f"--rate={SAMPLE_RATE}", "--channels=1", "--latency-msec=20"],
                env=client_env, stdout=out)
            time.sleep(0.5)
            player = subprocess.Popen([sys.executable, "-c", PLAY, str(sp.path), str(lid)],
                                      env=client_env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)
            streams = ""
            while player.poll() is None and "protocol-native" not in streams:
                streams = subprocess.run(["pactl", "list", "short", "sink-inputs"], env=client_env,
                                         capture_output=True, text=True).stdout
                time.sleep(0.05)
            stdout, stderr = player.communicate(timeout=30)
            assert player.returncode == 0 and "played" in stdout, stderr[-2000:]
            time.sleep(0.5)
            recorder.terminate()
            recorder.wait(10)
        assert "protocol-native" in streams, "the server never saw the player's playback stream"

        rec = np.fromfile(raw, "<i2").astype(np.float32) / 32768
        loud = np.flatnonzero(np.abs(rec) > 0.02)
        assert len(loud), "the PulseAudio sink received only silence"
        heard = (loud[-1] - loud[0]) / SAMPLE_RATE
        spoken = np.flatnonzero(np.abs(want) > 0.02)
        assert abs(heard - (spoken[-1] - spoken[0]) / SAMPLE_RATE) < 0.6  # room for an underrun
        ratio = np.percentile(np.abs(rec[loud]), 90) / np.percentile(np.abs(want[spoken]), 90)
        assert 0.5 < ratio < 2.0, ratio  # the clip's own loudness, not noise
    finally:
        for proc in (player, recorder, server):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
