"""Line clips as stored in a .sgproj: 16 kHz mono float32 PCM <-> compressed bytes.

Why a codec at all: raw 16-bit PCM of ~400 lines would blow the 20 MB budget of an
episode file (DESIGN.md §7); Opus at 24 kb/s keeps a 24-minute episode's clips near
4 MB and is transparent enough for speaker embeddings. FLAC is offered for lossless
archives. Both are written and read with PyAV alone, so any FFmpeg-readable clip codec
that a future sgtui writes decodes with the same generic `decode_clip`.
"""

from __future__ import annotations

import io
from typing import Literal

import numpy as np

from sgtui.errors import SgtuiError

SAMPLE_RATE = 16_000
"""Every clip is 16 kHz mono: what every voice encoder in sgtui consumes."""

ClipCodec = Literal["opus", "flac"]
_CONTAINER = {"opus": ("ogg", "libopus"), "flac": ("flac", "flac")}
OPUS_BITRATE = 24_000


def encode_clip(
    pcm: np.ndarray, codec: ClipCodec = "opus", sample_rate: int = SAMPLE_RATE
) -> tuple[str, int, bytes]:
    """Compress mono float32 PCM in [-1, 1] (16 kHz) and return (codec, sample_rate, bytes).

    The returned triple is exactly what `Project.put_clips` stores next to the line id.
    """
    import av

    if codec not in _CONTAINER:
        raise SgtuiError(f"unknown clip codec {codec!r}; use one of {', '.join(_CONTAINER)}")
    pcm = np.asarray(pcm, dtype=np.float32).reshape(-1)
    fmt, encoder = _CONTAINER[codec]
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=fmt) as out:
        stream = out.add_stream(encoder, rate=sample_rate, layout="mono")
        if codec == "opus":
            stream.bit_rate = OPUS_BITRATE
        # FLAC stores integers; Opus takes float. Resampling to the encoder's format
        # through AudioResampler keeps both paths identical.
        resampler = av.AudioResampler(
            format=stream.codec_context.format.name, layout="mono", rate=sample_rate
        )
        frame = av.AudioFrame.from_ndarray(np.clip(pcm, -1.0, 1.0)[None, :], format="flt", layout="mono")
        frame.sample_rate = sample_rate
        frame.pts = 0
        for rf in resampler.resample(frame) + resampler.resample(None):
            for packet in stream.encode(rf):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return codec, sample_rate, buf.getvalue()


def decode_clip(codec: str, sample_rate: int, data: bytes) -> np.ndarray:
    """Decode any stored clip to float32 mono PCM at 16 kHz, whatever its codec or rate.

    `codec` and `sample_rate` are what was stored; FFmpeg probes the bytes itself, so
    they serve only to word errors. A clip that does not decode raises SgtuiError.
    """
    import av

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise SgtuiError(f"clip ({codec}, {sample_rate} Hz) holds no audio stream")
            # Decoded frames are collected and resampled once per clip: one resampler
            # call per 20 ms Opus frame (and an array per call) was most of the decode time.
            frames = list(container.decode(audio=0))
            if not frames:
                return np.zeros(0, dtype=np.float32)
            pcm = np.concatenate([_mono(f) for f in frames])
            return _to_16k(pcm, frames[0].sample_rate)
    except av.error.FFmpegError as exc:
        raise SgtuiError(
            f"clip ({codec}, {sample_rate} Hz, {len(data)} bytes) does not decode: {exc}; "
            "re-run ingest to rebuild the project's clips"
        ) from exc


def _mono(frame) -> np.ndarray:  # frame: av.AudioFrame
    """A decoded frame as float32 mono samples (channels averaged, any sample format)."""
    if frame.format.name == "fltp" and len(frame.layout.channels) == 1:  # Opus: the common case
        return np.frombuffer(frame.planes[0], dtype=np.float32, count=frame.samples)
    x = frame.to_ndarray()
    if frame.format.is_planar:
        x = x.reshape(len(frame.layout.channels), -1)
    else:
        x = x.reshape(-1, len(frame.layout.channels)).T
    if x.dtype.kind == "i":
        x = x.astype(np.float32) / float(np.iinfo(x.dtype).max + 1)
    elif x.dtype.kind == "u":
        x = (x.astype(np.float32) - 128.0) / 128.0
    return x.astype(np.float32, copy=False).mean(axis=0)


def _to_16k(pcm: np.ndarray, rate: int) -> np.ndarray:
    """Resample a whole clip to 16 kHz with FFmpeg's resampler, in one call (as fast as a
    scipy polyphase filter here, without importing scipy.signal)."""
    import av

    if rate == SAMPLE_RATE:
        return pcm.astype(np.float32, copy=False)
    whole = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm, dtype=np.float32)[None, :],
                                       format="flt", layout="mono")
    whole.sample_rate = rate
    whole.pts = 0
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    out = [rf.to_ndarray().reshape(-1) for rf in resampler.resample(whole) + resampler.resample(None)]
    return np.concatenate(out).astype(np.float32, copy=False) if out else np.zeros(0, np.float32)
