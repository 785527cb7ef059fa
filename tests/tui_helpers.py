"""Small real projects for the annotator's tests: lines, voices from espeak-ng, keyframes.

`build_small_project` makes 12 lines by three speakers, clustered with known mistakes
(one line of B in A's cluster, C split in two, one line of A unassigned with
suggestions), so every correcting action has something real to do.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sgtui.media.clipcodec import SAMPLE_RATE, encode_clip
from sgtui.project import LineIn, Project

SPEAKERS = {"A": "en+m1", "B": "en+f3", "C": "en+m7"}
COLOURS = {"A": (200, 40, 40), "B": (40, 160, 60), "C": (40, 70, 200)}
SCRIPT = [  # (speaker, text) in episode order
    ("A", "Good morning everyone."), ("B", "Is the club room open?"), ("A", "We start at nine."),
    ("C", "I brought the tea."), ("B", "Thank you very much."), ("A", "Sit down please."),
    ("C", "The cups are on the shelf."), ("B", "Where is the key?"), ("A", "Right here."),
    ("C", "Let us begin then."), ("B", "I will take notes."), ("A", "That is all for today."),
]


@dataclass(frozen=True)
class SmallProject:
    path: Path
    ids: dict[str, list[int]]  # speaker -> line ids in order
    clusters: list[int]  # cluster ids of the four engine groups, in group order


def speak(text: str, voice: str) -> np.ndarray:
    """espeak-ng speech as 16 kHz mono float32."""
    wav = subprocess.run(["espeak-ng", "-v", voice, "-s", "190", "--stdout", text],
                         capture_output=True, check=True).stdout
    with wave.open(io.BytesIO(wav)) as w:
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
    n = int(len(pcm) * SAMPLE_RATE / rate)
    return np.interp(np.linspace(0, len(pcm) - 1, n), np.arange(len(pcm)), pcm).astype(np.float32)


def keyframe_png(colour: tuple[int, int, int], index: int) -> bytes:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (64, 36), colour)
    ImageDraw.Draw(img).rectangle([4 + 3 * index, 4, 14 + 3 * index, 30], fill=(240, 240, 240))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def build_small_project(path: Path, media: bool = True) -> SmallProject:
    rng = np.random.default_rng(7)
    centres = {s: rng.normal(size=16) for s in SPEAKERS}
    with Project.create(path, title="small") as p:
        lines = [LineIn(1000 + 2500 * i, 3000 + 2500 * i, text, source="test")
                 for i, (_, text) in enumerate(SCRIPT)]
        ids = p.add_lines(lines)
        by: dict[str, list[int]] = {s: [] for s in SPEAKERS}
        for lid, (spk, _) in zip(ids, SCRIPT, strict=True):
            by[spk].append(lid)
        vecs = np.stack([centres[spk] + 0.3 * rng.normal(size=16) for spk, _ in SCRIPT])
        p.put_embeddings("voice", "test-voice", ids, vecs)
        p.put_confidence("voice", "test-voice", ids, [0.5 + 0.04 * i for i in range(len(ids))])
        if media:
            p.put_clips([(lid, *encode_clip(speak(text, SPEAKERS[spk])))
                         for lid, (spk, text) in zip(ids, SCRIPT, strict=True)])
            p.put_keyframes([(lid, "image/png", 64, 36, keyframe_png(COLOURS[spk], i))
                             for i, (lid, (spk, _)) in enumerate(zip(ids, SCRIPT, strict=True))])
        a, b, c = by["A"], by["B"], by["C"]
        groups = [(None, [*a[:4], b[3]]), (None, b[:3]), (None, c[:2]), (None, c[2:])]
        p.apply_clustering(groups, {a[4]: [(0, 0.81), (2, 0.40), (1, 0.22)]}, method="test")
        assign = p.assignments()
        clusters = [assign[a[0]].cluster_id, assign[b[0]].cluster_id,
                    assign[c[0]].cluster_id, assign[c[2]].cluster_id]
    return SmallProject(path, by, clusters)


_TEMPLATES: dict[tuple[str, bool], SmallProject] = {}


def small_project(tmp_path: Path, tmp_root: Path, media: bool = True) -> SmallProject:
    """A fresh copy of the small project (built once per test session)."""
    key = (str(tmp_root), media)
    if key not in _TEMPLATES:
        tmp_root.mkdir(parents=True, exist_ok=True)
        _TEMPLATES[key] = build_small_project(tmp_root / f"small-{int(media)}.sgproj", media)
    t = _TEMPLATES[key]
    dst = tmp_path / "ep.sgproj"
    shutil.copy(t.path, dst)
    return SmallProject(dst, t.ids, t.clusters)


def build_big_project(path: Path, n: int, speakers: int = 8, seed: int = 0) -> Path:
    """n lines, embedded and clustered (no media): for size and speed checks."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(speakers, 32))
    labels = rng.integers(0, speakers, size=n)
    with Project.create(path, title=f"big{n}") as p:
        ids = p.add_lines([LineIn(1000 * i, 1000 * i + 800, f"line number {i} of the big episode")
                           for i in range(n)])
        p.put_embeddings("voice", "big", ids, centres[labels] + 0.4 * rng.normal(size=(n, 32)))
        p.put_confidence("voice", "big", ids, rng.uniform(0.2, 1.0, size=n).tolist())
        groups = [(None, [i for i, lab in zip(ids, labels, strict=True) if lab == k])
                  for k in range(speakers)]
        keep = int(n * 0.95)
        groups = [(g, [i for i in members if i <= keep]) for g, members in groups]
        sugg = {i: [(int(labels[i - 1]), 0.7), (int((labels[i - 1] + 1) % speakers), 0.3)]
                for i in ids if i > keep}
        p.apply_clustering(groups, sugg, method="test")
    return path


class AppMaker:
    """Opens AnnotatorApps on small test projects (halfcell images, no polling, no keyframe
    delay, a silent player) and closes their projects afterwards."""

    def __init__(self, default_path, **defaults) -> None:
        self.default_path = default_path
        self.defaults = defaults
        self.opened: list = []

    def __call__(self, path=None, **kw):
        from sgtui.project import Project
        from sgtui.tui.app import AnnotatorApp
        from sgtui.tui.config import Config
        from sgtui.tui.player import NullPlayer

        p = Project.open(path or self.default_path)
        self.opened.append(p)
        for key, value in self.defaults.items():
            kw.setdefault(key, value)
        kw.setdefault("config", Config(image="halfcell"))
        kw.setdefault("player", NullPlayer())
        kw.setdefault("poll_seconds", 0)
        kw.setdefault("keyframe_delay", 0)
        return AnnotatorApp(p, "tester", **kw)

    def close(self) -> None:
        for p in self.opened:
            p.close()
