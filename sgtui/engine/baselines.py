"""Baselines behind the same interface as gated clustering: labels per line, -1 = unassigned.

Each takes unit vectors and returns raw labels; `methods.cluster` attaches human keys
and suggestions the same way for all of them.
"""

from __future__ import annotations

import numpy as np

from sgtui.engine.knn import KnnGraph, build_knn


def ahc(x: np.ndarray, similarity: float = 0.3) -> np.ndarray:
    """Average-linkage AHC on cosine distance cut at 1 − similarity (Speaker-Grouping's 0.3)."""
    from scipy.cluster.hierarchy import fcluster, linkage

    if x.shape[0] < 2:
        return np.zeros(x.shape[0], dtype=np.int64)
    z = linkage(np.asarray(x, dtype=np.float64), "average", metric="cosine")
    return fcluster(z, 1.0 - similarity, "distance").astype(np.int64) - 1


def hdbscan_labels(x: np.ndarray, min_cluster_size: int = 5) -> np.ndarray:
    """HDBSCAN (scikit-learn's) on unit vectors; its noise points stay unassigned."""
    from sklearn.cluster import HDBSCAN

    if x.shape[0] <= min_cluster_size:
        return np.full(x.shape[0], -1, dtype=np.int64)
    return HDBSCAN(min_cluster_size=min_cluster_size, copy=True).fit_predict(x).astype(np.int64)


def spectral(
    x: np.ndarray, graph: KnnGraph | None = None, k: int = 10, max_speakers: int = 20, seed: int = 0
) -> tuple[np.ndarray, int]:
    """Spectral clustering of the symmetric k-NN graph; speaker count by the largest eigengap."""
    from scipy.cluster.vq import kmeans2
    from scipy.sparse import coo_matrix, diags, identity
    from scipy.sparse.linalg import eigsh

    n = x.shape[0]
    if n < 3:
        return np.zeros(n, dtype=np.int64), 1
    graph = graph or build_knn(x, k)
    rows = np.repeat(np.arange(n), graph.k)
    w = np.maximum(graph.sims.ravel().astype(np.float64), 1e-6)
    a = coo_matrix((w, (rows, graph.indices.ravel())), shape=(n, n)).tocsr()
    a = a.maximum(a.T)
    d = np.asarray(a.sum(axis=1)).ravel()
    dm = diags(1.0 / np.sqrt(np.maximum(d, 1e-12)))
    lap = identity(n) - dm @ a @ dm
    m = min(max_speakers + 1, n - 1)
    if n <= 2000:
        vals, vecs = np.linalg.eigh(lap.toarray())
        vals, vecs = vals[:m], vecs[:, :m]
    else:
        vals, vecs = eigsh(lap, k=m, sigma=-1e-3, which="LM")
        order = np.argsort(vals)
        vals, vecs = vals[order], vecs[:, order]
    gaps = np.diff(vals)
    n_spk = int(np.argmax(gaps[1:]) + 2) if gaps.size > 1 else 1
    u = vecs[:, :n_spk]
    u = u / np.maximum(np.linalg.norm(u, axis=1, keepdims=True), 1e-12)
    best: tuple[float, np.ndarray] | None = None
    for s in range(10):
        cent, lab = kmeans2(u, n_spk, seed=seed + s, minit="++")
        inertia = float(((u - cent[lab]) ** 2).sum())
        if best is None or inertia < best[0]:
            best = (inertia, lab)
    assert best is not None
    return best[1].astype(np.int64), n_spk


def old_knn(
    x: np.ndarray, seeds: dict[int, int], sure: float = 0.4, maybe: float = 0.6
) -> tuple[np.ndarray, np.ndarray]:
    """The old Chat-Haruhi workflow: 3-NN among hand-labelled seed lines.

    `seeds`: line index -> label. Each other line takes the 3-NN vote of the seeds (three
    different labels: the nearest decides); its cosine distance to the nearest seed of that
    label ≤ `sure` is a sure guess, ≤ `maybe` a "(可能)" guess, beyond that unlabelled.
    Returns (labels, distance to the nearest seed of the chosen label).
    """
    n = x.shape[0]
    labels = np.full(n, -1, dtype=np.int64)
    dist = np.full(n, np.inf)
    if not seeds:
        return labels, dist
    idx = np.array(sorted(seeds), dtype=np.int64)
    lab = np.array([seeds[i] for i in idx.tolist()], dtype=np.int64)
    sims = np.asarray(x, dtype=np.float32) @ np.asarray(x[idx], dtype=np.float32).T
    for row in range(n):
        if row in seeds:
            labels[row], dist[row] = seeds[row], 0.0
            continue
        order = np.argsort(-sims[row], kind="stable")[:3]
        votes = lab[order]
        vals, counts = np.unique(votes, return_counts=True)
        winner = int(vals[np.argmax(counts)]) if counts.max() >= 2 else int(votes[0])
        d = 1.0 - float(sims[row, order[votes == winner][0]])
        if d <= maybe:
            labels[row], dist[row] = winner, d
    return labels, dist


def sample_seeds(truth: np.ndarray, share: float = 0.1, seed: int = 0) -> dict[int, int]:
    """The hand-labelled 10%: `share` of each speaker's lines (at least one), fixed seed."""
    rng = np.random.default_rng(seed)
    out: dict[int, int] = {}
    for s in np.unique(truth[truth >= 0]).tolist():
        lines = np.flatnonzero(truth == s)
        take = max(1, int(round(share * lines.size)))
        for i in rng.choice(lines, size=take, replace=False).tolist():
            out[int(i)] = int(s)
    return out
