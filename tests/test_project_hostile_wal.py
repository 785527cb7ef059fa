"""A crashed writer's -wal that adds a trigger is refused before SQLite can replay it into
the real file (issue 24 A.3): the private-copy vetting checks the exact schema too, so the
refusal changes no byte — the file's md5 stays, the -wal stays where it was.

Reproduced as the issue says: Python's sqlite3 on a copy of the sample, journal_mode=wal,
wal_autocheckpoint=0, CREATE TRIGGER, commit, then the process kills itself (SIGKILL).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_projects" / "sample01.sgproj"


def crash_after(path: Path, sql: str) -> None:
    """A writer that commits `sql` in WAL mode and is killed before it closes."""
    code = textwrap.dedent(f"""
        import os, sqlite3
        conn = sqlite3.connect({str(path)!r}, isolation_level=None)
        conn.execute("PRAGMA journal_mode=wal")
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute("BEGIN")
        conn.execute({sql!r})
        conn.execute("COMMIT")
        os.kill(os.getpid(), 9)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == -9, r.stderr
    assert Path(f"{path}-wal").stat().st_size > 0


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def refused(r, *fragments: str) -> str:
    err = r.stderr.strip()
    assert r.returncode == 2, (r.returncode, r.stdout, err)
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for f in fragments:
        assert f in err, err
    return err


PROJECT_COMMANDS = [("info", "{path}"), ("ops", "{path}"), ("cluster", "{path}"),
                    ("labels", "export", "{path}", "{out}")]


@pytest.mark.parametrize("command", PROJECT_COMMANDS, ids=["info", "ops", "cluster", "labels-export"])
def test_a_wal_that_adds_a_trigger_is_refused_and_never_reaches_the_file(cli, tmp_path, command):
    path = tmp_path / "h.sgproj"
    shutil.copyfile(SAMPLE, path)
    crash_after(path, "CREATE TRIGGER evil AFTER INSERT ON ops BEGIN DELETE FROM assignments; END")
    before, wal = md5(path), Path(f"{path}-wal").read_bytes()
    args = [a.format(path=path, out=tmp_path / "labels.csv") for a in command]
    err = refused(cli(*args), "schema objects sgtui did not create",
                  "trigger 'evil'", "h.sgproj-wal")
    assert "was the file replaced" not in err  # it is this file's log, and a hostile one
    assert md5(path) == before, "the refused -wal was replayed into the file"
    assert Path(f"{path}-wal").read_bytes() == wal
    assert not (tmp_path / "labels.csv").exists()


def test_a_wal_that_changes_a_table_is_refused_the_same_way(cli, tmp_path):
    """Not only new objects: a table rebuilt with a hidden cascade (the exact-schema check)."""
    path = tmp_path / "h.sgproj"
    shutil.copyfile(SAMPLE, path)
    crash_after(path, "CREATE INDEX sneaky ON lines(text)")
    before = md5(path)
    refused(cli("info", path), "schema objects sgtui did not create", "index 'sneaky'")
    assert md5(path) == before and Path(f"{path}-wal").exists()


def test_the_files_own_clean_wal_is_still_replayed(cli, tmp_path):
    path = tmp_path / "h.sgproj"
    shutil.copyfile(SAMPLE, path)
    crash_after(path, "UPDATE meta SET value='renamed by a crashed writer' WHERE key='title'")
    r = cli("info", path)
    assert r.returncode == 0, r.stderr
    assert "renamed by a crashed writer" in r.stdout
    assert not Path(f"{path}-wal").exists()


def test_a_bank_wal_that_adds_a_trigger_is_refused_and_never_reaches_the_bank(cli, tmp_path):
    from test_bank_trust import _bank

    path = tmp_path / "s.sgbank"
    _bank(path, 0)
    crash_after(path, "CREATE TRIGGER evil AFTER INSERT ON characters BEGIN DELETE FROM bank_lines; END")
    before, wal = md5(path), Path(f"{path}-wal").read_bytes()
    for args in (("bank", "list", path), ("bank", "rename", path, "c0", "Kyon")):
        err = refused(cli(*args), "s.sgbank-wal", "schema", "trigger 'evil'")
        assert "was the file replaced" not in err
        assert md5(path) == before and Path(f"{path}-wal").read_bytes() == wal
