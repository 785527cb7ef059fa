"""A write that fails under sgtui (disk full, read-only, file gone) is one WriteFailed, and
nothing of it reaches the file; the connection stays usable (real SQLite files)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from sgtui.errors import SgtuiError, WriteFailed
from sgtui.project import Project

SAMPLE = Path(__file__).resolve().parent.parent / "sample_projects" / "sample01.sgproj"


@pytest.fixture
def proj(tmp_path):
    path = tmp_path / "ep.sgproj"
    shutil.copy(SAMPLE, path)
    p = Project.open(path)
    yield p
    p.close()


def snapshot(p: Project) -> tuple:
    return p.assignments(), p.clusters(), len(p.ops())


def test_a_full_disk_is_write_failed_and_the_file_is_unchanged(proj):
    before = snapshot(proj)
    pages = proj.conn.execute("PRAGMA page_count").fetchone()[0]
    proj.conn.execute(f"PRAGMA max_page_count={pages}")
    cid = proj.clusters()[0].id
    with pytest.raises(WriteFailed, match="disk is full") as err:
        proj.rename(cid, "x" * 200_000, "ann")
    assert isinstance(err.value, SgtuiError) and "\n" not in str(err.value)
    assert snapshot(proj) == before and not proj.conn.in_transaction
    proj.conn.execute("PRAGMA max_page_count=1073741823")  # space freed: work goes on
    proj.rename(cid, "Kyon", "ann")
    assert proj.cluster(cid).name == "Kyon"
    con = sqlite3.connect(proj.path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()


def test_a_file_that_became_read_only_is_write_failed(proj):
    before = snapshot(proj)
    proj.conn.execute("PRAGMA query_only=ON")  # SQLite's answer once it cannot write the file
    with pytest.raises(WriteFailed, match="read-only"):
        proj.remove([1], "ann")
    assert snapshot(proj) == before


def test_a_file_deleted_or_replaced_while_open_is_not_written(proj, tmp_path):
    moved = tmp_path / "moved.sgproj"
    shutil.move(proj.path, moved)
    with pytest.raises(WriteFailed, match="deleted or replaced"):
        proj.remove([1], "ann")
    shutil.copy(moved, proj.path)  # a copy in its place is another file: still refused
    with pytest.raises(WriteFailed, match="deleted or replaced"):
        proj.remove([1], "ann")
    proj.close()  # (one process holding one file under two names confuses SQLite's locks)
    with Project.open(moved) as p:
        assert 1 in p.assignments()
