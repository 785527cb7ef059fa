"""The core of an open project file: its connection, write transactions, action ids.

The layers of `sgtui/project/` import one way: core ← actions (the op log) ← flags, titles
(actions of their own) ← store (`Project`, everything else a file holds). Each mixin extends
the one before it, so none has to know the class that finally inherits it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sgtui.errors import SgtuiError, WriteFailed
from sgtui.project import connection

BATCH = 500


_WRITE_FAILURES = ("readonly", "read-only", "disk is full", "disk i/o error", "database is locked",
                   "unable to open database file")


def write_failure(exc: sqlite3.OperationalError, name: str) -> WriteFailed | None:
    """A write the disk or the file's permissions refused (SQLite rolled it back), as one line
    saying what to do; None for an error of sgtui's own SQL (a bug)."""
    text = str(exc).lower()
    if not any(w in text for w in _WRITE_FAILURES):
        return None
    if "readonly" in text or "read-only" in text:
        why = "the file has become read-only; make it writable (chmod u+w) or ask its owner"
    elif "full" in text:
        why = "the disk is full; free some space and try again"
    elif "locked" in text or "busy" in text:
        why = "another program holds the file; try again in a moment"
    else:
        why = f"the disk reported an error ({exc}); check the disk and try again"
    return WriteFailed(f"could not save to {name}: {why}; nothing of that action was written")


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino



def highest_action_id(conn: sqlite3.Connection) -> int:
    """The highest action id ever handed out: the log's, or meta `action_seq` if higher."""
    top = conn.execute("SELECT COALESCE(MAX(action_id), 0) FROM ops").fetchone()[0]
    row = conn.execute("SELECT value FROM meta WHERE key='action_seq'").fetchone()
    seen = int(row[0]) if row and str(row[0]).isdigit() else 0
    return max(int(top), seen)


class ProjectCore:
    """An open .sgproj's connection and its write transactions."""

    def __init__(self, conn: sqlite3.Connection, path: Path, readonly: bool) -> None:
        self.conn = conn
        self.path = path
        self.readonly = readonly
        self._tx_depth = 0
        self._closed = False
        connection.opened(path)
        self._identity = _file_identity(path)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (nested calls join the outer one)."""
        if self.readonly:
            raise SgtuiError(f"{self.path} is open read-only; cannot change it")
        if self._tx_depth:
            self._tx_depth += 1
            try:
                yield self.conn
            finally:
                self._tx_depth -= 1
            return
        self._check_still_there()
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise write_failure(exc, self.path.name) or exc from None
        self._tx_depth = 1
        try:
            yield self.conn
            self.conn.execute("COMMIT")
            connection.checkpoint_if_large(self.conn, self.path)
        except BaseException as exc:
            if self.conn.in_transaction:  # SQLite may already have rolled back (disk full)
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")
            failed = write_failure(exc, self.path.name) if isinstance(exc, sqlite3.OperationalError) else None
            if failed is not None:
                raise failed from None
            raise
        finally:
            self._tx_depth = 0

    def _next_action_id(self, conn: sqlite3.Connection) -> int:
        """A new action id above every one ever used, even if op rows vanished since.

        meta `action_seq` remembers the highest id handed out; call inside the action's
        transaction so the id and its op rows commit together.
        """
        action_id = highest_action_id(conn) + 1
        conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('action_seq', ?)", (str(action_id),))
        return action_id

    def _check_still_there(self) -> None:
        """Refuse to write into a file that was deleted or replaced since it was opened:
        the writes would go to a file nobody can see any more."""
        if self._identity is not None and _file_identity(self.path) != self._identity:
            raise WriteFailed(f"{self.path.name} was deleted or replaced while open; nothing was saved "
                              "— quit and open the file again (or restore it)")

    def data_version(self) -> int:
        """Changes when another connection commits (PRAGMA data_version): poll to see them."""
        return self.conn.execute("PRAGMA data_version").fetchone()[0]

    def put_confidence(self, modality: str, model: str, line_ids: Sequence[int], values: Sequence[float]) -> None:
        rows = [(int(i), modality, model, float(v)) for i, v in zip(line_ids, values, strict=True)]
        with self.transaction() as c:
            for chunk in _chunks(rows, BATCH):
                c.executemany(
                    "INSERT OR REPLACE INTO confidence(line_id, modality, model, value) VALUES (?,?,?,?)",
                    chunk,
                )



def _chunks(rows: list, size: int) -> Iterator[list]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]
