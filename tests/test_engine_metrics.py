"""Edge scores and minimum operation counts ("Metrics" in docs/architecture.md), checked against independent oracles."""

from __future__ import annotations

import heapq

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.metrics.cluster import pair_confusion_matrix

from sgtui.engine.metrics import (
    contingency,
    evaluate,
    min_operations_assignment,
    min_operations_unit,
    operations,
)
from tests.engine_helpers import haruhi03


def _canon(state: tuple[int, ...]) -> tuple[int, ...]:
    seen: dict[int, int] = {}
    return tuple(-1 if c < 0 else seen.setdefault(c, len(seen)) for c in state)


def brute_force_ops(pred: list[int], truth: list[int], w: tuple[int, int, int]) -> tuple[int, int]:
    """(min weighted cost, fewest merges at that cost) by Dijkstra over every operation sequence."""
    w_a, w_r, w_m = w
    goal = _canon(tuple(truth))
    start = _canon(tuple(pred))
    dist = {start: (0, 0)}
    heap = [(0, 0, start)]
    while heap:
        cost, merges, state = heapq.heappop(heap)
        if dist.get(state) != (cost, merges):
            continue
        if state == goal:
            return cost, merges
        clusters = sorted({c for c in state if c >= 0})
        nxt: list[tuple[tuple[int, ...], int, int]] = []
        for i, c in enumerate(state):
            if c < 0:
                for d in [*clusters, len(clusters)]:  # join a cluster or start a new one
                    nxt.append((state[:i] + (d,) + state[i + 1 :], w_a, 0))
            else:
                nxt.append((state[:i] + (-1,) + state[i + 1 :], w_r, 0))
        for a in clusters:
            for b in clusters:
                if a < b:
                    nxt.append((tuple(b if c == a else c for c in state), w_m, 1))
        for s, dc, dm in nxt:
            key = (cost + dc, merges + dm)
            s = _canon(s)
            if s not in dist or key < dist[s]:
                dist[s] = key
                heapq.heappush(heap, (*key, s))
    raise AssertionError("goal unreachable")


small_case = st.integers(1, 6).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(-1, 3), min_size=n, max_size=n),
        st.lists(st.integers(0, 2), min_size=n, max_size=n),
    )
)


@settings(max_examples=150, deadline=None)
@given(small_case, st.integers(1, 3), st.integers(1, 3), st.integers(1, 12))
def test_assignment_matches_brute_force_for_any_weights(case, w_a, w_r, w_m):
    pred, truth = case
    table, unassigned = contingency(np.array(pred), np.array(truth))
    add, remove, merge = min_operations_assignment(table, unassigned, (w_a, w_r, w_m))
    cost, merges = brute_force_ops(pred, truth, (w_a, w_r, w_m))
    assert w_a * add + w_r * remove + w_m * merge == cost
    assert merge == merges
    assert add - remove == sum(p < 0 for p in pred)


@settings(max_examples=150, deadline=None)
@given(small_case)
def test_unit_closed_form_matches_brute_force(case):
    pred, truth = case
    table, unassigned = contingency(np.array(pred), np.array(truth))
    add, remove, merge = min_operations_unit(table, unassigned)
    assert (add + remove + merge, merge) == brute_force_ops(pred, truth, (1, 1, 1))


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 60).flatmap(
        lambda n: st.tuples(
            st.lists(st.integers(-1, 15), min_size=n, max_size=n),
            st.lists(st.integers(0, 6), min_size=n, max_size=n),
        )
    )
)
def test_closed_form_equals_assignment_at_unit_weights(case):
    table, unassigned = contingency(np.array(case[0]), np.array(case[1]))
    assert min_operations_unit(table, unassigned) == min_operations_assignment(table, unassigned)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 50).flatmap(
        lambda n: st.tuples(
            st.lists(st.integers(-1, 8), min_size=n, max_size=n),
            st.lists(st.integers(0, 4), min_size=n, max_size=n),
        )
    )
)
def test_edge_scores_equal_sklearn_pair_confusion(case):
    pred = np.array(case[0])
    truth = np.array(case[1])
    singletons = np.where(pred < 0, 1000 + np.arange(pred.size), pred)  # unassigned = alone
    (tn, fp), (fn, tp) = pair_confusion_matrix(truth, singletons)
    e = evaluate(pred, truth)
    assert np.isclose(e.edge_precision, tp / (tp + fp) if tp + fp else 1.0)
    assert np.isclose(e.edge_recall, tp / (tp + fn) if tp + fn else 1.0)


def test_lines_without_truth_are_not_evaluated_and_their_clusters_ignored():
    pred = np.array([0, 0, 1, 1, 2, -1])
    truth = np.array([0, 0, 1, -1, -1, -1])
    e = evaluate(pred, truth)
    assert (e.evaluated, e.clusters, e.speakers, e.unassigned) == (3, 2, 2, 0)
    assert e.ops.total == 0 and e.edge_f1 == 1.0


def test_no_shared_cluster_gives_precision_one():
    e = evaluate(np.array([-1, -1, 5]), np.array([0, 0, 1]))
    assert e.edge_precision == 1.0 and e.edge_recall == 0.0 and e.edge_f1 == 0.0
    assert (e.ops.add, e.ops.remove, e.ops.merge) == (2, 0, 0)


def test_heavy_merge_weight_prefers_moving_lines():
    pred = np.array([0, 0, 0, 1])  # a speaker split 3 + 1
    truth = np.array([0, 0, 0, 0])
    assert operations(pred, truth).merge == 1
    heavy = operations(pred, truth, (1, 1, 5))
    assert (heavy.add, heavy.remove, heavy.merge, heavy.total) == (1, 1, 0, 2.0)


def test_tied_majority_uses_the_free_speaker():
    # cluster 0 is half A half B; cluster 1 is all A: cluster 0 must take B, no merge.
    pred = np.array([0, 0, 1, 1])
    truth = np.array([0, 1, 0, 0])
    o = operations(pred, truth)
    assert (o.add, o.remove, o.merge) == (1, 1, 0)


def test_haruhi03_average_linkage_at_similarity_03_gives_62_62_11():
    x, truth, _ = haruhi03()
    pred = fcluster(linkage(x.astype(np.float64), "average", metric="cosine"), 0.7, "distance")
    e = evaluate(pred, truth)
    assert (e.ops.add, e.ops.remove, e.ops.merge) == (62, 62, 11)
    assert e.clusters == 16 and round(e.edge_precision, 3) == 0.815
    assert round(e.edge_recall, 3) == 0.860
    assert np.isclose(e.ops.per_100_lines, 100 * 135 / 440)


def _canon_named(state: tuple[int, ...], names: dict[int, int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Clusters relabelled by first appearance; a cluster with no lines stays when it has a
    name (sgtui drops only unnamed empty clusters), after the others, ordered by its name."""
    seen: dict[int, int] = {}
    labels = tuple(-1 if c < 0 else seen.setdefault(c, len(seen)) for c in state)
    empty_named = sorted(v for c, v in names.items() if c not in seen and v != -1)
    return labels, tuple(names.get(c, -1) for c in seen) + tuple(empty_named)


def brute_force_named(pred: list[int], truth: list[int], names: dict[int, int],
                      w: tuple[int, int, int, int]) -> int:
    """Min cost over every sequence of add/remove/merge/rename (Dijkstra), the goal being the
    truth partition with each cluster named as its speaker; a merge keeps the name of the
    cluster kept (either way round), a new cluster starts unnamed."""
    w_a, w_r, w_m, w_n = w
    names = {c: v for c, v in names.items() if c in pred}  # the clusters the episode has
    start = _canon_named(tuple(pred), names)
    dist = {start: 0}
    heap = [(0, start)]
    while heap:
        cost, (state, nm) = heapq.heappop(heap)
        if dist.get((state, nm)) != cost:
            continue
        members: dict[int, set[int]] = {}
        for i, c in enumerate(state):
            if c >= 0:
                members.setdefault(c, set()).add(truth[i])
        if all(c >= 0 for c in state) and all(len(m) == 1 for m in members.values()) \
                and len(members) == len(set(truth)) \
                and all(nm[c] == next(iter(m)) for c, m in members.items()):
            return cost
        k = len(nm)
        named = dict(enumerate(nm))
        nxt = []
        for i, c in enumerate(state):
            if c < 0:
                for d in range(k + 1):
                    nxt.append((state[:i] + (d,) + state[i + 1:], named, w_a))
            else:
                nxt.append((state[:i] + (-1,) + state[i + 1:], named, w_r))
        for a in range(k):
            for b in range(k):
                if a != b:
                    # the merged cluster is gone (its name with it): a cluster emptied by
                    # moves keeps its name, as in a project
                    nxt.append((tuple(b if c == a else c for c in state), {**named, a: -1}, w_m))
            for sp in set(truth):
                nxt.append((state, {**named, a: sp}, w_n))
        for s, n, dc in nxt:
            key = _canon_named(s, n)
            if key not in dist or cost + dc < dist[key]:
                dist[key] = cost + dc
                heapq.heappush(heap, (cost + dc, key))
    raise AssertionError("goal unreachable")


named_case = st.integers(1, 4).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(-1, 2), min_size=n, max_size=n),
        st.lists(st.integers(0, 2), min_size=n, max_size=n),
        # a project's cluster names are unique (clusters.name UNIQUE), so two clusters never
        # name the same speaker; no name (-1) and a wrong name (-2) may repeat
        st.lists(st.integers(-2, 2), min_size=3, max_size=3).filter(
            lambda names: len([x for x in names if x >= 0]) == len({x for x in names if x >= 0})),
    )
)


@settings(max_examples=120, deadline=None)
@given(named_case, st.integers(1, 2), st.integers(1, 2), st.integers(1, 4), st.integers(0, 3))
def test_renames_match_brute_force(case, w_a, w_r, w_m, w_n):
    pred, truth, name_of = case
    names = {c: name_of[c] for c in range(3)}  # -1: no name, -2: a name that is no speaker's
    ops = operations(np.array(pred), np.array(truth), (w_a, w_r, w_m, w_n), names)
    assert ops.total_with_names == brute_force_named(pred, truth, names, (w_a, w_r, w_m, w_n))
    plain = operations(np.array(pred), np.array(truth), (w_a, w_r, w_m))
    assert (ops.add, ops.remove, ops.merge, ops.total) == (plain.add, plain.remove, plain.merge, plain.total)


def test_a_correctly_named_cluster_keeps_its_speaker():
    # two clusters of speaker 0, the smaller one named 0: it is the one kept, the other merged
    pred = np.array([0, 0, 0, 1, 1, 2])
    truth = np.array([0, 0, 0, 0, 0, 1])
    e = evaluate(pred, truth, (1, 1, 1, 1), names={1: 0, 2: 5})
    assert (e.ops.merge, e.ops.rename, e.ops.total_with_names) == (1, 1, 2)
    assert e.names == {"correct": 1, "wrong": 1, "missing": 1}
    # nothing named: every speaker's cluster is one rename
    e = evaluate(pred, truth, (1, 1, 1, 1), names={})
    assert (e.ops.rename, e.names) == (2, {"correct": 0, "wrong": 0, "missing": 3})


def test_speaker_with_only_unassigned_lines_costs_a_name():
    e = evaluate(np.array([0, -1]), np.array([0, 1]), (1, 1, 1, 1), names={0: 0})
    assert (e.ops.add, e.ops.rename, e.ops.total_with_names) == (1, 1, 2)
