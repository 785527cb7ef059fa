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
3. Temporal context (`smooth_in_time`, when the lines' time order is known): dialogue has
   structure — a speaker goes on, or two alternate — so a line whose voice is ambiguous
   leans toward what its neighbours in time are, with the episode's own transition counts
   as the prior.
Clusters are never merged or created, only emptied when every line leaves. Lines a human
placed (or tied with a must-link) never move; a line never enters a cluster it is
cannot-linked to.

Defaults (GatedParams.refine_*) were chosen in wave 1 on generated episodes calibrated to
haruhi16's unlabelled vectors; haruhi03's labels never entered. Lone lines (a cluster of
one, or none) are gated (`join_min`, `join_min_time`): a minor character is not drawn into
a main character's cluster just because a big centroid is close to every line.
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


def centroid_scores(z: np.ndarray, labels: np.ndarray, n_groups: int, mean: bool = False) -> np.ndarray:
    """Cosine of each line to each group's centroid (sum direction); a line's own group
    leaves the line out, and a group of one scores −1 for its own line.

    `mean`: the line's product with the group's mean instead (its average similarity to
    the group's lines, average linkage): a centroid's direction sits closer to any line
    the more lines it averages, so cosine scores draw lines toward big clusters."""
    sums, sizes = group_sums(z, labels, n_groups)
    a = labels >= 0
    norms = np.linalg.norm(sums, axis=1) if not mean else sizes.astype(np.float64)
    scores = (z @ sums.T) / np.maximum(norms, 1e-12)
    rows = np.flatnonzero(a)
    own = sums[labels[rows]] - z[rows]
    own_norm = np.linalg.norm(own, axis=1) if not mean else (sizes[labels[rows]] - 1).astype(np.float64)
    own_score = np.einsum("ij,ij->i", z[rows], own) / np.maximum(own_norm, 1e-12)
    own_score[(sizes[labels[rows]] <= 1) | (own_norm <= 1e-12)] = -1.0
    scores[rows, labels[rows]] = own_score
    scores[:, sizes == 0] = -np.inf  # an emptied group takes no one back
    return scores


def whitened(x: np.ndarray, g: np.ndarray, shrinkage: float) -> np.ndarray:
    """x in the within-cluster whitened space of groups g (z = L⁻¹x, float32; x itself when
    there is nothing to learn from). Rows are not re-normalised: a line's scores all scale
    by its own length, so its ranking of clusters is a cosine ranking."""
    x = np.asarray(x, dtype=np.float32)
    chol = whitening(x, g, shrinkage)
    if chol is None:
        return x
    inv = solve_triangular(chol, np.eye(chol.shape[0]), lower=True, check_finite=False)
    return x @ inv.T.astype(np.float32)


def _may_join(x: np.ndarray, g: np.ndarray, rows: np.ndarray, best: np.ndarray, n_groups: int,
              join_min: float, alone_max: int = 1, relative: tuple[float, float] | None = None,
              neighbours: np.ndarray | None = None) -> np.ndarray:
    """For each of `rows` (moving to group `best`): True unless the line is alone (group
    of at most `alone_max` lines, or none) and its average cosine to `best`'s lines is
    below join_min. `relative` = (centre, ratio): the bar for a group is at most
    centre + ratio × (the group's own average within-pair cosine − centre): a line as close
    to a loose cluster as its members are to each other may join it."""
    sums, sizes = group_sums(np.asarray(x, dtype=np.float32), g, n_groups)
    cur = g[rows]
    alone = (cur < 0) | (sizes[np.maximum(cur, 0)] <= alone_max)
    if not alone.any():
        return np.ones(rows.size, dtype=bool)
    xb = np.asarray(x[rows], dtype=np.float32)
    avg = np.einsum("ij,ij->i", xb, sums[best]) / np.maximum(sizes[best], 1)
    bar = np.full(rows.size, join_min)
    if relative is not None:
        centre, ratio = relative
        n = sizes.astype(np.float64)
        within = np.where(n > 1, (np.einsum("ij,ij->i", sums, sums) - n) / np.maximum(n * (n - 1), 1), np.inf)
        rel_bar = centre + ratio * (within[best] - centre)
        if neighbours is not None:  # ... only where most of the line's neighbours are in it
            share = (g[neighbours[rows]] == best[:, None]).mean(axis=1)
            rel_bar = np.where(share >= 0.5, rel_bar, np.inf)
        bar = np.minimum(bar, rel_bar)
    return ~alone | (best == cur) | (avg >= bar)


def refine_partition(
    x: np.ndarray,
    labels: np.ndarray,
    movable: np.ndarray | None = None,
    forbidden: set[tuple[int, int]] | frozenset[tuple[int, int]] = frozenset(),
    iterations: int = 5,
    shrinkage: float = 0.65,
    fill: bool = True,
    order: np.ndarray | None = None,
    kappa: float = 0.0,
    sweeps: int = 5,
    join_min: float | None = None,
    mean: bool = False,
    join_min_time: float | None = None,
    alone_max: int = 1,
    join_relative: tuple[float, float] | None = None,
    neighbours: np.ndarray | None = None,
) -> np.ndarray:
    """Labels after re-assigning movable lines to their nearest LOO centroid (see module doc).

    labels: any non-negative ints, −1 = unassigned; the result uses the same label values.
    movable: lines allowed to change (default: all); forbidden: (line, label) pairs a line
    may never take. With `fill`, unassigned movable lines are placed as well. With `order`
    (line indices in time order) and `kappa` > 0, `smooth_in_time` follows.

    `join_min`: a line alone (a cluster of one, or unassigned) enters another cluster only
    if its average cosine to that cluster's lines (in x, average linkage) reaches it;
    otherwise it stays where it is. A centroid of many lines is closer to almost any line
    than one line is, so without this a minor character's lone line is always drawn into
    a main character's cluster. `join_min_time`: the same gate for the temporal step.
    `alone_max`: clusters of up to this many lines count as alone for both gates.
    `join_relative`: (centre, ratio), each gate relative to the destination's cohesion too
    (see `_may_join`).
    """
    labels = np.asarray(labels, dtype=np.int64).copy()
    n = labels.shape[0]
    if iterations <= 0 or n == 0:
        return labels
    uniq = np.unique(labels[labels >= 0])
    if uniq.size < 2:
        return labels
    g = np.where(labels >= 0, np.searchsorted(uniq, np.maximum(labels, 0)), -1)
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
    z = whitened(x, g, shrinkage)
    for _ in range(iterations):
        s = centroid_scores(z, g, uniq.size, mean)[rows]
        s[ban[rows]] = -np.inf
        best = np.argmax(s, axis=1)
        ok = np.isfinite(s[np.arange(rows.size), best])
        if join_min is not None:
            ok &= _may_join(x, g, rows, best, uniq.size, join_min, alone_max, join_relative, neighbours)
        new = np.where(ok, best, g[rows])
        if np.array_equal(new, g[rows]):
            break
        g[rows] = new
    if order is not None and kappa > 0:
        s = centroid_scores(z, g, uniq.size, mean)
        s[ban] = -np.inf
        before = g
        g = smooth_in_time(s, g, np.asarray(order, dtype=np.int64), kappa, move, sweeps)
        moved = np.flatnonzero(g != before)
        if join_min_time is not None and moved.size:  # a lone line's gate in time (lower: time is evidence too)
            keep = ~_may_join(x, before, moved, g[moved], uniq.size, join_min_time, alone_max, join_relative,
                              neighbours)
            g[moved[keep]] = before[moved[keep]]
    return np.where(g >= 0, uniq[np.maximum(g, 0)], -1)


def transition_logprob(seq: np.ndarray, n_groups: int) -> np.ndarray:
    """log P(next line's group | this line's group) from consecutive assigned lines of
    `seq` (groups in time order, −1 = none), with one pseudo-count per cell."""
    a, b = seq[:-1], seq[1:]
    both = (a >= 0) & (b >= 0)
    counts = np.ones((n_groups, n_groups))
    np.add.at(counts, (a[both], b[both]), 1.0)
    return np.log(counts / counts.sum(axis=1, keepdims=True))


def smooth_in_time(
    scores: np.ndarray, g: np.ndarray, order: np.ndarray, kappa: float,
    movable: np.ndarray | None = None, sweeps: int = 5,
) -> np.ndarray:
    """Temporal context for the voice decision: a first-order chain over lines in time order.

    Each movable, assigned line takes the group maximising
        kappa · score(line, group) + log P(group | previous line's) + log P(next line's | group),
    the transition probabilities counted from the episode's own current partition (so a
    show where speakers alternate, or keep talking, teaches its own prior; an uninformative
    order gives roughly the groups' sizes). Iterated conditional modes, even then odd
    positions (each half is independent given the other), re-counting the transitions each
    sweep. `kappa` turns scores into log-likelihoods: it is a calibration of the score scale,
    fitted on generated episodes (bench/engine.py --defaults), not tuned per episode.
    scores: (lines × groups), −inf where a group is forbidden; g: group per line, −1 none.
    """
    g = np.asarray(g, dtype=np.int64).copy()
    n, n_groups = scores.shape
    if n < 3 or n_groups < 2:
        return g
    move = np.ones(n, dtype=bool) if movable is None else np.asarray(movable, dtype=bool)
    seq = g[order]
    s = scores[order]
    mv = move[order] & (seq >= 0)
    t = np.arange(n)
    for _ in range(sweeps):
        log_t = transition_logprob(seq, n_groups)
        freq = np.bincount(seq[seq >= 0], minlength=n_groups) + 1.0
        log_p = np.log(freq / freq.sum())  # the groups' sizes: taken out again (see above)
        changed = 0
        for parity in (0, 1):
            rows = t[mv & (t % 2 == parity)]
            if rows.size == 0:
                continue
            prior = np.zeros((rows.size, n_groups))
            prev = np.where(rows > 0, seq[np.maximum(rows - 1, 0)], -1)
            nxt = np.where(rows < n - 1, seq[np.minimum(rows + 1, n - 1)], -1)
            has = prev >= 0
            prior[has] += log_t[prev[has]] - log_p
            has = nxt >= 0
            prior[has] += log_t[:, nxt[has]].T
            total = kappa * s[rows] + prior
            best = np.argmax(total, axis=1)
            ok = np.isfinite(total[np.arange(rows.size), best])
            new = np.where(ok, best, seq[rows])
            changed += int((new != seq[rows]).sum())
            seq[rows] = new
        if not changed:
            break
    g[order] = seq
    return g
