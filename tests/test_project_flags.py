"""Line flags in the project layer: schema v3, the flag action, undo/redo, conflicts."""

from __future__ import annotations

import sqlite3

import pytest
from project_helpers import make_project

from sgtui.errors import ConflictError, SgtuiError
from sgtui.project import Project, schema


def test_flag_is_one_logged_undoable_action_apart_from_the_counts(tmp_path) -> None:
    proj = make_project(tmp_path / "p.sgproj")
    ids = [ln.id for ln in proj.lines()]
    a = proj.flag(ids[:3], "overlap", "ann")
    assert proj.line_flags() == {i: ["overlap"] for i in ids[:3]}
    assert len({op.action_id for op in proj.ops()}) == 1 and a is not None
    proj.flag([ids[0]], "not_speech", "ann")
    assert proj.line_flags()[ids[0]] == ["not_speech", "overlap"]
    proj.flag(ids[:2], "overlap", "ann")  # the first has it: both lose it
    assert proj.flag_counts() == {"overlap": 1, "noise": 0, "not_speech": 1, "wrong_subtitle": 0}
    assert proj.flag(ids[5:6], "noise", "ann", value=False) is None  # nothing changed, nothing logged
    proj.undo("ann")
    assert proj.flag_counts()["overlap"] == 3
    proj.undo("ann")
    proj.undo("ann")
    assert proj.line_flags() == {}
    proj.redo("ann")
    assert proj.line_flags() == {i: ["overlap"] for i in ids[:3]}
    counts = proj.op_counts()
    assert counts["raw"]["flag"] == 6 and counts["net"] == {"add": 0, "remove": 0, "merge": 0}
    with pytest.raises(SgtuiError, match="unknown flag"):
        proj.flag(ids[:1], "loud", "ann")
    proj.close()


def test_undo_refuses_when_someone_changed_the_flags_since(tmp_path) -> None:
    proj = make_project(tmp_path / "p.sgproj")
    lid = proj.lines()[0].id
    proj.flag([lid], "noise", "ann")
    proj.flag([lid], "wrong_subtitle", "bob")
    with pytest.raises(ConflictError):
        proj.undo("ann")
    assert proj.line_flags()[lid] == ["noise", "wrong_subtitle"]
    proj.close()


def test_a_version_2_file_gains_line_flags(tmp_path) -> None:
    path = tmp_path / "v2.sgproj"
    conn = sqlite3.connect(path)
    schema.run_script(conn, schema.DDL_V1)
    schema.run_script(conn, schema.DDL_V1_TO_V2)
    conn.execute("INSERT INTO meta VALUES ('schema_version', '2'), ('title', 'v2')")
    conn.execute("INSERT INTO lines(id, idx, start_ms, end_ms, text) VALUES (1, 0, 0, 900, 'a')")
    conn.execute(f"PRAGMA application_id={schema.APPLICATION_ID}")
    conn.commit()
    conn.close()
    with Project.open(path) as p:
        assert p.meta_get("schema_version") == str(schema.SCHEMA_VERSION)
        p.flag([1], "overlap", "ann")
        assert p.flag_counts()["overlap"] == 1
    assert (tmp_path / "v2.sgproj.schema2.bak").exists()
