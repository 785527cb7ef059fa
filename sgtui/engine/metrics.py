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
    rename: int = 0
    total_with_names: float = 0.0


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
    names: dict | None = None

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


def _integer_weights(weights: tuple[float, ...]) -> tuple[int, ...]:
    """Scale weights to integers with the same ratios, so costs compare exactly."""
    fr = [Fraction(w).limit_denominator(10_000) for w in weights]
    if any(f < 0 for f in fr):
        raise ValueError("operation weights must be >= 0")
    scale = lcm(*(f.denominator for f in fr))
    return tuple(int(f * scale) for f in fr)


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
    add, remove, merge, _, _ = solve_named(table, unassigned, (*weights, 0), None)
    return add, remove, merge


NO_NAME = -1  # a cluster with no name
WRONG_NAME = -2  # a cluster whose name is no speaker's


def solve_named(
    table: np.ndarray, unassigned: int, weights: tuple[float, float, float, float],
    name_col: np.ndarray | None,
) -> tuple[int, int, int, int, np.ndarray]:
    """Exact (add, remove, merge, rename, target speaker per cluster) with names in play.

    `name_col[c]` is the speaker column cluster c's name denotes, NO_NAME or WRONG_NAME.
    Every speaker ends as one cluster; the cluster that ends as speaker s costs one rename
    (w_n) unless its name is s, and a speaker no cluster maps to is started by an add and
    named once. So a speaker column costs moves + w_n·[name ≠ s] − w_n, plus w_n per speaker
    in all: the same assignment, in which a correctly named cluster prefers its speaker.
    Merged and emptied clusters pay no rename (a merge keeps the name of the cluster kept).
    The target of a merged or emptied cluster is its majority speaker (-1 with none).
    """
    w_a, w_r, w_m, w_n = _integer_weights(weights)
    k, s = table.shape
    if k == 0:
        return unassigned, 0, 0, s, np.zeros(0, np.int64)
    n_c = table.sum(axis=1)
    best = table.max(axis=1) if s else np.zeros(k, dtype=np.int64)
    move = w_r + w_a
    tie = k + 1  # fewest merges among equal costs
    cost = np.empty((k, s + k), dtype=np.float64)
    cols = np.arange(s)
    wrong = np.ones((k, s), dtype=np.int64)
    if name_col is not None:
        wrong = (np.asarray(name_col)[:, None] != cols[None, :]).astype(np.int64)
    cost[:, :s] = (move * (n_c[:, None] - table) + w_n * (wrong - 1)) * tie
    merge_cost = (move * (n_c - best) + w_m) * tie + 1
    empty_cost = move * n_c * tie
    spare = np.minimum(merge_cost, empty_cost).astype(np.float64)
    cost[:, s:] = spare[:, None]
    if float(np.abs(cost).max()) >= 2.0**52:
        raise ValueError("operation weights too large for an exact count")
    rows, chosen = linear_sum_assignment(cost)
    moved = merges = 0
    target = np.full(k, -1, dtype=np.int64)
    mapped = set()
    renames = 0
    for r, c in zip(rows, chosen, strict=True):
        if c < s:
            moved += int(n_c[r] - table[r, c])
            target[r] = c
            mapped.add(int(c))
            renames += int(wrong[r, c])
        else:
            if s and best[r] > 0:
                target[r] = int(np.argmax(table[r]))
            if merge_cost[r] <= empty_cost[r] and s:
                merges += 1
                moved += int(n_c[r] - best[r])
            else:
                moved += int(n_c[r])
    renames += s - len(mapped)
    return unassigned + moved, moved, merges, renames, target


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


def _check_weights(weights: tuple[float, ...]) -> tuple[float, float, float, float]:
    w = tuple(float(v) for v in weights)
    if len(w) == 3:
        w = (*w, 1.0)
    if len(w) != 4:
        raise ValueError("weights are (add, remove, merge) or (add, remove, merge, rename)")
    return w  # type: ignore[return-value]


def operations(
    pred: np.ndarray, truth: np.ndarray, weights: tuple[float, ...] = (1, 1, 1),
    names: dict[int, int] | None = None,
) -> OpCount:
    """Minimum add/remove/merge to reach the truth; the exact solver picks by weights.

    With `names` (cluster label -> the speaker label its name denotes, or NO_NAME /
    WRONG_NAME; a label not in it has no name) renames are counted too: `rename` and
    `total_with_names` come from the exact minimum with renames in the assignment (whose
    add/remove/merge may trade against renames), while add/remove/merge/total stay the
    minimum without names.
    """
    return _operations(pred, truth, weights, names)[0]


def _operations(
    pred: np.ndarray, truth: np.ndarray, weights: tuple[float, ...], names: dict[int, int] | None,
) -> tuple[OpCount, dict | None]:
    w_a, w_r, w_m, w_n = _check_weights(weights)
    pred = np.asarray(pred, dtype=np.int64)
    truth = np.asarray(truth, dtype=np.int64)
    table, unassigned = contingency(pred, truth)
    if (w_a, w_r, w_m) == (1.0, 1.0, 1.0):
        add, remove, merge = min_operations_unit(table, unassigned)
    else:
        add, remove, merge, _, _ = solve_named(table, unassigned, (w_a, w_r, w_m, 0), None)
    total = w_a * add + w_r * remove + w_m * merge
    evaluated = int(table.sum()) + unassigned
    per_100 = 100.0 * total / evaluated if evaluated else 0.0
    if names is None:
        return OpCount(add, remove, merge, total, per_100, 0, total), None
    name_col = _name_columns(pred, truth, names)
    n_add, n_remove, n_merge, rename, target = solve_named(
        table, unassigned, (w_a, w_r, w_m, w_n), name_col)
    with_names = w_a * n_add + w_r * n_remove + w_m * n_merge + w_n * rename
    return (OpCount(add, remove, merge, total, per_100, rename, with_names),
            _name_report(name_col, target))


def _name_columns(pred: np.ndarray, truth: np.ndarray, names: dict[int, int]) -> np.ndarray:
    """Per contingency row (clusters in label order), the speaker column its name denotes."""
    ev = truth != UNASSIGNED
    speakers = np.unique(truth[ev]).tolist()
    col_of = {int(t): i for i, t in enumerate(speakers)}
    rows = np.unique(pred[ev & (pred != UNASSIGNED)]).tolist()
    out = np.full(len(rows), NO_NAME, dtype=np.int64)
    for r, label in enumerate(rows):
        named = names.get(int(label), NO_NAME)
        out[r] = named if named < 0 else col_of.get(int(named), WRONG_NAME)
    return out


def _name_report(name_col: np.ndarray, target: np.ndarray) -> dict:
    """{correct, wrong, missing} over evaluated clusters, each against the speaker it ends as
    (a merged or emptied cluster: its majority speaker)."""
    correct = int(((name_col >= 0) & (name_col == target)).sum())
    missing = int((name_col == NO_NAME).sum())
    return {"correct": correct, "wrong": int(name_col.size) - correct - missing, "missing": missing}


def evaluate(
    pred: np.ndarray, truth: np.ndarray, weights: tuple[float, ...] = (1, 1, 1),
    names: dict[int, int] | None = None,
) -> Evaluation:
    """Edge scores and minimum operations of ``pred`` against ``truth`` (both int arrays)."""
    pred = np.asarray(pred, dtype=np.int64)
    truth = np.asarray(truth, dtype=np.int64)
    table, unassigned = contingency(pred, truth)
    ev = truth != UNASSIGNED
    _, t_idx = np.unique(truth[ev], return_inverse=True)
    loose = np.bincount(t_idx[pred[ev] == UNASSIGNED], minlength=table.shape[1])
    precision, recall, f1 = edge_scores(table, loose)
    ops, report = _operations(pred, truth, weights, names)
    return Evaluation(
        evaluated=int(ev.sum()),
        speakers=int(table.shape[1]),
        clusters=int(table.shape[0]),
        unassigned=unassigned,
        edge_precision=precision,
        edge_recall=recall,
        edge_f1=f1,
        ops=ops,
        names=report,
    )
