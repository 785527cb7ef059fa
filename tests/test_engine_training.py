"""The learned parts: merge MLP and confidence regressor, trained on generated episodes."""

from __future__ import annotations

import numpy as np
import pytest

from sgtui.engine.gated import WAVE1_PARAMS
from sgtui.engine.knn import build_knn
from sgtui.engine.merge_model import MergeMLP, fit_merge_mlp, sample_merges
from sgtui.engine.methods import cluster
from sgtui.engine.metrics import evaluate
from sgtui.engine.model import EngineModel
from sgtui.engine.training import Episode, fit_engine_model
from tests.engine_helpers import clustered_vectors


def _episodes(n: int, seed0: int) -> list[Episode]:
    out = []
    for s in range(n):
        x, y = clustered_vectors(300, 5, dim=32, spread=1.1, seed=seed0 + s)
        out.append(Episode(x, y, np.full(300, 1500.0)))
    return out


def test_merge_samples_follow_the_truth():
    x, y = clustered_vectors(200, 4, dim=32, spread=1.0, seed=20)
    g = build_knn(x)
    f, t = sample_merges(x, g, y, np.full(200, 0.9))
    assert f.shape == (t.size, 6) and set(t.tolist()) == {0.0, 1.0}
    # positives join lines of one speaker: their average similarity is higher
    assert f[t == 1, 0].mean() > f[t == 0, 0].mean()
    # one positive per union of two same-speaker components: n - speakers of them
    assert int(t.sum()) == 200 - 4


def test_mlp_learns_to_separate_merges_from_non_merges():
    f = np.vstack([np.random.default_rng(0).normal([0.6, 0, 0.9, 0.9, 0, 0], 0.1, (300, 6)),
                   np.random.default_rng(1).normal([0.2, 0, 0.5, 0.9, 0, 0], 0.1, (300, 6))])
    y = np.r_[np.ones(300), np.zeros(300)]
    mlp = fit_merge_mlp(f, y, steps=500)
    assert ((mlp.prob(f) >= 0.5) == (y > 0.5)).mean() > 0.97
    with pytest.raises(ValueError):
        fit_merge_mlp(f, np.ones(600))


def test_engine_model_trained_on_some_episodes_clusters_others():
    model, summary = fit_engine_model(_episodes(3, 30))
    assert summary["merge_train_accuracy"] > 0.8 and summary["lines"] == 900
    again = EngineModel.from_arrays(model.to_arrays())
    assert isinstance(again.merge, MergeMLP)
    x, y = clustered_vectors(300, 5, dim=32, spread=1.1, seed=99)
    # these generated speakers are noisier than real ones: no pair clears the unrelated tail the
    # default threshold rule asks for, so the model is tried with the wave-1 threshold rule
    with_model = evaluate(cluster("gated", x, model=again, durations_ms=np.full(300, 1500.0),
                                  params=WAVE1_PARAMS).labels, y)
    assert with_model.edge_f1 > 0.9
    bad = model.to_arrays()
    bad["merge_w1"] = np.zeros((3, 3))
    with pytest.raises(ValueError):
        EngineModel.from_arrays(bad)
