"""What the annotator shows at 80x24 and 160x45 in each audio mode (issue 24 B.14).

An SSH user gets the browser sound page by default: its notice comes first, and the screen
behind it must still give each line's number (what `sgtui clip` asks for), time, whole text,
speaker and flags. Snapshots keep the look (`pytest tests/test_tui_small_screens.py
--snapshot-update` after an intended change, then review the pictures); the Pilot tests
assert the facts on the running app.
"""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.geometry import Region
from textual.widgets import Label
from tui_helpers import AppMaker, small_project

from sgtui.tui.audio_bridge import BrowserPlayer, file_clips
from sgtui.tui.flags import FlagPicker
from sgtui.tui.help_screen import HelpScreen
from sgtui.tui.main_screen import DETAILS_MIN, MainScreen
from sgtui.tui.modals import ClusterPicker, ConfirmPrompt, TextPrompt
from sgtui.tui.player import SimpleaudioPlayer, make_player
from sgtui.tui.widgets import LineDetails, StatusBar, clock

MODES = ("local", "browser", "none")
SIZES = {"80x24": (80, 24), "160x45": (160, 45)}


@pytest.fixture
def sp(tmp_path, tmp_path_factory):
    return small_project(tmp_path, tmp_path_factory.getbasetemp() / "tui-small")


@pytest.fixture
def players():
    """Players as `sgtui open --audio MODE` builds them; browser pages closed after."""
    made = []

    def build(mode: str, path):
        if mode == "local":  # the player --audio local gives where a device opens; nothing
            player = SimpleaudioPlayer()  # plays here, so no device is needed (CI has none)
        else:
            # port 0: any free port, so parallel runs never collide (the page's port is not
            # drawn on the main screen; its notice, which shows it, is closed first)
            player = make_player(mode, browser=lambda: BrowserPlayer(file_clips(path), port=0))
        made.append(player)
        return player

    yield build
    for p in made:
        close = getattr(p, "close", None)
        if close is not None:
            close()


@pytest.fixture
def make_app(sp):
    make = AppMaker(sp.path)
    yield make
    make.close()


async def _past_notice(pilot, mode: str) -> None:
    """The browser mode opens with the sound page's notice; Enter closes it, as a user does."""
    await pilot.pause()
    if mode == "browser":
        assert not isinstance(pilot.app.screen, MainScreen)  # the notice is up first
        await pilot.press("enter")
    await pilot.pause()
    await pilot.pause()
    assert isinstance(pilot.app.screen, MainScreen)


def widget_text(widget) -> str:
    """What a widget draws inside its own region, row by row (wrapping and cropping included)."""
    return "\n".join(strip.text for strip in widget.render_lines(Region(0, 0, *widget.size)))


def assert_in_view(app, widget) -> None:
    """The widget is on screen, and nothing covers its top-left cell."""
    r = widget.region
    assert widget.display and r.width and r.height, widget
    assert app.screen.region.contains_region(r), (r, app.screen.region)
    top, _ = app.screen.get_widget_at(r.x, r.y)
    assert top is widget, (top, widget)


# ---- snapshots ------------------------------------------------------------------------------
@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("mode", MODES)
def test_snapshot_main_screen_in_each_audio_mode(make_app, sp, players, snap_compare, mode, size):
    app = make_app(player=players(mode, sp.path))

    async def ready(pilot):
        await _past_notice(pilot, mode)

    assert snap_compare(app, terminal_size=SIZES[size], run_before=ready)


@pytest.mark.parametrize("mode", MODES)
def test_snapshot_80x24_pool_line_with_suggestions_and_a_flag(make_app, sp, players, snap_compare, mode):
    app = make_app(player=players(mode, sp.path))

    async def ready(pilot):
        await _past_notice(pilot, mode)
        await pilot.press("f", "F", "o")  # the unassigned line, flagged "overlap"
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=ready)


# ---- the line's details at 80x24 ------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
async def test_80x24_shows_the_line_number_time_text_speaker_and_flags(make_app, sp, players, mode):
    app = make_app(player=players(mode, sp.path))
    async with app.run_test(size=(80, 24)) as pilot:
        await _past_notice(pilot, mode)
        details = app.main.query_one(LineDetails)
        for keys in ([], ["j", "j"], ["f"], ["t", "k"]):  # a cluster's lines, the pool, the timeline
            await pilot.press(*keys)
            await pilot.press("F", "w")  # flag it: "wrong subtitle"
            await pilot.pause()
            lid = app.state.current_line()
            ln = app.state.lines[lid]
            assert_in_view(app, details)
            assert details.region.width >= DETAILS_MIN
            shown = widget_text(details)
            flat = " ".join(shown.split())
            assert f"line {lid} " in shown.split("\n")[0], shown  # what `sgtui clip` asks for
            assert clock(ln.start_ms) in shown and clock(ln.end_ms) in shown, shown
            assert ln.text in flat, shown  # the whole text, wrapped if need be
            assert f"speaker: {app.state.speaker_of(lid)}" in flat or "speaker: unassigned" in flat, shown
            assert app.project.flags_of(lid) == ["wrong_subtitle"]
            assert "flagged: wrong_subtitle" in flat, shown


async def test_80x24_details_stay_after_a_resize_behind_the_notice(make_app, sp, players):
    """The notice is up while the terminal takes its size: the keyframe was fitted to a pane
    not laid out yet and took the strip's whole width."""
    app = make_app(player=players("browser", sp.path))
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        await pilot.pause()
        details = app.main.query_one(LineDetails)
        assert_in_view(app, details)
        assert details.region.width >= DETAILS_MIN
        assert f"line {app.state.current_line()} " in widget_text(details)


# ---- the help page, prompts, the status bar -------------------------------------------------
@pytest.mark.parametrize("size", [(80, 24), (160, 45)])
async def test_help_shows_every_binding_id_whole(make_app, size):
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one("#help-table")
        drawn = "\n".join(strip.text for strip in table.render_lines(Region(0, 0, table.size.width,
                                                                            table.virtual_size.height)))
        words = set(drawn.split())
        ids = [i for _, _, i in app.main.key_rows() if i]
        assert "write_montage_wav" in ids and "next_unreviewed" in ids
        missing = [i for i in ids if i not in words]
        assert not missing, missing
        assert "…" not in drawn


async def test_prompt_hints_are_whole_at_80_columns(make_app):
    app = make_app()

    def check_labels() -> None:
        for label in app.screen.query(Label).results(Label):
            said = label.render()
            said = said.plain if isinstance(said, Text) else str(said)
            drawn = " ".join(widget_text(label).split())
            assert drawn == " ".join(said.split()), (drawn, said)  # nothing cut off
            assert app.screen.region.contains_region(label.region)

    async with app.run_test(size=(80, 24)) as pilot:
        for key, screen_type in (("m", ClusterPicker), ("n", TextPrompt), ("w", TextPrompt),
                                 ("F", FlagPicker)):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, screen_type)
            check_labels()
            await pilot.press("escape")
            await pilot.pause()
        # the re-cluster question, with the longest detail the app writes
        app.push_screen(ConfirmPrompt("Re-cluster: move 12 lines?",
                                      "40 lines of named or reviewed clusters stay where they are. "
                                      "3 lines would join clusters someone reviewed."))
        await pilot.pause()
        check_labels()


async def test_a_refusal_is_said_once_in_the_status_bar_not_in_a_toast_too(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f", "x")  # an unassigned line: nothing to remove
        await pilot.pause()
        bar = app.main.query_one(StatusBar)
        assert "nothing to remove" in bar.content.plain
        assert not app._notifications, list(app._notifications)
        await pilot.press("t", "j")  # the cursor moves on: the message goes
        await pilot.pause()
        assert "nothing to remove" not in bar.content.plain
