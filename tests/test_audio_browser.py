"""A real browser (Debian's headless chromium, driven by Selenium) plays what the app selects.

The app runs in the test's event loop (Pilot) with the real BrowserPlayer; the page is opened
with the URL the app shows, sound is enabled with a real click, and `p` / `s` in the app must
start and stop the page's audio element."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import pytest
from audio_helpers import Tunnel
from tui_helpers import small_project

from sgtui.media.clipcodec import SAMPLE_RATE, decode_clip
from sgtui.project import Project
from sgtui.tui.app import AnnotatorApp
from sgtui.tui.audio_bridge import BrowserPlayer, file_clips
from sgtui.tui.audio_notice import AudioPageNotice
from sgtui.tui.config import Config
from sgtui.tui.widgets import StatusBar

pytestmark = pytest.mark.slow

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
PAGE_STATE = """
const a = document.getElementById('player');
return {state: document.body.dataset.state, connected: document.body.dataset.connected,
        src: a.currentSrc, duration: a.duration, paused: a.paused,
        shown: document.getElementById('lines').innerText};
"""


def start_chromium(profile: Path, *extra: str):
    """Headless chromium as root (no sandbox); failing loudly when it is not installed."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing or shutil.which("chromium") is None:
        pytest.fail(f"{', '.join(missing) or 'chromium'} not found: the real-browser test needs "
                    "Debian's chromium and chromium-driver (scripts/bootstrap.sh installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # CSP violations, JS errors
    for arg in ("--headless=new", "--autoplay-policy=no-user-gesture-required", "--no-sandbox",
                "--disable-dev-shm-usage", "--disable-gpu", "--mute-audio",
                f"--user-data-dir={profile}", *extra):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


async def wait_page(driver, ok, what: str, timeout: float = 20.0) -> dict:
    """Poll the page's state (off the event loop) until `ok(state)`."""
    end = time.monotonic() + timeout
    while True:
        state = await asyncio.to_thread(driver.execute_script, PAGE_STATE)
        if ok(state):
            return state
        if time.monotonic() > end:
            raise AssertionError(f"the page never reached {what}; its state: {state}")
        await asyncio.sleep(0.1)


async def test_p_in_the_app_plays_the_line_in_a_real_browser_and_s_stops_it(tmp_path, tmp_path_factory):
    sp = small_project(tmp_path, tmp_path_factory.getbasetemp() / "tui-small")
    driver = await asyncio.to_thread(start_chromium, tmp_path / "chromium-profile")
    player = BrowserPlayer(file_clips(sp.path), project=sp.path)
    project = Project.open(sp.path)
    app = AnnotatorApp(project, "tester", config=Config(image="halfcell"), player=player,
                       poll_seconds=0, keyframe_delay=0)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, AudioPageNotice)  # shown once, until dismissed
            titles = [c.title for c in app.get_system_commands(app.screen)]
            assert "Sound page" in titles  # ctrl+p shows it again
            await pilot.press("escape")
            assert "♪ page not connected" in str(app.main.query_one(StatusBar).content)

            await asyncio.to_thread(driver.get, player.url)
            await asyncio.to_thread(lambda: driver.find_element("id", "enable").click())
            await wait_page(driver, lambda s: s["connected"] == "yes", "connected")
            end = time.monotonic() + 5
            while "♪ page connected" not in str(app.main.query_one(StatusBar).content):
                assert time.monotonic() < end, "the status bar never showed the page connected"
                await pilot.pause(0.1)

            lid = app.state.current_line()
            line = app.state.lines[lid]
            clip = project.clip(lid)
            seconds = len(decode_clip(clip.codec, clip.sample_rate, clip.data)) / SAMPLE_RATE
            await pilot.press("p")
            state = await wait_page(driver, lambda s: s["state"] == "playing", "playing")
            assert state["src"].endswith(f"/clip/{lid}"), state
            assert abs(state["duration"] - seconds) < 0.1, (state, seconds)
            assert line.text in state["shown"] and app.state.speaker_of(lid) in state["shown"]
            assert "in the browser" in str(app.main.query_one(StatusBar).content)

            await pilot.press("s")
            state = await wait_page(driver, lambda s: s["paused"] and s["state"] == "paused",
                                    "paused after s")
            assert state["src"].endswith(f"/clip/{lid}")
            log = await asyncio.to_thread(driver.get_log, "browser")
            assert not [e for e in log if e["level"] == "SEVERE"], log  # the CSP blocked nothing
    finally:
        await asyncio.to_thread(driver.quit)
        player.close()
        project.close()


def status_text(app: AnnotatorApp) -> str:
    return str(app.main.query_one(StatusBar).content)


async def wait_status(app: AnnotatorApp, pilot, needle: str, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while needle not in status_text(app):
        assert time.monotonic() < end, f"the status bar never showed {needle!r}: {status_text(app)}"
        await pilot.pause(0.1)


async def test_the_page_recovers_from_a_dropped_tunnel_and_catches_up(tmp_path, tmp_path_factory):
    """The page reaches the app through a forwarder (like ssh -L): `localhost` is mapped to
    127.0.0.2, where the forwarder listens on the same port. Cutting it must show the page as
    not connected on both ends; when it is back, the page reconnects by itself and plays the
    montage that was asked for meanwhile."""
    sp = small_project(tmp_path, tmp_path_factory.getbasetemp() / "tui-small")
    player = BrowserPlayer(file_clips(sp.path), project=sp.path, keepalive_s=0.5)
    tunnel = Tunnel(("127.0.0.2", player.port), ("127.0.0.1", player.port))
    tunnel.open()
    driver = await asyncio.to_thread(start_chromium, tmp_path / "chromium-profile",
                                     "--host-resolver-rules=MAP localhost 127.0.0.2")
    project = Project.open(sp.path)
    app = AnnotatorApp(project, "tester", config=Config(image="halfcell"), player=player,
                       poll_seconds=0, keyframe_delay=0)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.press("escape")
            await asyncio.to_thread(driver.get, player.url.replace("127.0.0.1", "localhost"))
            await asyncio.to_thread(lambda: driver.find_element("id", "enable").click())
            await wait_page(driver, lambda s: s["connected"] == "yes", "connected")
            assert tunnel.accepted >= 2  # the page and its event stream came through the tunnel
            await wait_status(app, pilot, "♪ page connected")

            tunnel.cut()
            await wait_page(driver, lambda s: s["connected"] == "no", "not connected")
            await wait_status(app, pilot, "♪ page not connected")
            members = app.state.line_ids_for_montage()
            await pilot.press("P")
            assert app.state.message.endswith("no page open (ctrl+p: Sound page)")

            tunnel.open()
            state = await wait_page(driver, lambda s: s["state"] == "playing", "playing again",
                                    timeout=30)
            assert state["connected"] == "yes"
            assert state["src"].endswith("/montage?lines=" + ",".join(map(str, members))), state
            await wait_status(app, pilot, "♪ page connected")
    finally:
        await asyncio.to_thread(driver.quit)
        tunnel.cut()
        player.close()
        project.close()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_a_page_left_open_across_a_restart_says_to_open_the_new_url(tmp_path, tmp_path_factory):
    """The tunnel stays from one day to the next, the token does not: the old tab must say so
    instead of failing silently, and the new URL must work in the same tab."""
    sp = small_project(tmp_path, tmp_path_factory.getbasetemp() / "tui-small")
    port = free_port()
    first = BrowserPlayer(file_clips(sp.path), port=port, keepalive_s=0.5)
    driver = await asyncio.to_thread(start_chromium, tmp_path / "chromium-profile")
    second = None
    try:
        await asyncio.to_thread(driver.get, first.url)
        await wait_page(driver, lambda s: s["connected"] == "yes", "connected")
        first.close()
        second = BrowserPlayer(file_clips(sp.path), port=port, keepalive_s=0.5)
        stale = "return [document.body.dataset.stale, document.getElementById('status').innerText]"
        end = time.monotonic() + 20
        while (found := await asyncio.to_thread(driver.execute_script, stale))[0] != "yes":
            assert time.monotonic() < end, f"the old page never said it is stale: {found}"
            await asyncio.sleep(0.2)
        assert "open the new URL" in found[1]
        state = await wait_page(driver, lambda s: True, "anything")
        assert state["connected"] == "no"

        await asyncio.to_thread(driver.get, second.url)
        await wait_page(driver, lambda s: s["connected"] == "yes", "connected to the new start")
        now = await asyncio.to_thread(driver.execute_script, stale)
        assert now[0] == "no" and "open the new URL" not in now[1], now
    finally:
        await asyncio.to_thread(driver.quit)
        first.close()
        if second is not None:
            second.close()
