"""The .sgproj schema: DDL per version, forward migrations, and the check run before any write.

A file is ours when its SQLite `application_id` is APPLICATION_ID; its version lives in
`meta.schema_version` (mirrored in `PRAGMA user_version`). The schema check compares every
object's SQL with what this version creates (a trigger, a view, a hidden cascade or generated
column could run code on our writes or erase the op log), so anything else is refused.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Callable
from functools import cache

APPLICATION_ID = 0x53475052  # "SGPR"
SCHEMA_VERSION = 5

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

# Version 3: cluster ids are never reused (AUTOINCREMENT, so an old op row can never come to
# mean a new cluster), and lines can carry flags (overlap, noise, ...).
DDL_LINE_FLAGS = """
CREATE TABLE line_flags(
  line_id INTEGER NOT NULL REFERENCES lines(id) ON DELETE CASCADE,
  flag TEXT NOT NULL CHECK (flag IN ('overlap', 'noise', 'not_speech', 'wrong_subtitle')),
  PRIMARY KEY (line_id, flag)
);
"""

# SQLite cannot add AUTOINCREMENT to a table: build the new one, copy, swap. Foreign keys must
# be off meanwhile (dropping `clusters` would otherwise cascade into `suggestions`).
DDL_V2_TO_V3_CLUSTERS = """
CREATE TABLE clusters_v3(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT UNIQUE,
  locked INTEGER NOT NULL DEFAULT 0,
  created_by TEXT NOT NULL DEFAULT 'auto',
  confirmed INTEGER NOT NULL DEFAULT 0
);
INSERT INTO clusters_v3(id, name, locked, created_by, confirmed)
  SELECT id, name, locked, created_by, confirmed FROM clusters;
DROP TABLE clusters;
ALTER TABLE clusters_v3 RENAME TO clusters;
"""


def run_script(conn: sqlite3.Connection, ddl: str) -> None:
    """Run DDL statement by statement, inside the caller's transaction (executescript would commit)."""
    for stmt in ddl.split(";"):
        if stmt.strip():
            conn.execute(stmt)


class OpLogDamaged(ValueError):
    """An op-log payload that is not the JSON sgtui wrote (the file was edited or damaged)."""

    def __init__(self, action_id: int) -> None:
        super().__init__(f"the op log is damaged at action {action_id} (its payload is not JSON)")
        self.action_id = action_id


def cluster_ids_in_ops(conn: sqlite3.Connection) -> int:
    """The largest cluster id the op log ever mentions (src/dst columns and payloads), else 0."""
    top = conn.execute(
        "SELECT MAX(COALESCE(MAX(src_cluster), 0), COALESCE(MAX(dst_cluster), 0)) FROM ops"
    ).fetchone()[0] or 0
    for action_id, payload in conn.execute(
        "SELECT action_id, payload FROM ops WHERE payload IS NOT NULL ORDER BY id"
    ):
        try:
            data = json.loads(payload)
            ids = [int(k) for k in data.get("clusters", {})]
            for before_after in data.get("lines", {}).values():
                ids.extend(int(st[0]) for st in before_after if st)
        except (ValueError, TypeError, AttributeError, IndexError):
            raise OpLogDamaged(action_id) from None
        top = max([top, *ids])
    return int(top)


def migrate_v2_to_v3(conn: sqlite3.Connection) -> None:
    """Rebuild `clusters` with AUTOINCREMENT, seeded above every id ever used; add line_flags."""
    seed = max(cluster_ids_in_ops(conn),
               conn.execute("SELECT COALESCE(MAX(id), 0) FROM clusters").fetchone()[0])
    run_script(conn, DDL_V2_TO_V3_CLUSTERS)
    conn.execute("DELETE FROM sqlite_sequence WHERE name='clusters'")
    conn.execute("INSERT INTO sqlite_sequence(name, seq) VALUES ('clusters', ?)", (seed,))
    run_script(conn, DDL_LINE_FLAGS)


# Version 4: suggested names of clusters (from a character bank or the subtitles' speaker
# names). Machine guesses, not human work: a re-cluster may replace them; accepting one is a
# logged rename.
DDL_V3_TO_V4 = """
CREATE TABLE name_suggestions(
  cluster_id INTEGER NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
  source TEXT NOT NULL CHECK (source IN ('bank', 'subtitle')),
  name TEXT NOT NULL,
  score REAL NOT NULL,
  PRIMARY KEY (cluster_id, source)
);
"""

# Version 5: copies of a file can be merged (sgtui/project/merge.py). Every action carries an
# identity unique across copies (`uid`, 128 random bits; integer action and cluster ids are
# local to a copy); an action a merge replayed but could not apply is kept in the log as
# `superseded` (counted as done by its annotator, but not in effect and not on their undo
# stack); conflicts a merge left undecided wait in `merge_conflicts` as review items.
DDL_V4_TO_V5 = """
ALTER TABLE ops ADD COLUMN uid TEXT;
ALTER TABLE ops ADD COLUMN superseded INTEGER NOT NULL DEFAULT 0;
CREATE INDEX ops_uid ON ops(uid);
CREATE TABLE merge_conflicts(
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  summary TEXT NOT NULL,
  rows TEXT NOT NULL,
  kept TEXT NOT NULL,
  other TEXT NOT NULL,
  resolved INTEGER NOT NULL DEFAULT 0 CHECK (resolved IN (0, 1, 2))
);
"""


def legacy_uid(created: str, action_id: int, ts: str, annotator: str) -> str:
    """The identity of an action logged before identities existed: the same in every copy of
    the file (made from what the copies share), so copies that migrate apart still agree."""
    key = f"{created}|{action_id}|{ts}|{annotator}".encode()
    return hashlib.sha256(key).hexdigest()[:32]


def migrate_v4_to_v5(conn: sqlite3.Connection) -> None:
    run_script(conn, DDL_V4_TO_V5)
    row = conn.execute("SELECT value FROM meta WHERE key='created'").fetchone()
    created = str(row[0]) if row else ""
    actions = conn.execute(
        "SELECT action_id, MIN(ts), MIN(annotator) FROM ops GROUP BY action_id").fetchall()
    conn.executemany("UPDATE ops SET uid=? WHERE action_id=?",
                     [(legacy_uid(created, a, ts, who), a) for a, ts, who in actions])


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: lambda conn: run_script(conn, DDL_V1_TO_V2),
    2: migrate_v2_to_v3,
    3: lambda conn: run_script(conn, DDL_V3_TO_V4),
    4: migrate_v4_to_v5,
}

# Tables a current file holds (for counting rows by name).
TABLES = ("meta", "lines", "clips", "keyframes", "embeddings", "confidence", "clusters",
          "assignments", "ops", "annotators", "suggestions", "line_flags", "name_suggestions",
          "merge_conflicts")
AUTOINCREMENT_TABLES = ("clusters",)


def build(conn: sqlite3.Connection, version: int = SCHEMA_VERSION) -> None:
    """Create the schema of `version` the one way every file gets it: v1, then each migration.

    A fresh file and a migrated one so hold byte-identical schema SQL, which is what the
    schema check compares.
    """
    run_script(conn, DDL_V1)
    for v in range(1, version):
        MIGRATIONS[v](conn)


_QUOTED_TABLE = re.compile(r'^CREATE TABLE "(\w+)"')


def normalise_sql(sql: str | None) -> str | None:
    """Schema SQL with runs of whitespace collapsed and a renamed table's quotes dropped
    (formatting is not meaning, and ALTER TABLE RENAME quotes the new name)."""
    if sql is None:
        return None
    return _QUOTED_TABLE.sub(r"CREATE TABLE \1", " ".join(sql.split()))


@cache
def expected_schema(version: int) -> dict[tuple[str, str], tuple[str, str | None]]:
    """(type, name) -> (table, normalised SQL) of every object a file of `version` holds."""
    mem = sqlite3.connect(":memory:", isolation_level=None)
    try:
        build(mem, version)
        return schema_of(mem)
    finally:
        mem.close()


def schema_of(conn: sqlite3.Connection) -> dict[tuple[str, str], tuple[str, str | None]]:
    rows = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
    return {(t, n): (tb, normalise_sql(s)) for t, n, tb, s in rows}


def schema_differences(conn: sqlite3.Connection, version: int) -> list[str]:
    """What differs between a file's schema and the one `version` creates (empty: identical)."""
    return compare_schema(conn, expected_schema(version))


def compare_schema(conn: sqlite3.Connection, want: dict) -> list[str]:
    """What differs between a file's schema objects and `want` (a `schema_of` of the schema
    sgtui creates): changed, unexpected and missing objects (empty: identical)."""
    have = schema_of(conn)
    out = [f"{t} {n!r} differs from what sgtui creates" if (t, n) in want else f"unexpected {t} {n!r}"
           for (t, n), v in sorted(have.items()) if want.get((t, n)) != v]
    out += [f"missing {t} {n!r}" for (t, n) in sorted(want) if (t, n) not in have]
    return out
