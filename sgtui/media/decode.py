"""One-pass decoding with PyAV: the whole audio track once, and exact frames at given times.

Speaker-Grouping spawned ffmpeg processes per line, each seeking and decoding from the
previous keyframe. Here the audio is decoded once (AAC is cheap) and resampled to 16 kHz
mono; video is demuxed once to learn every frame's timestamp and the group of pictures
(GOP) it belongs to, then each GOP is decoded at most once, moving forward:
- GOPs holding no wanted frame are never decoded;
- inside a wanted GOP decoding stops at the last wanted frame, and non-reference frames
  that are not wanted are skipped (nothing depends on them, so wanted frames stay exact);
- runs of GOPs go to one single-threaded decoder per core in parallel;
- for each time t the result is the frame on screen at t (largest pts <= t).
"""

from __future__ import annotations

import bisect
import os
import threading
from collections import deque
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
              width: int | None = None, workers: int | None = None
              ) -> Iterator[tuple[list[int], av.VideoFrame]]:
    """Yield (positions in ``times_ms``, frame) for the frame on screen at each time.

    Frames come in presentation order, each once even when several times share it. With
    ``width``, frames are scaled (aspect kept, never enlarged) and converted to RGB.

    Runs of a few GOPs go to ``workers`` single-threaded decoders in parallel threads
    (PyAV releases the GIL); FFmpeg's own frame threading gains little here because every
    run ends in a drain. Default: one worker per CPU core, at most 4.
    """
    idx = index or index_video(path)
    plan = _plan(idx, times_ms)
    if not plan.wanted:
        return
    n = workers or max(1, min(4, os.cpu_count() or 1))
    if n == 1:
        yield from _decode_run(path, idx, plan, width, None, None)
        return
    from concurrent.futures import ThreadPoolExecutor

    local = threading.local()
    opened: list[av.container.InputContainer] = []
    lock = threading.Lock()

    def run(job: tuple[int, int]) -> list[tuple[list[int], av.VideoFrame]]:
        c = getattr(local, "container", None)
        if c is None:
            c = local.container = open_media(path)
            with lock:
                opened.append(c)
        return list(_decode_run(path, idx, plan, width, job, c))

    jobs = _jobs(plan, gops_per_job=4)
    pool = ThreadPoolExecutor(max_workers=n)
    futures: deque = deque()
    try:
        queued = 0
        while queued < len(jobs) and queued < 2 * n:
            futures.append(pool.submit(run, jobs[queued]))
            queued += 1
        while futures:
            done = futures.popleft().result()
            if queued < len(jobs):
                futures.append(pool.submit(run, jobs[queued]))
                queued += 1
            yield from done
    finally:
        for f in futures:
            f.cancel()
        pool.shutdown(wait=True)
        for c in opened:
            c.close()


@dataclass(frozen=True)
class _Plan:
    """Which frames to fetch and which GOPs (groups of pictures) to decode for them."""

    wanted: dict[int, list[int]]  # pts -> positions in the caller's list of times
    last_in_gop: dict[int, int]  # GOP -> its last wanted pts
    full_gops: frozenset[int]  # decoded to the end: the next GOP's leading frames need them
    gop_of_keyframe: dict[int, int]  # keyframe pts -> GOP


def _plan(idx: VideoIndex, times_ms: Sequence[float]) -> _Plan:
    wanted: dict[int, list[int]] = {}
    for i, t in enumerate(times_ms):
        wanted.setdefault(idx.frame_at(t), []).append(i)
    last_in_gop: dict[int, int] = {}
    for p in wanted:
        g = idx.gop_of_pts[p]
        last_in_gop[g] = max(last_in_gop.get(g, p), p)
    # open GOPs: a wanted frame shown before its GOP's keyframe references the previous GOP
    full = frozenset(idx.gop_of_pts[p] - 1 for p in wanted
                     if p < idx.gop_first_pts[idx.gop_of_pts[p]] and idx.gop_of_pts[p] > 0)
    return _Plan(wanted, last_in_gop, full, {p: g for g, p in enumerate(idx.gop_first_pts)})


def _jobs(plan: _Plan, gops_per_job: int) -> list[tuple[int, int]]:
    """Runs (first GOP, last GOP) of consecutive needed GOPs, a few GOPs long, never cut
    between a fully decoded GOP and the one after it."""
    jobs: list[tuple[int, int]] = []
    for g in sorted(set(plan.last_in_gop) | plan.full_gops):
        if jobs and jobs[-1][1] == g - 1 and (g - 1 in plan.full_gops
                                              or g - jobs[-1][0] < gops_per_job):
            jobs[-1] = (jobs[-1][0], g)
        else:
            jobs.append((g, g))
    return jobs


def _decode_run(path: str | Path, idx: VideoIndex, plan: _Plan, width: int | None,
                job: tuple[int, int] | None, container: av.container.InputContainer | None
                ) -> Iterator[tuple[list[int], av.VideoFrame]]:
    """Wanted frames of GOPs ``job`` = (first, last), all GOPs when None.

    With a ``container`` (a worker's own), it seeks to the run's keyframe and decodes on
    one thread; without, it reads from the start with FFmpeg's threading. A seek that
    lands past the run's keyframe (files without an index) falls back to reading from
    the start.
    """
    first, last = job if job is not None else (0, idx.keyframe_count - 1)
    pending = {p for p in plan.wanted if first <= idx.gop_of_pts[p] <= last}
    c = container if container is not None else open_media(path)
    try:
        s = c.streams.video[0]
        cc = s.codec_context
        if not cc.is_open:  # a worker's container keeps its decoder between runs
            cc.thread_type, cc.thread_count = ("AUTO", 0) if container is None else ("SLICE", 1)
        if container is not None:
            c.seek(idx.gop_first_pts[first], stream=s, backward=True, any_frame=False)
            cc.flush_buffers()
        gop = -1
        feeding = False
        remaining: set[int] = set()

        def emit(frames: list[av.VideoFrame]) -> Iterator[tuple[list[int], av.VideoFrame]]:
            for f in frames:
                if f.pts in pending:
                    pending.discard(f.pts)
                    yield plan.wanted[f.pts], _scaled(f, width)

        for packet in c.demux(s):
            if packet.pts is None:
                continue
            new_gop = plan.gop_of_keyframe.get(packet.pts) if packet.is_keyframe else None
            if gop < 0 and new_gop is None:
                new_gop = 0 if container is None else None
                if new_gop is None:  # a seek that did not land on a keyframe we know
                    yield from _decode_run(path, idx, plan, width, job, None)
                    return
            if new_gop is not None:
                if container is not None and gop < 0 and new_gop > first:
                    yield from _decode_run(path, idx, plan, width, job, None)  # overshot
                    return
                gop = new_gop
                needed = first <= gop <= last and (gop in plan.last_in_gop
                                                   or gop in plan.full_gops)
                if feeding and not needed:  # frames still owed: drain, then reset
                    yield from emit(cc.decode(None))
                    cc.flush_buffers()
                feeding = needed
                remaining = {p for p in pending if idx.gop_of_pts[p] == gop}
                if not pending or gop > last:
                    break
            if not feeding:
                continue
            cc.skip_frame = "DEFAULT" if packet.pts in pending else "NONREF"
            yield from emit(cc.decode(packet))
            remaining.discard(packet.pts)
            if not remaining and gop not in plan.full_gops:
                yield from emit(cc.decode(None))
                cc.flush_buffers()
                feeding = False
        if feeding:
            yield from emit(cc.decode(None))
            cc.flush_buffers()
    except av.error.FFmpegError as exc:
        raise SgtuiError(f"{path}: the video cannot be decoded ({exc.strerror or exc}); "
                         "the file is damaged or truncated") from exc
    finally:
        if container is None:
            c.close()
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
