"""Merge conflicts in the annotator (issue 22): the review items `sgtui merge` leaves are shown
first by the review queue, each with both choices, and decided with one key.

The scenario is the issue's acceptance, made with the Project API on two copies of the bundled
sample02 and merged by the real CLI: copy A (alice) names the three largest clusters and moves
two lines of the 4th largest into the 1st and 2nd; copy B (bob) merges the 6th largest cluster
into the 5th, names A's 1st cluster "Koizumi" and moves A's first moved line into A's 3rd
cluster. The merge leaves exactly two conflicts: the 1st cluster's name and that line.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import run_cli
from test_tui_tmux import Pane, tmux
from tui_helpers import AppMaker

from sgtui.project import Project
from sgtui.tui.help_screen import HelpScreen
from sgtui.tui.widgets import StatusBar

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_projects" / "sample02.sgproj"
SIZE = (120, 36)


@dataclass(frozen=True)
class Scenario:
    a: Path
    b: Path
    first: int  # A's 1st cluster: alice names it Kyon, bob Koizumi
    second: int
    third: int  # where bob puts `line` (A's 3rd cluster, named Mikuru by alice)
    line: int  # the line alice moved into `first` and bob into `third`
    other_line: int  # the line alice moved into `second` (no conflict)
    folded: int  # the 6th largest cluster, merged by bob into the 5th (no conflict)
    into: int


def make_copies(folder: Path) -> Scenario:
    """Two copies of sample02 worked on apart, as the issue's acceptance describes."""
    a, b = folder / "a.sgproj", folder / "b.sgproj"
    shutil.copy(SAMPLE, a)
    shutil.copy(SAMPLE, b)
    with Project.open(a) as p:
        big = [c.id for c in sorted(p.clusters(), key=lambda c: (-c.size, c.id))]
        first, second, third, fourth, fifth, sixth = big[:6]
        for cid, name in ((first, "Kyon"), (second, "Haruhi"), (third, "Mikuru")):
            p.rename(cid, name, "alice")
        moved = p.cluster_lines(fourth)[:2]
        p.move([moved[0]], first, "alice")
        p.move([moved[1]], second, "alice")
    with Project.open(b) as p:
        p.merge(sixth, fifth, "bob")
        p.rename(first, "Koizumi", "bob")
        p.move([moved[0]], third, "bob")
    return Scenario(a, b, first, second, third, moved[0], moved[1], sixth, fifth)


def merged(sc: Scenario, out: Path, *extra: str) -> Path:
    r = run_cli("merge", sc.a, sc.b, "-o", out, *extra)
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Scenario:
    sc = make_copies(tmp_path_factory.mktemp("copies"))
    merged(sc, sc.a.parent / "out.sgproj")
    merged(sc, sc.a.parent / "preferB.sgproj", "--prefer", "B")
    return sc


@pytest.fixture
def out(scenario, tmp_path) -> Path:
    """A fresh copy of the merge left with its two conflicts."""
    dst = tmp_path / "out.sgproj"
    shutil.copy(scenario.a.parent / "out.sgproj", dst)
    return dst


@pytest.fixture
def make_app(out):
    make = AppMaker(out)
    yield make
    make.close()


def status(app) -> str:
    return str(app.main.query_one(StatusBar).content)


def state_of(path: Path) -> tuple[dict[int, str | None], dict[int, int], list[int]]:
    """(cluster names, line -> cluster, open conflict ids), read with a fresh connection."""
    with Project.open(path, readonly=True) as p:
        names = {c.id: c.name for c in p.clusters()}
        lines = {lid: a.cluster_id for lid, a in p.assignments().items()}
        return names, lines, [c.id for c in p.merge_conflicts()]


async def keys(pilot, *names: str) -> None:
    await pilot.press(*names)
    await pilot.pause()


def test_the_scenario_leaves_a_name_and_a_line_conflict(scenario, out):
    with Project.open(out, readonly=True) as p:
        cs = p.merge_conflicts()
    assert [c.kind for c in cs] == ["name", "line"]
    assert [r["key"] for r in cs[0].rows] == [["cluster", scenario.first]]
    assert [r["key"] for r in cs[1].rows] == [["line", scenario.line]]
    assert {c.kept["annotator"] for c in cs} == {"alice"} and {c.other["annotator"] for c in cs} == {"bob"}


async def test_r_shows_each_conflict_and_k_o_decide_it_undoably(make_app, scenario, out):
    sc = scenario
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "2 merge conflicts" in status(app)  # said at once, and kept in the bar
        assert "2 conflicts · r" in status(app)

        await keys(pilot, "r")  # 1: the name — the cluster is selected, both choices named
        msg = app.state.message
        assert app.state.conflict is not None and app.state.conflict.kind == "name"
        assert app.state.view == "cluster" and app.state.cluster_id == sc.first
        assert "K keep alice's: Kyon" in msg and "O take bob's: Koizumi" in msg, msg
        assert "conflict 1: K/O" in status(app)
        await keys(pilot, "O")
        names, lines, open_ids = state_of(out)
        assert names[sc.first] == "Koizumi" and open_ids == [2]
        assert app.project.ops()[-1].kind == "resolve" and app.project.ops()[-1].annotator == "tester"
        assert "took bob's: Koizumi" in app.state.message and "1 conflict · r" in status(app)

        await keys(pilot, "r")  # 2: the line — under the cursor, in the cluster it is in now
        msg = app.state.message
        assert app.state.conflict.kind == "line" and app.state.current_line() == sc.line
        assert app.state.cluster_id == sc.first
        assert "K keep alice's: Koizumi" in msg and "O take bob's: Mikuru" in msg, msg
        await keys(pilot, "K")
        names, lines, open_ids = state_of(out)
        assert lines[sc.line] == sc.first and open_ids == []
        assert "kept alice's: Koizumi" in app.state.message
        assert "conflict · r" not in status(app) and "K/O" not in status(app)

        await keys(pilot, "r")  # then the usual queue
        assert app.state.conflict is None and "merge conflict" not in app.state.message

        await keys(pilot, "u")  # undo re-opens the line's conflict; the line stays (kept)
        names, lines, open_ids = state_of(out)
        assert open_ids == [2] and lines[sc.line] == sc.first
        assert "merge conflict 2 is open again" in app.state.message
        await keys(pilot, "u")  # and the name's: Kyon again
        names, lines, open_ids = state_of(out)
        assert open_ids == [1, 2] and names[sc.first] == "Kyon"

        await keys(pilot, "r")  # a reopened conflict comes round again, first
        assert app.state.conflict.id == 1
        await keys(pilot, "O", "r", "O")  # both as B chose them
        names, lines, open_ids = state_of(out)
        assert open_ids == [] and names[sc.first] == "Koizumi" and lines[sc.line] == sc.third


async def test_an_80_column_terminal_still_shows_both_choices_and_their_keys(make_app, scenario):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await keys(pilot, "r", "r")
        bar = status(app)
        assert "K keep alice's: Kyon" in bar and "O take bob's: Mikuru" in bar, bar
        await keys(pilot, "j")  # the message goes with the cursor; the keys stay in the bar
        assert "take bob's" not in status(app) and "conflict 2: K/O" in status(app)
        await keys(pilot, "O")  # and still decide the conflict shown
        assert app.project.assignments()[scenario.line].cluster_id == scenario.third
        assert [c.id for c in app.project.merge_conflicts()] == [1]
        # the view follows the line to where it now is, under the cursor
        assert app.state.cluster_id == scenario.third and app.state.current_line() == scenario.line


async def test_a_pick_on_changed_lines_is_refused_in_one_line(make_app, scenario, out):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "O")  # nothing shown yet: refused, nothing done
        assert "press r" in app.state.refused and state_of(out)[2] == [1, 2]
        await keys(pilot, "r", "r")  # the line's conflict
        assert app.state.conflict.kind == "line"
        with Project.open(out) as other:  # dave moves the line meanwhile, in another window
            other.move([scenario.line], scenario.second, "dave")
        before = out.read_bytes()
        await keys(pilot, "O")
        refused = app.state.refused
        assert "merge conflict 2" in refused and "changed since" in refused, refused
        assert "\n" not in refused and "Traceback" not in refused
        assert out.read_bytes() == before  # a refusal writes nothing
        names, lines, open_ids = state_of(out)
        assert lines[scenario.line] == scenario.second and open_ids == [1, 2]
        assert app.state.assign[scenario.line].cluster_id == scenario.second  # the screen refreshed
        await keys(pilot, "K")  # keeping is always possible
        assert state_of(out)[2] == [1]


async def test_view_only_shows_conflicts_but_refuses_a_pick(out):
    from sgtui.tui.app import AnnotatorApp
    from sgtui.tui.config import Config
    from sgtui.tui.player import NullPlayer

    before = out.read_bytes()
    with Project.open(out, readonly=True) as p:
        app = AnnotatorApp(p, "tester", config=Config(image="halfcell"), player=NullPlayer(),
                           poll_seconds=0, keyframe_delay=0)
        async with app.run_test(size=SIZE) as pilot:
            await keys(pilot, "r")
            assert app.state.conflict is not None and "take bob's" in app.state.message
            await keys(pilot, "O")
            assert "view only" in app.state.refused
    assert out.read_bytes() == before and state_of(out)[2] == [1, 2]


async def test_help_lists_the_two_keys_with_their_ids(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await keys(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        rows = {row[2]: row[0] for row in app.screen.rows}
        assert rows["conflict_keep"] == "K" and rows["conflict_other"] == "O"


async def test_remapped_keys_decide_too(out):
    from sgtui.tui.config import Config

    make = AppMaker(out, config=Config(image="halfcell", keys={"conflict_other": "ctrl+o"}))
    app = make()
    try:
        async with app.run_test(size=SIZE) as pilot:
            await keys(pilot, "r", "O")  # the default key no longer decides
            assert state_of(out)[2] == [1, 2]
            await keys(pilot, "ctrl+o")
            assert state_of(out)[2] == [2]
    finally:
        make.close()


async def test_a_project_without_conflicts_says_nothing_about_them(tmp_path):
    plain = tmp_path / "plain.sgproj"
    shutil.copy(SAMPLE, plain)
    before = plain.read_bytes()
    make = AppMaker(plain)
    app = make()
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert "conflict" not in status(app) and "conflict" not in app.state.message
            await keys(pilot, "r")
            assert app.state.conflict is None and "conflict" not in app.state.message
            await keys(pilot, "K")
            assert "no open merge conflict" in app.state.refused
    finally:
        make.close()
    assert plain.read_bytes() == before  # the refused K wrote nothing


# ---- the acceptance, in a real terminal --------------------------------------------------
@pytest.fixture
def pane(tmp_path):
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed; the real-terminal test needs it (apt install tmux)")
    name = f"sgtui-merge-{os.getpid()}-{tmp_path.name}"
    yield name
    with contextlib.suppress(subprocess.CalledProcessError):
        tmux("kill-session", "-t", name)


@pytest.mark.slow
def test_deciding_in_tmux_for_b_gives_the_labels_of_prefer_b(pane, tmp_path):
    sc = make_copies(tmp_path)
    out = merged(sc, tmp_path / "out.sgproj")
    prefer_b = merged(sc, tmp_path / "preferB.sgproj", "--prefer", "B")
    with Project.open(out, readonly=True) as p:  # the key that picks B's choice of each
        picks = ["K" if c.kept["side"] == "B" else "O" for c in p.merge_conflicts()]
    assert len(picks) == 2

    cmd = (f"cd {shlex.quote(str(REPO))} && XDG_CONFIG_HOME={shlex.quote(str(tmp_path / 'cfg'))} "
           f"{shlex.quote(sys.executable)} -m sgtui open {shlex.quote(str(out))} --as carol "
           f"--audio none; echo SGTUI-EXIT=$?; sleep 30")
    tmux("new-session", "-d", "-s", pane, "-x", "120", "-y", "36", cmd)
    p = Pane(pane)
    p.wait_for("2 merge conflicts to review")
    for key in picks:
        p.keys("r")
        p.wait_for("take bob's")
        p.keys(key)
        p.wait_for("decided")
    p.keys("q")
    p.wait_for("SGTUI-EXIT=0")

    names, lines, open_ids = state_of(out)
    assert open_ids == []
    exports = []
    for path in (out, prefer_b):
        csv = tmp_path / f"{path.stem}.csv"
        r = run_cli("labels", "export", path, csv)
        assert r.returncode == 0, r.stderr
        exports.append(csv.read_bytes())
    assert exports[0] == exports[1]
    assert b"Koizumi" in exports[0] and b"Kyon" not in exports[0]
    r = run_cli("ops", out, "--json")
    carol = json.loads(r.stdout)["by_annotator"]["carol"]
    assert carol["net"] == {"add": 0, "remove": 0, "merge": 0}  # two decisions, no edits
