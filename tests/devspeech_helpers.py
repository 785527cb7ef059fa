"""Real recorded speech for the ASR tests: devspeech utterances, and episodes made of them."""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from sgtui.media import synth

RATE = 16000


@dataclass(frozen=True)
class Utterance:
    file: Path
    speaker: str
    source: str
    language: str
    duration_s: float


def manifest(data: Path) -> list[Utterance]:
    root = data / "devspeech"
    with open(root / "manifest.csv", newline="") as f:
        return [Utterance(root / r["file"], r["speaker"], r["source"], r["language"],
                          float(r["duration_s"])) for r in csv.DictReader(f)]


def load(path: Path) -> np.ndarray:
    """A devspeech FLAC as float32 mono at 16 kHz."""
    with av.open(str(path)) as c:
        rs = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        pcm = [f.to_ndarray().ravel() for fr in c.decode(audio=0) for f in rs.resample(fr)]
    return np.concatenate(pcm).astype(np.float32) / 32768.0


def trim(pcm: np.ndarray, floor_db: float = -35.0, above_noise_db: float = 10.0) -> np.ndarray:
    """Cut the recording's own leading and trailing quiet, so the utterance's true bounds are
    the clip's bounds: 20-ms frames count as speech when louder than ``floor_db`` below the
    loudest frame and ``above_noise_db`` above the noise floor (10th percentile; AISHELL-1
    has audible room noise), three in a row."""
    hop = RATE // 50
    n = len(pcm) // hop
    rms = np.sqrt((pcm[:n * hop].reshape(n, hop) ** 2).mean(axis=1) + 1e-12)
    db = 20 * np.log10(rms / rms.max())
    loud = db > max(floor_db, np.percentile(db, 10) + above_noise_db)
    run = loud[:-2] & loud[1:-1] & loud[2:]
    idx = np.flatnonzero(run)
    return pcm[idx[0] * hop:(idx[-1] + 3) * hop]


@dataclass(frozen=True)
class SpeechEpisode:
    video: Path
    turns: list[tuple[int, int, str]]  # true (start_ms, end_ms, speaker) of each utterance


def make_speech_episode(folder: Path, utterances: list[Utterance], seed: int,
                        pause_s: tuple[float, float] = (0.9, 1.6), lead_s: float = 1.0,
                        size: tuple[int, int] = (160, 96)) -> SpeechEpisode:
    """A short video whose sound is ``utterances`` (trimmed) one after another with random
    pauses between them; a still picture is enough for speech recognition."""
    from scipy.signal import resample_poly

    rng = random.Random(seed)
    pieces, turns, t = [np.zeros(int(lead_s * RATE), np.float32)], [], lead_s
    for u in utterances:
        pcm = trim(load(u.file))
        turns.append((round(t * 1000), round((t + len(pcm) / RATE) * 1000), u.speaker))
        gap = rng.uniform(*pause_s)
        pieces += [pcm, np.zeros(int(gap * RATE), np.float32)]
        t += len(pcm) / RATE + gap
    sound = np.concatenate(pieces)
    sound24 = resample_poly(sound, 3, 2)  # the episode writer's audio rate is 24 kHz
    audio = np.clip(sound24 * 32767, -32768, 32767).astype(np.int16)
    cast = synth.CAST[:2]
    names = sorted({u.speaker for u in utterances})
    lines = tuple(synth.ScriptLine(a, b, cast[names.index(s) % len(cast)].name, "")
                  for a, b, s in turns)
    ep = synth.Episode(lines=lines, shots=(synth.Shot(0, (100, 128, 128), (0, 1)),),
                       cast=cast, duration_ms=int(len(audio) * 1000 / synth.AUDIO_RATE),
                       audio=audio)
    folder.mkdir(parents=True, exist_ok=True)
    video = folder / "ep.mp4"
    synth.write_video(video, ep, *size, keyint=250, preset="ultrafast", threads=1)
    return SpeechEpisode(video, turns)
