"""Stored clips out as plain WAV: for browsers without Opus and for people who copy files.

One rule for every way out of the app (the local player, the browser page, `sgtui clip`, the
write-WAV key): several lines are joined back to back with a short silence between them."""

from __future__ import annotations

import io
import os
import wave
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sgtui.project import Clip

GAP_S = 0.25


def join_clips(clips: Sequence[np.ndarray | Sequence[float]], sample_rate: int,
               gap_s: float = GAP_S) -> np.ndarray:
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


def wav_bytes(pcm: np.ndarray, sample_rate: int) -> bytes:
    """16-bit mono WAV of float PCM: what every browser and every audio tool can play."""
    data = (np.clip(np.asarray(pcm, np.float32).reshape(-1), -1.0, 1.0) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes(data.tobytes())
    return buf.getvalue()


def clips_pcm(clips: Sequence[Clip]) -> np.ndarray:
    """Decode stored clips and join them: the audio the local player would play."""
    from sgtui.media.clipcodec import SAMPLE_RATE, decode_clip

    return join_clips([decode_clip(c.codec, c.sample_rate, c.data) for c in clips], SAMPLE_RATE)


def write_clips_wav(clips: Sequence[Clip], out: Path) -> float:
    """Write the joined clips to `out` atomically (never a half-written WAV); seconds written."""
    from sgtui.media.clipcodec import SAMPLE_RATE

    pcm = clips_pcm(clips)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.part")
    try:
        tmp.write_bytes(wav_bytes(pcm, SAMPLE_RATE))
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return len(pcm) / SAMPLE_RATE
