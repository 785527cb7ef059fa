"""The .sgbank file: a series' characters, built from labelled episodes (README "Character bank").

Its own SQLite file with its own `application_id`, held to the .sgproj rules: nothing is
written before the file is verified (ours, a known version, every schema object exactly what
this sgtui creates, an intact database), and every change is one transaction. It keeps each
character's lines (vector, episode, line id) so re-adding an episode replaces exactly that
episode's contribution; prototypes and the match calibration are recomputed from the lines
on every change and stored, so matching an episode reads them and does nothing else.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from urllib.parse import quote

import numpy as np

from sgtui import __version__
from sgtui.errors import SgtuiError, one_line
from sgtui.project import connection
from sgtui.project.schema import compare_schema, run_script, schema_of

# (lines' vectors, their character, their episode, characters, modality) -> (prototypes with
# `.vecs` and `.owner`, calibration dict or None): the engine's fit_characters.
CharacterFit = Callable[[np.ndarray, np.ndarray, np.ndarray, int, str], tuple[object, dict | None]]

BANK_APPLICATION_ID = 0x5347424B  # "SGBK"
BANK_SCHEMA_VERSION = 1

DDL_BANK_V1 = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE episodes(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  key TEXT NOT NULL UNIQUE,
  title TEXT NOT NULL,
  path TEXT,
  added TEXT NOT NULL
);
CREATE TABLE characters(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE
);
CREATE TABLE bank_lines(
  episode_id INTEGER NOT NULL REFERENCES episodes(id) ON DELETE CASCADE,
  line_id INTEGER NOT NULL,
  character_id INTEGER NOT NULL REFERENCES characters(id) ON DELETE CASCADE,
  modality TEXT NOT NULL CHECK (modality IN ('voice', 'image')),
  dim INTEGER NOT NULL,
  vec BLOB NOT NULL,
  PRIMARY KEY (episode_id, line_id, modality)
);
CREATE TABLE prototypes(
  character_id INTEGER NOT NULL REFERENCES characters(id) ON DELETE CASCADE,
  modality TEXT NOT NULL CHECK (modality IN ('voice', 'image')),
  rank INTEGER NOT NULL,
  dim INTEGER NOT NULL,
  vec BLOB NOT NULL,
  PRIMARY KEY (character_id, modality, rank)
);
"""

def build_bank(conn: sqlite3.Connection) -> None:
    run_script(conn, DDL_BANK_V1)


@cache
def _expected() -> dict:
    mem = sqlite3.connect(":memory:", isolation_level=None)
    try:
        build_bank(mem)
        return schema_of(mem)
    finally:
        mem.close()


def _replay_problem(alone: Path, replayed: Path) -> str | None:
    """Why a bank with a left-over -wal replayed or -journal rolled back (`replayed`) cannot
    be the bank `alone` plus its own log, or None: the result must be intact, still a bank of exactly our schema, and
    the same bank (its creation stamp, written once, is on the meta page that every write
    puts in the -wal). An older copy of the *same* bank put in its place is caught only if
    replaying breaks its structure: a bank keeps no history to check its log against."""
    def created(conn: sqlite3.Connection) -> str | None:
        row = conn.execute("SELECT value FROM meta WHERE key='created'").fetchone()
        return None if row is None else row[0]

    problem = connection.integrity_problem(replayed, "replaying it")
    if problem:
        return problem
    try:
        conn = sqlite3.connect(replayed, isolation_level=None)
        try:
            conn.execute("PRAGMA trusted_schema=OFF")
            if conn.execute("PRAGMA application_id").fetchone()[0] != BANK_APPLICATION_ID:
                return "replaying it leaves something that is not a bank"
            diff = compare_schema(conn, _expected())
            if diff:
                return f"replaying it changes the bank's schema ({'; '.join(diff[:3])})"
            after = created(conn)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return f"replaying it leaves an unreadable file: {exc}"
    try:
        conn = sqlite3.connect(f"file:{quote(str(alone))}?mode=ro&immutable=1", uri=True)
        try:
            before = created(conn)
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return None  # the file alone is mid-checkpoint; the checks above decide
    if before is not None and after != before:
        return f"it is the log of another bank (created {after}, this one {before})"
    return None


@dataclass(frozen=True)
class BankCharacter:
    id: int
    name: str
    lines: int
    episodes: list[str]
    prototypes: int


@dataclass(frozen=True)
class BankEpisode:
    key: str
    title: str
    path: str | None
    lines: int


@dataclass(frozen=True)
class Contribution:
    """One character's labelled lines from one episode (vectors row-aligned to line_ids)."""

    name: str
    line_ids: list[int]
    voice: np.ndarray
    image: np.ndarray | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Bank:
    """An open .sgbank file. `Bank.open(path, create=True)` makes it when missing."""

    def __init__(self, conn: sqlite3.Connection, path: Path, readonly: bool = False) -> None:
        self.conn = conn
        self.path = path
        self.readonly = readonly
        self._closed = False
        connection.opened(path)  # our own -wal is live, not left over (connection.wal_in_use)

    @classmethod
    def open(cls, path: str | Path, *, create: bool = False, readonly: bool = False) -> Bank:
        path = Path(path)
        if path.is_dir():
            raise SgtuiError(f"{path} is a folder, not an .sgbank file")
        if not path.exists():
            if not create:
                raise SgtuiError(f"bank {path} does not exist; make one with "
                                 f"`sgtui bank add {path} EP.sgproj...`")
            return cls._create(path)
        if not readonly and not connection.writable(path):
            raise SgtuiError(f"{path} is read-only here; make it writable (chmod u+w) or copy it")
        # as for projects: a crashed writer's -wal or -journal only if it is this bank's
        # (integrity, schema, creation stamp: `_replay_problem`)
        conn = connection.open_existing(path, readonly, _replay_problem, _replay_problem)
        try:
            cls._verify(conn, path)
        except BaseException:
            connection.close_keeping_log(conn, path)  # a refused bank never takes in its -wal
            raise
        return cls(conn, path, readonly)

    @classmethod
    def _create(cls, path: Path) -> Bank:
        """A new, empty bank (the caller checked that nothing is at `path`)."""
        connection.create_file(path, force=False)
        conn = connection.connect(path, "rwc")
        conn.execute(f"PRAGMA journal_mode={connection.journal_mode_for(path)}")
        conn.execute("BEGIN IMMEDIATE")
        build_bank(conn)
        conn.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", {
            "schema_version": str(BANK_SCHEMA_VERSION), "sgtui_version": __version__,
            "created": _now()}.items())
        conn.execute(f"PRAGMA application_id={BANK_APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version={BANK_SCHEMA_VERSION}")
        conn.execute("COMMIT")
        return cls(conn, path)

    @staticmethod
    def _verify(conn: sqlite3.Connection, path: Path) -> None:
        """Ours, a version we read, exactly our schema, an intact database — before any write."""
        hint = "make a bank with `sgtui bank add SERIES.sgbank EP.sgproj...`"
        try:
            if conn.execute("PRAGMA application_id").fetchone()[0] != BANK_APPLICATION_ID:
                raise SgtuiError(f"{path} is not an sgtui character bank; {hint}")
            objects = conn.execute("SELECT type, name FROM sqlite_master").fetchall()
            row = None
            if ("table", "meta") in objects:
                row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None or not str(row[0]).isdigit():
                raise SgtuiError(f"{path} has no schema version; it is damaged — {hint}")
            if int(row[0]) > BANK_SCHEMA_VERSION:
                raise SgtuiError(f"{path} was written by a newer sgtui (bank schema {row[0]}); "
                                 "upgrade sgtui to use it")
            diff = compare_schema(conn, _expected())
            if diff:
                raise SgtuiError(f"{path} does not match the bank schema ({'; '.join(diff[:3])}); "
                                 "it was edited by hand or damaged — refusing to use it")
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise SgtuiError(f"{path} is damaged ({one_line(check)}); restore it from a "
                                 "backup copy")
        except sqlite3.DatabaseError as exc:
            raise connection.unreadable(path, exc, "sgtui character bank (.sgbank)") from None

    def close(self, check: bool | None = None) -> None:
        """Close the bank; as `Project.close`, the last connection of this process first moves
        the -wal into the file (checked), so the .sgbank alone is whole once a command ends."""
        if self._closed:
            self.conn.close()
            return
        self._closed = True
        connection.closed(self.path)
        if connection.open_here(self.path):
            self.conn.close()
            return
        problem = connection.close_checkpointed(self.conn, self.path, wait=not self.readonly)
        if check is None:
            check = not self.readonly and sys.exc_info()[0] is None
        if problem and check:
            raise connection.unfinished_error(self.path, problem, "sgtui bank list")

    def __enter__(self) -> Bank:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write. Each first stamps `changed` in meta, so the meta page — with the bank's
        `created` stamp, its identity — is in every -wal or -journal a writer leaves, even one
        killed mid-write (`_replay_problem`)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('changed', ?)", (_now(),))
            yield self.conn
            self.conn.execute("COMMIT")
            connection.checkpoint_if_large(self.conn, self.path)
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    # ---- reading -------------------------------------------------------------------------
    def meta_get(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else row[0]

    @property
    def voice_model(self) -> str | None:
        return self.meta_get("voice_model")

    def characters(self) -> list[BankCharacter]:
        rows = self.conn.execute(
            "SELECT c.id, c.name, "
            "(SELECT COUNT(*) FROM bank_lines l WHERE l.character_id=c.id AND l.modality='voice'), "
            "(SELECT COUNT(*) FROM prototypes p WHERE p.character_id=c.id AND p.modality='voice') "
            "FROM characters c ORDER BY c.name").fetchall()
        out = []
        for cid, name, n, protos in rows:
            eps = [r[0] for r in self.conn.execute(
                "SELECT DISTINCT e.title FROM bank_lines l JOIN episodes e ON e.id=l.episode_id "
                "WHERE l.character_id=? ORDER BY e.id", (cid,))]
            out.append(BankCharacter(cid, name, n, eps, protos))
        return out

    def episodes(self) -> list[BankEpisode]:
        rows = self.conn.execute(
            "SELECT e.key, e.title, e.path, (SELECT COUNT(*) FROM bank_lines l WHERE "
            "l.episode_id=e.id AND l.modality='voice') FROM episodes e ORDER BY e.id")
        return [BankEpisode(*r) for r in rows]

    def training_lines(self, modality: str = "voice") -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
        """(vectors, character index, episode index, names by character index)."""
        names = [r[0] for r in self.conn.execute("SELECT name FROM characters ORDER BY id")]
        ids = [r[0] for r in self.conn.execute("SELECT id FROM characters ORDER BY id")]
        pos = {cid: i for i, cid in enumerate(ids)}
        rows = self.conn.execute(
            "SELECT character_id, episode_id, dim, vec FROM bank_lines WHERE modality=? "
            "ORDER BY episode_id, line_id", (modality,)).fetchall()
        if not rows:
            return np.zeros((0, 0), np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64), names
        x = np.stack([_vec(v, d, self.path) for _, _, d, v in rows])
        return (x, np.array([pos[r[0]] for r in rows], np.int64),
                np.array([r[1] for r in rows], np.int64), names)

    def prototypes(self, modality: str = "voice") -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(prototype vectors, character index of each, names by character index)."""
        names = [r[0] for r in self.conn.execute("SELECT name FROM characters ORDER BY id")]
        ids = [r[0] for r in self.conn.execute("SELECT id FROM characters ORDER BY id")]
        pos = {cid: i for i, cid in enumerate(ids)}
        rows = self.conn.execute(
            "SELECT character_id, dim, vec FROM prototypes WHERE modality=? "
            "ORDER BY character_id, rank", (modality,)).fetchall()
        if not rows:
            return np.zeros((0, 0), np.float32), np.zeros(0, np.int64), names
        return (np.stack([_vec(v, d, self.path) for _, d, v in rows]),
                np.array([pos[r[0]] for r in rows], np.int64), names)

    def calibration(self) -> dict | None:
        raw = self.meta_get("calibration")
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            raise SgtuiError(f"{self.path}: its calibration is damaged; run `sgtui bank add` "
                             "again to rebuild it") from None

    # ---- writing -------------------------------------------------------------------------
    def add_episode(self, key: str, title: str, path: str | None, voice_model: str,
                    contributions: Sequence[Contribution], fit: CharacterFit) -> int:
        """Replace the episode `key`'s contribution by `contributions`; returns lines stored."""
        known = self.voice_model
        if known is not None and known != voice_model:
            raise SgtuiError(f"{title} is embedded with {voice_model!r} but the bank {self.path.name} "
                             f"holds {known!r} voices; embed it with that encoder (`sgtui embed EP "
                             f"--voice {known.split('/', 1)[0]}`) or use another bank")
        stored = 0
        with self._transaction() as c:
            c.execute("DELETE FROM episodes WHERE key=?", (key,))
            eid = c.execute("INSERT INTO episodes(key, title, path, added) VALUES (?,?,?,?)",
                            (key, title, path, _now())).lastrowid
            c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('voice_model', ?)", (voice_model,))
            for con in contributions:
                c.execute("INSERT OR IGNORE INTO characters(name) VALUES (?)", (con.name,))
                cid = c.execute("SELECT id FROM characters WHERE name=?", (con.name,)).fetchone()[0]
                for modality, vecs in (("voice", con.voice), ("image", con.image)):
                    if vecs is None:
                        continue
                    v = np.asarray(vecs, np.float32)
                    c.executemany(
                        "INSERT INTO bank_lines(episode_id, line_id, character_id, modality, dim, vec) "
                        "VALUES (?,?,?,?,?,?)",
                        [(eid, int(lid), cid, modality, int(v.shape[1]), row.tobytes())
                         for lid, row in zip(con.line_ids, v, strict=True) if row.any()])
                stored += len(con.line_ids)
            self._refresh(c, fit)
        return stored

    def remove_episode(self, key_or_title: str, fit: CharacterFit) -> int:
        with self._transaction() as c:
            n = c.execute("DELETE FROM episodes WHERE key=? OR title=? OR path=?",
                          (key_or_title, key_or_title, key_or_title)).rowcount
            if n:
                self._refresh(c, fit)
        return n

    def remove_character(self, name: str, fit: CharacterFit) -> int:
        with self._transaction() as c:
            n = c.execute("DELETE FROM characters WHERE name=?", (name,)).rowcount
            if n:
                self._refresh(c, fit)
        return n

    def rename_character(self, old: str, new: str) -> None:
        new = new.strip()
        if not new:
            raise SgtuiError("the new name is empty; give a name")
        with self._transaction() as c:
            if c.execute("SELECT 1 FROM characters WHERE name=?", (old,)).fetchone() is None:
                raise SgtuiError(f"the bank has no character {old!r}; see `sgtui bank list`")
            if c.execute("SELECT 1 FROM characters WHERE name=?", (new,)).fetchone() is not None:
                raise SgtuiError(f"the bank already has a character {new!r}; remove one first")
            c.execute("UPDATE characters SET name=? WHERE name=?", (new, old))

    def _refresh(self, c: sqlite3.Connection, fit: CharacterFit) -> None:
        """Recompute prototypes and the calibration from the lines (inside the transaction).
        `fit` is the engine's (sgtui.engine.bank.fit_characters): this layer only stores."""
        c.execute("DELETE FROM characters WHERE id NOT IN (SELECT character_id FROM bank_lines)")
        c.execute("DELETE FROM prototypes")
        ids = [r[0] for r in c.execute("SELECT id FROM characters ORDER BY id")]
        calibration = None
        for modality in ("voice", "image"):
            x, ch, ep, _ = self.training_lines(modality)
            if x.shape[0] == 0:
                continue
            protos, cal = fit(x, ch, ep, len(ids), modality)
            if modality == "voice":
                calibration = cal
            rank = {}
            rows = []
            for vec, owner in zip(protos.vecs, protos.owner.tolist(), strict=True):
                r = rank.get(owner, 0)
                rank[owner] = r + 1
                rows.append((ids[owner], modality, r, int(vec.shape[0]), vec.astype(np.float32).tobytes()))
            c.executemany("INSERT INTO prototypes(character_id, modality, rank, dim, vec) "
                          "VALUES (?,?,?,?,?)", rows)
        if not ids:
            c.execute("DELETE FROM meta WHERE key='voice_model'")
        value = json.dumps(calibration) if calibration else None
        if value is None:
            c.execute("DELETE FROM meta WHERE key='calibration'")
        else:
            c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('calibration', ?)", (value,))

def _vec(blob: bytes, dim: int, path: Path) -> np.ndarray:
    if not isinstance(blob, bytes) or not isinstance(dim, int) or dim < 1 or len(blob) != 4 * dim:
        raise SgtuiError(f"{path}: a stored vector is damaged; rebuild the bank with `sgtui bank add`")
    v = np.frombuffer(blob, np.float32)
    if not np.isfinite(v).all():
        raise SgtuiError(f"{path}: a stored vector holds NaN; rebuild the bank with `sgtui bank add`")
    return v
