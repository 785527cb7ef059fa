"""Clip codec round trips: what ingest stores is what the encoders hear."""

from __future__ import annotations

import numpy as np
import pytest

from sgtui.errors import SgtuiError
from sgtui.media.clipcodec import SAMPLE_RATE, decode_clip, encode_clip


def _tone(seconds: float, freq: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_flac_round_trip_is_lossless_to_16_bit() -> None:
    x = _tone(1.3)
    codec, sr, data = encode_clip(x, "flac")
    assert (codec, sr) == ("flac", SAMPLE_RATE)
    y = decode_clip(codec, sr, data)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert np.abs(y - x).max() < 1e-4


def test_opus_round_trip_keeps_length_and_signal() -> None:
    x = _tone(2.0)
    codec, sr, data = encode_clip(x)
    assert codec == "opus"
    assert len(data) < x.size * 2 / 3  # far smaller than 16-bit PCM
    y = decode_clip(codec, sr, data)
    assert y.shape == x.shape  # Opus pre-skip is removed, no priming samples left
    spec_x = np.abs(np.fft.rfft(x))
    spec_y = np.abs(np.fft.rfft(y))
    assert np.argmax(spec_y) == np.argmax(spec_x)
    assert np.corrcoef(spec_x, spec_y)[0, 1] > 0.95


def test_decode_resamples_other_rates_to_16k() -> None:
    t = np.arange(44_100) / 44_100
    x = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    codec, sr, data = encode_clip(x, "flac", sample_rate=44_100)
    y = decode_clip(codec, sr, data)
    assert abs(len(y) - SAMPLE_RATE) <= 64


def test_garbage_bytes_raise_a_user_error() -> None:
    with pytest.raises(SgtuiError, match="does not decode"):
        decode_clip("opus", SAMPLE_RATE, b"not an ogg file at all" * 10)


def test_unknown_codec_is_refused() -> None:
    with pytest.raises(SgtuiError, match="unknown clip codec"):
        encode_clip(_tone(0.5), "mp3")  # type: ignore[arg-type]
