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
Without labels or tuning, the threshold is estimated from the episode itself:
`threshold_z` spreads above the typical similarity of two different speakers
(`estimate_unrelated`, from random pairs), which assumes nothing about how many lines a
speaker has, capped one spread below the typical nearest-neighbour similarity (clean,
distinct voices spread unrelated pairs so wide that the z-rule alone would split every
speaker). The former rule (a point between a typical unrelated pair and a typical 10th
neighbour) assumed ten or more lines per speaker and under-clustered casts with a long tail.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from sgtui.blas import one_blas_thread
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
    # The former threshold rule (used when threshold_z is None): where the threshold sits
    # between a typical unrelated pair (0) and a typical 10th neighbour (1).
    threshold_position: float = THRESHOLD_POSITION
    # Defaults of the dev suite (bench/devsuite.py: real-speech regimes and an anime-like
    # one made by sgtui/media/synth.py; bench/engine.py --defaults prints the declared rule
    # and the grid; haruhi03 and the bundled samples never entered any choice): threshold_z,
    # the nearest-neighbour ceiling (cap_drop) and refine_alone_max from the second round's
    # grid; time_gate_z and tau from the first; mutual connectivity (gamma), min_size 1 and
    # the lone-line gate from earlier, coarser runs on the real-speech regimes.
    gamma: float = 0.45  # k-NN density, both ways, needed to merge two components
    tau: float = 0.3  # confidence below which a line may only join
    join_share: float = 0.5  # share of a low line's neighbours its cluster must hold
    # Smaller components without a human key stay unassigned. 1: a minor character's single
    # line may stand alone (costs nothing when it is one) instead of joining a main character.
    min_size: int = 1
    pair_samples: int = 400  # random lines whose pairs give the unrelated-pair median
    # Refinement of the final partition (refine.py); 0 passes = off. Shrinkage, kappa and
    # rounds were chosen in wave 1 on generated episodes calibrated to haruhi16's
    # unlabelled vectors (haruhi03's labels never entered) and kept.
    refine_iters: int = 5
    refine_shrinkage: float = 0.65  # within-cluster covariance shrunk 65% toward its mean variance
    refine_fill: bool = True  # also place lines the clustering left unassigned
    # Temporal context (refine.smooth_in_time), used when the lines' time order is given;
    # 0 = off. The value converts whitened centroid scores to log-likelihoods: the maximum-
    # likelihood calibration on generated episodes in random order (wave 1), not tuned on
    # any episode's ops.
    temporal_kappa: float = TEMPORAL_KAPPA
    temporal_sweeps: int = 5
    # Rounds of the whole refinement (whitening re-learned from the refined partition, then
    # centroids and time again); the lowest dev ops among 1-3 rounds (wave 1).
    refine_rounds: int = 2
    # min_size applied again after refinement (a cluster emptied below it is let go and its
    # lines placed again): an invariant, not a tuned knob.
    final_min_size: bool = True
    # Threshold rule: with `threshold_z` set, the threshold is `threshold_z` spreads above
    # the typical unrelated pair (estimate_unrelated), which assumes nothing about how many
    # lines a speaker has; None = the position rule above.
    threshold_z: float | None = 3.0
    connect_mutual: bool = True  # merge_connected's two-sided density test
    # refinement moves a lone line (cluster of one, or unassigned) only into a cluster whose
    # average similarity to it clears the merge threshold (refine.refine_partition join_min)
    refine_alone_gate: bool = True
    # clusters of up to this many lines count as alone for both gates: a minor character's
    # two or three lines are not dissolved into a main character's centroid either
    refine_alone_max: int = 3
    # ... and a lone line may also join a cluster it is as close to, relative to unrelated
    # pairs, as `join_relative` of that cluster's own cohesion (None = the fixed bars only)
    join_relative: float | None = 0.3
    join_relative_votes: bool = True  # ... and only where most of its k neighbours are in it
    refine_mean: bool = False  # score clusters by average similarity, not centroid cosine
    # the temporal step may move a lone line only into a cluster whose average similarity
    # to it clears centre + time_gate_z × spread of unrelated pairs (None = no gate)
    time_gate_z: float | None = 2.0
    # Ceiling on the z-rule's threshold: the median similarity of a line to its nearest
    # neighbour (column cap_k of the k-NN graph), less cap_drop spreads of unrelated pairs.
    # Almost every line's nearest neighbour is its own speaker in any cast, so a threshold
    # above what most nearest neighbours score would split every speaker. This binds on
    # clean, distinct voices (anime-like episodes: unrelated pairs spread wide, lines of one
    # voice very close) and leaves hard real speech to the z-rule. None = no ceiling.
    cap_k: int | None = 0
    cap_drop: float = 1.5
    # The image channel's weight (engine.modality.image_weight): the most it gets when its
    # neighbours fully agree with the voice structure, and the agreement above chance it
    # needs before it gets any (stage 2 of bench/engine.py --defaults).
    image_max_weight: float = 0.3
    image_margin: float = 0.0


DEFAULT_PARAMS = GatedParams()
# The defaults before the real-speech dev suite (chosen on generated episodes): the threshold
# between unrelated pairs and the 10th neighbour, pooled connectivity, min_size 2. Kept for
# the benchmark's before/after rows and for synthetic regimes whose speakers are so noisy
# that no line's pairs clear the unrelated tail.
WAVE1_PARAMS = GatedParams(threshold_z=None, threshold_position=0.65, gamma=0.7, connect_mutual=False, min_size=2,
                           tau=0.5, refine_alone_gate=False, time_gate_z=None)


# Per voice encoder (a model id's first part, "campp/zh-en-200k" -> "campp"): the parameters
# that depend on how an encoder spreads its scores. DEFAULT_PARAMS above were chosen on
# resemblyzer's vectors and stay the rule for every encoder without an entry here.
#
# CAM++ (wave 3; bench/engine.py --defaults --voice campp prints the rule and the grid): its
# vectors put a typical nearest neighbour far above unrelated pairs, so the threshold is the
# nearest-neighbour ceiling (1-NN median less 1.4 spreads of unrelated pairs; the z-rule's
# bar, 6 spreads up, sits above it) and only clusters of up to 2 lines count as alone. Chosen
# on the dev suite embedded with CAM++ (real-speech regimes and anime-like episodes);
# haruhi03 and the bundled samples never entered the choice.
CAMPP_PARAMS = replace(DEFAULT_PARAMS, threshold_z=6.0, cap_k=0, cap_drop=1.4, refine_alone_max=2)
ENCODER_PARAMS: dict[str, GatedParams] = {"campp": CAMPP_PARAMS}


def params_for(model: str | None) -> GatedParams:
    """The gated parameters for vectors of this voice model (docs/engine.md, "Per encoder")."""
    if not model:
        return DEFAULT_PARAMS
    return ENCODER_PARAMS.get(model.split("/", 1)[0].lower(), DEFAULT_PARAMS)


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


def estimate_unrelated(x: np.ndarray, samples: int = 400, seed: int = 0) -> tuple[float, float]:
    """(centre, spread) of the similarity of two lines of *different* speakers, from random
    pairs without labels: the centre is the mode of the pair similarities (same-speaker
    pairs sit above it), the spread the root mean square below min(mode, median), the
    side that same-speaker pairs barely reach. Needs no assumption on lines per speaker."""
    n = x.shape[0]
    if n < 3:
        return 0.5, 0.1
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(n, size=min(n, samples), replace=False))
    sub = np.asarray(x[pick], dtype=np.float32)
    u = (sub @ sub.T)[np.triu_indices(pick.size, 1)].astype(np.float64)
    hist, edges = np.histogram(u, bins=60)
    smooth = np.convolve(hist, np.ones(5) / 5, mode="same")
    mode = float((edges[:-1] + edges[1:])[int(np.argmax(smooth))] / 2)
    centre = min(mode, float(np.median(u)))
    below = u[u < centre]
    spread = float(np.sqrt(np.mean((below - centre) ** 2))) if below.size else 0.1
    return mode, spread


def threshold_for(x: np.ndarray, graph: KnnGraph, params: GatedParams) -> float:
    """The episode's merge threshold under `params` (given, z-rule or position rule)."""
    if params.threshold is not None:
        return params.threshold
    if params.threshold_z is not None:
        centre, spread = estimate_unrelated(x, params.pair_samples)
        theta = centre + params.threshold_z * spread
        if params.cap_k is not None and graph.k > params.cap_k:
            theta = min(theta, float(np.median(graph.sims[:, params.cap_k])) - params.cap_drop * spread)
        return theta
    return estimate_threshold(x, graph, params.pair_samples, position=params.threshold_position)


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
    uf: ConstrainedUnionFind, graph: KnnGraph, gamma: float, active: np.ndarray | None = None,
    mutual: bool = True,
) -> None:
    """Merge components whose k-NN edges between them are dense, strongest first.

    `mutual`: the density must hold in both directions (the share of A's edges that point
    into B *and* of B's that point into A). A minor character with two lines has to point
    its other neighbours somewhere, usually at a main character; only the lines of one
    speaker split in two point at each other from both sides. Without it, the edges of both
    directions are pooled over the smaller component (which assumes every speaker has ≥ k
    lines)."""
    n, k = graph.indices.shape
    if k == 0:
        return
    roots = uf.roots()
    i = np.repeat(np.arange(n), k)
    j = graph.indices.ravel().astype(np.int64)
    w = np.ones(i.size) if not mutual else np.maximum(graph.sims.ravel().astype(np.float64), 0.0)
    if active is not None:
        m = active[i] & active[j]
        i, j, w = i[m], j[m], w[m]
    ri, rj = roots[i], roots[j]
    m = ri != rj
    pair, inv = np.unique(ri[m] * n + rj[m], return_inverse=True)
    # mutual: edges weighted by similarity (so that two candidate merges almost never tie,
    # and the result does not depend on the lines' row order); pooled: counted
    counts = np.bincount(inv, weights=w[m], minlength=pair.size)
    out: dict[int, dict[int, float]] = {}  # out[a][b]: edges from lines of a to lines of b
    for p, c in zip(pair.tolist(), counts.tolist(), strict=True):
        a, b = divmod(p, n)
        out.setdefault(a, {})[b] = c
        out.setdefault(b, {}).setdefault(a, 0.0)
    size = uf.size

    def strength(a: int, b: int) -> float:
        ab, ba = out[a].get(b, 0.0), out[b].get(a, 0.0)
        if mutual:
            return min(ab / (k * size[a]), ba / (k * size[b]))
        return (ab + ba) / (k * min(size[a], size[b]))

    heap = [(-strength(a, b), a, b) for a in out for b in out[a] if a < b]
    heapq.heapify(heap)
    while heap:
        neg, a, b = heapq.heappop(heap)
        if -neg < gamma:
            break
        if a not in out or b not in out[a] or -neg != strength(a, b):
            continue  # stale entry
        if not uf.allowed(a, b):
            continue
        r = uf.union(a, b)
        assert r is not None
        gone = b if r == a else a
        for c, cnt in out.pop(gone).items():  # gone's edges, both ways, become r's
            if c == r:
                continue
            out[r][c] = out[r].get(c, 0.0) + cnt
            out[c][r] = out[c].get(r, 0.0) + out[c].pop(gone, 0.0)
        out[r].pop(gone, None)
        for c in out[r]:
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

    Votes come from the lines placed before any join (a line never joins through another
    low line, so the result does not depend on the lines' row order); a line joins only
    when that cluster holds ≥ `share` of its (similarity-weighted) neighbours and no
    cannot-link forbids it. Joining never merges two clusters.
    """
    base = labels
    labels = labels.copy()
    order = np.flatnonzero(low)
    w = np.maximum(graph.sims.astype(np.float64), 0.0)
    for line in order.tolist():
        if labels[line] >= 0:
            continue  # placed by a human or linked to placed lines
        nb = base[graph.indices[line]]  # votes of lines placed before any join: order-free
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
    theta = threshold_for(x, graph, params) if threshold is None else threshold
    uf = ConstrainedUnionFind(np.asarray(x, dtype=np.float32), constraints)
    merge_edges(uf, graph, theta)
    merge_connected(uf, graph, params.gamma, mutual=params.connect_mutual)
    return agreement(graph, _components(uf, params.min_size))


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
    with one_blas_thread():  # small products: see sgtui/blas.py
        return _gated(x, graph, constraints, params, confidence, mlp, split, order)


def _gated(x, graph, constraints, params, confidence, mlp, split, order):
    x = np.asarray(x, dtype=np.float32)
    n = x.shape[0]
    theta = threshold_for(x, graph, params)
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
    merge_connected(uf, graph, params.gamma, active=core, mutual=params.connect_mutual)
    labels = _components(uf, params.min_size)
    # a low-confidence line that took part in no merge first tries to join; if it cannot,
    # with min_size 1 it stays a cluster of one (it merged nothing, and refinement may still
    # place it: by centroid or by time, both gated)
    roots = uf.roots()
    alone = ~core & (labels >= 0) & (np.asarray(uf.size)[roots] == 1)
    alone &= np.array([uf.key[r] is None for r in roots.tolist()], dtype=bool)
    labels[alone] = -1
    labels = join_low(uf, graph, labels, ~core, params.join_share)
    back = alone & (labels < 0)
    labels[back] = roots[back]
    if params.refine_iters > 0:
        labels = _refine(x, uf, labels, constraints, fixed, params, order, theta, graph)
    return labels, confidence, theta


def _time_gate(x: np.ndarray, params: GatedParams) -> float | None:
    if params.time_gate_z is None:
        return None
    centre, spread = estimate_unrelated(x, params.pair_samples)
    return centre + params.time_gate_z * spread


def _refine(x: np.ndarray, uf: ConstrainedUnionFind, labels: np.ndarray, constraints: Constraints,
            fixed: np.ndarray, params: GatedParams, order: np.ndarray | None, theta: float,
            graph: KnnGraph | None = None) -> np.ndarray:
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
                                params.temporal_kappa, params.temporal_sweeps,
                                join_min=theta if params.refine_alone_gate else None,
                                mean=params.refine_mean, join_min_time=_time_gate(x, params),
                                alone_max=params.refine_alone_max,
                                join_relative=None if params.join_relative is None else
                                (estimate_unrelated(x, params.pair_samples)[0], params.join_relative),
                                neighbours=graph.indices if params.join_relative_votes and graph is not None else None)

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
