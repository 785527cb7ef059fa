"""User actions and the op log: counts, undo/redo, conflicts, human constraints."""

from __future__ import annotations

import json

import pytest
from project_helpers import make_project

from sgtui.errors import ConflictError, SgtuiError
from sgtui.project import Project


@pytest.fixture
def proj(tmp_path):
    p = make_project(tmp_path / "a.sgproj")
    yield p
    p.close()


def _state(p: Project):
    return ({c.id: (c.name, c.confirmed) for c in p.clusters()},
            {k: (v.cluster_id, v.origin) for k, v in p.assignments().items()})


def test_add_to_a_new_cluster_logs_one_add_row_per_line(proj):
    aid = proj.add([1, 2], None, "ann", name="Kyon")
    rows = [r for r in proj.ops() if r.action_id == aid]
    assert [(r.kind, r.line_id) for r in rows] == [("add", 1), ("add", 2)]
    assert rows[0].payload and rows[1].payload is None
    (c,) = proj.clusters()
    assert c.name == "Kyon" and c.size == 2
    assert proj.op_counts()["raw"]["add"] == 2


def test_add_refuses_a_line_that_is_already_placed(proj):
    proj.add([1], None, "ann")
    with pytest.raises(ConflictError, match="already in cluster"):
        proj.add([1, 2], proj.clusters()[0].id, "ann")
    assert proj.assignments().keys() == {1}, "the refused action left nothing behind"


def test_move_is_one_action_of_remove_plus_add(proj):
    proj.add([1, 2], None, "ann")
    proj.add([3], None, "ann")
    a, b = (c.id for c in proj.clusters())
    aid = proj.move([1], b, "ann")
    kinds = [(r.kind, r.src_cluster, r.dst_cluster) for r in proj.ops() if r.action_id == aid]
    assert kinds == [("remove", a, None), ("add", None, b)]
    assert proj.assignments()[1].cluster_id == b


def test_move_with_a_stale_expectation_is_refused(proj):
    proj.add([1], None, "ann")
    proj.add([2], None, "ann")
    a, b = (c.id for c in proj.clusters())
    with pytest.raises(ConflictError, match="since the screen was drawn"):
        proj.move([1], b, "ann", expect={1: b})
    assert proj.assignments()[1].cluster_id == a


def test_remove_empties_and_drops_an_unnamed_cluster_but_keeps_a_named_one(proj):
    proj.add([1], None, "ann")
    proj.add([2], None, "ann", name="Haruhi")
    proj.remove([1, 2], "ann")
    assert [c.name for c in proj.clusters()] == ["Haruhi"]
    assert proj.assignments() == {}


def test_merge_moves_every_line_and_carries_the_name(proj):
    proj.add([1, 2], None, "ann", name="Nagato")
    proj.add([3, 4, 5], None, "ann")
    src, dst = (c.id for c in proj.clusters())
    aid = proj.merge(src, dst, "ann")
    (c,) = proj.clusters()
    assert (c.id, c.name, c.size) == (dst, "Nagato", 5)
    (row,) = [r for r in proj.ops() if r.action_id == aid]
    assert (row.kind, row.src_cluster, row.dst_cluster) == ("merge", src, dst)
    assert sorted(json.loads(row.payload)["moved"]) == [1, 2]


def test_merge_of_differently_named_clusters_is_refused(proj):
    proj.add([1], None, "ann", name="A")
    proj.add([2], None, "ann", name="B")
    a, b = (c.id for c in proj.clusters())
    with pytest.raises(SgtuiError, match="different names"):
        proj.merge(a, b, "ann")
    with pytest.raises(SgtuiError, match="itself"):
        proj.merge(a, a, "ann")


def test_rename_refuses_a_name_already_used(proj):
    proj.add([1], None, "ann", name="A")
    proj.add([2], None, "ann")
    with pytest.raises(SgtuiError, match="already cluster"):
        proj.rename(proj.clusters()[1].id, "A", "ann")


def test_undo_redo_chain_restores_exact_states(proj):
    states = [_state(proj)]
    proj.add([1, 2, 3], None, "ann")
    states.append(_state(proj))
    proj.add([4, 5], None, "ann", name="Mikuru")
    states.append(_state(proj))
    a, b = (c.id for c in proj.clusters())
    proj.merge(a, b, "ann")
    states.append(_state(proj))
    proj.move([1], None, "ann", name="Itsuki")
    states.append(_state(proj))
    proj.rename(b, "Asahina", "ann")
    states.append(_state(proj))
    for expected in reversed(states[:-1]):
        assert proj.undo("ann") is not None
        assert _state(proj) == expected
    assert proj.undo("ann") is None
    for expected in states[1:]:
        assert proj.redo("ann") is not None
        assert _state(proj) == expected
    assert proj.redo("ann") is None


def test_a_new_action_clears_the_redo_stack(proj):
    proj.add([1], None, "ann")
    proj.undo("ann")
    proj.add([2], None, "ann")
    assert proj.redo("ann") is None


def test_undo_survives_a_restart(tmp_path):
    path = tmp_path / "a.sgproj"
    with make_project(path) as p:
        p.add([1], None, "ann")
        p.add([2], None, "ann")
    with Project.open(path) as p:
        p.undo("ann")
        assert set(p.assignments()) == {1}
    with Project.open(path) as p:
        p.redo("ann")
        assert set(p.assignments()) == {1, 2}


def test_undo_is_per_annotator(proj):
    proj.add([1], None, "alice")
    proj.add([2], None, "bob")
    proj.undo("alice")
    assert set(proj.assignments()) == {2}


def test_undo_refuses_when_someone_changed_the_same_lines(proj):
    proj.add([1], None, "alice")
    proj.move([1], None, "bob")
    with pytest.raises(ConflictError, match="changed"):
        proj.undo("alice")
    assert proj.assignments()[1].origin == "human"


def test_net_counts_leave_out_undone_actions(proj):
    proj.add([1, 2], None, "ann")
    proj.add([3], None, "ann")
    a, b = (c.id for c in proj.clusters())
    proj.merge(a, b, "ann")
    proj.move([1], None, "ann")
    proj.rename(b, "X", "ann")
    proj.undo("ann")  # the rename
    proj.undo("ann")  # the move
    counts = proj.op_counts()
    assert counts["raw"] == {"add": 4, "remove": 1, "merge": 1, "rename": 1, "confirm": 0,
                             "undo": 2, "redo": 0, "recluster": 0, "flag": 0}
    assert counts["net"] == {"add": 3, "remove": 0, "merge": 1}
    assert counts["by_annotator"]["ann"]["net"] == counts["net"]
    assert counts["actions"] == 7
    proj.redo("ann")
    assert proj.op_counts()["net"] == {"add": 4, "remove": 1, "merge": 1}


def test_import_labels_is_one_action_and_suggestions_never_override_humans(proj):
    aid = proj.import_labels({1: "A", 2: "A", 3: "B"}, "ann")
    assert [r.kind for r in proj.ops() if r.action_id == aid] == ["import"]
    assert proj.op_counts()["raw"]["add"] == 0
    proj.import_labels({3: "A", 4: "B"}, "bot", origin="suggested")
    a = proj.assignments()
    assert (a[3].origin, a[4].origin) == ("human", "suggested")
    assert {c.name for c in proj.clusters()} == {"A", "B"}


def test_apply_clustering_keeps_human_work_and_reuses_cluster_ids(proj):
    proj.apply_clustering([(None, [1, 2, 3]), (None, [4, 5])], {6: [(0, 0.9), (1, 0.2)]})
    c1 = proj.assignments()[1].cluster_id
    proj.move([3], None, "ann", name="Kyon")
    kyon = proj.assignments()[3].cluster_id
    # a re-run that would put line 3 back with 1 and 2 leaves it with Kyon
    proj.apply_clustering([(None, [1, 2, 3, 7]), (kyon, [8])], {})
    a = proj.assignments()
    assert a[1].cluster_id == c1 and a[7].cluster_id == c1
    assert (a[3].cluster_id, a[3].origin) == (kyon, "human")
    assert a[8].cluster_id == kyon and a[8].origin == "auto"
    assert 4 not in a, "lines the engine left out are unassigned again"
    assert proj.op_counts()["raw"]["add"] == 1


def test_suggestions_map_group_indexes_to_clusters(proj):
    proj.apply_clustering([(None, [1, 2]), (None, [3])], {6: [(1, 0.8), (0, 0.3)]})
    cid3 = proj.assignments()[3].cluster_id
    cid1 = proj.assignments()[1].cluster_id
    assert [(s.cluster_id, s.score) for s in proj.suggestions()[6]] == [(cid3, 0.8), (cid1, 0.3)]


def test_constraints_report_fixed_cannot_and_must_links(proj):
    proj.apply_clustering([(None, [1, 2, 3]), (None, [4, 5])], {})
    a, b = sorted({v.cluster_id for v in proj.assignments().values()})
    proj.remove([3], "ann")
    proj.merge(b, a, "ann")
    proj.rename(a, "Kyon", "ann")
    proj.add([6], a, "ann")
    c = proj.constraints()
    assert c.fixed == {6: a}
    assert c.cannot_link == {(3, a)}
    assert {(4, 1), (5, 1)} <= set(c.must_link)
    assert c.names == {a: "Kyon"}


def test_actions_need_an_annotator(proj):
    with pytest.raises(SgtuiError, match="annotator"):
        proj.add([1], None, "  ")
