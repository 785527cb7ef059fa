"""Audio for voice datasets: cut from the source video when it is at hand, else the clips.

The .sgproj keeps 16 kHz Opus clips for listening and embedding; training wants the
original sound. The source is the path recorded at ingest or one the user gives
(`--source FILE|DIR`); it is used only when its size and its fingerprint (sha256 of size,
first and last MiB, recorded at ingest) match, so a re-encode or another episode is never
cut by mistake. A source is decoded ONCE at its own rate (or the rate asked for), mono, and
every line is cut from that with `pad_ms` of context each side, as 16-bit PCM.
"""

from __future__ import annotations

import wave
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sgtui.errors import SgtuiError
from sgtui.export.select import Episode, ExportLine

CLIP_RATE = 16000


@dataclass(frozen=True)
class AudioPlan:
    """Where one episode's audio comes from, and the note the user and manifest get."""

    source: Path | None  # None: the stored clips
    note: str


def _fingerprint_ok(path: Path, meta: dict[str, str]) -> bool:
    from sgtui.project.store import source_fingerprint

    try:
        if str(path.stat().st_size) != meta.get("source_size"):
            return False
        if meta.get("source_sha256_ends"):
            return source_fingerprint(path) == meta["source_sha256_ends"]
        if meta.get("source_sha256_head"):  # projects ingested before the fingerprint
            import hashlib

            with open(path, "rb") as fh:
                return hashlib.sha256(fh.read(1 << 20)).hexdigest() == meta["source_sha256_head"]
    except OSError:
        return False
    return False


def _candidates(meta: dict[str, str], given: Path | None) -> list[Path]:
    out: list[Path] = []
    if given is not None and given.is_file():
        out.append(given)
    elif given is not None and given.is_dir():
        name = meta.get("source_name")
        if name:
            out.append(given / name)
        size = meta.get("source_size")
        out += sorted(p for p in given.iterdir()
                      if p.is_file() and str(p.stat().st_size) == size and p.name != name)
    if meta.get("source_path"):
        out.append(Path(meta["source_path"]))
    return out


def plan_audio(episodes: Sequence[Episode], given: Path | None) -> list[AudioPlan]:
    """One plan per episode; a `--source FILE` that matches none of them is an error."""
    if given is not None and not given.exists():
        raise SgtuiError(f"--source {given} does not exist; give the video file or its folder")
    plans = []
    for ep in episodes:
        found = next((p for p in _candidates(ep.meta, given) if p.exists() and _fingerprint_ok(p, ep.meta)),
                     None)
        if found is not None:
            plans.append(AudioPlan(found.resolve(), f"cut from {found}"))
            continue
        why = ("no source video was recorded at ingest" if not ep.meta.get("source_size")
               else f"source video {ep.meta.get('source_name')} not found (or changed since ingest)")
        plans.append(AudioPlan(None, f"{why}; used the stored 16 kHz clips "
                                     "(give --source FILE|DIR for the original sound)"))
    if given is not None and given.is_file() and all(p.source != given.resolve() for p in plans):
        raise SgtuiError(f"{given} is not the video these projects were ingested from "
                         "(its size or fingerprint differs); give the original file")
    return plans


def native_rate(path: Path, track: int = 0) -> int:
    from sgtui.media.decode import open_media

    with open_media(path) as c:
        if not 0 <= track < len(c.streams.audio):
            raise SgtuiError(f"{path} has no audio track {track}; was it re-muxed since ingest?")
        return int(c.streams.audio[track].rate or c.streams.audio[track].codec_context.sample_rate)


def cut_source(path: Path, lines: Sequence[ExportLine], rate: int, pad_ms: int,
               track: int = 0) -> Iterator[tuple[ExportLine, np.ndarray]]:
    """(line, int16 mono samples at `rate`) for each line, from one decode of `path`."""
    from sgtui.media.decode import decode_audio

    audio = decode_audio(path, rate=rate, track=track)
    for el in lines:
        yield el, audio.cut(el.line.start_ms - pad_ms, el.line.end_ms + pad_ms)


def cut_clips(project: Path, lines: Sequence[ExportLine]) -> Iterator[tuple[ExportLine, np.ndarray]]:
    """(line, int16 mono samples at 16 kHz) from the clips stored in the project."""
    from sgtui.media.clipcodec import decode_clip
    from sgtui.project import Project

    with Project.open(project, readonly=True) as proj:
        for el in lines:
            clip = proj.clip(el.line.id)
            if clip is None:
                yield el, np.zeros(0, np.int16)
                continue
            pcm = decode_clip(clip.codec, clip.sample_rate, clip.data)
            yield el, (np.clip(pcm, -1.0, 1.0) * 32767).astype(np.int16)


def write_wav(path: Path, pcm: np.ndarray, rate: int) -> None:
    """16-bit PCM mono WAV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.ascontiguousarray(pcm, dtype="<i2").tobytes())
