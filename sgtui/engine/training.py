"""Fitting the engine's learned parts on labelled episodes (pure: arrays in, model out)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sgtui.engine.confidence import fit_confidence_model, knn_confidence, line_features
from sgtui.engine.gated import provisional_agreement
from sgtui.engine.knn import KnnGraph, build_knn
from sgtui.engine.merge_model import fit_merge_mlp, sample_merges
from sgtui.engine.model import EngineModel


@dataclass(frozen=True)
class Episode:
    """One labelled episode: fused unit vectors, labels (-1 = none), durations, its graph."""

    x: np.ndarray
    labels: np.ndarray
    durations_ms: np.ndarray | None = None
    graph: KnnGraph | None = None
    split: tuple[int, float] | None = None  # (voice dims, image weight) when fused


def fit_engine_model(episodes: list[Episode], q: float = 0.1) -> tuple[EngineModel, dict]:
    """Confidence regressor (target: exact 3-NN confidence of labelled lines, inputs: their
    label-free neighbourhood features), then the merge MLP on samples from a truth-following
    closest-edges-first run that uses the regressor's *predicted* confidence, as at inference.
    """
    feats, targets, prepared = [], [], []
    for ep in episodes:
        graph = ep.graph or build_knn(ep.x)
        f = line_features(graph, ep.durations_ms, provisional_agreement(ep.x, graph))
        c = knn_confidence(ep.x, ep.labels, q=q)
        known = ep.labels >= 0
        feats.append(f[known])
        targets.append(c[known])
        prepared.append((ep, graph, f))
    f_all, y = np.vstack(feats), np.concatenate(targets)
    if y.size < 10:
        raise ValueError("too few labelled lines to train on")
    conf_model = fit_confidence_model(f_all, y)
    mf, my = [], []
    for ep, graph, f in prepared:
        a, b = sample_merges(ep.x, graph, ep.labels, conf_model.predict(f), split=ep.split)
        mf.append(a)
        my.append(b)
    mx, mt = np.vstack(mf), np.concatenate(my)
    mlp = fit_merge_mlp(mx, mt)
    corr = float(np.corrcoef(conf_model.predict(f_all), y)[0, 1]) if y.std() > 0 else 0.0
    acc = float(((mlp.prob(mx) >= 0.5) == (mt > 0.5)).mean())
    return EngineModel(conf_model, mlp), {
        "projects": len(episodes), "lines": int(y.size), "mean_confidence": float(y.mean()),
        "confidence_fit_corr": corr, "merge_samples": int(mt.size), "merge_train_accuracy": acc,
    }
