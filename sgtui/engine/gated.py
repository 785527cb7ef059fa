"""Gated clustering on a cached k-NN graph (docs/architecture.md, "The engine" 2–3).

Steps, each a small function with its parameters in `GatedParams`:
1. `merge_edges`: closest edges first, union-find; an edge may merge two components only
   if their *average* similarity (one dot product of vector sums) clears the threshold —
   single-linkage chaining cannot glue two speakers through one close pair.
2. `merge_connected`: components whose k-NN lists point at each other often
   (shared edges / (k · smaller size) ≥ gamma) are merged, strongest first — a rank-based
   test that does not depend on the encoder's similarity scale.
3. Confidence: the share of each line's neighbours that agree with that provisional
   clustering (or a trained model that takes this share among its features). Lines
   below `tau` are taken out, the core is clustered again (a trained merge MLP may veto
   edge merges), and low-confidence lines may then only *join* the cluster most of their
   neighbours are in: they never merge two clusters, and an edge between two of them is
   never merged.
4. Refinement (`refine.refine_partition`): each line not placed by a human moves to the
   cluster whose centroid it is closest to in a within-episode whitened space, and lines
   still unassigned are placed the same way; clusters are never merged or created. When
   the time order of the lines is known, neighbouring lines' clusters weigh in as well.
Human work is a hard constraint throughout (see `constraints.ConstrainedUnionFind`).
Without labels or tuning, the threshold is estimated from the episode itself: a fixed
point (`threshold_position`) between a typical unrelated pair and a typical 10th nearest
neighbour.
"""

from __future__ import annotations

import contextlib
import heapq
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sgtui.engine.constraints import NONE, ConstrainedUnionFind, Constraints
from sgtui.engine.knn import KnnGraph
from sgtui.engine.merge_model import MergeMLP, pair_features
from sgtui.engine.refine import refine_partition

THRESHOLD_POSITION = 0.65  # see GatedParams.threshold_position
TEMPORAL_KAPPA = 2.6  # see GatedParams.temporal_kappa


@dataclass(frozen=True)
class GatedParams:
    """Every knob of gated clustering, in one place; None = estimated from the episode."""

    threshold: float | None = None  # average-similarity gate for edge merges
    # Where the estimated threshold sits between a typical unrelated pair (0) and a typical
    # 10th neighbour (1), and the k-NN connectivity needed to merge two components. Chosen
    # together on generated episodes calibrated to haruhi16's unlabelled vectors: the lowest
    # mean ops/100 among the settings no worse on LibriSpeech-built episodes than the former
    # (0.5, 0.5) (bench/engine.py --defaults); haruhi03's labels never entered the choice.
    threshold_position: float = THRESHOLD_POSITION
    gamma: float = 0.7
    tau: float = 0.5  # confidence below which a line may only join
    join_share: float = 0.5  # share of a low line's neighbours its cluster must hold
    min_size: int = 2  # smaller components without a human key stay unassigned
    pair_samples: int = 400  # random lines whose pairs give the unrelated-pair median
    # Refinement of the final partition (refine.py); 0 passes = off. Chosen on generated
    # episodes calibrated to haruhi16's unlabelled vectors, LibriSpeech-built episodes as a
    # guard (bench/engine.py --defaults); haruhi03's labels never entered. Every choice was
    # made once more with the whole pipeline in place (temporal context on), by the same
    # rules: gamma and position stayed, shrinkage moved 0.8 -> 0.65, kappa 2.8 -> 2.6.
    refine_iters: int = 5
    refine_shrinkage: float = 0.65  # within-cluster covariance shrunk 65% toward its mean variance
    refine_fill: bool = True  # also place lines the clustering left unassigned
    # Temporal context (refine.smooth_in_time), used when the lines' time order is given;
    # 0 = off. The value converts whitened centroid scores to log-likelihoods: the maximum-
    # likelihood calibration on generated episodes in random order (bench/engine.py
    # --defaults), not tuned on any episode's ops.
    temporal_kappa: float = TEMPORAL_KAPPA
    temporal_sweeps: int = 5
    # Rounds of the whole refinement (whitening re-learned from the refined partition, then
    # centroids and time again); the lowest dev ops among 1-3 rounds (bench --defaults).
    refine_rounds: int = 2
    # min_size applied again after refinement (a cluster emptied below it is let go and its
    # lines placed again): an invariant, not a tuned knob; it changes no episode of the dev
    # suite and makes neither worse (bench/engine.py --defaults).
    final_min_size: bool = True


DEFAULT_PARAMS = GatedParams()


def estimate_threshold(x: np.ndarray, graph: KnnGraph, samples: int = 400, seed: int = 0,
                       position: float = THRESHOLD_POSITION) -> float:
    """A point between the median similarity of random pairs (position 0) and of the 10th
    neighbour (position 1).

    The first is what two different speakers typically score with this encoder (pairs
    among `samples` random lines: ~80,000 pairs, enough for a median), the second what a
    speaker's near lines score; a point between them needs no labels and follows the
    encoder's own scale. Deterministic for a given episode (fixed seed).
    """
    n = x.shape[0]
    if n < 3 or graph.k == 0:
        return 0.5
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(n, size=min(n, samples), replace=False))
    sub = np.asarray(x[pick], dtype=np.float32)
    s = sub @ sub.T
    unrelated = float(np.median(s[np.triu_indices(pick.size, 1)]))
    near = float(np.median(graph.sims[:, min(graph.k, 10) - 1]))
    return unrelated + position * (near - unrelated)


def merge_edges(
    uf: ConstrainedUnionFind, graph: KnnGraph, threshold: float, active: np.ndarray | None = None,
    mlp: MergeMLP | None = None, conf: np.ndarray | None = None,
    split: tuple[int, float] | None = None,
) -> None:
    """Closest edges first: merge two components when their average similarity ≥ threshold
    and, with a merge MLP (and the lines' confidence), the MLP agrees: the learned decision
    may veto a merge, never force one (a wrong forced merge of two speakers costs far more
    than a missed one, which connectivity merging or the annotator still repairs)."""
    lo, hi, s = graph.edges()
    keep = s >= threshold
    if active is not None:
        keep &= active[lo] & active[hi]
    parent, allowed, union, size, sums = uf.parent, uf.allowed, uf.union_roots, uf.size, uf.sums
    for a0, b0 in zip(lo[keep].tolist(), hi[keep].tolist(), strict=True):
        a, b = a0, b0
        while parent[a] != a:  # find with path halving, inlined: this loop is the hot path
            parent[a] = parent[parent[a]]
            a = parent[a]
        while parent[b] != b:
            parent[b] = parent[parent[b]]
            b = parent[b]
        if a == b or not allowed(a, b):
            continue
        if size[a] == 1 and size[b] == 1:
            ok = True  # the edge itself is the average
        else:
            ok = float(sums[a] @ sums[b]) >= threshold * size[a] * size[b]
        if ok and mlp is not None:
            assert conf is not None
            ok = mlp.prob(pair_features(uf, a, b, a0, b0, conf, None, split))[0] >= 0.5
        if ok:
            union(a, b)


def merge_connected(
    uf: ConstrainedUnionFind, graph: KnnGraph, gamma: float, active: np.ndarray | None = None
) -> None:
    """Merge components whose k-NN edges between them are dense, strongest first."""
    n, k = graph.indices.shape
    if k == 0:
        return
    roots = uf.roots()
    i = np.repeat(np.arange(n), k)
    j = graph.indices.ravel().astype(np.int64)
    if active is not None:
        m = active[i] & active[j]
        i, j = i[m], j[m]
    ri, rj = roots[i], roots[j]
    m = ri != rj
    ri, rj = np.minimum(ri[m], rj[m]), np.maximum(ri[m], rj[m])
    pair, counts = np.unique(ri * n + rj, return_counts=True)
    adj: dict[int, dict[int, int]] = {}
    for p, c in zip(pair.tolist(), counts.tolist(), strict=True):
        a, b = divmod(p, n)
        adj.setdefault(a, {})[b] = c
        adj.setdefault(b, {})[a] = c
    size = uf.size

    def strength(a: int, b: int) -> float:
        return adj[a][b] / (k * min(size[a], size[b]))

    heap = [(-strength(a, b), a, b) for a in adj for b in adj[a] if a < b]
    heapq.heapify(heap)
    while heap:
        neg, a, b = heapq.heappop(heap)
        if -neg < gamma:
            break
        if a not in adj or b not in adj.get(a, {}) or -neg != strength(a, b):
            continue  # stale entry
        if not uf.allowed(a, b):
            continue
        r = uf.union(a, b)
        assert r is not None
        gone = b if r == a else a
        edges = adj.pop(gone)
        edges.pop(r, None)
        adj[r].pop(gone, None)
        for c, cnt in edges.items():
            adj[c].pop(gone, None)
            adj[r][c] = adj[r].get(c, 0) + cnt
            adj[c][r] = adj[r][c]
        for c in adj[r]:
            heapq.heappush(heap, (-strength(r, c), min(r, c), max(r, c)))


def agreement(graph: KnnGraph, labels: np.ndarray) -> np.ndarray:
    """Similarity-weighted share of each line's neighbours that share its label (0 if none)."""
    if graph.k == 0:
        return np.zeros(graph.n)
    nb = labels[graph.indices]
    w = np.maximum(graph.sims.astype(np.float64), 0.0)
    same = ((nb == labels[:, None]) & (labels[:, None] >= 0)) * w
    tot = w.sum(axis=1)
    return np.where(tot > 0, same.sum(axis=1) / np.where(tot > 0, tot, 1.0), 0.0)


def _components(uf: ConstrainedUnionFind, min_size: int) -> np.ndarray:
    """Root per line, -1 for lines in small components that no human placed."""
    roots = uf.roots()
    return np.where(np.isin(roots, _small_clusters(roots, uf, min_size)), -1, roots)


def _small_clusters(labels: np.ndarray, uf: ConstrainedUnionFind, min_size: int) -> list[int]:
    """Labels (union-find roots) with fewer than min_size lines and no human key."""
    ids, counts = np.unique(labels[labels >= 0], return_counts=True)
    return [int(r) for r, c in zip(ids, counts, strict=True) if c < min_size and uf.key[r] is None]


def join_low(
    uf: ConstrainedUnionFind, graph: KnnGraph, labels: np.ndarray, low: np.ndarray, share: float
) -> np.ndarray:
    """Let each low-confidence line join the cluster most of its neighbours are in.

    Most confident first, so a line may join through one that joined before it; a line
    joins only when that cluster holds ≥ `share` of its (similarity-weighted) neighbours
    and no cannot-link forbids it. Joining never merges two clusters.
    """
    labels = labels.copy()
    order = np.flatnonzero(low)
    w = np.maximum(graph.sims.astype(np.float64), 0.0)
    for line in order.tolist():
        if labels[line] >= 0:
            continue  # placed by a human or linked to placed lines
        nb = labels[graph.indices[line]]
        tot = w[line].sum()
        if tot <= 0:
            continue
        votes: dict[int, float] = {}
        for lab, wt in zip(nb.tolist(), w[line].tolist(), strict=True):
            if lab >= 0:
                votes[lab] = votes.get(lab, 0.0) + wt
        for lab, v in sorted(votes.items(), key=lambda kv: -kv[1]):
            if v / tot < share:
                break
            root = uf.find(lab)
            key = uf.key[root]
            if key is not None and key in uf.avoid[line]:
                continue
            labels[line] = lab
            break
    return labels


def provisional_agreement(
    x: np.ndarray, graph: KnnGraph, constraints: Constraints = NONE,
    params: GatedParams = DEFAULT_PARAMS, threshold: float | None = None,
) -> np.ndarray:
    """The heuristic confidence: agreement of each line with an ungated first clustering."""
    theta = (estimate_threshold(x, graph, params.pair_samples, position=params.threshold_position)
             if threshold is None else threshold)
    uf = ConstrainedUnionFind(np.asarray(x, dtype=np.float32), constraints)
    merge_edges(uf, graph, theta)
    merge_connected(uf, graph, params.gamma)
    return agreement(graph, _components(uf, params.min_size))


_CONTROLLER: list = []  # threadpoolctl's controller, made once (inspecting libraries is slow)


def _one_blas_thread():
    """Re-clustering makes only small products: one BLAS thread avoids the spin-wait
    stalls of a threaded BLAS on a busy machine (10 ms → 0.4 ms for a 400² product here)."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # optional: comes with scikit-learn
        return contextlib.nullcontext()
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=1, user_api="blas")


def gated_cluster(
    x: np.ndarray,
    graph: KnnGraph,
    constraints: Constraints = NONE,
    params: GatedParams = DEFAULT_PARAMS,
    confidence: np.ndarray | Callable[[np.ndarray], np.ndarray] | None = None,
    mlp: MergeMLP | None = None,
    split: tuple[int, float] | None = None,
    order: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, float]:
    """(root label per line or -1, confidence used, threshold used).

    `order`: line indices in time order (enables temporal context in the refinement).

    `confidence`: per-line values replacing the self-agreement estimate, or a function
    from that estimate to confidence (a trained model that also sees other features); `mlp`
    replaces the threshold for the core's edge merges (`split`: see merge_model.pair_features;
    image confidence is not estimated yet, so those two features are 0).
    """
    with _one_blas_thread():
        return _gated(x, graph, constraints, params, confidence, mlp, split, order)


def _gated(x, graph, constraints, params, confidence, mlp, split, order):
    x = np.asarray(x, dtype=np.float32)
    n = x.shape[0]
    theta = params.threshold
    if theta is None:
        theta = estimate_threshold(x, graph, params.pair_samples, position=params.threshold_position)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0), theta
    if confidence is None or callable(confidence):
        agree = provisional_agreement(x, graph, constraints, params, theta)
        confidence = agree if confidence is None else confidence(agree)
    fixed = np.zeros(n, dtype=bool)
    fixed[[i for i in constraints.fixed if 0 <= i < n]] = True
    core = (confidence >= params.tau) | fixed
    uf = ConstrainedUnionFind(x, constraints)
    merge_edges(uf, graph, theta, active=core, mlp=mlp, conf=confidence, split=split)
    merge_connected(uf, graph, params.gamma, active=core)
    labels = _components(uf, params.min_size)
    labels = join_low(uf, graph, labels, ~core, params.join_share)
    if params.refine_iters > 0:
        labels = _refine(x, uf, labels, constraints, fixed, params, order)
    return labels, confidence, theta


def _refine(x: np.ndarray, uf: ConstrainedUnionFind, labels: np.ndarray, constraints: Constraints,
            fixed: np.ndarray, params: GatedParams, order: np.ndarray | None) -> np.ndarray:
    """refine_partition with human work kept: placed and must-linked lines stay, and a line
    never enters a cluster holding a key it is cannot-linked to."""
    n = labels.shape[0]
    movable = ~fixed
    for a, b in constraints.must_link:
        for i in (a, b):
            if 0 <= i < n:
                movable[i] = False
    root_of_key = {uf.key[r]: r for r in np.unique(labels[labels >= 0]).tolist() if uf.key[r] is not None}
    forbidden = {(line, root_of_key[key]) for line, key in constraints.cannot_link
                 if 0 <= line < n and key in root_of_key}

    def refine(labels: np.ndarray) -> np.ndarray:
        return refine_partition(x, labels, movable, forbidden, params.refine_iters,
                                params.refine_shrinkage, params.refine_fill, order,
                                params.temporal_kappa, params.temporal_sweeps)

    for _ in range(max(params.refine_rounds, 1)):
        new = refine(labels)
        if np.array_equal(new, labels):
            break
        labels = new
    # min_size holds for the final partition too: a cluster that refinement emptied below it
    # (lines drawn to other centroids) is noise, not a speaker, and would cost a merge. Its
    # movable lines are let go and placed again; a cluster with a human key always stays.
    if not (params.final_min_size and params.refine_fill):
        return labels
    for _ in range(3):
        let_go = np.isin(labels, _small_clusters(labels, uf, params.min_size)) & movable
        if not let_go.any():
            break
        labels = refine(np.where(let_go, -1, labels))
    return labels
