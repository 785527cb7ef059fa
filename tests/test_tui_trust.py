"""The app never misapplies or loses human work (issue 9, cases 1, 2 and 9, app side).

Two annotators on one real file: Bob in the app (Textual Pilot), Alice through another
Project connection. Read-only and failing writes with the real SQLite file.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from textual.widgets import Input
from tui_helpers import small_project

from sgtui.project import Project
from sgtui.tui.app import AnnotatorApp
from sgtui.tui.config import Config
from sgtui.tui.main_screen import MainScreen
from sgtui.tui.modals import ConfirmPrompt
from sgtui.tui.player import NullPlayer
from sgtui.tui.widgets import StatusBar

SIZE = (120, 36)
SAMPLE = Path(__file__).resolve().parent.parent / "sample_projects" / "sample01.sgproj"


@pytest.fixture
def sp(tmp_path, tmp_path_factory):
    return small_project(tmp_path, tmp_path_factory.getbasetemp() / "tui-small")


@pytest.fixture
def make_app():
    opened = []

    def make(path, readonly=False, who="bob", **kw):
        p = Project.open(path, readonly=readonly)
        opened.append(p)
        return AnnotatorApp(p, who, config=Config(image="halfcell"), player=NullPlayer(),
                            poll_seconds=0, keyframe_delay=0, **kw)

    yield make
    for p in opened:
        p.close()


def status(app: AnnotatorApp) -> str:
    return str(app.main.query_one(StatusBar).content)


async def keys(pilot, *names: str) -> None:
    await pilot.press(*names)
    await pilot.pause()


def file_state(path: Path) -> tuple:
    """What the file holds, read through a fresh connection."""
    with Project.open(path, readonly=True) as p:
        return p.assignments(), p.clusters(), len(p.ops())


async def test_move_prompt_is_refused_when_its_line_moved_meanwhile(make_app, sp):
    app = make_app(sp.path)
    line1, line3 = sp.ids["A"][0], sp.ids["A"][1]
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.state.current_line() == line1
        await keys(pilot, "m")  # Bob: "Move line 1 to…"
        with Project.open(sp.path) as alice:
            alice.move([line1], sp.clusters[1], "alice")
        app.poll()  # Bob's screen catches up: the cursor row now holds line 3
        await pilot.pause()
        assert app.state.current_line() == line3
        await keys(pilot, *str(sp.clusters[2]), "enter")
        assert isinstance(app.screen, MainScreen)
        assert f"line {line1} moved to cluster #{sp.clusters[1]}" in status(app)
        a = app.project.assignments()
        assert a[line3].cluster_id == sp.clusters[0], "line 3 was not moved"
        assert a[line1].cluster_id == sp.clusters[1], "Alice's move stands"
        assert "bob" not in app.project.op_counts()["by_annotator"]


async def test_add_prompt_is_refused_when_someone_placed_the_line_meanwhile(make_app, sp):
    app = make_app(sp.path)
    loose = sp.ids["A"][4]
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "f", "a")
        with Project.open(sp.path) as alice:
            alice.add([loose], sp.clusters[1], "alice")
        app.poll()
        await keys(pilot, *str(sp.clusters[2]), "enter")
        assert f"line {loose} is already in cluster #{sp.clusters[1]}" in status(app)
        assert app.project.assignments()[loose].cluster_id == sp.clusters[1]
        assert "bob" not in app.project.op_counts()["by_annotator"]


async def test_merge_prompt_is_refused_after_its_cluster_was_merged_away(make_app, sp):
    app = make_app(sp.path)
    src, other = sp.clusters[3], sp.clusters[2]
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, *["right_square_bracket"] * 3)
        assert app.state.cluster_id == src
        await keys(pilot, "M")  # Bob: "Merge #4 into…"
        with Project.open(sp.path) as alice:
            alice.merge(src, other, "alice")
        app.poll()
        await pilot.pause()
        await keys(pilot, *str(sp.clusters[0]), "enter")
        assert f"cluster #{src} no longer exists (alice merged it into #{other})" in status(app)
        assert app.project.op_counts()["raw"]["merge"] == 1, "only Alice's merge"
        assert len(app.project.cluster_lines(sp.clusters[0])) == 5, "the cursor's cluster untouched"


async def test_rename_prompt_is_refused_when_someone_renamed_the_cluster(make_app, sp):
    app = make_app(sp.path)
    cid = sp.clusters[0]
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "n")
        with Project.open(sp.path) as alice:
            alice.rename(cid, "Haruhi", "alice")
        await keys(pilot, *"Kyon", "enter")
        assert f"alice renamed cluster #{cid} (unnamed) to 'Haruhi'" in status(app)
        assert app.project.cluster(cid).name == "Haruhi"


async def test_view_only_shows_a_banner_and_refuses_every_action(make_app, sp):
    before = file_state(sp.path)
    app = make_app(sp.path, readonly=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "VIEW ONLY" in status(app)
        for key in ("x", "m", "M", "n", "c", "u", "R", "a", "1"):
            await keys(pilot, key)
            assert isinstance(app.screen, MainScreen), f"{key} opened a prompt in view-only mode"
            if key not in ("a", "1"):  # the cursor line is placed: a and 1 refuse for that first
                assert "view only" in status(app), (key, status(app))
        await keys(pilot, "f", "a")
        assert isinstance(app.screen, MainScreen) and "view only" in status(app)
        assert app.is_running
    assert file_state(sp.path) == before


async def test_a_full_disk_is_one_line_and_the_app_lives_on(make_app, sp):
    app = make_app(sp.path)
    before = file_state(sp.path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        # a full disk, as this connection sees it: the file may not grow by one page
        pages = app.project.conn.execute("PRAGMA page_count").fetchone()[0]
        app.project.conn.execute(f"PRAGMA max_page_count={pages}")
        await keys(pilot, "n")
        app.screen.query_one(Input).value = "a very long name " * 1500  # needs new pages
        await keys(pilot, "enter")
        text = status(app)
        assert "could not save" in text and "disk is full" in text, text
        assert "\n" not in app.state.message
        assert app.is_running and isinstance(app.screen, MainScreen)
        assert app.state.by_id[sp.clusters[0]].name is None
    assert file_state(sp.path) == before
    con = sqlite3.connect(sp.path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()


async def test_a_file_that_became_read_only_is_one_line_per_action(make_app, sp):
    app = make_app(sp.path)
    before = file_state(sp.path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        # what SQLite answers once the file is read-only under the app (chmod does not
        # stop root, who runs these tests in CI, so the connection is made read-only)
        app.project.conn.execute("PRAGMA query_only=ON")
        for action in (("x",), ("n", *"Kyon", "enter"), ("c",), ("u",)):
            app.state.message = ""
            await keys(pilot, *action)
            text = status(app)
            assert "could not save" in text and "read-only" in text, (action, text)
            assert app.is_running and isinstance(app.screen, MainScreen)
    assert file_state(sp.path) == before


async def test_a_file_deleted_under_the_app_is_refused_not_written_to_nowhere(make_app, sp, tmp_path):
    app = make_app(sp.path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        moved = tmp_path / "elsewhere.sgproj"
        shutil.move(sp.path, moved)
        await keys(pilot, "x")
        assert "was deleted or replaced while open" in status(app)
        assert app.is_running


async def test_recluster_after_naming_everything_keeps_names_and_undo_restores(make_app, tmp_path):
    path = tmp_path / "demo.sgproj"
    shutil.copy(SAMPLE, path)
    with Project.open(path) as p:
        for i, c in enumerate(p.clusters()):
            p.rename(c.id, f"Speaker{i}", "bob")
        named = {c.name: sorted(p.cluster_lines(c.id)) for c in p.clusters()}
        state = (p.assignments(), p.clusters(), p.suggestions())
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "R")
        await app.workers.wait_for_complete()
        await pilot.pause()
        if isinstance(app.screen, ConfirmPrompt):
            await keys(pilot, "y")
        assert "re-clustered" in status(app), status(app)
        p = app.project
        assert {c.name: sorted(p.cluster_lines(c.id)) for c in p.clusters() if c.name} == named
        assert p.ops()[-1].kind == "recluster" and p.ops()[-1].annotator == "bob"
        await keys(pilot, "u")
        assert "undone" in status(app)
        assert (p.assignments(), p.clusters(), p.suggestions()) == state


async def test_recluster_says_how_many_lines_it_moves_and_asks_first(make_app, tmp_path):
    path = tmp_path / "demo.sgproj"
    shutil.copy(SAMPLE, path)
    with Project.open(path) as p:  # scramble: the engine will want to move lines back
        ids = [ln.id for ln in p.lines()]
        p.apply_clustering([(None, ids[::2]), (None, ids[1::2])], {}, annotator="setup")
        state = (p.assignments(), p.clusters(), p.suggestions())
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "R")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, ConfirmPrompt)
        assert app.screen.title_text.startswith("Re-cluster: move ")
        await keys(pilot, "n")
        assert "cancelled" in status(app)
        assert (app.project.assignments(), app.project.clusters()) == state[:2]
        await keys(pilot, "R")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await keys(pilot, "y")
        assert app.project.assignments() != state[0]
        assert app.project.op_counts()["by_annotator"]["bob"]["raw"]["recluster"] == 1
