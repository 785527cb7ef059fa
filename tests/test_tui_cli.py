"""`sgtui open` and `sgtui demo` from the command line: refusals, the demo file, config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tui_helpers import build_small_project

from sgtui.errors import SgtuiError
from sgtui.project import Project
from sgtui.tui.config import load_config
from sgtui.tui.player import NO_DEVICE_HINT, NullPlayer, SimpleaudioPlayer, join_clips, make_player

REPO = Path(__file__).resolve().parent.parent


def sgtui(*args, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sgtui", *map(str, args)], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=120, **kw)


def one_line_error(r: subprocess.CompletedProcess, *words: str) -> None:
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    for w in words:
        assert w in lines[0], lines[0]


def test_open_a_missing_file_exits_2(tmp_path):
    one_line_error(sgtui("open", tmp_path / "nope.sgproj"), "does not exist")


def test_open_a_file_that_is_not_a_project_exits_2(tmp_path):
    bad = tmp_path / "notes.sgproj"
    bad.write_text("hello")
    one_line_error(sgtui("open", bad))


def test_open_an_empty_project_exits_2(tmp_path):
    Project.create(tmp_path / "empty.sgproj").close()
    one_line_error(sgtui("open", tmp_path / "empty.sgproj"), "no lines")


def test_open_in_a_pipe_exits_2_without_touching_the_file(tmp_path):
    sp = build_small_project(tmp_path / "ep.sgproj", media=False)
    before = sp.path.read_bytes()
    one_line_error(sgtui("open", sp.path, "--audio", "none", stdin=subprocess.DEVNULL), "terminal")
    assert sp.path.read_bytes() == before


def test_a_broken_config_file_exits_2(tmp_path):
    sp = build_small_project(tmp_path / "ep.sgproj", media=False)
    cfg = tmp_path / "cfg" / "sgtui"
    cfg.mkdir(parents=True)
    (cfg / "config.toml").write_text("annotator = [unclosed\n")
    one_line_error(sgtui("open", sp.path, env={"XDG_CONFIG_HOME": str(tmp_path / "cfg")}),
                   "config.toml", "TOML")


def test_config_sets_the_annotator_audio_and_keys(tmp_path, monkeypatch):
    cfg = tmp_path / "sgtui"
    cfg.mkdir()
    (cfg / "config.toml").write_text('annotator = "mika"\naudio = "none"\n[keys]\nmerge = "ctrl+m"\n')
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    c = load_config()
    assert (c.annotator, c.audio, c.keys) == ("mika", "none", {"merge": "ctrl+m"})
    (cfg / "config.toml").write_text('image = "retina"\n')
    with pytest.raises(SgtuiError, match="image"):
        load_config()


@pytest.mark.data  # `sgtui demo` falls back on haruhi03 in SGTUI_SHARED, unseen in this code
def test_demo_builds_a_clustered_episode_from_shared_data(tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "SGTUI_SAMPLES": str(tmp_path / "no-samples")}
    r = sgtui("demo", "--path-only", env=env)
    assert r.returncode == 0, r.stderr
    path = Path(r.stdout.strip())
    assert path.parent == tmp_path / "cache" / "sgtui"
    info = json.loads(sgtui("info", path, "--json").stdout)
    assert info["lines"] == 440 and info["clusters"] >= 2 and info["assigned"] > 400
    with Project.open(path) as p:  # the user's progress is kept on the next run
        p.rename(p.clusters()[0].id, "Kyon", "me")
    assert sgtui("demo", "--path-only", env=env).stdout.strip() == str(path)
    assert json.loads(sgtui("info", path, "--json").stdout)["named"] == 1
    r = sgtui("demo", "--path-only", "--reset", env=env)
    assert json.loads(sgtui("info", path, "--json").stdout)["named"] == 0


def test_demo_prefers_a_bundled_sample_and_leaves_it_untouched(tmp_path):
    samples = tmp_path / "samples"
    samples.mkdir()
    sp = build_small_project(samples / "sample01.sgproj", media=True)
    before = sp.path.read_bytes()
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "SGTUI_SAMPLES": str(samples)}
    r = sgtui("demo", "--path-only", env=env)
    assert r.returncode == 0, r.stderr
    path = Path(r.stdout.strip())
    assert path.name == "sample01.sgproj" and path != sp.path
    assert json.loads(sgtui("info", path, "--json").stdout)["keyframes"] == 12
    assert sp.path.read_bytes() == before


def test_demo_without_samples_or_shared_data_exits_2(tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "SGTUI_SAMPLES": str(tmp_path / "none"),
           "SGTUI_SHARED": str(tmp_path / "none")}
    one_line_error(sgtui("demo", "--path-only", env=env), "sgtui sample")


def has_sound_card() -> bool:
    cards = Path("/proc/asound/cards")
    return cards.exists() and "no soundcards" not in cards.read_text()


@pytest.mark.skipif(has_sound_card(), reason="this machine has a sound card; the fallback needs none")
def test_without_a_sound_device_auto_falls_back_to_a_notice(capfd):
    """No sound card: auto gives the silent player, and libasound's messages stay off screen."""
    player = make_player("auto")
    assert isinstance(player, NullPlayer) and "no sound device" in player.notice
    assert capfd.readouterr().err == ""
    with pytest.raises(SgtuiError, match="--audio local: no sound device") as refused:
        make_player("local")  # asked for by name: refused before the app starts, one line
    assert "PCM" not in str(refused.value) and "\n" not in str(refused.value)
    with pytest.raises(SgtuiError) as failed:  # a play that fails says the hint alone
        SimpleaudioPlayer().play(join_clips([[0.0] * 1600, [0.1] * 1600], 16_000), 16_000)
    assert str(failed.value) == NO_DEVICE_HINT
    assert capfd.readouterr().err == ""
    assert make_player("none").notice.startswith("playback is off")
    with pytest.raises(SgtuiError, match="audio mode"):
        make_player("bogus")


def test_montage_joins_clips_with_short_gaps():
    out = join_clips([[1.0] * 100, [1.0] * 50], 1000, gap_s=0.02)
    assert len(out) == 170 and out[100:120].max() == 0 and out[120] == 1.0


def test_an_unknown_key_binding_id_in_the_config_exits_2(tmp_path):
    sp = build_small_project(tmp_path / "ep.sgproj", media=False)
    cfg = tmp_path / "cfg" / "sgtui"
    cfg.mkdir(parents=True)
    (cfg / "config.toml").write_text('[keys]\nmerj = "ctrl+m"\n')
    one_line_error(sgtui("open", sp.path, env={"XDG_CONFIG_HOME": str(tmp_path / "cfg")}), "merj")
