"""Audio players behind one small interface; playback never blocks the UI.

The chain: the local sound device (simpleaudio) when there is one and the session is not
remote; else a page on 127.0.0.1 that the annotator's browser opens through `ssh -L`
(`sgtui.tui.audio_bridge.BrowserPlayer`); else no sound at all plus a one-line notice.
PulseAudio forwarding reaches the local player: ALSA's pulse plugin follows PULSE_SERVER.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from sgtui.errors import SgtuiError
from sgtui.media.wavout import join_clips, wav_bytes  # noqa: F401 - the app imports them here

AUDIO_MODES = ("auto", "local", "browser", "none")
NO_DEVICE_HINT = ("no sound device: playback off (over SSH: --audio browser or PULSE_SERVER; "
                  "w writes a WAV; --audio none hides this)")
LOCAL_REFUSED = ("--audio local: no sound device could be opened here (nor PULSE_SERVER's, when "
                 "it is set); use --audio browser over SSH, or --audio none")


class Player(Protocol):
    """Plays mono float32 PCM in the background; `play` returns at once."""

    name: str
    notice: str | None  # why this player cannot make sound, when it cannot

    def play(self, pcm: np.ndarray, sample_rate: int) -> None: ...

    def stop(self) -> None: ...

    def is_playing(self) -> bool: ...


@dataclass(frozen=True)
class LineInfo:
    """What a remote page shows while a line plays: its id, time, text and cluster."""

    id: int
    start_ms: int
    end_ms: int
    text: str
    cluster: str


@runtime_checkable
class LinePlayer(Protocol):
    """A player that fetches stored clips itself by line id (the browser page does).

    The app hands it the lines instead of decoded PCM, so nothing is decoded in the app."""

    def play_lines(self, lines: list[LineInfo], what: str) -> None: ...


class NullPlayer:
    """No sound: every request is answered by the notice, everything else works."""

    name = "none"

    def __init__(self, notice: str | None = NO_DEVICE_HINT) -> None:
        self.notice = notice
        self.last: tuple[int, int] | None = None  # (samples, rate) of the latest request

    def play(self, pcm: np.ndarray, sample_rate: int) -> None:
        self.last = (len(pcm), sample_rate)

    def stop(self) -> None:
        self.last = None

    def is_playing(self) -> bool:
        return False


_handler_ref = None


def silence_libasound() -> None:
    """Keep libasound's error lines (no card, no PCM) off the screen.

    libasound prints straight to stderr, which would garble a Textual screen; a no-op
    handler registered with snd_lib_error_set_handler swallows them.
    """
    global _handler_ref
    if _handler_ref is not None:
        return
    name = ctypes.util.find_library("asound") or "libasound.so.2"
    try:
        lib = ctypes.cdll.LoadLibrary(name)
    except OSError:
        return  # no ALSA library: nothing to silence
    proto = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                             ctypes.c_int, ctypes.c_char_p)
    _handler_ref = proto(lambda *args: None)
    lib.snd_lib_error_set_handler(_handler_ref)


@contextlib.contextmanager
def quiet_stderr():
    """Point file descriptor 2 at /dev/null while a sound device is opened.

    ALSA, its plugins and simpleaudio's C code print straight to the C-level stderr (e.g.
    "ALSA lib pcm.c:...: Unknown PCM default"), past Python's sys.stderr; what the user sees
    instead is sgtui's own one line. Used only before the app draws (the probe), never around
    the app's screen."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all: nothing to keep quiet
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        sys.stderr.flush()
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class SimpleaudioPlayer:
    """The local sound device through simpleaudio (non-blocking by design)."""

    name = "local"

    def __init__(self) -> None:
        silence_libasound()
        import simpleaudio

        self._sa = simpleaudio
        self._play_obj = None
        self.notice: str | None = None

    def play(self, pcm: np.ndarray, sample_rate: int) -> None:
        self.stop()
        data = (np.clip(np.asarray(pcm, np.float32), -1.0, 1.0) * 32767).astype("<i2").tobytes()
        try:
            self._play_obj = self._sa.play_buffer(data, 1, 2, int(sample_rate))
        except Exception:  # SimpleaudioError: no device, busy device
            # sgtui's one line, not the C library's "Error opening PCM device. -- CODE: -2"
            self.notice = NO_DEVICE_HINT
            raise SgtuiError(NO_DEVICE_HINT) from None

    def stop(self) -> None:
        if self._play_obj is not None:
            with contextlib.suppress(Exception):
                self._play_obj.stop()
            self._play_obj = None

    def is_playing(self) -> bool:
        return bool(self._play_obj and self._play_obj.is_playing())


def _device_works(player: SimpleaudioPlayer) -> bool:
    """Open the device with a few ms of silence; False when there is no usable card."""
    try:
        with quiet_stderr():
            player.play(np.zeros(160, np.float32), 16_000)
    except SgtuiError:
        return False
    player.stop()
    return True


def is_remote(env: Mapping[str, str] | None = None) -> bool:
    """True in an SSH session: the sound card, if any, is on the wrong machine."""
    env = os.environ if env is None else env
    return bool(env.get("SSH_CONNECTION") or env.get("SSH_TTY"))


def make_player(mode: str = "auto", *, browser: Callable[[], Player] | None = None,
                env: Mapping[str, str] | None = None) -> Player:
    """The player for --audio MODE: local (simpleaudio), browser, none, or auto.

    auto = the local device when it works and the session is not remote, else the browser
    page (when `browser` can build one), else none with a hint. local without a device that
    opens is refused with one line, before the app starts."""
    if mode not in AUDIO_MODES:
        raise SgtuiError(f"unknown audio mode {mode!r}; use one of {', '.join(AUDIO_MODES)}")
    if mode == "none":
        return NullPlayer(notice="playback is off (--audio none)")
    if mode == "browser" or (mode == "auto" and is_remote(env) and browser is not None):
        if browser is None:
            raise SgtuiError("the browser player is not available here; use --audio local or none")
        return browser()
    try:
        player = SimpleaudioPlayer()
    except ImportError:
        if mode == "local":
            raise SgtuiError("simpleaudio is not installed; install sgtui[audio] or use "
                             "--audio browser or none") from None
        return browser() if browser is not None else NullPlayer()
    if not _device_works(player):
        if mode == "local":
            raise SgtuiError(LOCAL_REFUSED)
        return browser() if browser is not None else NullPlayer()
    return player
