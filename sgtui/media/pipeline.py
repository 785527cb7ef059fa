"""Per-line media from one decode pass: compressed clips and keyframes, as rows to store.

Pure media work (no project file): the caller stores what these generators yield, in
batches, so an interrupted run keeps everything already yielded.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from sgtui.media.clipcodec import OPUS_BITRATE, SAMPLE_RATE, encode_clip
from sgtui.media.decode import Audio, VideoIndex, frames_at
from sgtui.media.keyframes import MAX_WIDTH, encode_keyframe


@dataclass(frozen=True)
class Span:
    """A line to cut: ``key`` is the caller's id (a line id), times in ms."""

    key: int
    start_ms: int
    end_ms: int

    @property
    def mid_ms(self) -> float:
        return (self.start_ms + self.end_ms) / 2


OPUS_COMPLEXITY = 5  # 3x faster than libopus' default 10; embeddings still match (tests)


def encode_opus(pcm: np.ndarray, complexity: int = OPUS_COMPLEXITY) -> bytes:
    """16 kHz mono int16 -> Ogg Opus bytes in the format `clipcodec` stores as ``"opus"``.

    Ingest's own encoder: the samples are already 16 kHz int16, so no resampler is set up
    per clip, and a lower complexity keeps ~400 clips of a 24-minute episode within ~8 s.
    """
    buf = io.BytesIO()
    with av.open(buf, "w", format="ogg") as out:
        stream = out.add_stream("libopus", rate=SAMPLE_RATE, layout="mono")
        stream.bit_rate = OPUS_BITRATE
        stream.codec_context.options = {"compression_level": str(complexity)}
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm[None, :]), format="s16",
                                           layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = 0
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def clip_rows(audio: Audio, spans: Sequence[Span], codec: str = "opus"
              ) -> Iterator[tuple[int, str, int, bytes]]:
    """(key, codec, sample_rate, bytes) per span, cut at the exact sample.

    Spans with no audio (past the end of the track) are skipped.
    """
    if audio.rate != SAMPLE_RATE:
        raise ValueError("clips are cut from 16 kHz audio")
    for s in spans:
        pcm = audio.cut(s.start_ms, s.end_ms)
        if not len(pcm):
            continue
        if codec == "opus":
            yield s.key, "opus", SAMPLE_RATE, encode_opus(pcm)
        else:
            yield (s.key, *encode_clip(pcm.astype(np.float32) / 32768.0, codec))  # type: ignore[arg-type]


def keyframe_rows(video: str | Path, spans: Sequence[Span], index: VideoIndex | None = None,
                  max_width: int = MAX_WIDTH) -> Iterator[tuple[int, str, int, int, bytes]]:
    """(key, mime, width, height, bytes) per span: the frame on screen at its midpoint.

    Rows come in time order; spans sharing a frame share one encoded image. Images are
    compressed in a helper thread (Pillow releases the GIL) while decoding goes on.
    """
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    pending: deque = deque()
    with ThreadPoolExecutor(max_workers=1) as pool:
        for positions, frame in frames_at(video, [s.mid_ms for s in spans], index,
                                          width=max_width):
            pending.append((positions, pool.submit(encode_keyframe, frame, max_width)))
            while pending and (pending[0][1].done() or len(pending) > 8):
                yield from _rows(spans, *pending.popleft())
        while pending:
            yield from _rows(spans, *pending.popleft())


def _rows(spans: Sequence[Span], positions: list[int], fut
          ) -> Iterator[tuple[int, str, int, int, bytes]]:
    kf = fut.result()
    for p in positions:
        yield spans[p].key, kf.mime, kf.width, kf.height, kf.data
