"""One-pass decoding on real video: exact midpoint frames, exact audio cuts, keyframes, clips."""

from __future__ import annotations

import random
from pathlib import Path

import av
import numpy as np
import pytest
from media_helpers import (
    EpisodeFiles,
    make_episode_files,
    remux_shifted,
    remux_with_subtitles,
    video_without_audio,
)

from sgtui.errors import SgtuiError
from sgtui.media import decode
from sgtui.media.clipcodec import decode_clip
from sgtui.media.keyframes import encode_keyframe
from sgtui.media.pipeline import Span, clip_rows, keyframe_rows


@pytest.fixture(scope="module")
def ep(tmp_path_factory) -> EpisodeFiles:
    return make_episode_files(tmp_path_factory.mktemp("dec"), seed=11, lines=8)


def _all_frames(path: Path) -> dict[int, np.ndarray]:
    with av.open(str(path)) as c:
        return {f.pts: f.to_ndarray(format="rgb24") for f in c.decode(video=0)}


@pytest.mark.parametrize("container,workers", [("mp4", 1), ("mp4", 3), ("mkv", 2), ("ts", 2)])
def test_frames_at_returns_the_exact_frame_on_screen(ep: EpisodeFiles, container: str,
                                                     workers: int, tmp_path: Path) -> None:
    video = ep.video
    if container == "mkv":
        video = remux_with_subtitles(ep.video, [], tmp_path / "ep.mkv")
    elif container == "ts":  # no index: seeks are approximate
        video = remux_shifted(ep.video, tmp_path / "ep.ts", shift_s=5.0)
    ref = _all_frames(video)
    idx = decode.index_video(video)
    assert idx.keyframe_count > 2  # several GOPs, so skipping and draining are exercised
    rng = random.Random(3)
    end = idx.ms(int(idx.pts[-1]))
    times = sorted(rng.uniform(0, end) for _ in range(25)) + [0.0, end, end / 2, end / 2]
    got: dict[int, np.ndarray] = {}
    for positions, frame in decode.frames_at(video, times, idx, workers=workers):
        for p in positions:
            got[p] = frame
    assert sorted(got) == list(range(len(times)))
    for i, t in enumerate(times):
        # the frame on screen at t; before the first frame, the first frame
        pts = max((p for p in ref if idx.ms(p) <= t + 1e-6), default=min(ref))
        assert got[i].pts == pts
        assert np.array_equal(got[i].to_ndarray(format="rgb24"), ref[pts])


def test_open_gop_b_frames_before_a_keyframe_are_exact(tmp_path: Path) -> None:
    files = make_episode_files(tmp_path, seed=2, lines=3, keyint=24,
                               x264_params="open-gop=1:bframes=3:b-pyramid=normal")
    ref = _all_frames(files.video)
    idx = decode.index_video(files.video)
    # every frame shown just before each keyframe (a leading B-frame in an open GOP)
    times = [idx.ms(p) for p in sorted(ref) if any(0 < k - p <= 3 * 1001 for k in idx.gop_first_pts)]
    assert times
    got = {p: f for ps, f in decode.frames_at(files.video, times, idx) for p in ps}
    for i, t in enumerate(times):
        assert np.array_equal(got[i].to_ndarray(format="rgb24"), ref[idx.frame_at(t)])


def test_frames_come_in_time_order_once_each(ep: EpisodeFiles) -> None:
    idx = decode.index_video(ep.video)
    times = [5000.0, 1000.0, 1000.0, 9000.0]
    out = list(decode.frames_at(ep.video, times, idx))
    assert [f.pts for _, f in out] == sorted({idx.frame_at(t) for t in times})
    assert sorted(p for ps, _ in out for p in ps) == [0, 1, 2, 3]


def test_audio_is_16k_mono_and_cuts_are_exact(ep: EpisodeFiles) -> None:
    audio = decode.decode_audio(ep.video)
    assert audio.rate == 16000 and audio.samples.dtype == np.int16
    assert abs(audio.end_ms - ep.episode.duration_ms) < 150
    line = ep.episode.lines[2]
    cut = audio.cut(line.start_ms, line.end_ms)
    assert len(cut) == round((line.end_ms - line.start_ms) * 16)
    # the line's speech is in its clip; the gap before it is near silence
    gap = audio.cut(line.start_ms - 300, line.start_ms)
    assert np.abs(cut.astype(float)).mean() > 8 * np.abs(gap.astype(float)).mean()


def test_clip_rows_store_opus_that_decodes_to_the_same_length(ep: EpisodeFiles) -> None:
    audio = decode.decode_audio(ep.video)
    spans = [Span(i, ln.start_ms, ln.end_ms) for i, ln in enumerate(ep.episode.lines)]
    rows = list(clip_rows(audio, spans))
    assert [r[0] for r in rows] == list(range(len(spans)))
    for (_key, codec, rate, data), s in zip(rows, spans, strict=True):
        assert (codec, rate) == ("opus", 16000)
        pcm = decode_clip(codec, rate, data)
        orig = audio.cut(s.start_ms, s.end_ms).astype(np.float32) / 32768
        assert len(pcm) == len(orig)
        assert len(data) < len(orig) * 2 / 6  # at least 6x smaller than 16-bit PCM
        corr = np.corrcoef(pcm, orig)[0, 1]
        assert corr > 0.8


def test_keyframes_are_small_webp_at_most_480_wide(tmp_path: Path) -> None:
    files = make_episode_files(tmp_path, seed=5, lines=2, size=(960, 540), keyint=24)
    spans = [Span(i, ln.start_ms, ln.end_ms) for i, ln in enumerate(files.episode.lines)]
    rows = list(keyframe_rows(files.video, spans))
    assert len(rows) == 2
    for _, mime, w, h, data in rows:
        assert (mime, w, h) == ("image/webp", 480, 270)
        assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    frame = av.VideoFrame.from_ndarray(np.zeros((100, 200, 3), np.uint8), format="rgb24")
    small = encode_keyframe(frame)
    assert (small.width, small.height) == (200, 100)  # never enlarged


def test_video_without_audio_is_refused(ep: EpisodeFiles, tmp_path: Path) -> None:
    silent = video_without_audio(ep.video, tmp_path / "silent.mp4")
    assert not decode.probe(silent).has_audio
    with pytest.raises(SgtuiError, match="no audio track"):
        decode.decode_audio(silent)


def test_truncated_and_corrupt_videos_are_refused(ep: EpisodeFiles, tmp_path: Path) -> None:
    data = ep.video.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 3])  # the index (moov) is at the end: unreadable
    with pytest.raises(SgtuiError, match="not a readable video"):
        decode.probe(cut)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x01garbage" * 1000)
    with pytest.raises(SgtuiError, match="not a readable video"):
        decode.probe(junk)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_audio_cut_is_aligned_with_the_source_to_the_sample(tmp_path: Path, suffix: str) -> None:
    from sgtui.media import synth

    files = make_episode_files(tmp_path, seed=5, lines=3, suffix=suffix)
    audio = decode.decode_audio(files.video)
    source = synth._resample(files.episode.audio, synth.AUDIO_RATE, 16000).astype(float)
    line = files.episode.lines[1]
    cut = audio.cut(line.start_ms, line.end_ms).astype(float)
    at = round(line.start_ms * 16)
    lag = max(range(-160, 161), key=lambda k: float(np.dot(cut, source[at + k:at + k + len(cut)])))
    assert abs(lag) <= 1  # within one sample (1/16 ms) of where the script put the speech
