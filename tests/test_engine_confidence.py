"""3-NN confidence by dynamic programming ("The engine" in docs/architecture.md) against enumeration and simulation."""

from __future__ import annotations

import itertools
from math import comb

import numpy as np
import pytest

from sgtui.engine.confidence import (
    ConfidenceModel,
    fit_confidence_model,
    knn_confidence,
    line_features,
    q_from_folds,
    walk_length,
)
from sgtui.engine.knn import build_knn
from tests.engine_helpers import clustered_vectors, haruhi03


def _vote(kept_labels: list[int], own: int, lenient: bool) -> bool:
    """The classification rule, written plainly from the spec."""
    if lenient:
        return not (len(kept_labels) >= 2 and kept_labels[0] != own and kept_labels[1] != own)
    if len(kept_labels) < 3:
        # the neighbours ran out: two of i's label already settle the vote; else undecided = fail
        return kept_labels.count(own) == 2
    first3 = kept_labels[:3]
    mine = first3.count(own)
    if mine >= 2:
        return True
    if mine == 1 and len(set(first3)) == 3:
        return first3[0] == own  # three different labels: the nearest decides
    return False


def _order(x: np.ndarray, i: int) -> list[int]:
    s = x @ x[i]
    return sorted((j for j in range(len(x)) if j != i), key=lambda j: (-s[j], j))


def enumerate_confidence(x: np.ndarray, labels: np.ndarray, q: float, lenient: bool) -> np.ndarray:
    out = np.zeros(len(x))
    for i in range(len(x)):
        order = _order(x, i)
        for keep in itertools.product([False, True], repeat=len(order)):
            p = np.prod([q if k else 1 - q for k in keep])
            kept = [int(labels[j]) for j, k in zip(order, keep, strict=True) if k]
            out[i] += p * _vote(kept, int(labels[i]), lenient)
    return out


@pytest.mark.parametrize("lenient", [False, True])
@pytest.mark.parametrize("q", [0.1, 0.5, 0.9])
def test_dp_equals_exhaustive_enumeration_on_small_sets(q, lenient):
    rng = np.random.default_rng(int(q * 10) + lenient)
    for trial in range(4):
        x = rng.standard_normal((9, 4)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        labels = rng.integers(0, 3 + trial % 2, 9)
        got = knn_confidence(x, labels, q=q, lenient=lenient)
        want = enumerate_confidence(x, labels, q, lenient)
        np.testing.assert_allclose(got, want, atol=1e-9)


def test_dp_agrees_with_monte_carlo_on_haruhi03():
    x, truth, _ = haruhi03()
    q, trials = 0.1, 600
    dp = knn_confidence(x, truth, q=q)
    rng = np.random.default_rng(7)
    sims = x @ x.T
    mc = np.zeros(len(x))
    for i in range(0, len(x), 4):  # every 4th line keeps the test quick
        order = np.array(_order_fast(sims[i], i))
        keep = rng.random((trials, order.size)) < q
        hits = 0
        for t in range(trials):
            kept = truth[order[keep[t]][:3]].tolist()
            hits += _vote(kept, int(truth[i]), lenient=False)
        mc[i] = hits / trials
    idx = np.arange(0, len(x), 4)
    sigma = np.sqrt(dp[idx] * (1 - dp[idx]) / trials) + 1e-3
    assert np.all(np.abs(mc[idx] - dp[idx]) < 5 * sigma)
    assert abs(mc[idx].mean() - dp[idx].mean()) < 0.01


def _order_fast(s: np.ndarray, i: int) -> list[int]:
    order = np.lexsort((np.arange(s.size), -s))
    return [int(j) for j in order if j != i]


def test_duplicated_vectors_are_neighbours_not_self():
    x = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], dtype=np.float32)
    labels = np.array([0, 0, 1, 1])
    c = knn_confidence(x, labels, q=1.0)
    # with q = 1 the three nearest are always kept: twin + two of the other label -> wrong
    np.testing.assert_allclose(c, [0.0, 0.0, 0.0, 0.0])
    three = np.array([[1, 0], [1, 0], [1, 0.01], [0, 1]], dtype=np.float32)
    assert knn_confidence(three, np.array([0, 0, 0, 1]), q=1.0)[0] == 1.0


def test_unlabelled_lines_are_neither_scored_nor_neighbours():
    x, labels = clustered_vectors(60, 3, seed=1)
    with_gaps = labels.copy()
    with_gaps[::5] = -1
    c = knn_confidence(x, with_gaps)
    assert np.isnan(c[::5]).all()
    keep = with_gaps >= 0
    np.testing.assert_allclose(c[keep], knn_confidence(x[keep], labels[keep]))


def test_walk_leaves_less_than_a_millionth_undecided():
    t = walk_length(0.1, 10_000)
    assert sum(comb(t, k) * 0.1**k * 0.9 ** (t - k) for k in range(3)) < 1e-6
    assert sum(comb(t - 1, k) * 0.1**k * 0.9 ** (t - 1 - k) for k in range(3)) >= 1e-6
    assert walk_length(0.1, 50) == 50


def test_folds_mean_keep_probability():
    assert q_from_folds(10) == 0.9
    with pytest.raises(ValueError):
        q_from_folds(1)


def test_lenient_is_never_below_strict():
    x, labels = clustered_vectors(200, 4, spread=1.2, seed=3)
    strict = knn_confidence(x, labels)
    lenient = knn_confidence(x, labels, lenient=True)
    assert np.all(lenient >= strict - 1e-12)
    assert lenient.mean() > strict.mean()


def test_confidence_model_round_trips_through_plain_arrays_and_rejects_others():
    x, labels = clustered_vectors(300, 4, spread=1.0, seed=4)
    g = build_knn(x, 10)
    f = line_features(g, np.full(300, 1500.0))
    target = knn_confidence(x, labels)
    model = fit_confidence_model(f, target)
    again = ConfidenceModel.from_arrays(model.to_arrays())
    np.testing.assert_allclose(again.predict(f), model.predict(f))
    assert np.corrcoef(model.predict(f), target)[0, 1] > 0.3
    bad = model.to_arrays()
    bad["kind"] = np.array("something else")
    with pytest.raises(ValueError):
        ConfidenceModel.from_arrays(bad)
    with pytest.raises(ValueError):
        ConfidenceModel.from_arrays({"mean": np.zeros(3)})
