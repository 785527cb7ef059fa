"""Cleaning a finished partition: k-means-like re-assignment in a within-episode whitened space.

Gated clustering decides *which* clusters exist; its edge-by-edge joins can still leave a
line in the cluster of one close neighbour while the cluster as a whole fits it worse.
`refine_partition` fixes such lines, seeded by the clusters themselves:

1. Whitening learned transductively (no labels): the within-cluster scatter of the
   episode's own clusters, shrunk toward its average variance (`shrinkage`), defines a
   metric in which directions that vary *within* a speaker (channel, loudness, emotion)
   count less than the directions that separate the clusters — a label-free WCCN/LDA.
2. Each movable line goes to the cluster whose centroid (its own cluster's centroid
   without the line itself) is closest in cosine in that space; repeated until nothing
   moves or `iterations` passes. Unassigned lines are placed too when `fill` is set.
Clusters are never merged or created, only emptied when every line leaves. Lines a human
placed (or tied with a must-link) never move; a line never enters a cluster it is
cannot-linked to.

Defaults (GatedParams.refine_*) were chosen on generated episodes calibrated to haruhi16's
unlabelled vectors, with LibriSpeech-built episodes as a guard (bench/engine.py
--defaults); haruhi03's labels never entered.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cho_factor, solve_triangular


def group_sums(z: np.ndarray, g: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """(sum of rows per group, group sizes) for labels g in [0, n_groups), −1 ignored;
    one sort and `np.add.reduceat` (np.add.at is ~10x slower)."""
    keep = np.flatnonzero(g >= 0)
    order = keep[np.argsort(g[keep], kind="stable")]
    sizes = np.bincount(g[keep], minlength=n_groups)
    sums = np.zeros((n_groups, z.shape[1]), dtype=z.dtype)
    if order.size:
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        nz = sizes > 0
        sums[nz] = np.add.reduceat(z[order], starts[nz], axis=0)
    return sums, sizes


def whitening(x: np.ndarray, labels: np.ndarray, shrinkage: float) -> np.ndarray | None:
    """Lower Cholesky factor L of the shrunk within-cluster covariance (W = L Lᵀ), or None
    when there are fewer than two clusters of two lines (nothing to learn from).
    labels: group indices 0..G−1, −1 = unassigned."""
    n_groups = int(labels.max()) + 1 if labels.size else 0
    sums, sizes = group_sums(x, labels, n_groups)
    if (sizes >= 2).sum() < 2:
        return None
    use = np.flatnonzero(labels >= 0)
    use = use[sizes[labels[use]] >= 2]
    r = (x[use] - (sums / np.maximum(sizes, 1)[:, None])[labels[use]]).astype(np.float32)
    d = x.shape[1]
    dof = max(use.size - int((sizes >= 2).sum()), 1)
    w = (r.T @ r).astype(np.float64) / dof
    avg = float(np.trace(w)) / d
    if not avg > 0:
        return None
    w *= 1.0 - shrinkage
    w[np.diag_indices(d)] += shrinkage * avg
    c, _ = cho_factor(w, lower=True)
    return np.tril(c)


def centroid_scores(z: np.ndarray, labels: np.ndarray, n_groups: int) -> np.ndarray:
    """Cosine of each line to each group's centroid (sum direction); a line's own group
    leaves the line out, and a group of one scores −1 for its own line."""
    sums, sizes = group_sums(z, labels, n_groups)
    a = labels >= 0
    norms = np.linalg.norm(sums, axis=1)
    scores = (z @ sums.T) / np.maximum(norms, 1e-12)
    rows = np.flatnonzero(a)
    own = sums[labels[rows]] - z[rows]
    own_norm = np.linalg.norm(own, axis=1)
    own_score = np.einsum("ij,ij->i", z[rows], own) / np.maximum(own_norm, 1e-12)
    own_score[(sizes[labels[rows]] <= 1) | (own_norm <= 1e-12)] = -1.0
    scores[rows, labels[rows]] = own_score
    scores[:, sizes == 0] = -np.inf  # an emptied group takes no one back
    return scores


def refine_partition(
    x: np.ndarray,
    labels: np.ndarray,
    movable: np.ndarray | None = None,
    forbidden: set[tuple[int, int]] | frozenset[tuple[int, int]] = frozenset(),
    iterations: int = 5,
    shrinkage: float = 0.8,
    fill: bool = True,
) -> np.ndarray:
    """Labels after re-assigning movable lines to their nearest LOO centroid (see module doc).

    labels: any non-negative ints, −1 = unassigned; the result uses the same label values.
    movable: lines allowed to change (default: all); forbidden: (line, label) pairs a line
    may never take. With `fill`, unassigned movable lines are placed as well.
    """
    labels = np.asarray(labels, dtype=np.int64).copy()
    n = labels.shape[0]
    if iterations <= 0 or n == 0:
        return labels
    uniq = np.unique(labels[labels >= 0])
    if uniq.size < 2:
        return labels
    g = np.where(labels >= 0, np.searchsorted(uniq, np.maximum(labels, 0)), -1)
    x = np.asarray(x, dtype=np.float32)
    move = np.ones(n, dtype=bool) if movable is None else np.asarray(movable, dtype=bool).copy()
    if not fill:
        move &= g >= 0
    rows = np.flatnonzero(move)
    if rows.size == 0:
        return labels
    ban = np.zeros((n, uniq.size), dtype=bool)
    pos = {int(v): i for i, v in enumerate(uniq.tolist())}
    for line, lab in forbidden:
        if 0 <= line < n and lab in pos:
            ban[line, pos[lab]] = True
    chol = whitening(x, g, shrinkage)
    if chol is not None:  # z = L⁻¹x: float32 products, the factor itself in float64
        inv = solve_triangular(chol, np.eye(chol.shape[0]), lower=True, check_finite=False)
        x = x @ inv.T.astype(np.float32)
    for _ in range(iterations):
        s = centroid_scores(x, g, uniq.size)[rows]
        s[ban[rows]] = -np.inf
        best = np.argmax(s, axis=1)
        ok = np.isfinite(s[np.arange(rows.size), best])
        new = np.where(ok, best, g[rows])
        if np.array_equal(new, g[rows]):
            break
        g[rows] = new
    return np.where(g >= 0, uniq[np.maximum(g, 0)], -1)
