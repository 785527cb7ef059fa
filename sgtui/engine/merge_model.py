"""The learned merge decision of gated clustering (docs/architecture.md, "The engine" 2–3): a tiny numpy MLP.

Six features per candidate merge of components A and B: average voice similarity,
average image similarity, voice confidence of the two ends (lower, higher), image
confidence of the two ends (lower, higher); image entries are 0 without an image encoder.
Training samples come from running the closest-edges-first clustering on a labelled
episode (Speaker-Grouping's sampling): each candidate whose two components have the same
majority label is a positive, otherwise a negative; the run follows the truth (merges the
positives only) so later samples look like the states a good clustering passes through.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sgtui.engine.constraints import ConstrainedUnionFind
from sgtui.engine.knn import KnnGraph

N_FEATURES = 6


@dataclass(frozen=True)
class MergeMLP:
    """6 → hidden (tanh) → 1 (sigmoid) on standardised features."""

    mean: np.ndarray
    scale: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: float

    def prob(self, f: np.ndarray) -> np.ndarray:
        z = (np.atleast_2d(f) - self.mean) / self.scale
        h = np.tanh(z @ self.w1 + self.b1)
        return 1.0 / (1.0 + np.exp(-(h @ self.w2 + self.b2)))

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"merge_mean": self.mean, "merge_scale": self.scale, "merge_w1": self.w1,
                "merge_b1": self.b1, "merge_w2": self.w2, "merge_b2": np.array(self.b2)}

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> MergeMLP | None:
        """The MLP stored in a model file, None when it holds none; ValueError when malformed."""
        if "merge_w1" not in a:
            return None
        try:
            m = cls(*(np.asarray(a[k], dtype=np.float64) for k in
                      ("merge_mean", "merge_scale", "merge_w1", "merge_b1", "merge_w2")),
                    float(a["merge_b2"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed merge model ({exc})") from None
        h = m.w1.shape[1] if m.w1.ndim == 2 else -1
        if m.mean.shape != (N_FEATURES,) or m.w1.shape != (N_FEATURES, h) or m.b1.shape != (h,) \
                or m.w2.shape != (h,) or (m.scale <= 0).any():
            raise ValueError("merge model arrays have the wrong shape")
        return m


def pair_features(
    uf: ConstrainedUnionFind, ra: int, rb: int, a: int, b: int,
    conf: np.ndarray, image_conf: np.ndarray | None, split: tuple[int, float] | None,
) -> np.ndarray:
    """The six features of merging components ra and rb through the edge (a, b).

    `split` = (voice dims, image weight) when the vectors are fused voice+image (see
    knn.fuse): the two modalities' average similarities are read back from the sums.
    """
    sa, sb = uf.sums[ra].astype(np.float64), uf.sums[rb].astype(np.float64)
    nn = uf.size[ra] * uf.size[rb]
    if split is None:
        v, im = float(sa @ sb) / nn, 0.0
    else:
        d, w = split
        v = float(sa[:d] @ sb[:d]) / nn / max(1 - w, 1e-9)
        im = float(sa[d:] @ sb[d:]) / nn / max(w, 1e-9)
    ca, cb = sorted((float(conf[a]), float(conf[b])))
    if image_conf is None:
        ia = ib = 0.0
    else:
        ia, ib = sorted((float(image_conf[a]), float(image_conf[b])))
    return np.array([v, im, ca, cb, ia, ib])


def sample_merges(
    x: np.ndarray, graph: KnnGraph, labels: np.ndarray, conf: np.ndarray,
    image_conf: np.ndarray | None = None, split: tuple[int, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(features, 0/1 targets) of every candidate merge met closest-edges-first, following the truth.

    Candidates: the k-NN graph's edges plus, for each labelled line, the edge to its nearest
    line of another label — so a well-separated episode still yields negatives.
    """
    uf = ConstrainedUnionFind(np.asarray(x, dtype=np.float32))
    major = {i: int(labels[i]) for i in range(x.shape[0])}
    feats, ys = [], []
    lo, hi, s = graph.edges()
    xl = np.asarray(x, dtype=np.float32)
    known = np.flatnonzero(labels >= 0)
    extra_lo, extra_hi, extra_s = [], [], []
    for start in range(0, known.size, 1024):
        q = known[start:start + 1024]
        sim = xl[q] @ xl[known].T
        sim[labels[q][:, None] == labels[known][None, :]] = -np.inf
        j = np.argmax(sim, axis=1)
        ok = np.isfinite(sim[np.arange(q.size), j])
        extra_lo.append(q[ok])
        extra_hi.append(known[j[ok]])
        extra_s.append(sim[np.arange(q.size), j][ok])
    if extra_lo:
        lo = np.concatenate([lo, *extra_lo])
        hi = np.concatenate([hi, *extra_hi])
        s = np.concatenate([s, *extra_s])
        order = np.argsort(-s, kind="stable")
        lo, hi = lo[order], hi[order]
    for a, b in zip(lo.tolist(), hi.tolist(), strict=True):
        if labels[a] < 0 or labels[b] < 0:
            continue
        ra, rb = uf.find(a), uf.find(b)
        if ra == rb:
            continue
        same = major[ra] == major[rb]
        feats.append(pair_features(uf, ra, rb, a, b, conf, image_conf, split))
        ys.append(1.0 if same else 0.0)
        if same:
            r = uf.union(ra, rb)
            major[r] = major[ra]
    if not feats:
        return np.zeros((0, N_FEATURES)), np.zeros(0)
    return np.vstack(feats), np.array(ys)


def fit_merge_mlp(
    f: np.ndarray, y: np.ndarray, hidden: int = 8, steps: int = 2000, lr: float = 0.05, seed: int = 0
) -> MergeMLP:
    """Full-batch Adam on class-balanced cross-entropy with a little weight decay."""
    if f.shape[0] == 0 or len(set(y.tolist())) < 2:
        raise ValueError("merge training needs both merges and non-merges; label more lines")
    rng = np.random.default_rng(seed)
    mean = f.mean(axis=0)
    scale = f.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = (f - mean) / scale
    pos = y.mean()
    sw = np.where(y > 0.5, 0.5 / pos, 0.5 / (1 - pos)) / y.size
    params = [rng.normal(0, 0.5, (f.shape[1], hidden)), np.zeros(hidden), rng.normal(0, 0.5, hidden), np.zeros(1)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for t in range(1, steps + 1):
        w1, b1, w2, b2 = params
        h = np.tanh(z @ w1 + b1)
        p = 1.0 / (1.0 + np.exp(-(h @ w2 + b2[0])))
        g_out = (p - y) * sw
        grads = [
            z.T @ (np.outer(g_out, w2) * (1 - h**2)) + 1e-4 * w1,
            (np.outer(g_out, w2) * (1 - h**2)).sum(axis=0),
            h.T @ g_out + 1e-4 * w2,
            np.array([g_out.sum()]),
        ]
        for i, g in enumerate(grads):
            m[i] = 0.9 * m[i] + 0.1 * g
            v[i] = 0.999 * v[i] + 0.001 * g * g
            params[i] = params[i] - lr * (m[i] / (1 - 0.9**t)) / (np.sqrt(v[i] / (1 - 0.999**t)) + 1e-8)
    w1, b1, w2, b2 = params
    return MergeMLP(mean, scale, w1, b1, w2, float(b2[0]))
