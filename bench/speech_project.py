"""A project of real read-speech lines, built by sgtui's own store and clip codec.

The 100 LibriSpeech test-other utterances are cut into consecutive 1-4 s lines (335 with
the default seed), each stored as the 16 kHz Ogg/Opus clip ingest would write, laid out
on one timeline. Used by bench/encoders.py to time `sgtui embed` end to end on lines that
look like dialogue.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import numpy as np

# SGTUI_CODE: another checkout whose own code builds the project (bench/encoders.py --before:
# an older sgtui cannot open a file a newer one wrote)
ROOT = Path(os.environ.get("SGTUI_CODE") or Path(__file__).resolve().parents[1]).resolve()
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from features_helpers import librispeech  # noqa: E402

from sgtui.media.clipcodec import SAMPLE_RATE, encode_clip  # noqa: E402
from sgtui.project import LineIn, Project  # noqa: E402


def cut_lines(seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """(speaker, pcm) for 1-4 s consecutive cuts of every utterance (a tail under 1 s is dropped)."""
    rng = random.Random(seed)
    wavs, speakers = librispeech()
    out = []
    for wav, spk in zip(wavs, speakers, strict=True):
        pos = 0
        while True:
            n = int(rng.uniform(1.0, 4.0) * SAMPLE_RATE)
            piece = wav[pos : pos + n]
            if len(piece) < SAMPLE_RATE:
                break
            out.append((spk, piece))
            pos += n
    return out


def build(path: Path, seed: int = 0, repeat: int = 1) -> int:
    """Write the project (replacing one at `path`); returns its number of lines. With
    `repeat` > 1 the same lines (the same stored clips) follow each other that many times:
    a longer episode for timing, encoded once."""
    lines = cut_lines(seed)
    clips = [encode_clip(pcm) for _, pcm in lines]
    project = Project.create(path, title="librispeech-lines", force=True)
    with project:
        t = 0
        ins = []
        for _ in range(repeat):
            for spk, pcm in lines:
                dur = round(len(pcm) * 1000 / SAMPLE_RATE)
                ins.append(LineIn(t, t + dur, text=f"speaker {spk}"))
                t += dur + 300
        ids = project.add_lines(ins)
        project.put_clips((i, *clip) for i, clip in zip(ids, clips * repeat, strict=True))
    return len(ins)


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/librispeech-lines.sgproj")
    print(f"{out}: {build(out)} lines")
