"""Suggested names in the app (issue 13, issue 15's subtitle names): shown, accepted, merged."""

from __future__ import annotations

import pytest
from textual.widgets import Input
from tui_helpers import small_project

from sgtui.project import Project
from sgtui.tui.app import AnnotatorApp
from sgtui.tui.config import Config
from sgtui.tui.help_screen import HelpScreen
from sgtui.tui.modals import TextPrompt
from sgtui.tui.player import NullPlayer
from sgtui.tui.widgets import RowList, StatusBar, cluster_row

SIZE = (120, 36)


@pytest.fixture
def sp(tmp_path, tmp_path_factory):
    sp = small_project(tmp_path, tmp_path_factory.getbasetemp() / "tui-small")
    with Project.open(sp.path) as p:
        a, b, c1, c2 = sp.clusters
        p.set_name_suggestions("bank", {a: ("Ann", 0.95), b: ("Ben", 0.93), c1: ("Cyd", 0.97),
                                        c2: ("Cyd", 0.8)})
        p.conn.execute("UPDATE lines SET actor='Dotty' WHERE id=?", (sp.ids["A"][0],))
    return sp


@pytest.fixture
def app(sp):
    p = Project.open(sp.path)
    yield AnnotatorApp(p, "tester", config=Config(image="halfcell"), player=NullPlayer(),
                       poll_seconds=0, keyframe_delay=0)
    p.close()


def _status(app) -> str:
    return str(app.main.query_one(StatusBar).content)


def _select(app, cid: int) -> None:
    app.state.select_cluster(cid)
    app.main.redraw()


async def test_y_accepts_the_suggested_name_as_the_annotators_rename(app, sp):
    a = sp.clusters[0]
    async with app.run_test(size=SIZE) as pilot:
        _select(app, a)
        row = app.state.cluster_rows().index(a)
        assert "Ann? 0.95" in str(cluster_row(app.state, row, 30))
        assert "4 suggested · y/Y ≥ 0.90" in _status(app)
        await pilot.press("y")
        await pilot.pause()
        assert app.state.by_id[a].name == "Ann"
        ops = [o for o in app.project.ops() if o.action_id == app.project.ops()[-1].action_id]
        assert [(o.kind, o.src_cluster, o.annotator) for o in ops] == [("rename", a, "tester")]
        assert '"accepted"' in ops[0].payload and '"bank"' in ops[0].payload
        await pilot.press("u")
        await pilot.pause()
        assert app.state.by_id[a].name is None
        assert "Ann? 0.95" in str(cluster_row(app.state, row, 30))  # the suggestion is still there


async def test_Y_accepts_every_confident_unique_suggestion_in_one_action_and_J_merges(app, sp):  # noqa: N802
    a, b, c1, c2 = sp.clusters
    async with app.run_test(size=SIZE) as pilot:
        before = {o.action_id for o in app.project.ops()}
        await pilot.press("Y")
        await pilot.pause()
        names = {cid: app.state.by_id[cid].name for cid in sp.clusters}
        assert names == {a: "Ann", b: "Ben", c1: None, c2: None}  # Cyd twice: a suggested merge
        assert len({o.action_id for o in app.project.ops()} - before) == 1
        _select(app, c2)
        await pilot.press("J")
        await pilot.pause()
        assert c2 not in app.state.by_id and app.state.cluster_id == c1
        assert app.project.ops()[-1].kind == "merge"
        await pilot.press("y")
        await pilot.pause()
        assert app.state.by_id[c1].name == "Cyd"
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        ids = {row[2] for row in app.main.key_rows()}
        assert {"accept_name", "accept_names", "name_merge"} <= ids
        keys = [k for row in app.main.key_rows() for k in row[0].split(", ")]
        assert len(keys) == len(set(keys))  # no key is bound twice


async def test_name_prompt_prefills_the_suggestion_and_completes_subtitle_speakers(app, sp):
    b = sp.clusters[1]
    async with app.run_test(size=SIZE) as pilot:
        _select(app, b)
        app.main.query_one("#clusters", RowList).focus()
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, TextPrompt)
        assert app.screen.query_one(Input).value == "Ben"
        assert "Dotty" in app.screen.choices
        await pilot.press("enter")
        await pilot.pause()
        assert app.state.by_id[b].name == "Ben"


@pytest.fixture
def snap_app(sp):
    p = Project.open(sp.path)
    yield AnnotatorApp(p, "snap", config=Config(image="halfcell"), player=NullPlayer(notice=None),
                       poll_seconds=0, keyframe_delay=0)
    p.close()


@pytest.mark.parametrize("size", [(120, 36), (80, 24)])
def test_snapshot_suggested_names_beside_clusters(snap_app, snap_compare, size):
    assert snap_compare(snap_app, terminal_size=size)
