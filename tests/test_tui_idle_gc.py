"""The app collects garbage between keys (see sgtui/tui/idle_gc.py), and gives the
interpreter its own GC settings back when it closes."""

from __future__ import annotations

import gc
import time

import pytest
from tui_helpers import small_project

from sgtui.project import Project
from sgtui.tui import idle_gc
from sgtui.tui.app import AnnotatorApp
from sgtui.tui.config import Config
from sgtui.tui.player import NullPlayer


@pytest.fixture
def app(tmp_path, tmp_path_factory):
    sp = small_project(tmp_path, tmp_path_factory.getbasetemp() / "tui-small", media=False)
    p = Project.open(sp.path)
    yield AnnotatorApp(p, "tester", config=Config(image="halfcell"), player=NullPlayer(),
                       poll_seconds=0, keyframe_delay=0)
    p.close()


class Cycle:
    """Garbage only a full pass can free (a self-reference)."""

    def __init__(self) -> None:
        self.me = self


async def test_full_passes_wait_for_a_pause_in_the_keys_and_settings_come_back(app):
    saved = gc.get_threshold()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.pause()
        assert gc.get_freeze_count() > 0  # what the first screen left is never walked again
        assert gc.get_threshold()[2] == idle_gc.NO_AUTO_FULL
        collector = app.idle_gc

        dead = Cycle()
        probe = gc.callbacks
        passes: list[int] = []
        probe.append(lambda phase, info: phase == "stop" and passes.append(info["generation"]))
        try:
            del dead
            for _ in range(3):  # every key is noticed
                before = collector.last_key
                await pilot.press("j")
                assert collector.last_key > before
            collector.last_key = collector.last_pass = time.monotonic()
            gc.collect(1)
            assert collector.tick() is False  # a key just came: no full pass now
            collector.last_key = time.monotonic() - idle_gc.IDLE_AFTER - 0.01
            gc.collect(1)  # a young pass has run since the last full one
            assert collector.tick() is True  # the pause: the full pass runs now
            assert 2 in passes
            assert not any(isinstance(o, Cycle) for o in gc.get_objects())
            collector.last_key = time.monotonic()
            collector.last_pass = time.monotonic() - idle_gc.MAX_WAIT - 0.01
            assert collector.tick() is True  # keys that never stop still get one, late
        finally:
            probe.pop()
    assert gc.get_threshold() == saved
    assert gc.get_freeze_count() == 0
