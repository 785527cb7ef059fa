"""Ranked suggestions for unassigned lines: the three nearest cluster centroids."""

from __future__ import annotations

import numpy as np

from sgtui.engine.knn import normalise


def centroids(x: np.ndarray, labels: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """(unit centroid per group, group sizes); labels are group indices, -1 = none."""
    d = x.shape[1]
    sums = np.zeros((n_groups, d), dtype=np.float64)
    m = labels >= 0
    np.add.at(sums, labels[m], x[m])
    sizes = np.bincount(labels[m], minlength=n_groups)
    return normalise(sums), sizes


def suggestions(
    x: np.ndarray, labels: np.ndarray, n_groups: int, top: int = 3, forbidden: set[tuple[int, int]] | None = None
) -> dict[int, list[tuple[int, float]]]:
    """For each unassigned line (label -1): up to `top` (group, cosine to centroid), best first.

    `forbidden` holds (line, group) pairs a human ruled out; they are never suggested.
    """
    loose = np.flatnonzero(labels < 0)
    if loose.size == 0 or n_groups == 0:
        return {}
    cent, _ = centroids(x, labels, n_groups)
    scores = np.asarray(x[loose], dtype=np.float32) @ cent.T
    out: dict[int, list[tuple[int, float]]] = {}
    for row, line in enumerate(loose.tolist()):
        order = np.argsort(-scores[row], kind="stable")
        ranked = [
            (int(g), float(scores[row, g]))
            for g in order
            if not (forbidden and (line, int(g)) in forbidden)
        ]
        out[line] = ranked[:top]
    return out
