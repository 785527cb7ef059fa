"""One-pass decoding with PyAV: the whole audio track once, and exact frames at given times.

Speaker-Grouping spawned an ffmpeg process per clip and per frame, each seeking and
decoding from the previous keyframe. Here the audio is decoded once (AAC is cheap) and
resampled to 16 kHz mono; video is demuxed once to learn every frame's timestamp and the
group of pictures (GOP) it belongs to, then decoded in a single forward pass that:
- skips GOPs holding no wanted frame without decoding them (demuxing is nearly free);
- inside a wanted GOP decodes only up to the last wanted frame, skipping non-reference
  frames that are not wanted (nothing depends on them, so wanted frames stay exact);
- returns, for each time t, the frame that is on screen at t (largest pts <= t).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from sgtui.errors import SgtuiError

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class SubtitleTrack:
    """A subtitle stream inside a container; ``number`` counts subtitle streams from 0."""

    number: int
    index: int
    codec: str
    language: str | None
    title: str | None
    text: bool


@dataclass(frozen=True)
class MediaInfo:
    duration_ms: int
    has_audio: bool
    has_video: bool
    width: int
    height: int
    fps: float
    subtitle_tracks: tuple[SubtitleTrack, ...]
    audio_languages: tuple[str | None, ...] = ()  # one entry per audio track


TEXT_SUBTITLE_CODECS = ("ass", "ssa", "subrip", "srt", "webvtt", "mov_text", "text")


def origin_ms(container: av.container.InputContainer) -> float:
    """The container's start time in ms (0 for most MP4/MKV; often large in MPEG-TS)."""
    st = container.start_time
    return float(st) * 1000.0 / av.time_base if st else 0.0


def open_media(path: str | Path) -> av.container.InputContainer:
    """Open a media file or raise a one-line SgtuiError."""
    p = Path(path)
    if not p.exists():
        raise SgtuiError(f"video {p} does not exist; check the path")
    if p.is_dir():
        raise SgtuiError(f"{p} is a folder; give a video file")
    try:
        return av.open(str(p), metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise SgtuiError(f"{p} is not a readable video ({exc.strerror or exc}); "
                         "is it truncated or not a media file?") from exc


def probe(path: str | Path) -> MediaInfo:
    """Streams and duration of a media file."""
    with open_media(path) as c:
        v = c.streams.video[0] if c.streams.video else None
        dur = 0
        if c.duration is not None:
            dur = int(c.duration * 1000 // av.time_base)
        elif v is not None and v.duration is not None:
            dur = int(v.duration * v.time_base * 1000)
        tracks = []
        for n, s in enumerate(c.streams.subtitles):
            name = s.codec_context.name if s.codec_context else "unknown"
            tracks.append(SubtitleTrack(n, s.index, name, s.metadata.get("language"),
                                        s.metadata.get("title"), name in TEXT_SUBTITLE_CODECS))
        fps = float(v.average_rate) if v is not None and v.average_rate else 0.0
        return MediaInfo(dur, bool(c.streams.audio), v is not None,
                         v.codec_context.width if v else 0, v.codec_context.height if v else 0,
                         fps, tuple(tracks),
                         tuple(a.metadata.get("language") for a in c.streams.audio))


@dataclass(frozen=True)
class Audio:
    """Mono int16 samples at ``rate``; ``samples[0]`` plays at ``start_ms``.

    Times here and everywhere in this module are milliseconds from the file's start (its
    container start time), the clock subtitle files use; MPEG-TS captures often begin
    at a large timestamp.
    """

    samples: np.ndarray
    rate: int
    start_ms: float

    @property
    def end_ms(self) -> float:
        return self.start_ms + len(self.samples) * 1000.0 / self.rate

    def cut(self, start_ms: int, end_ms: int) -> np.ndarray:
        """Samples from start to end exactly (rounded to the sample), clipped to the track."""
        a = round((start_ms - self.start_ms) * self.rate / 1000.0)
        b = round((end_ms - self.start_ms) * self.rate / 1000.0)
        a, b = max(a, 0), min(max(b, 0), len(self.samples))
        return self.samples[a:b] if b > a else self.samples[:0]


def decode_audio(path: str | Path, rate: int = SAMPLE_RATE, track: int = 0) -> Audio:
    """Decode an audio track once, resampled to ``rate`` Hz mono int16."""
    with open_media(path) as c:
        if not c.streams.audio:
            raise SgtuiError(f"{path} has no audio track; sgtui needs the voices")
        if not 0 <= track < len(c.streams.audio):
            langs = ", ".join(f"{i}: {s.metadata.get('language', '?')}"
                              for i, s in enumerate(c.streams.audio))
            raise SgtuiError(f"{path} has no audio track {track} (audio tracks: {langs})")
        stream = c.streams.audio[track]
        stream.thread_type = "AUTO"
        resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
        chunks: list[np.ndarray] = []
        start: float | None = None
        try:
            for frame in c.decode(stream):
                if start is None and frame.pts is not None:
                    start = float(frame.pts * frame.time_base * 1000) - origin_ms(c)
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as exc:
            raise SgtuiError(f"{path}: the audio cannot be decoded ({exc.strerror or exc}); "
                             "the file is damaged or truncated") from exc
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    if not chunks:
        raise SgtuiError(f"{path}: the audio track holds no sound; is the file truncated?")
    return Audio(np.concatenate(chunks), rate, start or 0.0)


@dataclass(frozen=True)
class VideoIndex:
    """Every video frame's pts (presentation order) and each packet's GOP in decode order."""

    time_base: Fraction
    pts: np.ndarray  # sorted presentation timestamps
    keyframe_count: int
    gop_of_pts: dict[int, int]  # pts -> index of the keyframe it follows in decode order
    gop_first_pts: list[int]  # per GOP, smallest pts of its keyframe
    audio_end_ms: float | None = None  # where the chosen audio track's last packet ends
    origin_ms: float = 0.0  # the container's start time: file time 0 is this stream time

    def frame_at(self, t_ms: float) -> int:
        """pts of the frame on screen at t (largest pts <= t; the first frame before it)."""
        ticks = (t_ms + self.origin_ms) / 1000.0 / float(self.time_base)
        i = bisect.bisect_right(self.pts, ticks + 1e-6) - 1
        return int(self.pts[max(i, 0)])

    def ms(self, pts: int) -> float:
        """A stream timestamp as milliseconds from the file's start."""
        return float(pts * self.time_base * 1000) - self.origin_ms


def index_video(path: str | Path, audio_track: int = 0) -> VideoIndex:
    """Demux (no decoding) to learn frame times and GOPs, and where the audio ends."""
    with open_media(path) as c:
        if not c.streams.video:
            raise SgtuiError(f"{path} has no video track")
        s = c.streams.video[0]
        a = c.streams.audio[audio_track] if len(c.streams.audio) > audio_track else None
        pts: list[int] = []
        gop_of: dict[int, int] = {}
        gop_first: list[int] = []
        gop = -1
        audio_end = None
        try:
            for packet in c.demux(*([s, a] if a is not None else [s])):
                if packet.stream is not s:
                    if packet.pts is not None:
                        end = float((packet.pts + (packet.duration or 0)) * a.time_base * 1000)
                        end -= origin_ms(c)
                        audio_end = end if audio_end is None else max(audio_end, end)
                    continue
                if packet.pts is None:
                    if packet.size:
                        raise SgtuiError(f"{path}: video packets carry no timestamps; "
                                         "remux it (ffmpeg -i IN -c copy OUT.mkv)")
                    continue
                if packet.is_keyframe or gop < 0:
                    gop += 1
                    gop_first.append(packet.pts)
                gop_of[packet.pts] = gop
                pts.append(packet.pts)
        except av.error.FFmpegError as exc:
            raise SgtuiError(f"{path}: the video cannot be read ({exc.strerror or exc}); "
                             "the file is damaged or truncated") from exc
        if not pts:
            raise SgtuiError(f"{path}: the video track holds no frames; is the file truncated?")
        return VideoIndex(s.time_base, np.array(sorted(pts), dtype=np.int64), gop + 1,
                          gop_of, gop_first, audio_end, origin_ms(c))


def frames_at(path: str | Path, times_ms: Sequence[float], index: VideoIndex | None = None,
              width: int | None = None, threads: int = 0, thread_type: str = "AUTO"
              ) -> Iterator[tuple[list[int], av.VideoFrame]]:
    """Yield (positions in ``times_ms``, frame) for the frame on screen at each time.

    Frames come in presentation order, each once even when several times share it. With
    ``width``, frames are scaled (aspect kept, never enlarged) and converted to RGB.
    """
    idx = index or index_video(path)
    wanted: dict[int, list[int]] = {}
    for i, t in enumerate(times_ms):
        wanted.setdefault(idx.frame_at(t), []).append(i)
    # last wanted pts per GOP (decode order); open GOPs: a wanted frame shown before its
    # GOP's keyframe needs the previous GOP too, so that one is decoded fully.
    last_in_gop: dict[int, int] = {}
    for p in wanted:
        g = idx.gop_of_pts[p]
        last_in_gop[g] = max(last_in_gop.get(g, p), p)
    full_gops = {idx.gop_of_pts[p] - 1 for p in wanted
                 if p < idx.gop_first_pts[idx.gop_of_pts[p]] and idx.gop_of_pts[p] > 0}
    with open_media(path) as c:
        s = c.streams.video[0]
        cc = s.codec_context
        cc.thread_type = thread_type
        cc.thread_count = threads
        pending = set(wanted)
        gop = -1
        feeding = False
        remaining_in_gop: set[int] = set()

        def emit(frames: list[av.VideoFrame]) -> Iterator[tuple[list[int], av.VideoFrame]]:
            for f in frames:
                if f.pts in pending:
                    pending.discard(f.pts)
                    yield wanted[f.pts], _scaled(f, width)

        try:
            for packet in c.demux(s):
                if packet.pts is None:
                    continue
                if packet.is_keyframe or gop < 0:
                    gop += 1
                    needed = gop in last_in_gop or gop in full_gops
                    if feeding and not needed:  # frames still owed: drain, then reset
                        yield from emit(cc.decode(None))
                        cc.flush_buffers()
                    # a fully decoded GOP runs on into the next one: its leading frames
                    # (open GOP) reference it
                    feeding = needed
                    remaining_in_gop = {p for p in pending if idx.gop_of_pts.get(p) == gop}
                    if not pending:
                        break
                if not feeding:
                    continue
                cc.skip_frame = "DEFAULT" if packet.pts in pending else "NONREF"
                yield from emit(cc.decode(packet))
                remaining_in_gop.discard(packet.pts)
                if not remaining_in_gop and gop not in full_gops:
                    yield from emit(cc.decode(None))
                    cc.flush_buffers()
                    feeding = False
            if feeding:
                yield from emit(cc.decode(None))
        except av.error.FFmpegError as exc:
            raise SgtuiError(f"{path}: the video cannot be decoded ({exc.strerror or exc}); "
                             "the file is damaged or truncated") from exc
        if pending:
            missing = min(idx.ms(p) for p in pending) / 1000
            raise SgtuiError(f"{path}: {len(pending)} frames could not be decoded (first at "
                             f"{missing:.1f} s); the video is damaged or truncated")


def _scaled(frame: av.VideoFrame, width: int | None) -> av.VideoFrame:
    if width is None:
        return frame
    w, h = frame.width, frame.height
    if w > width:
        h = max(2, round(h * width / w / 2) * 2)
        w = width
    return frame.reformat(width=w, height=h, format="rgb24", interpolation="AREA")
