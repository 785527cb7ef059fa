"""Per-line doubt for the annotator: which lines of a cluster to check first.

A line is doubtful when it sits closer to another cluster's centroid than to its own.
Its own centroid leaves the line out (a small cluster is not pulled toward each of its
members), so a singleton has no own centroid and counts as fully doubtful. A line a person
placed is settled: it still shapes its cluster's centroid, but it is no doubt (0), so the
review queue never offers back what the annotator just decided.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sgtui.engine.knn import normalise


@dataclass(frozen=True)
class Doubt:
    """doubt[i] in [0, 1] (NaN for unassigned): 0.5 means equally close to own and nearest other
    cluster, above 0.5 closer to another. own/other: cosine to those centroids; rival: the
    nearest other cluster's label (-1 when there is none)."""

    doubt: np.ndarray
    own: np.ndarray
    other: np.ndarray
    rival: np.ndarray


def line_doubt(x: np.ndarray, labels: np.ndarray, settled: np.ndarray | None = None) -> Doubt:
    """Doubt of every line given the current labels (any ints, -1 = unassigned).

    `settled` (bool per line, optional): lines a human placed; their doubt is 0 (own, other
    and rival are still given). Cost O(n·C·d) for C clusters; for 1,000 lines and 50
    clusters well under 10 ms.
    """
    x = normalise(x).astype(np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    n = x.shape[0]
    out_nan = np.full(n, np.nan)
    rival = np.full(n, -1, dtype=np.int64)
    assigned = labels >= 0
    if not assigned.any():
        return Doubt(out_nan, out_nan.copy(), out_nan.copy(), rival)
    uniq, g = np.unique(labels[assigned], return_inverse=True)
    c = uniq.size
    sums = np.zeros((c, x.shape[1]))
    np.add.at(sums, g, x[assigned])
    sizes = np.bincount(g, minlength=c)
    xa = x[assigned]
    # own centroid without the line itself
    own_sum = sums[g] - xa
    own_norm = np.linalg.norm(own_sum, axis=1)
    own = np.where(own_norm > 1e-12, np.einsum("ij,ij->i", xa, own_sum) / np.maximum(own_norm, 1e-12), -1.0)
    unit = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    sims = xa @ unit.T
    sims[np.arange(xa.shape[0]), g] = -np.inf
    if c > 1:
        best = np.argmax(sims, axis=1)
        other = sims[np.arange(xa.shape[0]), best]
        riv = uniq[best]
    else:
        other = np.full(xa.shape[0], -1.0)
        riv = np.full(xa.shape[0], -1, dtype=np.int64)
    own[sizes[g] == 1] = -1.0
    d = np.clip((other - own + 2.0) / 4.0, 0.0, 1.0)
    d[sizes[g] == 1] = 1.0
    doubt, own_out, other_out = out_nan.copy(), out_nan.copy(), out_nan.copy()
    doubt[assigned], own_out[assigned], other_out[assigned] = d, own, other
    rival[assigned] = riv
    if settled is not None:
        settled = np.asarray(settled, dtype=bool)
        if settled.shape != (n,):
            raise ValueError(f"settled has shape {settled.shape}, expected ({n},)")
        doubt[settled & assigned] = 0.0
    return Doubt(doubt, own_out, other_out, rival)
