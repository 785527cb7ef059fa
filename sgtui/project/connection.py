"""Opening an .sgproj safely: URI modes, pragmas, journal mode by filesystem, schema checks.

Nothing is written to a file before `verify` has accepted it, so a file from a stranger
(a trigger, a view, a newer schema, random bytes) is refused with one line, untouched.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

from sgtui.errors import SgtuiError
from sgtui.project import schema

NETWORK_FILESYSTEMS = {
    "nfs", "nfs4", "cifs", "smb", "smbfs", "smb3", "fuse.sshfs", "sshfs", "9p", "ceph",
    "glusterfs", "fuse.glusterfs", "lustre", "afs", "fuse.rclone", "davfs", "fuse.s3fs",
}
BUSY_TIMEOUT_MS = 30_000


def filesystem_type(path: Path) -> str:
    """The type of the filesystem holding `path`, from /proc/mounts ('' when unknown)."""
    try:
        target = str(path.resolve().parent)
        best, kind = "", ""
        with open("/proc/mounts", encoding="utf-8") as fh:
            for row in fh:
                parts = row.split()
                if len(parts) < 3:
                    continue
                mount = parts[1].replace("\\040", " ")
                inside = target == mount or target.startswith(mount.rstrip("/") + "/")
                if inside and len(mount) >= len(best):
                    best, kind = mount, parts[2]
        return kind
    except OSError:
        return ""


def journal_mode_for(path: Path) -> str:
    """WAL on local disks; a rollback journal where WAL's shared memory cannot work."""
    forced = os.environ.get("SGTUI_JOURNAL_MODE")
    if forced:
        return forced.upper()
    return "DELETE" if filesystem_type(path) in NETWORK_FILESYSTEMS else "WAL"


def connect(path: Path, mode: str) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with safe pragmas."""
    uri = f"file:{quote(str(path.resolve()))}?mode={mode}"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    conn.execute("PRAGMA trusted_schema=OFF")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def verify(conn: sqlite3.Connection, path: Path) -> int:
    """Check a file is an sgproj this sgtui can use; return its schema version.

    Every schema object's SQL must be exactly what this sgtui creates for the file's version
    (a hidden cascade or generated column is as dangerous as a trigger), the op log must be
    the JSON sgtui wrote, and the AUTOINCREMENT counters must not point below used ids.
    """
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        if app_id != schema.APPLICATION_ID:
            if path.stat().st_size == 0:
                raise SgtuiError(f"{path} is an empty file, not an sgproj project; "
                                 "create one with 'sgtui ingest' or 'sgtui import-features'")
            raise SgtuiError(f"{path} is not an sgproj project file; "
                             "create one with 'sgtui ingest' or 'sgtui import-features'")
        # Before reading any table: refuse anything that could run code (triggers, views).
        known = {n for v in range(1, schema.SCHEMA_VERSION + 1) for _, n in schema.expected_schema(v)}
        objects = conn.execute("SELECT type, name FROM sqlite_master").fetchall()
        bad = [f"{t} '{n}'" for t, n in objects
               if t not in ("table", "index") or (n not in known and not n.startswith("sqlite_"))]
        if bad:
            raise SgtuiError(f"{path} holds schema objects sgtui did not create ({', '.join(bad)}); "
                             "refusing to open it — ask its author for a clean export")
        row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None or not str(row[0]).isdigit():
            raise SgtuiError(f"{path} has no schema version; it is damaged or not an sgproj file")
        version = int(row[0])
        if version > schema.SCHEMA_VERSION:
            raise SgtuiError(f"{path} was written by a newer sgtui (schema {version}, this sgtui "
                             f"reads up to {schema.SCHEMA_VERSION}); upgrade sgtui to open it")
        if version < 1:
            raise SgtuiError(f"{path} has an invalid schema version {version}; it is damaged")
        diff = schema.schema_differences(conn, version)
        if diff:
            raise SgtuiError(f"{path} does not match schema {version} ({'; '.join(diff[:3])}); "
                             "it was edited by hand or damaged — refusing to open it")
        _check_sequences(conn, path)
        bad_op = conn.execute("SELECT action_id FROM ops WHERE payload IS NOT NULL "
                              "AND NOT json_valid(payload) ORDER BY id LIMIT 1").fetchone()
        if bad_op:
            raise SgtuiError(f"{path}: the op log is damaged at action {bad_op[0]} (its payload is "
                             "not JSON); restore the file from a backup copy")
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise SgtuiError(f"{path} is damaged ({check}); restore it from a backup copy")
        return version
    except sqlite3.DatabaseError as exc:
        raise unreadable(path, exc) from None


def unreadable(path: Path, exc: sqlite3.DatabaseError) -> SgtuiError:
    """The one-line error for a file SQLite could not read: permissions, or real damage."""
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and any(
            k in text for k in ("unable to open", "readonly", "read-only", "disk I/O", "locking")):
        return SgtuiError(f"cannot read {path} ({text}); check that you may read it and its folder")
    return SgtuiError(f"{path} is not a readable sgproj file ({text}); "
                      "check the path or restore the file from a backup")


def _check_sequences(conn: sqlite3.Connection, path: Path) -> None:
    """sqlite_sequence may only count AUTOINCREMENT tables, never below an id in use."""
    has_seq = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='sqlite_sequence'").fetchone()
    if not has_seq:
        return
    for name, seq in conn.execute("SELECT name, seq FROM sqlite_sequence").fetchall():
        if name not in schema.AUTOINCREMENT_TABLES or not isinstance(seq, int):
            raise SgtuiError(f"{path}: sqlite_sequence holds {name!r} = {seq!r}, which sgtui never "
                             "writes; the file was edited by hand — refusing to open it")
        top = conn.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{name}"').fetchone()[0]
        if seq < top:
            raise SgtuiError(f"{path}: the id counter of {name} ({seq}) is below an id in use "
                             f"({top}); the file was edited by hand — refusing to open it")


def backup_copy(conn: sqlite3.Connection, path: Path, version: int) -> Path:
    """A consistent copy of the file before a migration changes it."""
    dest = path.with_name(f"{path.name}.schema{version}.bak")
    n = 1
    while dest.exists():
        n += 1
        dest = path.with_name(f"{path.name}.schema{version}.{n}.bak")
    target = sqlite3.connect(dest)
    with target:
        conn.backup(target)
    target.close()
    return dest


def migrate(conn: sqlite3.Connection, version: int) -> None:
    """Bring a verified file forward to the current schema, in one transaction."""
    # Table rebuilds drop and recreate tables: with foreign keys on, dropping `clusters`
    # would cascade into `suggestions`. Off for the migration, checked before committing.
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("BEGIN IMMEDIATE")
    try:
        for v in range(version, schema.SCHEMA_VERSION):
            schema.MIGRATIONS[v](conn)
        if conn.execute("PRAGMA foreign_key_check").fetchone() is not None:
            raise SgtuiError("the file's rows do not match each other (foreign keys); "
                             "restore it from a backup copy")
        conn.execute("UPDATE meta SET value=? WHERE key='schema_version'",
                     (str(schema.SCHEMA_VERSION),))
        conn.execute(f"PRAGMA user_version={schema.SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except schema.OpLogDamaged as exc:
        conn.execute("ROLLBACK")
        raise SgtuiError(f"{exc}; restore the file from a backup copy") from None
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    finally:
        conn.execute("PRAGMA foreign_keys=ON")


def copy_to_memory(conn: sqlite3.Connection) -> sqlite3.Connection:
    """An in-memory copy, for reading an old-schema file without changing it."""
    mem = sqlite3.connect(":memory:", isolation_level=None)
    conn.backup(mem)
    mem.execute("PRAGMA trusted_schema=OFF")
    return mem


def create_file(path: Path, force: bool) -> None:
    """Refuse an existing path unless force; remove it (and its WAL files) when forced."""
    if path.exists():
        if not force:
            raise SgtuiError(f"{path} already exists; pass --force to overwrite it or choose another path")
        for suffix in ("", "-wal", "-shm", "-journal"):
            p = Path(str(path) + suffix)
            if p.exists():
                p.unlink()
    if not path.parent.exists():
        raise SgtuiError(f"folder {path.parent} does not exist; create it first")


__all__ = ["connect", "verify", "migrate", "backup_copy", "copy_to_memory", "create_file",
           "journal_mode_for"]
