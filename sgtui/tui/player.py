"""Audio players behind one small interface; playback never blocks the UI.

The chain (DESIGN.md §6) starts with the local sound device (simpleaudio) and ends with
no sound at all plus a one-line notice. An SSH-friendly player (a page on 127.0.0.1)
can be added later as another `Player`.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
from typing import Protocol

import numpy as np

from sgtui.errors import SgtuiError

AUDIO_MODES = ("auto", "local", "none")
NO_DEVICE_HINT = ("no sound device: playback off (over SSH forward PULSE_SERVER; "
                  "--audio none hides this)")


class Player(Protocol):
    """Plays mono float32 PCM in the background; `play` returns at once."""

    name: str
    notice: str | None  # why this player cannot make sound, when it cannot

    def play(self, pcm: np.ndarray, sample_rate: int) -> None: ...

    def stop(self) -> None: ...

    def is_playing(self) -> bool: ...


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
        except Exception as exc:  # SimpleaudioError: no device, busy device
            self.notice = NO_DEVICE_HINT
            raise SgtuiError(f"{NO_DEVICE_HINT} [{exc}]") from None

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
        player.play(np.zeros(160, np.float32), 16_000)
    except SgtuiError:
        return False
    player.stop()
    return True


def make_player(mode: str = "auto") -> Player:
    """The player for --audio MODE: local (simpleaudio), none, or auto (local if it works)."""
    if mode not in AUDIO_MODES:
        raise SgtuiError(f"unknown audio mode {mode!r}; use one of {', '.join(AUDIO_MODES)}")
    if mode == "none":
        return NullPlayer(notice="playback is off (--audio none)")
    try:
        player = SimpleaudioPlayer()
    except ImportError:
        if mode == "local":
            raise SgtuiError("simpleaudio is not installed; install sgtui[audio] or use "
                             "--audio none") from None
        return NullPlayer()
    if mode == "auto" and not _device_works(player):
        return NullPlayer()
    return player


def join_clips(clips: list[np.ndarray], sample_rate: int, gap_s: float = 0.25) -> np.ndarray:
    """Clips back to back with a short silence between them (a montage)."""
    if not clips:
        return np.zeros(0, np.float32)
    gap = np.zeros(int(gap_s * sample_rate), np.float32)
    parts: list[np.ndarray] = []
    for i, c in enumerate(clips):
        if i:
            parts.append(gap)
        parts.append(np.asarray(c, np.float32).reshape(-1))
    return np.concatenate(parts)
