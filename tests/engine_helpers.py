"""Shared helpers for the engine tests: the haruhi03 data and small brute-force oracles."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    return Path(os.environ.get("SGTUI_SHARED", REPO.parent / "shared"))


def haruhi03() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(L2-normalised voice vectors, speaker index per line, speaker names) of haruhi03.

    Fails loudly (never skips) when the shared data is missing: CI has it.
    """
    root = shared_dir() / "data" / "haruhi03"
    if not (root / "voice_ecapa192.npy").exists():
        pytest.fail(f"shared data missing at {root}; set SGTUI_SHARED")
    x = np.load(root / "voice_ecapa192.npy").astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    with open(root / "lines.csv", encoding="utf-8-sig", newline="") as f:
        speakers = [r["speaker"] for r in csv.DictReader(f)]
    names = sorted(set(speakers))
    truth = np.array([names.index(s) for s in speakers], dtype=np.int64)
    return x, truth, names


def clustered_vectors(
    n: int, speakers: int, dim: int = 32, spread: float = 0.6, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors around `speakers` random centres (a synthetic episode) and their labels."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((speakers, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = rng.integers(0, speakers, n)
    x = centres[labels] + spread * rng.standard_normal((n, dim)) / np.sqrt(dim)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), labels.astype(np.int64)
