"""Flagging lines in the annotator: F opens the picker, a key toggles, u undoes."""

from __future__ import annotations

import pytest
from tui_helpers import small_project

from sgtui.project import Project
from sgtui.tui.app import AnnotatorApp
from sgtui.tui.config import Config
from sgtui.tui.flags import FlagPicker
from sgtui.tui.main_screen import MainScreen
from sgtui.tui.player import NullPlayer
from sgtui.tui.widgets import LineDetails


@pytest.fixture
def app(tmp_path, tmp_path_factory):
    sp = small_project(tmp_path, tmp_path_factory.getbasetemp() / "tui-small")
    p = Project.open(sp.path)
    yield AnnotatorApp(p, "tester", config=Config(image="halfcell"), player=NullPlayer(),
                       poll_seconds=0, keyframe_delay=0)
    p.close()


async def test_f_flags_the_marked_lines_and_u_undoes_it(app) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        first = app.state.targets()[0]
        await pilot.press("space", "space", "F")
        await pilot.pause()
        assert isinstance(app.screen, FlagPicker)
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        flagged = app.project.line_flags()
        assert len(flagged) == 2 and first in flagged and set(map(tuple, flagged.values())) == {("overlap",)}
        assert "flagged 2 lines: overlapping speech" in app.state.message
        ops = app.project.ops()
        assert [o.kind for o in ops if o.action_id == ops[-1].action_id] == ["flag", "flag"]
        await pilot.press("u")
        await pilot.pause()
        assert app.project.line_flags() == {}
        await pilot.press("F", "escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen) and app.project.line_flags() == {}
        await pilot.press("F", "3")  # 1-4 work too: 3 = not speech
        await pilot.pause()
        assert app.project.line_flags() == {app.state.targets()[0]: ["not_speech"]}
        assert "flagged: not_speech" in str(app.main.query_one(LineDetails).content)
        assert app.project.op_counts()["raw"]["flag"] == 3
