"""The .sgproj schema: DDL per version, forward migrations, and the check run before any write.

A file is ours when its SQLite `application_id` is APPLICATION_ID; its version lives in
`meta.schema_version` (mirrored in `PRAGMA user_version`). The schema check refuses any
object we did not create (a trigger or view could run code on our writes).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

APPLICATION_ID = 0x53475052  # "SGPR"
SCHEMA_VERSION = 3

# Version 1: the first released layout.
DDL_V1 = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE lines(
  id INTEGER PRIMARY KEY,
  idx INTEGER NOT NULL UNIQUE,
  start_ms INTEGER NOT NULL,
  end_ms INTEGER NOT NULL,
  text TEXT NOT NULL DEFAULT '',
  source TEXT,
  style TEXT,
  actor TEXT,
  CHECK (end_ms >= start_ms)
);
CREATE TABLE clips(
  line_id INTEGER PRIMARY KEY REFERENCES lines(id) ON DELETE CASCADE,
  codec TEXT NOT NULL,
  sample_rate INTEGER NOT NULL,
  data BLOB NOT NULL
);
CREATE TABLE keyframes(
  line_id INTEGER PRIMARY KEY REFERENCES lines(id) ON DELETE CASCADE,
  mime TEXT NOT NULL,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  data BLOB NOT NULL
);
CREATE TABLE embeddings(
  line_id INTEGER NOT NULL REFERENCES lines(id) ON DELETE CASCADE,
  modality TEXT NOT NULL CHECK (modality IN ('voice', 'image')),
  model TEXT NOT NULL,
  dim INTEGER NOT NULL,
  vec BLOB NOT NULL,
  PRIMARY KEY (line_id, modality, model)
);
CREATE TABLE confidence(
  line_id INTEGER NOT NULL REFERENCES lines(id) ON DELETE CASCADE,
  modality TEXT NOT NULL,
  model TEXT NOT NULL,
  value REAL NOT NULL,
  PRIMARY KEY (line_id, modality, model)
);
CREATE TABLE clusters(
  id INTEGER PRIMARY KEY,
  name TEXT UNIQUE,
  locked INTEGER NOT NULL DEFAULT 0,
  created_by TEXT NOT NULL DEFAULT 'auto'
);
CREATE TABLE assignments(
  line_id INTEGER PRIMARY KEY REFERENCES lines(id) ON DELETE CASCADE,
  cluster_id INTEGER NOT NULL REFERENCES clusters(id),
  origin TEXT NOT NULL CHECK (origin IN ('auto', 'human', 'suggested'))
);
CREATE INDEX assignments_cluster ON assignments(cluster_id);
CREATE TABLE ops(
  id INTEGER PRIMARY KEY,
  action_id INTEGER NOT NULL,
  ts TEXT NOT NULL,
  annotator TEXT NOT NULL,
  kind TEXT NOT NULL,
  line_id INTEGER,
  src_cluster INTEGER,
  dst_cluster INTEGER,
  payload TEXT,
  undoes INTEGER
);
CREATE INDEX ops_action ON ops(action_id);
CREATE TABLE annotators(name TEXT PRIMARY KEY, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL);
"""

# Version 2: reviewed marks on clusters and lines, and ranked suggestions for unassigned lines.
DDL_V1_TO_V2 = """
ALTER TABLE clusters ADD COLUMN confirmed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE assignments ADD COLUMN confirmed INTEGER NOT NULL DEFAULT 0;
CREATE TABLE suggestions(
  line_id INTEGER NOT NULL REFERENCES lines(id) ON DELETE CASCADE,
  rank INTEGER NOT NULL,
  cluster_id INTEGER NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
  score REAL NOT NULL,
  PRIMARY KEY (line_id, rank)
);
CREATE INDEX ops_undoes ON ops(undoes);
"""

# Version 3: line flags (overlap, noise/music, not speech, wrong subtitle), set by the annotator.
DDL_LINE_FLAGS = """
CREATE TABLE line_flags(
  line_id INTEGER NOT NULL REFERENCES lines(id) ON DELETE CASCADE,
  flag TEXT NOT NULL CHECK (flag IN ('overlap', 'noise', 'not_speech', 'wrong_subtitle')),
  PRIMARY KEY (line_id, flag)
);
"""
DDL_V2_TO_V3 = DDL_LINE_FLAGS


def run_script(conn: sqlite3.Connection, ddl: str) -> None:
    """Run DDL statement by statement, inside the caller's transaction (executescript would commit)."""
    for stmt in ddl.split(";"):
        if stmt.strip():
            conn.execute(stmt)


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: lambda conn: run_script(conn, DDL_V1_TO_V2),
    2: lambda conn: run_script(conn, DDL_V2_TO_V3),
}

# name -> type of every schema object a current file may hold (autoindexes are SQLite's own).
EXPECTED_OBJECTS = {
    "meta": "table",
    "lines": "table",
    "clips": "table",
    "keyframes": "table",
    "embeddings": "table",
    "confidence": "table",
    "clusters": "table",
    "assignments": "table",
    "ops": "table",
    "annotators": "table",
    "suggestions": "table",
    "line_flags": "table",
    "assignments_cluster": "index",
    "ops_action": "index",
    "ops_undoes": "index",
}
EXPECTED_V2 = {k: v for k, v in EXPECTED_OBJECTS.items() if k != "line_flags"}
EXPECTED_V1 = {k: v for k, v in EXPECTED_V2.items() if k not in ("suggestions", "ops_undoes")}


def expected_objects(version: int) -> dict[str, str]:
    return {1: EXPECTED_V1, 2: EXPECTED_V2}.get(version, EXPECTED_OBJECTS)


def foreign_objects(conn: sqlite3.Connection, version: int) -> list[str]:
    """Schema objects a file of `version` should not have: triggers, views, unknown tables."""
    expected = expected_objects(version)
    found = conn.execute("SELECT type, name FROM sqlite_master").fetchall()
    bad = []
    for kind, name in found:
        if name.startswith("sqlite_autoindex_") or name == "sqlite_sequence":
            continue
        if expected.get(name) != kind:
            bad.append(f"{kind} {name}")
    return bad
