"""Hearing lines with no player at all: `sgtui clip` and the app's write-WAV keys."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest
from rich.style import Style
from tui_helpers import small_project

from sgtui.media.clipcodec import SAMPLE_RATE, decode_clip
from sgtui.project import Project
from sgtui.tui.app import AnnotatorApp
from sgtui.tui.audio_notice import notice_text
from sgtui.tui.config import Config
from sgtui.tui.modals import TextPrompt
from sgtui.tui.player import NullPlayer
from sgtui.tui.widgets import StatusBar

GAP = int(0.25 * SAMPLE_RATE)


@pytest.fixture
def sp(tmp_path, tmp_path_factory):
    return small_project(tmp_path, tmp_path_factory.getbasetemp() / "tui-small")


def wav_pcm(path) -> np.ndarray:
    with wave.open(io.BytesIO(path.read_bytes())) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (SAMPLE_RATE, 1, 2)
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32767


def stored_pcm(path, ids) -> list[np.ndarray]:
    with Project.open(path, readonly=True) as p:
        return [decode_clip(c.codec, c.sample_rate, c.data) for c in map(p.clip, ids)]


def one_line_error(r, *words: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    for w in words:
        assert w in r.stderr, r.stderr


def test_sgtui_clip_writes_the_lines_joined_with_gaps(cli, sp, tmp_path):
    ids = [sp.ids["B"][2], sp.ids["A"][0]]
    out = tmp_path / "two.wav"
    r = cli("clip", sp.path, *map(str, ids), "-o", out)
    assert r.returncode == 0, r.stderr
    assert str(out) in r.stdout and "2 lines" in r.stdout
    want = stored_pcm(sp.path, ids)
    got = wav_pcm(out)
    assert len(got) == len(want[0]) + GAP + len(want[1])
    assert np.abs(got[:len(want[0])] - np.clip(want[0], -1, 1)).max() < 2e-4
    assert not got[len(want[0]):len(want[0]) + GAP].any()


def test_sgtui_clip_refuses_bad_input_with_one_line_and_writes_nothing(cli, sp, tmp_path,
                                                                       tmp_path_factory):
    out = tmp_path / "x.wav"
    one_line_error(cli("clip", sp.path, "999999", "-o", out), "line 999999 does not exist")
    one_line_error(cli("clip", sp.path, "#1", "-o", out), "not a line id")
    one_line_error(cli("clip", sp.path, str(sp.ids["A"][0]), "-o", tmp_path / "x.mp3"), ".wav")
    one_line_error(cli("clip", tmp_path / "none.sgproj", "1", "-o", out), "does not exist")
    assert not out.exists()
    out.write_bytes(b"keep me")
    one_line_error(cli("clip", sp.path, str(sp.ids["A"][0]), "-o", out), "--force")
    assert out.read_bytes() == b"keep me"
    (tmp_path / "bare").mkdir()
    bare = small_project(tmp_path / "bare", tmp_path_factory.getbasetemp() / "tui-bare", media=False)
    one_line_error(cli("clip", bare.path, str(bare.ids["A"][0]), "-o", tmp_path / "b.wav"),
                   "no stored audio clip")


def test_a_bad_audio_port_is_refused_before_anything_starts(cli, sp):
    one_line_error(cli("open", sp.path, "--audio-port", "80"), "--audio-port", "not 80", "1024")


async def test_w_writes_the_line_and_W_the_montage_into_the_chosen_folder(sp, tmp_path):
    project = Project.open(sp.path)
    app = AnnotatorApp(project, "tester", config=Config(image="halfcell"), player=NullPlayer(),
                       poll_seconds=0, keyframe_delay=0)
    folder = tmp_path / "clips" / "new"
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            lid = app.state.current_line()
            await pilot.press("w")
            await pilot.pause()
            prompt = app.screen
            assert isinstance(prompt, TextPrompt) and prompt.value == "~/sgtui-clips/"
            await pilot.press("ctrl+u", *str(folder), "enter")  # ctrl+u clears the field
            await app.workers.wait_for_complete()
            await pilot.pause()
            out = folder / f"ep-line{lid}.wav"
            assert out.exists(), list(folder.parent.rglob("*"))
            assert app.state.message.startswith(f"wrote {out} (")  # shortened only on screen
            assert "wrote /" in str(app.main.query_one(StatusBar).content)
            assert len(wav_pcm(out)) == len(stored_pcm(sp.path, [lid])[0])

            await pilot.press("w")  # the same line again: a new name, the first file is kept
            await pilot.pause()
            assert app.screen.value == str(folder)  # the folder chosen last time
            await pilot.press("enter")
            await app.workers.wait_for_complete()
            assert (folder / f"ep-line{lid}-2.wav").exists()

            members = app.state.line_ids_for_montage()
            await pilot.press("W", "enter")
            await app.workers.wait_for_complete()
            await pilot.pause()
            written = sorted(folder.glob("*montage*.wav"))
            cluster = app.state.assign[members[0]].cluster_id
            assert [w.name for w in written] == [f"ep-cluster{cluster}-montage.wav"]
            lengths = [len(x) for x in stored_pcm(sp.path, members)]
            assert len(wav_pcm(written[0])) == sum(lengths) + GAP * (len(members) - 1)
    finally:
        project.close()


def test_the_notice_links_the_url_and_names_the_tunnel():
    url = "http://127.0.0.1:23456/?token=abc"
    text = notice_text(url, "ssh -L 23456:127.0.0.1:23456 ann@gpu7", "port 1 is taken")
    plain = text.plain
    assert url in plain and "ssh -L 23456:127.0.0.1:23456 ann@gpu7" in plain
    assert "port 1 is taken" in plain and "Enable sound" in plain
    links = [s for s in text.spans if isinstance(s.style, Style) and s.style.link == url]
    assert links and plain[links[0].start:links[0].end] == url  # an OSC 8 hyperlink
    local = notice_text(url, "ssh -L 1:127.0.0.1:1 a@b", remote=False).plain
    assert "No sound device here" in local and url in local and "own machine" not in local
