"""The k-nearest-neighbour graph every engine step works on (DESIGN.md §4.2).

Built once per episode (or season) by blocked matrix products and a partial sort, so
memory stays O(n·k + block·n) and 10^5 lines fit in well under 2 GB; re-clustering then
costs O(n·k log(n·k)) and never touches an n × n matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class KnnGraph:
    """Row i: the k most similar other lines of line i, most similar first (cosine)."""

    indices: np.ndarray  # (n, k) int32
    sims: np.ndarray  # (n, k) float32

    @property
    def n(self) -> int:
        return int(self.indices.shape[0])

    @property
    def k(self) -> int:
        return int(self.indices.shape[1])

    def edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Undirected edges (i < j, deduplicated), sorted by similarity, highest first."""
        n, k = self.indices.shape
        i = np.repeat(np.arange(n, dtype=np.int64), k)
        j = self.indices.ravel().astype(np.int64)
        s = self.sims.ravel()
        lo, hi = np.minimum(i, j), np.maximum(i, j)
        key = lo * n + hi
        key, first = np.unique(key, return_index=True)
        lo, hi, s = lo[first], hi[first], s[first]
        order = np.lexsort((key, -s))  # ties broken by index: deterministic
        return lo[order], hi[order], s[order]


def normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def fuse(voice: np.ndarray, image: np.ndarray | None, image_weight: float = 0.3) -> np.ndarray:
    """One vector per line whose cosine is the weighted mean of voice and image cosines.

    Lines without an image vector (a zero row) fall back to voice alone.
    """
    v = normalise(voice)
    if image is None:
        return v
    im = normalise(image)
    has = np.linalg.norm(im, axis=1) > 0
    w = np.where(has, image_weight, 0.0)[:, None].astype(np.float32)
    return normalise(np.hstack([np.sqrt(1 - w) * v, np.sqrt(w) * im]))


def build_knn(x: np.ndarray, k: int = 10, block: int = 1024) -> KnnGraph:
    """Exact k-NN graph of unit vectors by blocked products; a line is never its own neighbour.

    Self is excluded by index, not by similarity, so duplicated vectors stay neighbours.
    """
    x = normalise(x)
    n = x.shape[0]
    k = max(0, min(k, n - 1))
    idx = np.empty((n, k), dtype=np.int32)
    sims = np.empty((n, k), dtype=np.float32)
    if k == 0:
        return KnnGraph(idx, sims)
    for a in range(0, n, block):
        b = min(n, a + block)
        s = x[a:b] @ x.T
        s[np.arange(b - a), np.arange(a, b)] = -np.inf
        part = np.argpartition(-s, k - 1, axis=1)[:, :k]
        ps = np.take_along_axis(s, part, axis=1)
        order = np.lexsort((part, -ps), axis=1)
        idx[a:b] = np.take_along_axis(part, order, axis=1)
        sims[a:b] = np.take_along_axis(ps, order, axis=1)
    return KnnGraph(idx, sims)
