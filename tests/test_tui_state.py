"""The annotator's state and actions, driven without a terminal, on real project files."""

from __future__ import annotations

import pytest
from tui_helpers import small_project

from sgtui.errors import ConflictError, SgtuiError
from sgtui.project import Project
from sgtui.tui.state import CLUSTER, POOL, SEARCH, TIMELINE, AnnotatorState, fuzzy_score


@pytest.fixture
def sp(tmp_path, tmp_path_factory):
    return small_project(tmp_path, tmp_path_factory.getbasetemp() / "tui-small")


@pytest.fixture
def state(sp):
    p = Project.open(sp.path)
    yield AnnotatorState(p, "ann")
    p.close()


def kinds(project: Project, action_id: int) -> list[tuple]:
    return [(o.kind, o.line_id, o.src_cluster, o.dst_cluster, o.annotator)
            for o in project.ops() if o.action_id == action_id]


def last_action(project: Project) -> int:
    return max(o.action_id for o in project.ops())


def test_opens_on_the_biggest_cluster_with_the_pool_row_first(state, sp):
    assert state.view == CLUSTER
    assert state.cluster_id == sp.clusters[0]  # 5 lines: the biggest
    assert state.cluster_rows()[0] is None
    assert state.rows() == sorted(state.rows(), key=lambda lid: state.position[lid])
    assert state.progress() == (0, 12)
    assert state.unassigned_count() == 1


def test_remove_logs_one_remove_row_and_counts_it(state, sp):
    wrong = sp.ids["B"][3]
    state.set_cursor(state.rows().index(wrong))
    state.remove()
    assert kinds(state.project, last_action(state.project)) == [("remove", wrong, sp.clusters[0], None, "ann")]
    assert state.counters.net["remove"] == 1
    assert wrong not in state.assign
    assert wrong not in state.rows()


def test_add_from_the_pool_logs_an_add_row(state, sp):
    loose = sp.ids["A"][4]
    state.select_cluster(None)
    assert state.view == POOL and state.rows() == [loose]
    state.add_to(sp.clusters[0])
    assert kinds(state.project, last_action(state.project)) == [("add", loose, None, sp.clusters[0], "ann")]
    assert state.counters.net["add"] == 1
    assert state.assign[loose].origin == "human"


def test_add_refuses_a_line_that_is_already_placed(state):
    with pytest.raises(SgtuiError, match="move"):
        state.add_to(None)
    assert state.counters.net["add"] == 0


def test_move_is_one_action_of_remove_and_add(state, sp):
    wrong = sp.ids["B"][3]
    state.set_cursor(state.rows().index(wrong))
    state.move_to(sp.clusters[1])
    rows = kinds(state.project, last_action(state.project))
    assert rows == [("remove", wrong, sp.clusters[0], None, "ann"), ("add", wrong, None, sp.clusters[1], "ann")]
    assert state.counters.net == {"add": 1, "remove": 1, "merge": 0}
    assert state.assign[wrong].cluster_id == sp.clusters[1]


def test_move_to_a_new_named_cluster(state, sp):
    wrong = sp.ids["B"][3]
    state.set_cursor(state.rows().index(wrong))
    state.move_to(None, name="Bea")
    cid = state.assign[wrong].cluster_id
    assert cid not in sp.clusters and state.by_id[cid].name == "Bea"


def test_marked_lines_move_together(state, sp):
    state.select_cluster(sp.clusters[0])
    state.set_cursor(0)
    state.toggle_mark()
    state.toggle_mark()
    assert len(state.marked) == 2 and state.cursor == 2
    state.move_to(sp.clusters[2])
    assert len(kinds(state.project, last_action(state.project))) == 4
    assert not state.marked


def test_merge_folds_the_current_cluster_and_follows_it(state, sp):
    src, dst = sp.clusters[3], sp.clusters[2]
    state.select_cluster(src)
    state.merge_into(dst)
    assert kinds(state.project, last_action(state.project)) == [("merge", None, src, dst, "ann")]
    assert state.cluster_id == dst and src not in state.by_id
    assert state.by_id[dst].size == 3
    assert state.counters.net["merge"] == 1


def test_only_named_clusters_count_toward_progress(state, sp):
    state.select_cluster(sp.clusters[1])
    state.rename("Bea")
    assert state.by_id[sp.clusters[1]].name == "Bea"
    assert state.progress() == (3, 12)
    state.select_cluster(sp.clusters[2])
    state.toggle_confirm()
    assert state.by_id[sp.clusters[2]].confirmed
    # reviewed but unnamed: its lines export without a speaker, so they are not "named"
    assert state.progress() == (3, 12)
    assert state.counters.raw["rename"] == 1 and state.counters.raw["confirm"] == 1
    state.toggle_confirm()
    assert not state.by_id[sp.clusters[2]].confirmed


def test_names_used_earlier_are_offered_for_completion(state, sp):
    state.select_cluster(sp.clusters[1])
    state.rename("Bea")
    state.rename("Beatrice")
    assert state.name_choices() == ["Bea", "Beatrice"]


def test_a_taken_name_is_refused(state, sp):
    state.select_cluster(sp.clusters[1])
    state.rename("Bea")
    state.select_cluster(sp.clusters[2])
    with pytest.raises(SgtuiError, match="already"):
        state.rename("Bea")


def test_undo_redo_chain_restores_state_and_net_counts(state, sp):
    wrong = sp.ids["B"][3]
    state.set_cursor(state.rows().index(wrong))
    state.remove()
    state.select_cluster(sp.clusters[3])
    state.merge_into(sp.clusters[2])
    state.rename("Cid")
    assert state.counters.net == {"add": 0, "remove": 1, "merge": 1}
    # the message says what was undone (issue 24 B.14), not just "undone"
    c2, c3 = sp.clusters[2], sp.clusters[3]
    assert state.undo() == f"undone: rename #{c2} to Cid"
    assert state.undo() == f"undone: merge #{c3} into #{c2}"
    assert sp.clusters[3] in state.by_id and state.by_id[sp.clusters[2]].name is None
    assert state.counters.net == {"add": 0, "remove": 1, "merge": 0}
    assert state.redo() == f"redone: merge #{c3} into #{c2}"
    assert sp.clusters[3] not in state.by_id
    assert state.counters.net == {"add": 0, "remove": 1, "merge": 1}
    assert state.counters.raw["undo"] == 2 and state.counters.raw["redo"] == 1


def test_undo_survives_a_restart(sp):
    with Project.open(sp.path) as p:
        s = AnnotatorState(p, "ann")
        s.select_cluster(sp.clusters[1])
        s.rename("Bea")
    with Project.open(sp.path) as p:
        s = AnnotatorState(p, "ann")
        assert s.undo() == f"undone: rename #{sp.clusters[1]} to Bea"
        assert s.by_id[sp.clusters[1]].name is None
        assert s.undo() == "nothing to undo"  # the engine's clustering is not this annotator's


def test_accept_suggestion_by_rank(state, sp):
    loose = sp.ids["A"][4]
    state.select_cluster(None)
    state.accept_suggestion(2)
    assert state.assign[loose].cluster_id == sp.clusters[2]
    assert kinds(state.project, last_action(state.project)) == [("add", loose, None, sp.clusters[2], "ann")]


def test_accepting_a_missing_suggestion_is_refused(state, sp):
    state.select_cluster(None)
    with pytest.raises(SgtuiError, match="no suggestion 4"):
        state.accept_suggestion(4)
    state.select_cluster(sp.clusters[0])
    with pytest.raises(SgtuiError, match="already in a cluster"):
        state.accept_suggestion(1)


def test_targets_are_resolved_by_number_or_fuzzy_name(state, sp):
    state.select_cluster(sp.clusters[1])
    state.rename("Haruhi")
    assert state.resolve_cluster(str(sp.clusters[2])) == sp.clusters[2]
    assert state.resolve_cluster(f"#{sp.clusters[3]}") == sp.clusters[3]
    assert state.resolve_cluster("hrh") == sp.clusters[1]
    with pytest.raises(SgtuiError, match="no cluster matches"):
        state.resolve_cluster("zzz")
    assert fuzzy_score("hrh", "Haruhi") is not None and fuzzy_score("xy", "Haruhi") is None


def test_a_line_moved_by_someone_else_is_refused_and_the_screen_updates(state, sp):
    wrong = sp.ids["B"][3]
    state.set_cursor(state.rows().index(wrong))
    with Project.open(sp.path) as other:  # another annotator moves it first
        other.move([wrong], sp.clusters[1], "bob")
    with pytest.raises(ConflictError, match="moved"):
        state.remove()
    assert state.assign[wrong].cluster_id == sp.clusters[1]
    assert state.project.op_counts()["by_annotator"].get("ann") is None


def test_poll_sees_another_connections_commit(state, sp):
    assert state.poll() is False
    with Project.open(sp.path) as other:
        other.rename(sp.clusters[2], "Cid", "bob")
    assert state.poll() is True
    assert state.by_id[sp.clusters[2]].name == "Cid"
    assert "another window" in state.message
    assert state.poll() is False


def test_a_project_without_clusters_opens_on_the_pool(tmp_path):
    from sgtui.project import LineIn

    with Project.create(tmp_path / "raw.sgproj") as p:
        p.add_lines([LineIn(0, 1000, "one"), LineIn(1000, 2000, "two")])
    with Project.open(tmp_path / "raw.sgproj") as p:
        s = AnnotatorState(p, "ann")
        assert s.view == POOL and len(s.rows()) == 2
        assert "no clusters" in s.title() or s.title().startswith("unassigned")
        with pytest.raises(SgtuiError, match="no cluster"):
            s.rename("x")
        s.add_to(None, name="Kyon")
        assert s.clusters[0].name == "Kyon" and s.counters.net["add"] == 1


def test_doubt_sort_puts_the_misplaced_line_first(state, sp):
    state.select_cluster(sp.clusters[0])
    state.toggle_doubt_sort()
    # the most doubtful cluster is selected after the re-sort, where the eye goes
    assert state.cluster_id == state.clusters[0].id and state.cluster_cursor == 1
    doubts = [state.cluster_doubt(c.id) for c in state.clusters]
    assert doubts == sorted(doubts, reverse=True) and doubts[0] > doubts[-1]
    state.select_cluster(sp.clusters[0])
    assert state.rows()[0] == sp.ids["B"][3]  # the B line inside A's cluster
    state.toggle_doubt_sort()
    assert state.rows()[0] == sp.ids["A"][0]


def test_timeline_and_search_views(state, sp):
    state.show(TIMELINE)
    assert state.rows() == state.order
    state.search("  Tea ")
    assert state.view == SEARCH
    assert state.rows() == [sp.ids["C"][0]]  # "I brought the tea."
    state.search("the")
    assert len(state.rows()) == 5
    state.search("")
    assert state.view == CLUSTER


def test_context_and_montage_material(state, sp):
    state.select_cluster(sp.clusters[1])
    assert state.line_ids_for_montage() == sp.ids["B"][:3]
    state.set_cursor(1)
    cur = state.current_line()
    i = state.position[cur]
    assert state.context_ids() == state.order[i - 1:i + 2]


def test_an_empty_annotator_name_is_refused(sp):
    with Project.open(sp.path) as p, pytest.raises(SgtuiError, match="annotator"):
        AnnotatorState(p, "  ")


def test_a_bound_move_acts_on_the_lines_it_was_opened_for_or_not_at_all(state, sp):
    first, second = state.rows()[0], state.rows()[1]
    bound = state.bind_lines()  # the prompt opens on the first line
    assert bound.lines == (first,) and bound.expect == {first: sp.clusters[0]}
    with Project.open(sp.path) as other:
        other.move([first], sp.clusters[1], "bob")
    state.poll()
    assert state.current_line() == second  # the cursor row now holds another line
    with pytest.raises(ConflictError, match=f"line {first} moved to cluster #{sp.clusters[1]}"):
        state.place(sp.clusters[2], None, bound)
    assert state.assign[second].cluster_id == sp.clusters[0]
    assert state.project.op_counts()["by_annotator"].get("ann") is None


def test_a_bound_rename_is_refused_after_someone_renamed_the_cluster(state, sp):
    bound = state.bind_cluster()
    with Project.open(sp.path) as other:
        other.rename(bound.cluster_id, "Haruhi", "bob")
    with pytest.raises(ConflictError, match="bob renamed cluster"):
        state.rename("Kyon", bound)
    assert state.by_id[bound.cluster_id].name == "Haruhi"  # the screen shows the truth now


def test_a_bound_merge_is_refused_after_its_cluster_was_merged_away(state, sp):
    src = sp.clusters[3]
    with Project.open(sp.path) as other:
        other.merge(src, sp.clusters[2], "bob")
    with pytest.raises(ConflictError, match=f"cluster #{src} no longer exists \\(bob merged it"):
        state.merge_into(sp.clusters[0], src)
    assert state.project.op_counts()["raw"]["merge"] == 1


def test_view_only_refuses_every_action_before_the_store(sp):
    with Project.open(sp.path, readonly=True) as p:
        s = AnnotatorState(p, "ann")
        assert s.view_only
        for act in (s.remove, s.undo, s.toggle_confirm, lambda: s.rename("X"),
                    lambda: s.move_to(sp.clusters[1]), lambda: s.merge_into(sp.clusters[1])):
            with pytest.raises(SgtuiError, match="view only"):
                act()
        assert len(p.ops()) == 1


def test_undo_of_a_recluster_restores_the_confidences_shown_and_in_the_file(state, sp):
    """Issue 24 A.8: R then u showed (and left in the file) the re-cluster's confidences."""
    from sgtui.workflows import apply_recluster, plan_recluster

    p = state.project
    before = dict(state.confidence)
    plan = plan_recluster(p)
    assert plan.confidence is not None
    state.write_recluster(lambda: apply_recluster(p, plan, state.annotator))
    new = dict(zip(plan.ids, plan.confidence, strict=True))
    assert new != before
    assert state.confidence == new  # the screen shows what the re-cluster wrote
    state.undo()
    ids, values = p.confidence("voice")
    assert dict(zip(ids.tolist(), values.tolist(), strict=True)) == before  # the file, exactly
    assert state.confidence == before  # and the screen
    state.redo()
    assert state.confidence == new
    with Project.open(sp.path) as other:  # what a restart shows
        assert AnnotatorState(other, "ann").confidence == new


def test_the_review_queue_never_offers_a_line_placed_by_hand(state, sp):
    """Issue 24 B.16: a line the annotator just put somewhere is a decision, not a doubt."""
    a, b = sp.ids["A"], sp.ids["B"]
    state.select_cluster(None)
    state.set_cursor(state.rows().index(a[4]))
    state.add_to(sp.clusters[1])  # A's voice into B's cluster, by hand: far from its centroid
    assert state.assign[a[4]].origin == "human"
    assert state.doubt[a[4]] == 0.0
    offered = []
    while (state.review_next()).startswith("doubtful line"):
        offered.append(state.current_line())
    assert a[4] not in offered
    assert b[3] in offered  # the engine's misplaced line still is a doubt
    state.toggle_doubt_sort()  # and it sorts last in its cluster
    state.select_cluster(sp.clusters[1])
    assert state.rows()[-1] == a[4]


def test_undo_and_redo_say_what_they_undid(state, sp):
    """Issue 24 B.14: "undone" alone did not say what."""
    from sgtui.tui.flags import toggle_flag

    a, b = sp.ids["A"], sp.ids["B"]
    c0, c1 = sp.clusters[0], sp.clusters[1]
    state.set_cursor(state.rows().index(b[3]))
    state.move_to(c1)
    state.select_cluster(None)
    state.add_to(c1)  # a[4], the only unassigned line
    state.select_cluster(c1)
    state.toggle_confirm()
    state.set_cursor(0)
    toggle_flag(state, "overlap")
    state.set_cursor(state.rows().index(b[3]))
    state.remove()
    assert [state.undo() for _ in range(6)] == [
        f"undone: remove line {b[3]} from #{c1}",
        f"undone: flag line {b[0]} (overlap)",
        f"undone: mark #{c1} reviewed",
        f"undone: add line {a[4]} to #{c1}",
        f"undone: move line {b[3]} to #{c1}",
        "nothing to undo",
    ]
    assert state.assign[b[3]].cluster_id == c0
    assert state.redo() == f"redone: move line {b[3]} to #{c1}"


def test_undo_of_a_title_says_which_title(state):
    """A title set with `sgtui info --set-title` is undone in the app by its own words."""
    before = state.project.meta_get("title")
    assert state.project.set_title("Episode One", "ann")
    state.refresh()
    assert state.undo() == f"undone: retitle {before!r} to 'Episode One'"
    assert state.project.meta_get("title") == before


def test_a_message_about_a_line_goes_when_the_cursor_moves_on(state, sp):
    """Issue 24 B.14: "removed line 11" stayed on screen while the cursor was elsewhere."""
    state.set_cursor(state.rows().index(sp.ids["B"][3]))
    assert state.remove().startswith("removed line")
    assert state.message  # it stays while the cursor stays
    state.move_cursor(-1)
    assert state.message == ""
    state.review_next()  # the queue's own message is about where it took the cursor
    assert state.message.startswith(("doubtful line", "unassigned line", "unreviewed"))
    state.step_cluster(1)
    assert state.message == ""
    state.move_cursor(-100)  # already at the top: nothing moved, nothing cleared
    state.message = "kept"
    state.move_cursor(-1)
    assert state.message == "kept"


def test_counts_of_one_say_line_not_lines(state, sp):
    """Issue 24 B.17's words, on the annotator's screen: "unassigned — 1 lines"."""
    state.select_cluster(None)
    assert state.title() == "unassigned — 1 line"
    state.search("That is all for today")
    assert state.message == "1 line contains 'That is all for today'"
    state.search("e")
    assert state.message.startswith(f"{len(state.rows())} lines contain")


def test_undo_of_a_recluster_restores_the_suggested_names_shown(state, sp):
    """Issue 24 A.8, the names beside the clusters: the re-cluster named its clusters anew
    (and a cluster it dropped lost its suggestion); undo showed those, not the ones before."""
    from sgtui.workflows import apply_recluster, plan_recluster, suggest_subtitle_names

    p = state.project
    for speaker, ids in sp.ids.items():  # the subtitles say who speaks
        p.conn.executemany("UPDATE lines SET actor=? WHERE id=?", [(speaker, lid) for lid in ids])
    suggest_subtitle_names(p)
    state.refresh(full=True)
    before = dict(state.name_sugg)
    assert before[sp.clusters[0]].score < 1.0  # A's cluster holds one line of B

    def shown() -> dict:
        return {cid: (n.name, n.score, n.source) for cid, n in p.name_suggestions().items()}

    was = shown()
    plan = plan_recluster(p)
    state.write_recluster(lambda: apply_recluster(p, plan, state.annotator))
    renamed = shown()
    assert renamed != was
    assert state.undo() == "undone: re-cluster"
    assert shown() == was and state.name_sugg == before
    state.redo()
    assert shown() == renamed
