"""A character bank is held to the .sgproj file rules: a -wal left by a crashed writer is
replayed only into the bank it belongs to, and a bank we may not write is read without a
trace (README "Character bank", docs/architecture.md)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from conftest import read_only_folder

from sgtui.engine.bank import fit_characters
from sgtui.project.bank import Bank, Contribution

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _bank(path: Path, seed: int) -> None:
    """A real bank of three characters (two episodes each, so it calibrates)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 32))
    with Bank.open(path, create=True) as bank:
        for ep in range(2):
            cons = [Contribution(f"c{c}", list(range(100 * c, 100 * c + 8)),
                                 centres[c] + 0.3 * rng.normal(size=(8, 32))) for c in range(3)]
            bank.add_episode(f"ep{ep}", f"ep{ep}", None, "m", cons, fit=fit_characters)


def _crashed_rename(path: Path, old: str, new: str) -> None:
    """A writer that renames a character, commits, and is killed before it closes: its -wal
    stays beside the bank."""
    code = textwrap.dedent(f"""
        import os, signal, sqlite3
        from sgtui.project.bank import Bank
        b = Bank.open({str(path)!r})
        b.conn.execute("PRAGMA wal_autocheckpoint=0")
        b.rename_character({old!r}, {new!r})
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    r = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, timeout=60)
    assert r.returncode == -9, r.stderr
    assert Path(f"{path}-wal").stat().st_size > 0


def _killed_mid_write(path: Path) -> None:
    """A writer (rollback journal, as on a network share) killed in the middle of a change."""
    code = textwrap.dedent(f"""
        import os, signal
        from sgtui.project.bank import Bank
        b = Bank.open({str(path)!r})
        b.conn.execute("PRAGMA cache_size=2")  # changed pages spill into the file before the commit
        with b._transaction() as c:
            c.execute("UPDATE bank_lines SET dim = dim")
            c.execute("UPDATE characters SET name = name || '!'")
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    env = {**ENV, "SGTUI_JOURNAL_MODE": "DELETE"}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == -9, r.stderr
    assert Path(f"{path}-journal").stat().st_size > 0


def _names(cli, path: Path) -> str:
    r = cli("bank", "list", path)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_a_crashed_writers_own_wal_is_replayed_into_its_bank(cli, tmp_path):
    path = tmp_path / "s.sgbank"
    _bank(path, 0)
    _crashed_rename(path, "c1", "Kyon")
    out = _names(cli, path)
    assert "Kyon" in out and "c1" not in out.split()


def test_a_crashed_writers_wal_beside_another_bank_is_refused_and_nothing_changes(cli, tmp_path):
    path, other = tmp_path / "s.sgbank", tmp_path / "other.sgbank"
    _bank(path, 0)
    _bank(other, 1)  # another season's bank, created later
    _crashed_rename(path, "c1", "Kyon")
    shutil.copyfile(other, path)  # cp other.sgbank s.sgbank, with the -wal of the first still there
    wal = Path(f"{path}-wal")
    before, wal_before = path.read_bytes(), wal.read_bytes()
    for args in (("bank", "list", path), ("bank", "rename", path, "c2", "Haruhi")):
        r = cli(*args)
        assert r.returncode == 2, (r.stdout, r.stderr)
        err = r.stderr.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        assert "s.sgbank-wal" in err and "will not replay" in err and "another bank" in err, err
        assert path.read_bytes() == before and wal.read_bytes() == wal_before
    wal.rename(tmp_path / "stale.wal")  # once the stale log is moved away, the copy opens as itself
    Path(f"{path}-shm").unlink(missing_ok=True)
    assert "Kyon" not in _names(cli, path)


def test_a_crashed_writers_journal_is_rolled_back_only_into_its_own_bank(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("SGTUI_JOURNAL_MODE", "DELETE")
    path, other = tmp_path / "s.sgbank", tmp_path / "other.sgbank"
    _bank(path, 0)
    _bank(other, 1)
    _killed_mid_write(path)
    journal, saved = Path(f"{path}-journal"), tmp_path / "saved.sgbank"
    shutil.copyfile(path, saved)  # the bank as the killed writer left it, and its journal
    shutil.copyfile(journal, tmp_path / "saved.journal")
    shutil.copyfile(other, path)  # another bank put in its place
    before, journal_before = path.read_bytes(), journal.read_bytes()
    r = cli("bank", "list", path)
    assert r.returncode == 2 and "will not roll it back" in r.stderr and "another bank" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert path.read_bytes() == before and journal.read_bytes() == journal_before
    # its own journal, beside its own file: rolled back as usual, nothing of the change kept
    shutil.copyfile(saved, path)
    shutil.copyfile(tmp_path / "saved.journal", journal)
    out = _names(cli, path)
    assert "!" not in out and "c0" in out
    assert not journal.exists()


def test_a_bank_we_may_not_write_is_read_without_a_trace(cli, tmp_path):
    made = tmp_path / "s.sgbank"
    _bank(made, 0)
    with read_only_folder(tmp_path, [made]) as folder:  # (a read-only mount when root)
        path = folder / "s.sgbank"
        before = path.read_bytes()
        assert "c0" in _names(cli, path)
        r = cli("bank", "rename", path, "c0", "Kyon")
        assert r.returncode == 2 and "read-only" in r.stderr and "Traceback" not in r.stderr
        assert sorted(p.name for p in folder.iterdir()) == ["s.sgbank"]
        assert path.read_bytes() == before
