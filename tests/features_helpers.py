"""Real inputs for the encoder tests and benchmark: espeak-ng speech, drawn anime-like
frames, LibriSpeech utterances, and small projects built from them."""

from __future__ import annotations

import glob
import io
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SGTUI_SHARED", REPO.parent / "shared"))
LIBRISPEECH = SHARED / "data" / "librispeech-test-other"

# espeak-ng voices that resemblyzer separates perfectly (../shared/ENVIRONMENT.md).
VOICES = ("en+m1", "en+m7", "en+f3", "en+grandma", "en+edward", "en-gb-scotland+m2")
SENTENCES = (
    "I found the old map under the stairs this morning.",
    "We should leave before the rain starts again.",
    "Nobody told me the club meeting was cancelled.",
    "The captain painted the broken radio bright green.",
    "My sister borrowed seven apples and never returned them.",
    "Could you explain why the door is locked?",
    "They watched the fireworks from the school roof.",
    "Our teacher repaired the clock with a paper clip.",
)

# Characters as flat colours: (hair, clothes) RGB, the way cel animation tells them apart.
CHARACTERS = (
    ((250, 120, 40), (40, 60, 160)),
    ((60, 40, 30), (200, 30, 40)),
    ((240, 220, 90), (30, 140, 70)),
    ((120, 60, 200), (230, 230, 230)),
    ((40, 160, 220), (20, 20, 30)),
    ((230, 110, 170), (240, 200, 60)),
)


def espeak(text: str, voice: str, speed: int = 165) -> np.ndarray:
    """float32 mono 16 kHz speech from espeak-ng (decoded with the project's own decoder)."""
    from sgtui.media.clipcodec import decode_clip

    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", f.name, text],
                       check=True, capture_output=True)
        data = Path(f.name).read_bytes()
    return decode_clip("wav", 22050, data)


def librispeech() -> tuple[list[np.ndarray], list[str]]:
    """The 100 LibriSpeech utterances (float32 16 kHz) and their speaker ids."""
    from sgtui.media.clipcodec import decode_clip

    files = sorted(glob.glob(str(LIBRISPEECH / "*" / "*.flac")))
    if len(files) != 100:
        raise FileNotFoundError(f"expected 100 FLACs under {LIBRISPEECH}, found {len(files)}; "
                                "set SGTUI_SHARED to the shared/ folder")
    wavs = [decode_clip("flac", 16000, Path(f).read_bytes()) for f in files]
    return wavs, [Path(f).parent.name for f in files]


def nn_accuracy(vecs: np.ndarray, labels: list) -> float:
    """Leave-one-out nearest-neighbour accuracy under cosine similarity."""
    v = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    sims = v @ v.T
    np.fill_diagonal(sims, -np.inf)
    nearest = sims.argmax(axis=1)
    return float(np.mean([labels[i] == labels[j] for i, j in enumerate(nearest)]))


def character_frame(char: int, rng: np.random.Generator, width: int = 320,
                    height: int = 180) -> np.ndarray:
    """A cel-like frame: flat background and props, the character somewhere near the
    centre at a random scale, sometimes a second character at the side."""
    img = np.empty((height, width, 3), np.uint8)
    img[:] = rng.integers(40, 220, 3)
    for _ in range(rng.integers(1, 4)):  # props: flat rectangles
        x0, y0 = rng.integers(0, width - 20), rng.integers(0, height - 20)
        img[y0 : y0 + rng.integers(10, 60), x0 : x0 + rng.integers(10, 80)] = rng.integers(0, 255, 3)

    def draw(c: int, cx: int, scale: float) -> None:
        hair, clothes = CHARACTERS[c]
        h = int(height * 0.8 * scale)
        top = height - h
        head_r = max(4, h // 5)
        yy, xx = np.ogrid[:height, :width]
        body = (yy >= top + 2 * head_r) & (np.abs(xx - cx) <= head_r * 1.3)
        img[body] = clothes
        head = (yy - (top + head_r)) ** 2 + (xx - cx) ** 2 <= head_r**2
        img[head] = (250, 220, 200)
        hair_mask = head & (yy < top + head_r * 0.8) | (
            ((yy - (top + head_r)) ** 2 + (xx - cx) ** 2 <= (head_r * 1.15) ** 2)
            & (yy < top + head_r * 0.5))
        img[hair_mask] = hair

    if rng.random() < 0.3:
        other = int((char + rng.integers(1, len(CHARACTERS))) % len(CHARACTERS))
        draw(other, int(width * rng.choice([0.12, 0.88])), 0.5)
    draw(char, int(width * rng.uniform(0.4, 0.6)), rng.uniform(0.7, 1.0))
    noise = rng.normal(0, 3, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def jpeg(rgb: np.ndarray, quality: int = 80, fmt: str = "JPEG") -> bytes:
    """The frame compressed as a keyframe is stored (JPEG, or WebP as ingest writes)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, fmt, quality=quality)
    return buf.getvalue()


def make_project(path: Path, n_per_speaker: int = 4, speakers: int = 3,
                 keyframes: bool = True) -> dict[int, int]:
    """A real .sgproj whose lines have espeak-ng clips (Opus, as ingest stores them) and
    drawn keyframes of the speaking character; returns {line_id: speaker index}."""
    from sgtui.media.clipcodec import encode_clip
    from sgtui.project import LineIn, Project

    rng = np.random.default_rng(7)
    plan = [(s, k) for k in range(n_per_speaker) for s in range(speakers)]
    with Project.create(path) as p:
        ids = p.add_lines([LineIn(i * 3000, i * 3000 + 2500, SENTENCES[k % len(SENTENCES)])
                           for i, (_, k) in enumerate(plan)])
        clips, frames = [], []
        for line_id, (s, k) in zip(ids, plan, strict=True):
            pcm = espeak(SENTENCES[k % len(SENTENCES)], VOICES[s])
            clips.append((line_id, *encode_clip(pcm)))
            if keyframes:  # JPEG and WebP, the two formats keyframes come in
                frame = character_frame(s, rng)
                fmt = ("JPEG", "WEBP")[line_id % 2]
                frames.append((line_id, f"image/{fmt.lower()}", frame.shape[1], frame.shape[0],
                               jpeg(frame, fmt=fmt)))
        p.put_clips(clips)
        if frames:
            p.put_keyframes(frames)
    return {line_id: s for line_id, (s, _) in zip(ids, plan, strict=True)}
