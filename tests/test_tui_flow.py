"""The annotator's flow (issue 15): small terminals, where to look next, the cursor after
actions, progress, suggestions, other annotators, keys and help, resizing, the live filter
and the review queue. Each test drives the real app (Pilot) on a real project file."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from tui_helpers import AppMaker, small_project

from sgtui.errors import SgtuiError
from sgtui.project import LineIn, Project
from sgtui.tui.app import AnnotatorApp
from sgtui.tui.config import Config
from sgtui.tui.help_screen import HelpScreen
from sgtui.tui.main_screen import DETAILS_MIN, KEYFRAME_MIN, MainScreen
from sgtui.tui.modals import TextPrompt
from sgtui.tui.player import NullPlayer
from sgtui.tui.widgets import KeyframePanel, LineDetails, RowList, StatusBar

SIZE = (120, 36)


@pytest.fixture
def sp(tmp_path, tmp_path_factory):
    return small_project(tmp_path, tmp_path_factory.getbasetemp() / "tui-small")


@pytest.fixture
def make_app(sp):
    make = AppMaker(sp.path, player=NullPlayer(notice=None))
    yield make
    make.close()


def status(app: AnnotatorApp) -> str:
    return app.main.query_one(StatusBar).content.plain


async def keys(pilot, *names: str) -> None:
    await pilot.press(*names)
    await pilot.pause()


def row_text(app: AnnotatorApp, list_id: str, row: int) -> str:
    return app.main.query_one(f"#{list_id}", RowList).render_line(row).text


# ---- 1. an 80x24 terminal ---------------------------------------------------------------------
async def test_80x24_footer_shows_help_and_quit_and_rows_are_readable(make_app, sp):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        from textual.widgets._footer import FooterKey

        for _ in range(50):  # the footer lays its keys out after the first frame (later when busy)
            await pilot.pause(0.02)
            shown = {k.key_display: k.region for k in app.main.query(FooterKey)}
            if shown and all(r.width > 0 for r in shown.values()):
                break
        for key in ("?", "q", "r"):
            assert key in shown and shown[key].right <= 80 and shown[key].width > 0, shown.keys()
        lines = app.main.query_one("#lines", RowList)
        assert lines.size.width >= 60
        for row, lid in enumerate(app.state.rows()):  # whole lines, not 19 characters
            assert app.state.lines[lid].text in row_text(app, "lines", row)
        await keys(pilot, "f")
        pool = row_text(app, "lines", 0)
        assert "1:#1" in pool and "2:#3" in pool and "That is all for today." in pool, pool


async def test_80x24_a_long_refusal_is_shown_whole(make_app, sp):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await keys(pilot, "f", "x")  # an unassigned line: nothing to remove
        bar = app.main.query_one(StatusBar)
        assert "line 12 is not in a cluster; nothing to remove" in status(app).replace("\n", " ")
        assert bar.size.height == 2 and "…" not in status(app)
        await keys(pilot, "s")  # a short message ("stopped"): back to one line
        assert app.main.query_one(StatusBar).size.height == 1


# ---- 10. the keyframe follows resizes -----------------------------------------------------
async def test_the_keyframe_is_sized_to_its_pane_through_resizes(make_app, sp):
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        panel = app.main.query_one(KeyframePanel)
        img = panel.query_one(".kf-image")
        side = app.main.query_one("#side")
        seen = []
        for size in [(120, 36), (60, 16), (80, 24), (120, 36), (200, 60)]:
            await pilot.resize_terminal(*size)
            await pilot.pause()
            await pilot.pause()
            r, s = img.region, side.content_region
            details = app.main.query_one(LineDetails).region
            if app.main.has_class("-narrow"):  # under the lines: the details keep their room
                assert details.width >= DETAILS_MIN, (size, details, s)
                if not panel.display:  # too narrow to tell anything (60x16): left out
                    assert s.width - DETAILS_MIN - 1 < KEYFRAME_MIN, (size, s)
                    seen.append(r)
                    continue
                assert s.contains_region(r), (size, r, s)  # never cropped
                assert r.height >= s.height - 1 and r.width >= 2 * r.height, (size, r, s)
            else:  # beside the lines: as wide as the pane
                assert s.contains_region(r), (size, r, s)  # never cropped
                assert r.width == s.width and r.height >= s.width * 9 // 32 - 1, (size, r, s)
            seen.append(r)
        assert seen[0] == seen[3]  # back at 120x36, the picture is as it was at the start
        assert seen[4].width >= 50  # a very wide terminal gives the picture room


# ---- 3. where to look next ------------------------------------------------------------------
async def test_d_selects_the_top_cluster_with_a_doubt_column(make_app, sp):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "right_square_bracket", "right_square_bracket")
        await keys(pilot, "d")
        top = app.state.clusters[0].id
        assert app.state.cluster_id == top and app.main.query_one("#clusters", RowList).cursor == 1
        assert "dbt" in app.main.query_one("#clusters-title").content.plain
        assert f"{app.state.cluster_doubt(top):4.2f}" in row_text(app, "clusters", 1)


async def test_g_skips_an_empty_unassigned_pool(make_app, sp):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "f", "1")  # the only unassigned line goes to its suggestion
        assert app.state.unassigned_count() == 0
        await keys(pilot, "h", "j", "j", "g")
        assert app.state.view == "cluster" and app.state.cluster_id == app.state.clusters[0].id


# ---- the review queue ---------------------------------------------------------------------------
async def test_the_review_queue_corrects_the_episode_with_one_key_between_decisions(make_app, sp):
    app = make_app()
    a, b, c = sp.ids["A"], sp.ids["B"], sp.ids["C"]
    async with app.run_test(size=(80, 24)) as pilot:
        await keys(pilot, "r")  # the C line alone in its own cluster: most doubtful
        assert app.state.current_line() == c[2] and "doubtful" in status(app)
        await keys(pilot, "m", "3", "enter")
        await keys(pilot, "r")  # the B line inside A's cluster
        assert app.state.current_line() == b[3]
        await keys(pilot, "m", "2", "enter")
        await keys(pilot, "r")  # the unassigned A line, with its suggestions
        assert app.state.view == "pool" and app.state.current_line() == a[4]
        await keys(pilot, "1")
        names = {}
        for _ in range(3):  # then every unnamed cluster, one after the other
            await keys(pilot, "r")
            cid = app.state.cluster_id
            speaker = next(s for s, ids in sp.ids.items() if app.state.rows()[0] in ids)
            names[cid] = speaker
            await keys(pilot, "n", *speaker, "enter")
        await keys(pilot, "r")
        assert "review queue empty" in status(app)
    truth = {frozenset(ids) for ids in sp.ids.values()}
    got = {}
    for lid, asg in app.project.assignments().items():
        got.setdefault(asg.cluster_id, set()).add(lid)
    assert {frozenset(v) for v in got.values()} == truth
    assert {c.name for c in app.project.clusters()} == {"A", "B", "C"}
    assert app.state.progress() == (12, 12)


# ---- 4. the cursor stays on its line ----------------------------------------------------------
async def test_the_cursor_stays_on_its_line_after_moving_marked_lines(make_app, sp):
    app = make_app()
    a = sp.ids["A"]
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "space", "space")  # mark a0, a1; the cursor goes on to a2
        assert app.state.current_line() == a[2]
        await keys(pilot, "m", "2", "enter")
        assert app.state.current_line() == a[2] and app.state.cursor == 0
        await keys(pilot, "j")
        assert app.state.current_line() == a[3]
        await keys(pilot, "t")  # the timeline opens at that line, not at its row number
        assert app.state.view == "timeline" and app.state.current_line() == a[3]
        assert app.main.query_one("#lines", RowList).cursor == app.state.order.index(a[3])


# ---- 5. progress -----------------------------------------------------------------------------
async def test_progress_counts_lines_in_named_clusters_only(make_app, sp):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "c")
        assert "0/12 named (0%)" in status(app)
        await keys(pilot, "n", *"Haruhi", "enter")
        assert "5/12 named (41%)" in status(app)


# ---- 6. suggestions at once; the R hint --------------------------------------------------------
async def test_a_line_removed_by_hand_gets_suggestions_at_once(make_app, sp):
    app = make_app()
    wrong = sp.ids["B"][3]
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "G", "x")
        assert wrong not in app.project.suggestions()  # not written: computed for the screen
        sug = [s.cluster_id for s in app.state.suggest[wrong]]
        assert sug[0] == sp.clusters[1]  # B's cluster first
        assert sp.clusters[0] not in sug  # never back where a human took it from
        await keys(pilot, "f")
        row = app.state.rows().index(wrong)
        assert "1:#2" in row_text(app, "lines", row)
        app.main.query_one("#lines", RowList).focus()
        app.state.set_cursor(row)
        await keys(pilot, "1")
        assert app.project.assignments()[wrong].cluster_id == sp.clusters[1]


async def test_a_project_without_clusters_says_to_press_r(make_app, tmp_path):
    path = tmp_path / "raw.sgproj"
    with Project.create(path) as p:
        p.add_lines([LineIn(0, 1000, "one"), LineIn(1000, 2000, "two")])
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "no clusters yet: press R" in status(app)


# ---- 7. other annotators ---------------------------------------------------------------------
async def test_a_rename_race_is_refused_and_others_changes_are_named(make_app, sp):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "n")
        assert isinstance(app.screen, TextPrompt)
        with Project.open(sp.path) as other:  # bob names it while our prompt is open
            other.rename(sp.clusters[0], "Kyon", "bob")
            other.move([sp.ids["B"][3]], sp.clusters[1], "bob")
        await keys(pilot, *"Haruhi", "enter")
        assert app.project.clusters()[0].name == "Kyon"  # bob's name stays
        assert "Kyon" in status(app)
        assert "tester" not in app.project.op_counts()["by_annotator"]
        with Project.open(sp.path) as other:
            other.rename(sp.clusters[2], "Cid", "carol")
            other.remove([sp.ids["A"][0], sp.ids["A"][1]], "carol")
        app.poll()
        await pilot.pause()
        shown = status(app).replace("\n", " ")
        assert shown.endswith("another window: carol: rename, remove 2 lines"), shown


# ---- 8. keys and help ------------------------------------------------------------------------
async def test_help_lists_ctrl_q_ctrl_c_and_a_legend(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys_shown = {row[0] for row in app.screen.rows}
        assert {"ctrl+q", "ctrl+c", "r", ">"} <= keys_shown
        legend = app.screen.query_one("#legend").content
        legend = getattr(legend, "plain", str(legend))
        assert "H" in legend and "placed by a human" in legend and "confidence" in legend


async def test_ctrl_c_cancels_a_prompt(make_app, sp):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "n", *"Hal", "ctrl+c")
        assert isinstance(app.screen, MainScreen)
        await keys(pilot, "m", "ctrl+c")
        assert isinstance(app.screen, MainScreen)
        assert app.project.ops() == [] or all(o.annotator != "tester" for o in app.project.ops())


def test_a_remapped_key_that_collides_is_refused(sp):
    with Project.open(sp.path) as p, pytest.raises(SgtuiError) as err:
        AnnotatorApp(p, "tester", config=Config(keys={"merge": "a"}), player=NullPlayer())
    assert "'a'" in str(err.value) and "add" in str(err.value) and "merge" in str(err.value)


def test_sgtui_open_refuses_a_colliding_key_in_one_line(sp, tmp_path):
    cfg = tmp_path / "cfg" / "sgtui"
    cfg.mkdir(parents=True)
    (cfg / "config.toml").write_text('[keys]\nmerge = "a"\n')
    r = subprocess.run([sys.executable, "-m", "sgtui", "open", str(sp.path)], capture_output=True,
                       text=True, timeout=120, env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "cfg")})
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "'a'" in r.stderr and "merge" in r.stderr and "Traceback" not in r.stderr


async def test_the_focused_list_has_a_coloured_title(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        lines_title = app.main.query_one("#lines-title")
        clusters_title = app.main.query_one("#clusters-title")
        focused, other = lines_title.styles.background, clusters_title.styles.background
        assert focused != other
        await keys(pilot, "h")
        await pilot.pause(0.3)
        assert clusters_title.styles.background == focused
        assert lines_title.styles.background == other


# ---- 11. the live filter -------------------------------------------------------------------
async def test_search_filters_as_you_type(make_app, sp):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "slash", "t", "h")
        assert app.state.view == "search" and len(app.state.rows()) > 1
        await keys(pilot, "e", "space", "c", "u")  # "the cu": the cups
        assert app.state.rows() == [sp.ids["C"][1]]
        await keys(pilot, "enter", "x")  # the filter stays, keys act on its lines again
        assert sp.ids["C"][1] not in app.project.assignments()
        await keys(pilot, "slash", "escape")
        assert app.state.view == "cluster"


# ---- 9. --help points into the repository ---------------------------------------------------
def _all_parsers():
    import argparse

    from sgtui.cli import build_parser

    todo = [("sgtui", build_parser())]
    while todo:
        name, parser = todo.pop()
        yield name, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                todo.extend((f"{name} {sub}", p) for sub, p in action.choices.items())


def test_help_texts_cite_the_repository_and_explain_every_argument():
    from pathlib import Path

    seen = 0
    for name, parser in _all_parsers():
        text = parser.format_help()
        assert "DESIGN" not in text and "§" not in text, name
        seen += 1
    assert seen > 15
    assert (Path(__file__).resolve().parent.parent / "docs" / "architecture.md").is_file()
    parsers = dict(_all_parsers())
    export = {a.dest: a for a in parsers["sgtui labels export"]._actions}
    for dest in ("project", "csv", "layout"):
        assert export[dest].help, dest
    q = next(a for a in parsers["sgtui train"]._actions if a.dest == "q")
    assert "probability" in q.help and "docs/architecture.md" in q.help
    r = subprocess.run([sys.executable, "-m", "sgtui", "train", "--help"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and "neighbour's label counts as seen" in " ".join(r.stdout.split())
