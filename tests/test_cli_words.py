"""Issue 24 B.17, B.12 (bank) and B.15: what the command line says is true and reads right.

Counts read "1 line", not "1 lines"; bank suggestions are called suggestions; the sound page
names its real port; a bank is called a bank; a command with nothing to do says so; every
--help page shows examples that parse; `--as` means the same everywhere; a bank is not made
from an episode without names; `--audio local` without a device is one line from sgtui.
"""

from __future__ import annotations

import http.client
import os
import pty
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import refusal as _err

from sgtui.cli import build_parser

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sample_projects"
WRONG_PLURAL = re.compile(r"(?<![\d.])1 (lines|speakers|episodes|clusters|characters|actions|WAVs|"
                          r"projects|clips|keyframes|prototypes|named clusters|labelled rows|"
                          r"unlabelled rows|human-labelled lines)\b")


def _ok(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 0, r.stderr
    return r.stdout + r.stderr


@pytest.fixture
def one_line_project(cli, tmp_path: Path) -> Path:
    """A project of exactly one line, named 'Haruhi' by a label import."""
    (tmp_path / "lines.csv").write_text("start,end,speaker,text\n1.0,2.5,,hello\n", encoding="utf-8")
    np.save(tmp_path / "v.npy", np.random.default_rng(0).normal(size=(1, 8)).astype(np.float32))
    out = tmp_path / "one.sgproj"
    said = _ok(cli("import-features", tmp_path / "lines.csv", "--voice", tmp_path / "v.npy",
                   "-o", out))
    assert "1 line," in said and not WRONG_PLURAL.search(said), said
    return out


def test_one_of_anything_is_singular(cli, tmp_path, one_line_project):
    ep = one_line_project
    (tmp_path / "truth.csv").write_text("start,end,speaker,text\n1.0,2.5,Haruhi,hello\n",
                                        encoding="utf-8")
    said = [
        _ok(cli("labels", "import", ep, tmp_path / "truth.csv")),
        _ok(cli("labels", "export", ep, tmp_path / "out.csv")),
        _ok(cli("ops", ep)),
        _ok(cli("info", ep)),
        _ok(cli("export", ep, "-f", "srt", "-o", tmp_path / "out.srt")),
        _ok(cli("bank", "add", tmp_path / "s.sgbank", ep)),
        _ok(cli("bank", "list", tmp_path / "s.sgbank")),
    ]
    text = "\n".join(said)
    assert not WRONG_PLURAL.search(text), WRONG_PLURAL.search(text)
    for expected in ("labelled 1 line from 1 speaker into 1 named cluster", "wrote 1 line to",
                     "1 action", "1 character, 1 line", "1 character from 1 episode",
                     "1 line, 1 prototype", "wrote 1 line of 1 episode"):
        assert expected in text, (expected, text)


@pytest.fixture(scope="module")
def bank_and_episode(tmp_path_factory) -> tuple[Path, Path]:
    """A bank from sample01 (its true names), and sample02 to name from it."""
    from conftest import run_cli

    d = tmp_path_factory.mktemp("bank")
    for name in ("sample01", "sample02"):
        shutil.copy(SAMPLES / f"{name}.sgproj", d)
    _ok(run_cli("labels", "import", d / "sample01.sgproj", SAMPLES / "sample01.truth.csv"))
    _ok(run_cli("bank", "add", d / "series.sgbank", d / "sample01.sgproj"))
    return d / "series.sgbank", d / "sample02.sgproj"


def test_cluster_with_a_bank_calls_its_names_suggestions(cli, bank_and_episode):
    """It said "4 of 5 clusters named" while `info` said 0 named: they are suggestions."""
    bank, ep = bank_and_episode
    said = _ok(cli("cluster", ep, "--bank", bank))
    line = next(s for s in said.splitlines() if s.startswith("bank:"))
    assert "names suggested for" in line and "clusters named" not in line, line
    assert re.search(r"names suggested for [1-9]\d* of \d+ clusters? by", line), line
    assert "(0 named," in _ok(cli("info", ep))  # what info says: nothing is named yet


def test_bank_add_of_an_episode_without_names_is_refused(cli, tmp_path):
    """It made an empty bank, exit 0."""
    ep = tmp_path / "ep.sgproj"
    shutil.copy(SAMPLES / "sample02.sgproj", ep)
    before = ep.read_bytes()
    _err(cli("bank", "add", tmp_path / "s.sgbank", ep), "no named cluster", "sgtui open")
    assert not (tmp_path / "s.sgbank").exists() and ep.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ep.sgproj"]


def test_bank_list_of_a_file_that_is_no_bank_calls_it_a_bank(cli, tmp_path):
    (tmp_path / "notaproj").write_text("hello\n")
    err = _err(cli("bank", "list", tmp_path / "notaproj"), "bank")
    assert "sgproj" not in err


def test_embed_with_both_encoders_none_refuses(cli, tmp_path):
    """It exited 0 and said nothing."""
    ep = tmp_path / "ep.sgproj"
    shutil.copy(SAMPLES / "sample01.sgproj", ep)
    before = ep.read_bytes()
    _err(cli("embed", ep, "--voice", "none", "--image", "none"), "nothing to embed")
    assert ep.read_bytes() == before


def test_the_wrong_host_page_names_the_real_port(tmp_path):
    from sgtui.tui.audio_bridge import BrowserPlayer, file_clips

    ep = tmp_path / "ep.sgproj"
    shutil.copy(SAMPLES / "sample01.sgproj", ep)
    player = BrowserPlayer(file_clips(ep), project=ep)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", player.port, timeout=10)
        conn.request("GET", f"/?token={player.token}", headers={"Host": "evil.example"})
        r = conn.getresponse()
        body = r.read().decode()
        conn.close()
    finally:
        player.close()
    assert r.status == 403
    assert f"http://127.0.0.1:{player.port}/" in body and "PORT" not in body, body


def _pages() -> list[tuple[str, object]]:
    """(command words, parser) of every --help page: sgtui, each command, each sub-action."""
    import argparse

    out = []

    def walk(words: str, parser: argparse.ArgumentParser) -> None:
        out.append((words, parser))
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(f"{words} {name}", sub)

    walk("sgtui", build_parser())
    return out


def test_every_help_page_has_examples_that_parse():
    pages = _pages()
    assert len(pages) > 20
    for words, parser in pages:
        text = parser.format_help()
        assert "\nexamples:\n" in text, f"{words} --help has no examples"
        examples = [ln.strip() for ln in text.split("\nexamples:\n", 1)[1].splitlines()
                    if ln.startswith("  sgtui ")]
        assert examples, words
        for example in examples:
            for command in example.split(" && "):
                argv = shlex.split(command)[1:]
                try:
                    args = build_parser().parse_args(argv)
                except SystemExit as exc:
                    raise AssertionError(f"{words}: example {command!r} does not parse") from exc
                assert getattr(args, "handler", None), command
        if words != "sgtui":
            own = [e for e in examples if e.startswith(words + " ")]
            assert own, f"{words}: no example of itself"


def test_descriptions_are_still_wrapped_to_the_terminal():
    text = dict(_pages())["sgtui ingest"].format_help()
    desc = text.split("\n\n")[1]
    assert len(desc.splitlines()) > 2 and max(map(len, desc.splitlines())) <= 80


def test_labels_import_as_means_what_every_as_means(cli, tmp_path, one_line_project):
    """--as defaulted to the login name in `labels import` alone; its help said so differently."""
    helps = {words: next(a.help for a in p._actions if "--as" in a.option_strings)
             for words, p in _pages() if any("--as" in a.option_strings for a in p._actions)}
    assert {"sgtui labels import", "sgtui cluster", "sgtui open"} <= set(helps)
    defaults = {re.search(r"\(default[^)]*\)", h).group(0) for h in helps.values()}
    assert defaults == {"(default: config 'annotator', else login name)"}, helps
    cfg = tmp_path / "cfg"
    (cfg / "sgtui").mkdir(parents=True)
    (cfg / "sgtui" / "config.toml").write_text('annotator = "from-config"\n', encoding="utf-8")
    (tmp_path / "truth.csv").write_text("start,end,speaker\n1.0,2.5,Haruhi\n", encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "sgtui", "labels", "import", str(one_line_project),
                        str(tmp_path / "truth.csv")], capture_output=True, text=True,
                       env={**os.environ, "XDG_CONFIG_HOME": str(cfg)}, timeout=120)
    _ok(r)
    ops = _ok(subprocess.run([sys.executable, "-m", "sgtui", "ops", str(one_line_project)],
                             capture_output=True, text=True, timeout=120))
    assert "from-conf" in ops, ops


def test_audio_local_without_a_device_is_one_line_from_sgtui(tmp_path):
    """No sound device (ALSA given a configuration with no PCM at all, so whatever card the
    machine has): one line from sgtui, before the app starts — not the C library's
    "[Error opening PCM device. -- CODE: -2 ...]" nor ALSA's own stderr lines."""
    ep = tmp_path / "ep.sgproj"
    shutil.copy(SAMPLES / "sample01.sgproj", ep)
    (tmp_path / "alsa.conf").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE_", "SSH_"))}
    env.update(ALSA_CONFIG_PATH=str(tmp_path / "alsa.conf"), HOME=str(tmp_path),
               XDG_CONFIG_HOME=str(tmp_path / "cfg"), TERM="xterm-256color")
    primary, secondary = pty.openpty()  # the app needs a terminal, as a user has
    try:
        r = subprocess.run([sys.executable, "-m", "sgtui", "open", str(ep), "--audio", "local"],
                           stdin=secondary, stdout=secondary, stderr=subprocess.PIPE, text=True,
                           env=env, timeout=60)
    finally:
        os.close(secondary)
        os.close(primary)
    err = _err(r, "--audio local", "no sound device", "--audio browser")
    for raw in ("PCM", "CODE", "ALSA lib", "["):
        assert raw not in err, err


def test_a_row_count_of_one_is_singular_in_errors(cli, tmp_path):
    (tmp_path / "lines.csv").write_text("start,end\n1,2\n3,4\n", encoding="utf-8")
    np.save(tmp_path / "v.npy", np.ones((1, 8), np.float32))
    _err(cli("import-features", tmp_path / "lines.csv", "--voice", tmp_path / "v.npy",
             "-o", tmp_path / "x.sgproj"), "--voice has 1 row but")
