"""Snapshots of the annotator's main screens (pytest-textual-snapshot).

After an intended change of the look, review the new pictures and accept them with
`pytest tests/test_tui_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import pytest
from tui_helpers import small_project

from sgtui.project import Project
from sgtui.tui.app import AnnotatorApp
from sgtui.tui.config import Config
from sgtui.tui.player import NullPlayer

SIZE = (120, 36)
# an 80x24 SSH terminal, a usual window, a very wide one (the layout changes at 100 and 160)
SIZES = {"80x24": (80, 24), "120x36": (120, 36), "200x60": (200, 60)}
by_size = pytest.mark.parametrize("size", list(SIZES))


@pytest.fixture
def app(tmp_path, tmp_path_factory, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", "/home/annotator/.config")  # shown on the help page
    sp = small_project(tmp_path, tmp_path_factory.getbasetemp() / "tui-small")
    p = Project.open(sp.path)
    yield AnnotatorApp(p, "snap", config=Config(image="halfcell"), player=NullPlayer(notice=None),
                       poll_seconds=0, keyframe_delay=0)
    p.close()


@by_size
def test_main_screen(app, snap_compare, size):
    assert snap_compare(app, terminal_size=SIZES[size])


def test_main_screen_after_corrections(app, snap_compare):
    # remove the misplaced line, name the cluster, mark it reviewed
    assert snap_compare(app, terminal_size=SIZE,
                        press=["G", "x", "n", *"Haruhi", "enter", "c", "home"])


@by_size
def test_unassigned_pool_with_suggestions(app, snap_compare, size):
    assert snap_compare(app, terminal_size=SIZES[size], press=["f"])


@by_size
def test_timeline(app, snap_compare, size):
    assert snap_compare(app, terminal_size=SIZES[size], press=["t", "j", "j"])


def test_merge_picker_with_a_fuzzy_query(app, snap_compare):
    assert snap_compare(app, terminal_size=SIZE, press=["right_square_bracket", "M", "3"])


@by_size
def test_help_page(app, snap_compare, size):
    assert snap_compare(app, terminal_size=SIZES[size], press=["question_mark"])


def test_review_queue_on_a_doubtful_line_at_80x24(app, snap_compare):
    assert snap_compare(app, terminal_size=(80, 24), press=["r", "r"])
