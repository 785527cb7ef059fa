"""Issue 9, the file side: ids never reused, the exact-SQL schema check, v2 → v3 migration."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from project_helpers import make_project

from sgtui.project import Project, schema


def _one_line_refusal(r, *fragments: str) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    err = r.stderr.strip()
    assert "\n" not in err and "Traceback" not in err, err
    for f in fragments:
        assert f in err, err
    return err


# ---- case 4: ids are never reused ------------------------------------------------------------
def test_a_cluster_id_freed_by_a_merge_is_never_handed_out_again(tmp_path):
    with make_project(tmp_path / "a.sgproj") as p:
        p.add([1], None, "ann")
        p.add([2], None, "ann")
        a, b = (c.id for c in p.clusters())
        p.merge(b, a, "ann")  # b is gone now
        assert [c.id for c in p.clusters()] == [a]
        p.add([3], None, "ann")
        new = max(c.id for c in p.clusters())
        assert new > b, "the merged-away cluster's id came back for a new cluster"
        # an undone creation frees an id too
        p.add([4], None, "ann")
        undone = max(c.id for c in p.clusters())
        p.undo("ann")
        p.add([5], None, "ann")
        assert max(c.id for c in p.clusters()) > undone


def test_action_ids_stay_above_every_one_ever_used_even_after_op_rows_vanish(tmp_path):
    path = tmp_path / "a.sgproj"
    with make_project(path) as p:
        for lid in (1, 2, 3):
            p.add([lid], None, "ann")
        last = p.last_action_id
    raw = sqlite3.connect(path)
    raw.execute("DELETE FROM ops WHERE action_id=?", (last,))
    raw.commit()
    raw.close()
    with Project.open(path) as p:
        p.add([4], None, "ann")
        assert p.last_action_id > last


def _write_v2(path: Path) -> None:
    """A schema-2 file as sgtui 2 wrote it, with clusters, suggestions and an op log that
    mentions a cluster (7) that no longer exists."""
    conn = sqlite3.connect(path)
    schema.run_script(conn, schema.DDL_V1)
    schema.run_script(conn, schema.DDL_V1_TO_V2)
    conn.execute("INSERT INTO meta VALUES ('schema_version', '2'), ('title', 'two')")
    conn.executemany("INSERT INTO lines(id, idx, start_ms, end_ms, text) VALUES (?, ?, ?, ?, ?)",
                     [(i, i - 1, i * 1000, i * 1000 + 500, f"line {i}") for i in range(1, 5)])
    conn.execute("INSERT INTO clusters(id, name, confirmed) VALUES (1, 'Kyon', 1), (2, NULL, 0)")
    conn.execute("INSERT INTO assignments VALUES (1, 1, 'human', 1), (2, 2, 'auto', 0)")
    conn.execute("INSERT INTO suggestions VALUES (3, 0, 2, 0.75), (3, 1, 1, 0.5)")
    payload = {"lines": {"2": [[7, "auto", 0], [2, "auto", 0]]},
               "clusters": {"7": [[None, 0, "auto", 0], None], "2": [[None, 0, "auto", 0]] * 2}}
    conn.execute("INSERT INTO ops(action_id, ts, annotator, kind, line_id, src_cluster, dst_cluster,"
                 " payload) VALUES (1, 't', 'ann', 'merge', NULL, 7, 2, ?)", (json.dumps(payload),))
    conn.execute("INSERT INTO ops(action_id, ts, annotator, kind, line_id, src_cluster, dst_cluster)"
                 " VALUES (2, 't', 'ann', 'add', 1, NULL, 1)")
    conn.execute("INSERT INTO annotators VALUES ('ann', 't', 't')")
    conn.execute(f"PRAGMA application_id={schema.APPLICATION_ID}")
    conn.execute("PRAGMA user_version=2")
    conn.commit()
    conn.close()


def test_a_v2_file_migrates_to_v3_with_its_data_intact_and_ids_seeded_above_the_op_log(tmp_path, cli):
    path = tmp_path / "two.sgproj"
    _write_v2(path)
    with Project.open(path) as p:
        assert p.meta_get("schema_version") == str(schema.SCHEMA_VERSION)
        assert [(c.id, c.name, c.confirmed, c.size) for c in p.clusters()] == [
            (1, "Kyon", True, 1), (2, None, False, 1)]
        assert {k: (a.cluster_id, a.origin, a.confirmed) for k, a in p.assignments().items()} == {
            1: (1, "human", True), 2: (2, "auto", False)}
        assert {k: [(s.cluster_id, s.score) for s in v] for k, v in p.suggestions().items()} == {
            3: [(2, 0.75), (1, 0.5)]}, "the rebuild must not cascade into suggestions"
        assert len(p.ops()) == 2
        p.add([4], None, "ann")
        assert max(c.id for c in p.clusters()) == 8, "7 was used in the op log, so 8 comes next"
        assert p.last_action_id == 3
    backup = tmp_path / "two.sgproj.schema2.bak"
    assert sqlite3.connect(backup).execute(
        "SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "2"
    # the migrated file holds exactly the schema of a fresh file, flag table included
    fresh = tmp_path / "fresh.sgproj"
    Project.create(fresh).close()
    got = {r[0]: r[1] for r in sqlite3.connect(path).execute("SELECT name, sql FROM sqlite_master")}
    want = {r[0]: r[1] for r in sqlite3.connect(fresh).execute("SELECT name, sql FROM sqlite_master")}
    assert got == want
    assert " ".join(got["line_flags"].split()) == " ".join(schema.DDL_LINE_FLAGS.strip().rstrip(";").split())
    assert "AUTOINCREMENT" in got["clusters"]
    assert cli("info", path, "--json").returncode == 0


def test_a_v1_file_reaches_v3_too(tmp_path):
    path = tmp_path / "one.sgproj"
    conn = sqlite3.connect(path)
    schema.run_script(conn, schema.DDL_V1)
    conn.execute("INSERT INTO meta VALUES ('schema_version', '1'), ('title', 'one')")
    conn.execute("INSERT INTO lines(id, idx, start_ms, end_ms) VALUES (1, 0, 0, 900)")
    conn.execute("INSERT INTO clusters(id, name) VALUES (5, 'Kyon')")
    conn.execute("INSERT INTO assignments VALUES (1, 5, 'human')")
    conn.execute(f"PRAGMA application_id={schema.APPLICATION_ID}")
    conn.commit()
    conn.close()
    with Project.open(path) as p:
        assert [(c.id, c.name, c.size) for c in p.clusters()] == [(5, "Kyon", 1)]
        p.remove([1], "ann")
        p.add([1], None, "ann")
        assert max(c.id for c in p.clusters()) == 6


# ---- case 5: the schema check compares each object's SQL ------------------------------------
def _tamper(path: Path, sql: str, *params) -> None:
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA writable_schema=ON")
    raw.execute(sql, params)
    raw.commit()
    raw.close()


def test_a_hidden_cascade_on_ops_is_refused_by_info_and_the_file_is_untouched(tmp_path, cli):
    path = tmp_path / "t.sgproj"
    with make_project(path) as p:
        p.add([1], None, "ann")
    _tamper(path, "UPDATE sqlite_master SET sql=replace(sql, 'line_id INTEGER,', "
                  "'line_id INTEGER REFERENCES lines(id) ON DELETE CASCADE,') WHERE name='ops'")
    assert "ON DELETE CASCADE" in sqlite3.connect(path).execute(
        "SELECT sql FROM sqlite_master WHERE name='ops'").fetchone()[0]
    before = path.read_bytes()
    for command in (("info",), ("ops",), ("cluster",)):
        _one_line_refusal(cli(*command, path), "table 'ops' differs")
        assert path.read_bytes() == before
    assert not Path(f"{path}-wal").exists()


def test_a_hidden_generated_column_is_refused(tmp_path, cli):
    path = tmp_path / "g.sgproj"
    make_project(path).close()
    raw = sqlite3.connect(path)
    raw.execute("ALTER TABLE clusters ADD COLUMN g INTEGER GENERATED ALWAYS AS (1 / 0) VIRTUAL")
    raw.commit()
    raw.close()
    assert "g" not in [r[1] for r in sqlite3.connect(path).execute("PRAGMA table_info(clusters)")]
    before = path.read_bytes()
    _one_line_refusal(cli("info", path), "table 'clusters' differs")
    assert path.read_bytes() == before


def test_a_lowered_id_counter_is_refused(tmp_path):
    path = tmp_path / "s.sgproj"
    with make_project(path) as p:
        p.add([1], None, "ann")
        p.add([2], None, "ann")
    raw = sqlite3.connect(path)
    raw.execute("UPDATE sqlite_sequence SET seq=0 WHERE name='clusters'")
    raw.commit()
    raw.close()
    import pytest

    from sgtui.errors import SgtuiError
    with pytest.raises(SgtuiError, match="id counter of clusters"):
        Project.open(path)


def test_the_bundled_samples_still_open_and_their_schema_is_exact(tmp_path):
    import shutil

    samples = sorted(Path(__file__).resolve().parent.parent.joinpath("sample_projects").glob("*.sgproj"))
    assert samples
    for sample in samples:
        copy = tmp_path / sample.name
        shutil.copy(sample, copy)
        with Project.open(copy, readonly=True) as p:
            assert p.count("lines") > 0
        with Project.open(copy) as p:
            assert p.meta_get("schema_version") == str(schema.SCHEMA_VERSION)


# ---- case 6, in-process: a live -wal of this very process is never examined -----------------
def test_a_second_open_in_the_same_process_trusts_its_live_wal(tmp_path, monkeypatch):
    from sgtui.project import connection

    path = tmp_path / "live.sgproj"
    with make_project(path) as first:
        first.add([1], None, "ann")
        assert Path(f"{path}-wal").stat().st_size > 0

        def must_not_run(*_):
            raise AssertionError("a live -wal of this process was copied and replayed")

        monkeypatch.setattr(connection, "_replay_problem", must_not_run)
        with Project.open(path) as second:  # e.g. the app's background re-cluster
            second.add([2], None, "ann")
        first.add([3], None, "ann")  # the first connection's locks are intact
    with Project.open(path, readonly=True) as p:
        assert len({r.action_id for r in p.ops()}) == 3
