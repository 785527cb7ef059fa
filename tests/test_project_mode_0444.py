"""A file without any write bit (chmod 0444) is view only, for root too (issue 24 A.5).

Root may write through permissions, and on GPU servers and in containers people work as
root; as editors do, sgtui takes the mode as the owner's wish. These tests run as root in
CI and here, so the writes they refuse are ones root could really make.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from test_tui_tmux import start, tmux

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_projects" / "sample01.sgproj"
TRUTH = REPO / "sample_projects" / "sample01.truth.csv"


@pytest.fixture
def locked(tmp_path) -> Path:
    path = tmp_path / "ep.sgproj"
    shutil.copyfile(SAMPLE, path)
    path.chmod(0o444)
    return path


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def beside(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name))


def test_writing_commands_refuse_a_0444_file_even_for_root(cli, locked, tmp_path):
    before = md5(locked)
    assert os.access(locked, os.W_OK) == (os.geteuid() == 0)  # root could write it
    for args in (("cluster", locked), ("labels", "import", locked, TRUTH)):
        r = cli(*args)
        err = r.stderr.strip()
        assert r.returncode == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, (args, err)
        assert "read-only" in err and "chmod u+w" in err, err
        assert md5(locked) == before and beside(locked) == ["ep.sgproj"], args
    r = cli("info", locked)  # reading it leaves nothing beside it
    assert r.returncode == 0 and "lines 80" in r.stdout, r.stderr
    assert beside(locked) == ["ep.sgproj"]


def test_a_0444_bank_is_not_written_either(cli, tmp_path):
    from test_bank_trust import _bank

    path = tmp_path / "s.sgbank"
    _bank(path, 0)
    path.chmod(0o444)
    before = md5(path)
    r = cli("bank", "rename", path, "c0", "Kyon")
    assert r.returncode == 2 and "read-only" in r.stderr, r.stderr
    assert md5(path) == before and beside(path) == ["s.sgbank"]


@pytest.fixture
def pane(tmp_path):
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed; the real-terminal test needs it (apt install tmux)")
    name = f"sgtui-0444-{os.getpid()}-{tmp_path.name}"
    yield name
    with contextlib.suppress(subprocess.CalledProcessError):  # the session ended by itself
        tmux("kill-session", "-t", name)


def test_sgtui_open_shows_view_only_for_a_0444_file_and_writes_nothing(pane, locked, tmp_path):
    before = md5(locked)
    p = start(pane, locked, tmp_path)
    screen = p.wait_for("VIEW ONLY")
    assert "tmuxer" in screen
    p.keys("x")  # remove the cursor line from its cluster: refused
    p.wait_for("view only")
    p.keys("q")
    p.wait_for("SGTUI-EXIT=0")
    assert md5(locked) == before and beside(locked) == ["ep.sgproj"]
