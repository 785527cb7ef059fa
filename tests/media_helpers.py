"""Real media for the media tests: small synthetic episodes (espeak-ng speech, PyAV h264)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av

from sgtui.media import synth


@dataclass(frozen=True)
class EpisodeFiles:
    video: Path
    ass: Path
    srt: Path
    truth: Path
    episode: synth.Episode


def make_episode_files(folder: Path, name: str = "ep", seed: int = 7, lines: int = 8,
                       size: tuple[int, int] = (320, 180), keyint: int = 48,
                       suffix: str = ".mp4", x264_params: str | None = None) -> EpisodeFiles:
    """A short episode: `lines` spoken lines by the sample cast, plus its subtitle files."""
    folder.mkdir(parents=True, exist_ok=True)
    ep = synth.make_episode(seed, lines)
    video = folder / f"{name}{suffix}"
    synth.write_video(video, ep, *size, keyint=keyint, preset="veryfast", threads=1,
                      x264_params=x264_params)
    ass, srt, truth = folder / f"{name}.ass", folder / f"{name}.srt", folder / f"{name}.truth.csv"
    synth.write_ass(ass, ep, width=size[0], height=size[1])
    synth.write_srt(srt, ep.lines)
    synth.write_truth(truth, ep.lines)
    return EpisodeFiles(video, ass, srt, truth, ep)


def remux_with_subtitles(video: Path, subtitle_files: list[Path], out: Path,
                         languages: list[str | None] | None = None,
                         titles: list[str | None] | None = None) -> Path:
    """Copy a video's streams and subtitle files' tracks into one Matroska file (PyAV only)."""
    inputs = [av.open(str(video))] + [av.open(str(s)) for s in subtitle_files]
    try:
        with av.open(str(out), "w", format="matroska") as dst:
            maps = {}
            for n, c in enumerate(inputs):
                for s in c.streams:
                    o = dst.add_stream_from_template(s)
                    if n > 0 and languages and languages[n - 1]:
                        o.metadata["language"] = languages[n - 1]
                    if n > 0 and titles and titles[n - 1]:
                        o.metadata["title"] = titles[n - 1]
                    maps[(n, s.index)] = o
            for n, c in enumerate(inputs):
                for pkt in c.demux():
                    if pkt.dts is None:
                        continue
                    pkt.stream = maps[(n, pkt.stream.index)]
                    dst.mux(pkt)
    finally:
        for c in inputs:
            c.close()
    return out


def with_second_audio_track(src: Path, out: Path) -> Path:
    """The video with its audio track twice (the second one tagged English)."""
    with av.open(str(src)) as c, av.open(str(out), "w", format="matroska") as dst:
        v = dst.add_stream_from_template(c.streams.video[0])
        a1 = dst.add_stream_from_template(c.streams.audio[0])
        a2 = dst.add_stream_from_template(c.streams.audio[0])
        a1.metadata["language"], a2.metadata["language"] = "jpn", "eng"
        for pkt in c.demux():
            if pkt.dts is None:
                continue
            if pkt.stream.type == "audio":
                dup = av.Packet(bytes(pkt))
                dup.pts, dup.dts, dup.duration = pkt.pts, pkt.dts, pkt.duration
                dup.time_base = pkt.time_base
                dup.stream = a2
                pkt.stream = a1
                dst.mux(pkt)
                dst.mux(dup)
            else:
                pkt.stream = v
                dst.mux(pkt)
    return out


def remux_shifted(src: Path, out: Path, shift_s: float = 10.0, fmt: str = "mpegts") -> Path:
    """The same streams with every timestamp moved later, like a broadcast capture.

    Packets shown before 0 (AAC priming, which MP4 trims with an edit list) are dropped,
    so the copy's start time is exactly ``shift_s``.
    """
    with av.open(str(src)) as c, av.open(str(out), "w", format=fmt) as dst:
        maps = {s.index: dst.add_stream_from_template(s) for s in c.streams}
        for pkt in c.demux():
            if pkt.dts is None or (pkt.stream.type == "audio" and pkt.pts < 0):
                continue
            shift = round(shift_s / pkt.time_base)
            pkt.pts += shift
            pkt.dts += shift
            pkt.stream = maps[pkt.stream.index]
            dst.mux(pkt)
    return out


def video_without_audio(src: Path, out: Path) -> Path:
    """The same pictures with no audio track."""
    with av.open(str(src)) as c, av.open(str(out), "w") as dst:
        o = dst.add_stream_from_template(c.streams.video[0])
        for pkt in c.demux(c.streams.video[0]):
            if pkt.dts is None:
                continue
            pkt.stream = o
            dst.mux(pkt)
    return out
