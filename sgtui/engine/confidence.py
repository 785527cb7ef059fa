"""Confidence of a line: how likely a 3-NN vote labels it right (docs/architecture.md, "The engine" 1).

`knn_confidence` is Speaker-Grouping's measure for labelled data, computed exactly by a
dynamic programme instead of sampling. `predict_confidence` estimates it for unlabelled
lines from label-free features with a trained `ConfidenceModel`; without a model, gated
clustering uses its documented heuristic (`gated.agreement`: how many of a line's
neighbours share its provisional cluster — the same 3-NN question with the provisional
clusters standing in for labels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sgtui.engine.knn import KnnGraph, build_knn

UNDECIDED_MASS = 1e-6


def walk_length(q: float, n_neighbours: int, tol: float = UNDECIDED_MASS) -> int:
    """Neighbours to walk so that P(fewer than 3 kept) < tol (capped at what exists).

    The undecided mass after t neighbours is at most P(Binomial(t, q) ≤ 2), so walking
    that far meets the tolerance for every line at once.
    """
    if not 0 < q <= 1:
        raise ValueError("keep probability q must be in (0, 1]")
    t = 3
    while t < n_neighbours:
        p = (1 - q) ** t + t * q * (1 - q) ** (t - 1) + t * (t - 1) / 2 * q * q * (1 - q) ** (t - 2)
        if p < tol:
            break
        t += 1
    return min(t, n_neighbours)


def q_from_folds(folds: int) -> float:
    """The literal N-fold reading: each other line is available with probability (N−1)/N."""
    if folds < 2:
        raise ValueError("--folds must be at least 2")
    return (folds - 1) / folds


def knn_confidence(
    x: np.ndarray,
    labels: np.ndarray,
    q: float = 0.1,
    lenient: bool = False,
    graph: KnnGraph | None = None,
) -> np.ndarray:
    """P(3-NN classifies line i correctly) when every other line is kept with probability q.

    Strict (default): among the first three kept neighbours, ≥ 2 of i's label wins; three
    different labels → the nearest kept decides. A vote counts as soon as it is settled
    (two of i's label kept: right; two of other labels: wrong); mass still unsettled when
    the neighbours run out counts as failure. Lenient (Speaker-Grouping's code): fail only when the first
    two kept are both wrong; undecided mass counts as success. Lines with label -1 are
    neither scored (NaN) nor used as neighbours.
    """
    labels = np.asarray(labels, dtype=np.int64)
    known = np.flatnonzero(labels >= 0)
    out = np.full(labels.shape[0], np.nan)
    if known.size == 0:
        return out
    xs, ys = np.asarray(x)[known], labels[known]
    t = walk_length(q, known.size - 1)
    if graph is None or graph.k < t or graph.n != known.size:
        graph = build_knn(xs, k=t)
    own = ys[graph.indices[:, :t]] == ys[:, None]  # neighbour shares i's label, walk order
    if lenient:
        return _lenient(own, q, t, known, out)
    m = known.size
    p0 = np.ones(m)  # nothing kept yet
    p1o = np.zeros(m)  # one kept, own label
    p1w = np.zeros(m)  # one kept, wrong label
    _, lab_idx = np.unique(ys, return_inverse=True)
    n_lab = int(lab_idx.max()) + 1
    nb_idx = lab_idx[graph.indices[:, :t]]
    p2a = np.zeros((m, n_lab))  # kept own then wrong label L: correct unless third is L
    p2b = np.zeros(m)  # kept wrong then own: correct only if third is own
    good = np.zeros(m)
    bad = np.zeros(m)
    rows = np.arange(m)
    for step in range(t):
        o = own[:, step]
        w = ~o
        lab = nb_idx[:, step]
        p2a_tot = p2a.sum(axis=1)
        p2a_lab = p2a[rows, lab]
        # decisions reached by keeping this neighbour
        good += q * np.where(o, p1o + p2a_tot + p2b, p2a_tot - p2a_lab)
        bad += q * np.where(o, 0.0, p1w + p2a_lab + p2b)
        # the two-kept states are decided if this one is kept; otherwise they wait
        new_p2b = (1 - q) * p2b + np.where(o, q * p1w, 0.0)
        p2a *= 1 - q
        p2a[rows[w], lab[w]] += q * p1o[w]
        new_p1o = (1 - q) * p1o + np.where(o, q * p0, 0.0)
        new_p1w = (1 - q) * p1w + np.where(w, q * p0, 0.0)
        p0 = (1 - q) * p0
        p1o, p1w, p2b = new_p1o, new_p1w, new_p2b
    out[known] = good
    return out


def _lenient(own: np.ndarray, q: float, t: int, known: np.ndarray, out: np.ndarray) -> np.ndarray:
    """1 − P(the first two kept neighbours are both of another label)."""
    m = own.shape[0]
    p0 = np.ones(m)
    p1w = np.zeros(m)
    bad = np.zeros(m)
    for step in range(t):
        w = ~own[:, step]
        bad += np.where(w, q * p1w, 0.0)
        p1w = (1 - q) * p1w + np.where(w, q * p0, 0.0)
        p0 = (1 - q) * p0
    out[known] = 1.0 - bad
    return out


# ---- predicted confidence for unlabelled lines ------------------------------------------

FEATURES = ("agreement", "rank_sim1", "rank_sim5", "rank_sim10", "mutual10", "rank_margin", "log_duration")
MODEL_KIND = "sgtui-confidence-v2"


def _rank(v: np.ndarray) -> np.ndarray:
    """Percentile rank within the episode, in (0, 1]: the same for any encoder's scale."""
    return (np.argsort(np.argsort(v, kind="stable"), kind="stable") + 1) / max(v.size, 1)


def line_features(
    graph: KnnGraph, durations_ms: np.ndarray | None = None, agreement: np.ndarray | None = None
) -> np.ndarray:
    """Label-free features of each line (columns = FEATURES), comparable across encoders.

    agreement: share of its neighbours in its provisional cluster (gated.agreement; 0 when
    not given); rank_sim1/5/10: within-episode rank of the mean similarity to the 1/5/10
    nearest; mutual10: share of its neighbours that also list it; rank_margin: rank of
    sim1 − sim10 (a lone close twin vs a crowd); log_duration: short lines carry less
    voice (0 when unknown). Similarities enter as ranks so a model trained with one
    encoder transfers to another.
    """
    n, k = graph.indices.shape
    s = graph.sims.astype(np.float64)
    kk = max(1, min(k, 10))
    f = np.zeros((n, len(FEATURES)))
    if agreement is not None:
        f[:, 0] = agreement
    if k and n:
        f[:, 1] = _rank(s[:, 0])
        f[:, 2] = _rank(s[:, : min(5, k)].mean(axis=1))
        f[:, 3] = _rank(s[:, :kk].mean(axis=1))
        nb = graph.indices[:, :kk].astype(np.int64)
        back = (graph.indices[nb, :kk] == np.arange(n)[:, None, None]).any(axis=2)
        f[:, 4] = back.mean(axis=1)
        f[:, 5] = _rank(s[:, 0] - s[:, kk - 1])
    if durations_ms is not None:
        f[:, 6] = np.log(np.maximum(np.asarray(durations_ms, dtype=np.float64), 100.0) / 1000.0)
    return f


@dataclass(frozen=True)
class ConfidenceModel:
    """A ridge regression from standardised line features to the logit of confidence."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def predict(self, features: np.ndarray) -> np.ndarray:
        z = (features - self.mean) / self.scale
        return 1.0 / (1.0 + np.exp(-(z @ self.coef + self.intercept)))

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays (saved as .npz by the caller, never pickled, so loading runs no code)."""
        return {
            "kind": np.array(MODEL_KIND),
            "features": np.array(FEATURES),
            "mean": self.mean,
            "scale": self.scale,
            "coef": self.coef,
            "intercept": np.array(self.intercept),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> ConfidenceModel:
        """Rebuild a model; ValueError when the arrays are not one this version wrote."""
        try:
            kind = str(arrays["kind"])
            names = tuple(str(f) for f in arrays["features"])
            mean, scale, coef = (np.asarray(arrays[k], dtype=np.float64) for k in ("mean", "scale", "coef"))
            intercept = float(arrays["intercept"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not an sgtui confidence model ({exc})") from None
        if kind != MODEL_KIND or names != FEATURES:
            raise ValueError(f"model kind {kind!r} with features {names} is not one this sgtui reads")
        if not (mean.shape == scale.shape == coef.shape == (len(FEATURES),)) or (scale <= 0).any():
            raise ValueError("model arrays have the wrong shape")
        return cls(mean, scale, coef, intercept)


def fit_confidence_model(features: np.ndarray, target: np.ndarray, ridge: float = 1.0) -> ConfidenceModel:
    """Fit the regressor on labelled lines (target = `knn_confidence`, clipped from 0 and 1)."""
    ok = np.isfinite(target)
    f, y = features[ok], np.clip(target[ok], 0.02, 0.98)
    mean = f.mean(axis=0)
    scale = f.std(axis=0)
    scale[scale == 0] = 1.0
    z = (f - mean) / scale
    logit = np.log(y / (1 - y))
    a = np.hstack([z, np.ones((z.shape[0], 1))])
    reg = ridge * np.eye(a.shape[1])
    reg[-1, -1] = 0.0
    w = np.linalg.solve(a.T @ a + reg, a.T @ logit)
    return ConfidenceModel(mean, scale, w[:-1], float(w[-1]))
