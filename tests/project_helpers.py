"""Builders for small real projects used by the project-layer tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sgtui.project import LineIn, Project


def make_project(path: Path, n: int = 12, dim: int = 8, seed: int = 0) -> Project:
    """A project with n lines (1 s apart), voice vectors, clips and keyframes."""
    rng = np.random.default_rng(seed)
    proj = Project.create(path, title="test")
    ids = proj.add_lines([LineIn(i * 1000, i * 1000 + 700, f"line {i}", source="srt",
                                 style="Default", actor=None) for i in range(n)])
    proj.put_embeddings("voice", "test-voice", ids, rng.normal(size=(n, dim)))
    proj.put_clips([(i, "flac", 16000, bytes(rng.integers(0, 255, 50, dtype=np.uint8))) for i in ids])
    proj.put_keyframes([(i, "image/jpeg", 48, 27, b"\xff\xd8fake" + bytes([i % 256])) for i in ids])
    return proj
