"""The .sgproj file: round-trips, safe opening, refusals, migrations, journal modes."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from project_helpers import make_project

from sgtui.errors import SgtuiError
from sgtui.project import LineIn, Project, connection, schema


def test_every_table_round_trips_through_a_reopened_file(tmp_path):
    path = tmp_path / "ep.sgproj"
    rng = np.random.default_rng(1)
    with Project.create(path, title="Episode 1") as p:
        ids = p.add_lines([LineIn(1000, 2500, "hello", "ass", "Main", "Kyon"),
                           LineIn(3000, 3001, "", "asr", None, None)])
        voice = rng.normal(size=(2, 5)).astype(np.float32)
        p.put_embeddings("voice", "m1", ids, voice)
        p.put_embeddings("image", "grid", ids, np.ones((2, 3)))
        p.put_confidence("voice", "m1", ids, [0.25, 0.75])
        p.put_clips([(ids[0], "opus", 16000, b"\x00\x01clip")])
        p.put_keyframes([(ids[1], "image/webp", 480, 270, b"RIFFxx")])
        p.meta_set("encoder_note", "x")
        p.add([ids[0]], None, "ann", name="Kyon")
        p.confirm(p.clusters()[0].id, "ann")
    with Project.open(path, readonly=True) as p:
        lines = p.lines()
        assert [(ln.start_ms, ln.end_ms, ln.text, ln.source, ln.style, ln.actor) for ln in lines] == [
            (1000, 2500, "hello", "ass", "Main", "Kyon"), (3000, 3001, "", "asr", None, None)]
        assert all(isinstance(ln.start_ms, int) for ln in lines)
        got_ids, vecs = p.embeddings("voice", "m1")
        assert list(got_ids) == ids
        expected = voice / np.linalg.norm(voice, axis=1, keepdims=True)
        np.testing.assert_allclose(vecs, expected, rtol=1e-6)
        assert vecs.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(p.embeddings("image")[1], axis=1), 1.0, rtol=1e-6)
        assert list(p.confidence("voice", "m1")[1]) == [0.25, 0.75]
        assert p.clip(ids[0]).data == b"\x00\x01clip" and p.clip(ids[1]) is None
        kf = p.keyframe(ids[1])
        assert (kf.mime, kf.width, kf.height, kf.data) == ("image/webp", 480, 270, b"RIFFxx")
        assert p.meta_get("encoder_note") == "x" and p.meta_get("title") == "Episode 1"
        (c,) = p.clusters()
        assert (c.name, c.confirmed, c.size) == ("Kyon", True, 1)
        assert p.assignments()[ids[0]].origin == "human"
        assert p.annotators() == ["ann"]
        assert {e["model"] for e in p.encoders()} == {"m1", "grid"}


def test_a_second_encoder_keeps_the_first_and_the_latest_is_chosen(tmp_path):
    with make_project(tmp_path / "a.sgproj") as p:
        ids = [ln.id for ln in p.lines()]
        p.put_embeddings("voice", "other", ids, np.ones((len(ids), 3)))
        assert [e["model"] for e in p.encoders() if e["modality"] == "voice"] == ["test-voice", "other"]
        assert p.chosen_model("voice") == "other"
        p.meta_set("model.voice", "test-voice")
        assert p.embeddings("voice")[1].shape[1] == 8


def test_file_identifies_itself_with_application_id_and_uses_wal(tmp_path):
    path = tmp_path / "a.sgproj"
    make_project(path).close()
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA application_id").fetchone()[0] == schema.APPLICATION_ID
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert raw.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION


def test_network_filesystems_get_a_rollback_journal(tmp_path, monkeypatch):
    monkeypatch.setattr(connection, "filesystem_type", lambda p: "nfs4")
    path = tmp_path / "a.sgproj"
    make_project(path).close()
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    monkeypatch.setattr(connection, "filesystem_type", lambda p: "ext4")
    Project.open(path).close()
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_filesystem_type_reads_proc_mounts(tmp_path):
    assert connection.filesystem_type(tmp_path / "x") != ""


def _refused(path, fragment):
    before = path.read_bytes() if path.exists() else None
    with pytest.raises(SgtuiError) as err:
        Project.open(path)
    msg = str(err.value)
    assert fragment in msg and "\n" not in msg
    if before is not None:
        assert path.read_bytes() == before, "a refused file must stay untouched"
    return msg


def test_random_bytes_are_refused(tmp_path):
    path = tmp_path / "r.sgproj"
    path.write_bytes(np.random.default_rng(0).bytes(8192))
    _refused(path, "not a readable sgproj")


def test_empty_file_is_refused(tmp_path):
    path = tmp_path / "e.sgproj"
    path.write_bytes(b"")
    _refused(path, "empty file")


def test_plain_sqlite_database_is_refused(tmp_path):
    path = tmp_path / "plain.db"
    sqlite3.connect(path).execute("CREATE TABLE t(x)").connection.commit()
    _refused(path, "not an sgproj")


def test_truncated_project_is_refused(tmp_path):
    path = tmp_path / "t.sgproj"
    with make_project(path, n=400, dim=192):
        pass
    data = path.read_bytes()
    assert len(data) > 100_000
    path.write_bytes(data[: len(data) // 2])
    _refused(path, str(path))


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "n.sgproj"
    make_project(path).close()
    raw = sqlite3.connect(path)
    raw.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    raw.commit()
    raw.close()
    assert "newer sgtui" in _refused(path, "schema 99")


@pytest.mark.parametrize("ddl", [
    # a trigger that would write on our insert
    "CREATE TRIGGER evil AFTER INSERT ON ops BEGIN DELETE FROM lines; END",
    # a view that calls a function
    "CREATE VIEW v AS SELECT load_extension('x') AS y",
    # a table we did not create
    "CREATE TABLE extra(x)",
])
def test_foreign_schema_objects_are_refused_and_nothing_runs(tmp_path, ddl):
    path = tmp_path / "evil.sgproj"
    make_project(path).close()
    raw = sqlite3.connect(path)
    raw.execute(ddl)
    raw.commit()
    raw.close()
    _refused(path, "sgtui did not create")
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT COUNT(*) FROM lines").fetchone()[0] == 12


def test_altered_columns_are_refused(tmp_path):
    path = tmp_path / "c.sgproj"
    make_project(path).close()
    raw = sqlite3.connect(path)
    raw.execute("ALTER TABLE lines ADD COLUMN surprise TEXT")
    raw.commit()
    raw.close()
    _refused(path, "table 'lines' differs from what sgtui creates")


def _write_v1(path):
    conn = sqlite3.connect(path)
    schema.run_script(conn, schema.DDL_V1)
    conn.execute("INSERT INTO meta VALUES ('schema_version', '1'), ('title', 'old')")
    conn.execute("INSERT INTO lines(id, idx, start_ms, end_ms, text) VALUES (1, 0, 0, 900, 'old line')")
    conn.execute("INSERT INTO clusters(id, name) VALUES (1, 'Kyon')")
    conn.execute("INSERT INTO assignments VALUES (1, 1, 'human')")
    conn.execute(f"PRAGMA application_id={schema.APPLICATION_ID}")
    conn.commit()
    conn.close()


def test_older_schema_migrates_forward_after_a_backup_copy(tmp_path):
    path = tmp_path / "old.sgproj"
    _write_v1(path)
    with Project.open(path) as p:
        assert p.meta_get("schema_version") == str(schema.SCHEMA_VERSION)
        assert p.clusters()[0].name == "Kyon" and p.suggestions() == {}
        p.confirm(1, "ann")
    backup = tmp_path / "old.sgproj.schema1.bak"
    assert backup.exists()
    old = sqlite3.connect(backup)
    assert old.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "1"
    assert old.execute("SELECT text FROM lines").fetchone()[0] == "old line"


def test_older_schema_opened_read_only_is_not_changed(tmp_path):
    path = tmp_path / "old.sgproj"
    _write_v1(path)
    before = path.read_bytes()
    with Project.open(path, readonly=True) as p:
        assert p.lines()[0].text == "old line"
        assert p.clusters()[0].confirmed is False
    assert path.read_bytes() == before
    assert not (tmp_path / "old.sgproj.schema1.bak").exists()


def test_create_refuses_an_existing_path_unless_forced(tmp_path):
    path = tmp_path / "a.sgproj"
    make_project(path).close()
    with pytest.raises(SgtuiError, match="already exists"):
        Project.create(path)
    Project.create(path, force=True).close()
    assert Project.open(path).lines() == []


def test_missing_file_and_folder_are_refused(tmp_path):
    with pytest.raises(SgtuiError, match="does not exist"):
        Project.open(tmp_path / "nope.sgproj")
    with pytest.raises(SgtuiError, match="folder"):
        Project.open(tmp_path)
    assert not (tmp_path / "nope.sgproj").exists()


def test_bad_line_times_and_embeddings_are_refused(tmp_path):
    with make_project(tmp_path / "a.sgproj") as p:
        with pytest.raises(SgtuiError, match="before it starts"):
            p.add_lines([LineIn(2000, 1000)])
        with pytest.raises(SgtuiError, match="integer milliseconds"):
            p.add_lines([LineIn(1.5, 2.5)])  # type: ignore[arg-type]
        with pytest.raises(SgtuiError, match="NaN"):
            p.put_embeddings("voice", "x", [1], np.array([[np.nan, 1.0]]))
        with pytest.raises(SgtuiError, match="modality"):
            p.put_embeddings("smell", "x", [1], np.ones((1, 2)))
        assert len(p.lines()) == 12


def test_read_only_project_refuses_writes(tmp_path):
    path = tmp_path / "a.sgproj"
    make_project(path).close()
    with Project.open(path, readonly=True) as p, pytest.raises(SgtuiError, match="read-only"):
        p.add([1], None, "ann")


def test_data_version_changes_when_another_connection_commits(tmp_path):
    path = tmp_path / "a.sgproj"
    make_project(path).close()
    with Project.open(path) as a, Project.open(path) as b:
        v = a.data_version()
        b.add([1], None, "bob")
        assert a.data_version() != v
        assert a.assignments()[1].origin == "human"
