"""Exact quality metrics of a clustering against a ground-truth partition (docs/architecture.md, "Metrics").

Two views of the same question, "how much work is left for the annotator":
edge precision/recall/F1 (pair counting, identical to sklearn's ``pair_confusion_matrix``)
and the *minimum* weighted number of add / remove / merge operations that turn the
clustering into the truth. Labels are integer arrays, one entry per line: ``pred`` uses
-1 for an unassigned line, ``truth`` uses -1 for a line without a ground-truth speaker
(such lines are not evaluated, and clusters with no evaluated line are ignored).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction
from math import lcm

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

UNASSIGNED = -1


@dataclass(frozen=True)
class OpCount:
    """The cheapest way to the truth: how many of each operation, their weighted total."""

    add: int
    remove: int
    merge: int
    total: float
    per_100_lines: float


@dataclass(frozen=True)
class Evaluation:
    """Everything ``sgtui eval`` reports about one clustering (docs/architecture.md, "The command line")."""

    evaluated: int
    speakers: int
    clusters: int
    unassigned: int
    edge_precision: float
    edge_recall: float
    edge_f1: float
    ops: OpCount

    def to_dict(self) -> dict:
        return asdict(self)


def contingency(pred: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, int]:
    """Clusters × speakers counts over evaluated, assigned lines, and the unassigned count.

    Rows are the clusters that hold at least one evaluated line, columns the speakers
    present in ``truth``; the evaluated lines left unassigned are returned separately.
    """
    pred = np.asarray(pred, dtype=np.int64)
    truth = np.asarray(truth, dtype=np.int64)
    if pred.shape != truth.shape or pred.ndim != 1:
        raise ValueError("pred and truth must be 1-d arrays of the same length")
    ev = truth != UNASSIGNED
    p, t = pred[ev], truth[ev]
    _, t_idx = np.unique(t, return_inverse=True)
    n_speakers = int(t_idx.max()) + 1 if t_idx.size else 0
    assigned = p != UNASSIGNED
    unassigned = int((~assigned).sum())
    _, c_idx = np.unique(p[assigned], return_inverse=True)
    n_clusters = int(c_idx.max()) + 1 if c_idx.size else 0
    table = np.zeros((n_clusters, n_speakers), dtype=np.int64)
    np.add.at(table, (c_idx, t_idx[assigned]), 1)
    return table, unassigned


def _pairs(x: np.ndarray) -> int:
    x = np.asarray(x, dtype=np.int64)
    return int((x * (x - 1) // 2).sum())


def edge_scores(table: np.ndarray, unassigned_per_speaker: np.ndarray) -> tuple[float, float, float]:
    """Edge precision, recall and F1 from a contingency table (unassigned lines are singletons).

    Precision is 1.0 when no two lines share a cluster, recall 1.0 when no two share a
    speaker; F1 is 0.0 when both are 0.
    """
    same_both = _pairs(table)
    same_cluster = _pairs(table.sum(axis=1))
    same_speaker = _pairs(table.sum(axis=0) + unassigned_per_speaker)
    precision = same_both / same_cluster if same_cluster else 1.0
    recall = same_both / same_speaker if same_speaker else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _integer_weights(weights: tuple[float, float, float]) -> tuple[int, int, int]:
    """Scale weights to integers with the same ratios, so costs compare exactly."""
    fr = [Fraction(w).limit_denominator(10_000) for w in weights]
    if any(f < 0 for f in fr):
        raise ValueError("operation weights must be >= 0")
    scale = lcm(*(f.denominator for f in fr))
    return tuple(int(f * scale) for f in fr)  # type: ignore[return-value]


def min_operations_assignment(
    table: np.ndarray, unassigned: int, weights: tuple[float, float, float] = (1, 1, 1)
) -> tuple[int, int, int]:
    """Exact (add, remove, merge) of the cheapest edit, by the assignment formulation.

    Each cluster either maps to a speaker (its other lines are moved: remove + add), is
    merged into another cluster of the speaker it maps to (one merge, plus the moves), or
    is emptied (every line moved). A K × (S + K) cost matrix — speaker columns, then K
    spare columns for "merged or emptied" — solved by ``linear_sum_assignment``; among
    equal-cost solutions the one with fewest merges wins (costs are scaled by K + 1 and
    the merge count added, on integer-scaled weights so the comparison is exact).
    """
    w_a, w_r, w_m = _integer_weights(weights)
    k, s = table.shape
    if k == 0:
        return unassigned, 0, 0
    n_c = table.sum(axis=1)
    best = table.max(axis=1) if s else np.zeros(k, dtype=np.int64)
    move = w_r + w_a
    tie = k + 1  # fewest merges among equal costs
    cost = np.empty((k, s + k), dtype=np.float64)
    cost[:, :s] = move * (n_c[:, None] - table) * tie
    merge_cost = (move * (n_c - best) + w_m) * tie + 1
    empty_cost = move * n_c * tie
    spare = np.minimum(merge_cost, empty_cost).astype(np.float64)
    cost[:, s:] = spare[:, None]
    if float(cost.max()) >= 2.0**52:
        raise ValueError("operation weights too large for an exact count")
    rows, cols = linear_sum_assignment(cost)
    moved = 0
    merges = 0
    for r, c in zip(rows, cols, strict=True):
        if c < s:
            moved += int(n_c[r] - table[r, c])
        elif merge_cost[r] <= empty_cost[r] and s:
            merges += 1
            moved += int(n_c[r] - best[r])
        else:
            moved += int(n_c[r])
    return unassigned + moved, moved, merges


def min_operations_unit(table: np.ndarray, unassigned: int) -> tuple[int, int, int]:
    """Unit-weight minimum in closed form, for any number of clusters.

    Every cluster keeps its majority speaker; each majority speaker is claimed by one
    cluster through a maximum matching (tied majorities give the matching choices), and
    every other cluster is one merge: total = U + 2·Σ(n_c − max n_cs) + K − M.
    """
    k, s = table.shape
    if k == 0:
        return unassigned, 0, 0
    best = table.max(axis=1)
    moved = int((table.sum(axis=1) - best).sum())
    is_major = (table == best[:, None]) & (best[:, None] > 0)
    match = maximum_bipartite_matching(csr_matrix(is_major.astype(np.int8)), perm_type="column")
    matched = int((match >= 0).sum())
    return unassigned + moved, moved, k - matched


def operations(
    pred: np.ndarray, truth: np.ndarray, weights: tuple[float, float, float] = (1, 1, 1)
) -> OpCount:
    """Minimum add/remove/merge to reach the truth; the exact solver picks by weights."""
    table, unassigned = contingency(pred, truth)
    if tuple(float(w) for w in weights) == (1.0, 1.0, 1.0):
        add, remove, merge = min_operations_unit(table, unassigned)
    else:
        add, remove, merge = min_operations_assignment(table, unassigned, weights)
    w_a, w_r, w_m = (float(w) for w in weights)
    total = w_a * add + w_r * remove + w_m * merge
    evaluated = int(table.sum()) + unassigned
    per_100 = 100.0 * total / evaluated if evaluated else 0.0
    return OpCount(add, remove, merge, total, per_100)


def evaluate(
    pred: np.ndarray, truth: np.ndarray, weights: tuple[float, float, float] = (1, 1, 1)
) -> Evaluation:
    """Edge scores and minimum operations of ``pred`` against ``truth`` (both int arrays)."""
    pred = np.asarray(pred, dtype=np.int64)
    truth = np.asarray(truth, dtype=np.int64)
    table, unassigned = contingency(pred, truth)
    ev = truth != UNASSIGNED
    _, t_idx = np.unique(truth[ev], return_inverse=True)
    loose = np.bincount(t_idx[pred[ev] == UNASSIGNED], minlength=table.shape[1])
    precision, recall, f1 = edge_scores(table, loose)
    return Evaluation(
        evaluated=int(ev.sum()),
        speakers=int(table.shape[1]),
        clusters=int(table.shape[0]),
        unassigned=unassigned,
        edge_precision=precision,
        edge_recall=recall,
        edge_f1=f1,
        ops=operations(pred, truth, weights),
    )
