"""The annotator app driven by key presses (Textual Pilot), checked against the op log."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
from tui_helpers import AppMaker, build_big_project, small_project

from sgtui.project import LineIn, Project
from sgtui.tui.app import AnnotatorApp
from sgtui.tui.config import Config
from sgtui.tui.help_screen import HelpScreen
from sgtui.tui.main_screen import MainScreen
from sgtui.tui.modals import ClusterPicker, ConfirmPrompt, TextPrompt
from sgtui.tui.player import NullPlayer
from sgtui.tui.widgets import KeyframePanel, RowList, StatusBar

SIZE = (120, 36)


@pytest.fixture
def sp(tmp_path, tmp_path_factory):
    return small_project(tmp_path, tmp_path_factory.getbasetemp() / "tui-small")


@pytest.fixture
def make_app(sp):
    make = AppMaker(sp.path)
    yield make
    make.close()


def status(app: AnnotatorApp) -> str:
    return str(app.main.query_one(StatusBar).content)


def last_rows(app: AnnotatorApp) -> list[tuple]:
    ops = app.project.ops()
    last = ops[-1].action_id
    return [(o.kind, o.line_id, o.src_cluster, o.dst_cluster, o.annotator) for o in ops if o.action_id == last]


async def keys(pilot, *names: str) -> None:
    await pilot.press(*names)
    await pilot.pause()


async def test_first_screen_shows_clusters_lines_keyframe_and_status(make_app, sp):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.main.query_one("#clusters", RowList).count == 5  # pool row + 4 clusters
        assert app.main.query_one("#lines", RowList).count == 5
        assert app.main.query_one(KeyframePanel).query_one(".kf-image").image is not None
        assert "tester" in status(app) and "add 0 · remove 0 · merge 0" in status(app)
        assert "0/12 named" in status(app)


async def test_x_removes_the_line_and_the_counter_moves(make_app, sp):
    app = make_app()
    wrong = sp.ids["B"][3]
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "G", "x")
        assert last_rows(app) == [("remove", wrong, sp.clusters[0], None, "tester")]
        assert "remove 1" in status(app)
        assert wrong not in app.state.assign


async def test_a_adds_a_pool_line_to_a_cluster_typed_by_number(make_app, sp):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "f", "a")
        assert isinstance(app.screen, ClusterPicker)
        await keys(pilot, *str(sp.clusters[1]), "enter")
        assert last_rows(app) == [("add", sp.ids["A"][4], None, sp.clusters[1], "tester")]
        assert "add 1" in status(app)


async def test_a_with_new_name_starts_a_named_cluster(make_app, sp):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "f", "a", *"new Kyon", "enter")
        cid = app.state.assign[sp.ids["A"][4]].cluster_id
        assert app.state.by_id[cid].name == "Kyon"
        assert last_rows(app)[0][0] == "add"


async def test_m_moves_a_line_to_a_cluster_chosen_by_fuzzy_name(make_app, sp):
    with Project.open(sp.path) as p:
        p.rename(sp.clusters[1], "Beatrice", "setup")
    app = make_app()
    wrong = sp.ids["B"][3]
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "G", "m", *"btrc", "enter")
        assert last_rows(app) == [("remove", wrong, sp.clusters[0], None, "tester"),
                                  ("add", wrong, None, sp.clusters[1], "tester")]
        assert "add 1 · remove 1" in status(app)


async def test_capital_m_merges_by_number_and_the_view_follows(make_app, sp):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "right_square_bracket", "right_square_bracket", "right_square_bracket")
        assert app.state.cluster_id == sp.clusters[3]
        await keys(pilot, "M", *str(sp.clusters[2]), "enter")
        assert last_rows(app) == [("merge", None, sp.clusters[3], sp.clusters[2], "tester")]
        assert app.state.cluster_id == sp.clusters[2]
        assert "merge 1" in status(app)
        assert app.main.query_one("#clusters", RowList).count == 4


async def test_escape_in_a_picker_does_nothing(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "M", "escape")
        assert isinstance(app.screen, MainScreen)
        assert app.project.op_counts()["by_annotator"].get("tester") is None


async def test_n_names_a_cluster_completing_an_earlier_name(make_app, sp):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "n")
        assert isinstance(app.screen, TextPrompt)
        await keys(pilot, *"Haruhi", "enter")
        assert last_rows(app)[0][0] == "rename"
        assert app.state.by_id[sp.clusters[0]].name == "Haruhi"
        await keys(pilot, "u")  # the name is gone but remembered
        assert app.state.by_id[sp.clusters[0]].name is None
        await keys(pilot, "right_square_bracket", "n", "H", "a", "right", "enter")
        assert app.state.by_id[sp.clusters[1]].name == "Haruhi"
        assert "3/12 named" in status(app)


async def test_c_marks_the_cluster_reviewed(make_app, sp):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "c")
        assert last_rows(app)[0][0] == "confirm"
        assert app.state.by_id[sp.clusters[0]].confirmed
        assert "0/12 named" in status(app)  # reviewed, but its lines still have no name


async def test_u_and_capital_u_undo_and_redo_any_depth(make_app, sp):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "G", "x", "x", "x")
        assert "remove 3" in status(app)
        await keys(pilot, "u", "u", "u")
        assert "remove 0" in status(app)
        assert app.state.by_id[sp.clusters[0]].size == 5
        await keys(pilot, "U", "ctrl+r")
        assert "remove 2" in status(app)
        counts = app.project.op_counts()
        assert counts["raw"]["undo"] == 3 and counts["raw"]["redo"] == 2 and counts["raw"]["remove"] == 3


async def test_an_80_column_terminal_still_shows_what_the_last_key_did(make_app, sp):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await keys(pilot, "G", "x", "u")
        bar = app.main.query_one(StatusBar)
        shown = bar.content.plain
        undone = f"undone: remove line {sp.ids['B'][3]} from #{sp.clusters[0]}"  # says what
        assert all(len(line) <= bar.size.width for line in shown.split("\n")), shown
        assert "add 0 · remove 0 · merge 0" in shown and shown.endswith(undone), shown
        assert "clusters ·" not in shown  # the cluster count made way for the message
        await keys(pilot, "/")
        await keys(pilot, *"a long query that matches no line at all", "enter")
        first, second = bar.content.plain.split("\n")  # the message gets its own line, whole
        assert len(first) <= bar.size.width and "add 0 · remove 0" in first
        assert second == "0 lines contain 'a long query that matches no line at all'"
        assert bar.size.height == 2
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "G", "x", "u")
        assert "4 clusters · 1 unassigned │" in status(app) and status(app).endswith(f"│ {undone}")


async def test_an_80_column_terminal_leaves_room_to_read_the_lines(make_app, sp):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        lines = app.main.query_one("#lines", RowList)
        assert lines.size.width >= 34  # at the wide layout's fixed side widths it was 10
        row = lines.render_line(0).text
        assert app.state.lines[app.state.rows()[0]].text[:12] in row, row
        await pilot.resize_terminal(130, 36)
        await pilot.pause()
        assert app.main.has_class("-wide") and app.main.query_one("#side").outer_size.width == 40


async def test_digit_keys_accept_a_suggestion_in_the_pool(make_app, sp):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "f", "3")
        assert last_rows(app) == [("add", sp.ids["A"][4], None, sp.clusters[1], "tester")]
        assert "add 1" in status(app)


async def test_playback_keys_hand_decoded_audio_to_the_player(make_app, sp):
    player = NullPlayer()
    app = make_app(player=player)
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "p")
        await app.workers.wait_for_complete()
        one = player.last
        assert one is not None and one[1] == 16_000 and one[0] > 8000  # espeak speech, > 0.5 s
        assert "no sound device" in status(app)
        await keys(pilot, "P")
        await app.workers.wait_for_complete()
        assert player.last[0] > 4 * one[0]  # five lines with gaps
        await keys(pilot, "j", "b")
        await app.workers.wait_for_complete()
        assert player.last[0] > one[0]
        await keys(pilot, "s")
        assert player.last is None and "stopped" in status(app)


async def test_lines_without_clips_say_so(make_app, tmp_path, tmp_path_factory):
    bare = small_project(tmp_path, tmp_path_factory.getbasetemp() / "tui-bare", media=False)
    app = make_app(bare.path)
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "p")
        assert "no audio clip" in status(app)
        assert "no keyframe" in str(app.main.query_one(KeyframePanel).query_one(".kf-none").content)


async def test_views_pool_timeline_search_and_doubt(make_app, sp):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "t")
        assert app.main.query_one("#lines", RowList).count == 12
        await keys(pilot, "slash", *"tea", "enter")
        assert app.state.rows() == [sp.ids["C"][0]]
        await keys(pilot, "escape")
        assert app.state.view == "cluster"
        await keys(pilot, "d")
        assert app.state.cluster_id == app.state.clusters[0].id and "doubt" in status(app)
        app.state.select_cluster(sp.clusters[0])
        assert app.state.rows()[0] == sp.ids["B"][3]
        await keys(pilot, "f")
        assert app.state.view == "pool"


async def test_question_mark_lists_every_key(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        ids = {row[2] for row in app.screen.rows}
        assert {b.id for b in MainScreen.BINDINGS} <= ids
        await keys(pilot, "escape")
        assert isinstance(app.screen, MainScreen)


async def test_command_palette_runs_an_action(make_app, sp):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "ctrl+p")
        await pilot.press(*"mark the current cluster reviewed")
        await pilot.pause(0.3)
        await keys(pilot, "enter")
        await pilot.pause(0.2)
        assert app.state.by_id[sp.clusters[0]].confirmed


async def test_keys_are_remapped_from_the_config(make_app, sp):
    app = make_app(config=Config(image="halfcell", keys={"remove": "z"}))
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "G", "x")
        assert app.project.op_counts()["raw"]["remove"] == 0
        await keys(pilot, "z")
        assert app.project.op_counts()["raw"]["remove"] == 1


async def test_recluster_runs_in_a_worker_keeps_the_screen_live_and_human_work(make_app, sp):
    release = threading.Event()
    loose = sp.ids["A"][4]

    def recluster(path):
        release.wait(10)
        with Project.open(path) as p:  # the engine puts every line in one cluster
            p.apply_clustering([(None, [ln.id for ln in p.lines()])], {}, method="fake")
        return {"clusters": 1}

    app = make_app(reclusterer=recluster)
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "f", "a", *"new K", "enter")
        kyon = app.state.assign[loose].cluster_id
        await keys(pilot, "R")
        assert "re-clustering" in status(app)
        await keys(pilot, "t", "j", "j")  # the screen answers while the engine runs
        assert app.state.cursor == 2
        release.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.state.assign[loose].cluster_id == kyon  # human work kept
        assert app.state.assign[loose].origin == "human"
        assert "re-clustered" in status(app)


async def test_recluster_failure_is_a_message_not_a_crash(make_app):
    from sgtui.errors import SgtuiError

    def broken(path):
        raise SgtuiError("the project has no voice embeddings")

    app = make_app(reclusterer=broken)
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "R")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "no voice embeddings" in status(app)
        assert app.busy == ""


async def test_another_process_change_shows_and_a_conflict_is_refused(make_app, sp):
    app = make_app(poll_seconds=0.1)
    wrong = sp.ids["B"][3]
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "G")
        assert app.state.current_line() == wrong
        app.state.version = app.project.data_version()
        script = (f"from sgtui.project import Project\n"
                  f"p = Project.open({str(sp.path)!r})\n"
                  f"p.rename({sp.clusters[2]}, 'Cid', 'bob')\n"
                  f"p.close()\n")
        subprocess.run([sys.executable, "-c", script], check=True)
        await pilot.pause(0.4)
        assert app.state.by_id[sp.clusters[2]].name == "Cid"
        assert "another window" in status(app)
        # now someone moves the line under our cursor, and we act before the next poll
        with Project.open(sp.path) as other:
            other.move([wrong], sp.clusters[1], "bob")
        app.state.version = app.project.data_version()  # as if not polled yet
        await keys(pilot, "x")
        assert "moved" in app.state.message and "refresh" in app.state.message
        assert f"line {wrong} moved" in status(app)
        assert "tester" not in app.project.op_counts()["by_annotator"]
        assert app.state.assign[wrong].cluster_id == sp.clusters[1]  # the screen shows the truth


async def test_a_project_with_no_clusters_yet(make_app, tmp_path):
    path = tmp_path / "raw.sgproj"
    with Project.create(path) as p:
        p.add_lines([LineIn(0, 1000, "one"), LineIn(1000, 2000, "two")])
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.state.view == "pool"
        await keys(pilot, "M")
        assert "no cluster" in status(app)
        await keys(pilot, "a", *"new Kyon", "enter")
        assert app.state.clusters[0].name == "Kyon"


async def test_a_thousand_line_project_opens_and_navigates(make_app, tmp_path):
    path = build_big_project(tmp_path / "big.sgproj", 1000)
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.main.query_one("#clusters", RowList).count == 9
        await keys(pilot, "t", "G")
        assert app.state.cursor == 999
        lines = app.main.query_one("#lines", RowList)
        assert lines.scroll_y >= 999 - lines.size.height
        await keys(pilot, "x")
        assert app.project.op_counts()["net"]["remove"] == 0  # line 1000 is unassigned: refused
        assert "not in a cluster" in status(app)
        await keys(pilot, "home", "x")
        assert app.project.op_counts()["net"]["remove"] == 1


async def test_recluster_with_the_engine_keeps_a_human_move(make_app, sp):
    app = make_app()  # the default re-clusterer: sgtui.workflows.recluster
    wrong = sp.ids["B"][3]
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "G", "m", *str(sp.clusters[1]), "enter")
        before = app.project.op_counts()["net"]
        await keys(pilot, "R")
        await app.workers.wait_for_complete()
        await pilot.pause()
        if isinstance(app.screen, ConfirmPrompt):  # it moves lines: asked first
            await keys(pilot, "y")
        assert "re-clustered" in status(app), status(app)
        assert app.state.assign[wrong].cluster_id == sp.clusters[1]
        assert app.state.assign[wrong].origin == "human"
        assert app.project.op_counts()["net"] == before
        assert app.project.ops()[-1].kind == "recluster"


async def test_r_y_u_shows_the_confidences_of_before_again(make_app, sp):
    """Issue 24 A.8: R, y, u put the clusters back but showed (and kept) the re-cluster's
    confidences. The details pane says what the file holds, before, after and after undo."""
    from sgtui.tui.widgets import LineDetails

    def shown_confidence(app) -> str:
        text = str(app.main.query_one(LineDetails).content)
        return text.split("confidence ")[1].split()[0]

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        first = app.state.current_line()
        before = dict(app.state.confidence)
        assert shown_confidence(app) == f"{before[first]:.2f}"
        await keys(pilot, "R")
        await app.workers.wait_for_complete()
        await pilot.pause()
        if isinstance(app.screen, ConfirmPrompt):
            await keys(pilot, "y")
        ids, values = app.project.confidence("voice")
        after = dict(zip(ids.tolist(), values.tolist(), strict=True))
        assert after != before and app.state.confidence == after
        await keys(pilot, "home")
        line = app.state.current_line()
        assert shown_confidence(app) == f"{after[line]:.2f}"
        await keys(pilot, "u")
        assert status(app).endswith("undone: re-cluster"), status(app)
        ids, values = app.project.confidence("voice")
        assert dict(zip(ids.tolist(), values.tolist(), strict=True)) == before
        assert app.state.confidence == before
        await keys(pilot, "home")
        assert shown_confidence(app) == f"{before[app.state.current_line()]:.2f}"


async def test_the_keyframe_follows_the_cursor_after_a_short_delay(make_app, sp):
    app = make_app(keyframe_delay=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        panel = app.main.query_one(KeyframePanel)
        first = panel.query_one(".kf-image").image
        await keys(pilot, "j", "j")
        await pilot.pause(0.3)
        shown = panel.query_one(".kf-image").image
        assert panel.line_id == app.state.current_line() == app.state.rows()[2]
        assert shown is not first and shown.size == (64, 36)
