"""Per-line media from one decode pass: compressed clips and keyframes, as rows to store.

Pure media work (no project file): the caller stores what these generators yield, in
batches, so an interrupted run keeps everything already yielded.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sgtui.media.clipcodec import SAMPLE_RATE, encode_clip
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


def clip_rows(audio: Audio, spans: Sequence[Span], codec: str = "opus"
              ) -> Iterator[tuple[int, str, int, bytes]]:
    """(key, codec, sample_rate, bytes) per span, cut at the exact sample."""
    if audio.rate != SAMPLE_RATE:
        raise ValueError("clips are cut from 16 kHz audio")
    for s in spans:
        pcm = audio.cut(s.start_ms, s.end_ms).astype("float32") / 32768.0
        yield (s.key, *encode_clip(pcm, codec))  # type: ignore[arg-type]


def keyframe_rows(video: str | Path, spans: Sequence[Span], index: VideoIndex | None = None,
                  max_width: int = MAX_WIDTH) -> Iterator[tuple[int, str, int, int, bytes]]:
    """(key, mime, width, height, bytes) per span: the frame on screen at its midpoint.

    Rows come in time order; spans sharing a frame share one encoded image.
    """
    for positions, frame in frames_at(video, [s.mid_ms for s in spans], index, width=max_width):
        kf = encode_keyframe(frame, max_width)
        for p in positions:
            yield spans[p].key, kf.mime, kf.width, kf.height, kf.data
