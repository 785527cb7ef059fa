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
        """Undirected edges (i < j, deduplicated), sorted by similarity, highest first.

        Computed once per graph and kept (every re-cluster walks them).
        """
        cached = self.__dict__.get("_edges")
        if cached is None:
            cached = self._edges_uncached()
            self.__dict__["_edges"] = cached  # frozen dataclass: a cache, not state
        return cached

    def _edges_uncached(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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

    Lines without an image vector (a zero row) fall back to voice alone. A weight of 0
    leaves the image out entirely (voice vectors as they are: no extra zero dimensions
    for the refinement's whitening to see).
    """
    v = normalise(voice)
    if image is None or image_weight <= 0:
        return v
    im = normalise(image)
    has = np.linalg.norm(im, axis=1) > 0
    w = np.where(has, image_weight, 0.0)[:, None].astype(np.float32)
    return normalise(np.hstack([np.sqrt(1 - w) * v, np.sqrt(w) * im]))


EXACT_UP_TO = 20_000


def build_knn(x: np.ndarray, k: int = 10, block: int = 1024, exact: bool | None = None,
              nprobe: int = 8, seed: int = 0) -> KnnGraph:
    """The k-NN graph of unit vectors; a line is never its own neighbour.

    Exact (blocked products + partial sort) up to EXACT_UP_TO lines, else an inverted-file
    search: spherical k-means cells (~√n), each cell searched against its `nprobe` nearest
    cells — speaker vectors form tight clouds, so the true neighbours almost always sit in
    those cells (the benchmark reports the recall against the exact graph).
    """
    x = normalise(x)
    if exact is None:
        exact = x.shape[0] <= EXACT_UP_TO
    if exact:
        return _exact_knn(x, k, block)
    return _ivf_knn(x, k, nprobe, seed)


def _top_k(s: np.ndarray, cand: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k columns of each row of s (most similar first, ties by index) as (ids, sims)."""
    part = np.argpartition(s, s.shape[1] - k, axis=1)[:, -k:]
    ps = np.take_along_axis(s, part, axis=1)
    ids = cand[part]
    order = np.lexsort((ids, -ps), axis=1)
    return np.take_along_axis(ids, order, axis=1), np.take_along_axis(ps, order, axis=1)


def _exact_knn(x: np.ndarray, k: int, block: int) -> KnnGraph:
    """Self is excluded by index, not by similarity, so duplicated vectors stay neighbours."""
    n = x.shape[0]
    k = max(0, min(k, n - 1))
    idx = np.empty((n, k), dtype=np.int32)
    sims = np.empty((n, k), dtype=np.float32)
    if k == 0:
        return KnnGraph(idx, sims)
    every = np.arange(n)
    for a in range(0, n, block):
        b = min(n, a + block)
        s = x[a:b] @ x.T
        s[np.arange(b - a), np.arange(a, b)] = -np.inf
        idx[a:b], sims[a:b] = _top_k(s, every, k)
    return KnnGraph(idx, sims)


def _spherical_kmeans(x: np.ndarray, cells: int, seed: int, iters: int = 8) -> np.ndarray:
    """Unit centroids fitted on a sample (enough for routing queries, not for clustering)."""
    rng = np.random.default_rng(seed)
    sample = x[rng.choice(x.shape[0], size=min(x.shape[0], 40 * cells), replace=False)]
    cent = sample[rng.choice(sample.shape[0], size=cells, replace=False)].copy()
    for _ in range(iters):
        assign = np.argmax(sample @ cent.T, axis=1)
        sums = np.zeros_like(cent)
        np.add.at(sums, assign, sample)
        empty = np.linalg.norm(sums, axis=1) == 0
        sums[empty] = sample[rng.choice(sample.shape[0], size=int(empty.sum()))]
        cent = normalise(sums)
    return cent


def _ivf_knn(x: np.ndarray, k: int, nprobe: int, seed: int, block: int = 4096) -> KnnGraph:
    n = x.shape[0]
    k = max(0, min(k, n - 1))
    cells = max(1, int(np.sqrt(n)))
    cent = _spherical_kmeans(x, cells, seed)
    assign = np.concatenate([np.argmax(x[a:a + block] @ cent.T, axis=1) for a in range(0, n, block)])
    members = [np.flatnonzero(assign == c) for c in range(cells)]
    near = np.argsort(-(cent @ cent.T), axis=1)[:, :nprobe]
    idx = np.empty((n, k), dtype=np.int32)
    sims = np.empty((n, k), dtype=np.float32)
    for c in range(cells):
        q = members[c]
        if q.size == 0:
            continue
        cand = np.concatenate([members[d] for d in near[c]])
        if cand.size <= k:  # tiny neighbourhood: fall back to every line
            cand = np.arange(n)
        for a in range(0, q.size, block):
            qq = q[a:a + block]
            s = x[qq] @ x[cand].T
            s[cand[None, :] == qq[:, None]] = -np.inf
            idx[qq], sims[qq] = _top_k(s, cand, k)
    return KnnGraph(idx, sims)
