"""Opening an .sgproj safely: URI modes, pragmas, journal mode by filesystem, schema checks.

Nothing is written to a file before `verify` has accepted it, so a file from a stranger
(a trigger, a view, a newer schema, random bytes) is refused with one line, untouched.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from sgtui.errors import SgtuiError, WriteFailed, one_line
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


def writable(path: Path) -> bool:
    """Whether this process may change `path` (the file and its folder, where the journal goes).

    A file without any write bit (chmod 0444) is not writable even for root, who may write
    through permissions: as editors do, sgtui takes the mode as the owner's wish (view only)."""
    try:
        has_write_bit = os.stat(path).st_mode & 0o222 != 0
    except OSError:
        return False
    return has_write_bit and os.access(path, os.W_OK) and \
        os.access(path.resolve().parent, os.W_OK | os.X_OK)


LOW_SPACE = 256 * 1024  # bytes; below this a folder counts as full (a -shm alone takes 32 KiB)


def free_space(path: Path) -> int | None:
    """Bytes this process may still write in the folder of `path` (None when unknown); root
    may also use the blocks a filesystem keeps back for it (ext4's 5 %)."""
    try:
        st = os.statvfs(path.resolve().parent)
    except OSError:
        return None
    return (st.f_bfree if os.geteuid() == 0 else st.f_bavail) * st.f_frsize


def disk_full(path: Path) -> bool:
    """Whether the filesystem holding `path` has (almost) no room left."""
    free = free_space(path)
    return free is not None and free < LOW_SPACE


def full_disk_error(path: Path, detail: str = "") -> SgtuiError:
    """The one line for a write the full disk refused, before anything was written."""
    free = free_space(path)
    room = "" if free is None else f", {free // 1024} KiB free"
    why = f"; {detail}" if detail else ""
    return WriteFailed(f"disk full: cannot write {path}, the disk is full{room}{why}; free some "
                       "space and run the command again; nothing of that action was written")


def connect(path: Path, mode: str, immutable: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with safe pragmas.

    `immutable` reads the main file alone, creating nothing beside it: for a file nobody
    here may write and with no WAL to read.
    """
    uri = f"file:{quote(str(path.resolve()))}?mode={mode}" + ("&immutable=1" if immutable else "")
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    conn.execute("PRAGMA trusted_schema=OFF")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys=ON")
    if mode != "ro" and not immutable:
        # SQLite's own checkpoints run unchecked inside a commit and, on a full disk, stop
        # half way, leaving a file that is broken without its -wal; sgtui runs them itself
        # (`checkpoint`), only once the room they need is reserved.
        conn.execute("PRAGMA wal_autocheckpoint=0")
    return conn


def open_existing(path: Path, readonly: bool, replay_problem: ReplayCheck | None = None,
                  rollback_problem: ReplayCheck | None = None) -> sqlite3.Connection:
    """A connection on an existing file, before any check of its contents (the caller
    verifies it). A -wal or -journal a crashed writer left is first judged in a private copy
    (`check_hot_wal`, `check_hot_journal`). A file we may not write is read as immutable —
    nothing is created beside it — unless a -wal must be read; a writable file opened to
    read is opened read-write with query_only on, so closing the last connection still
    tidies its -wal/-shm away (a mode=ro connection may only leave them)."""
    can_write = writable(path)
    if not readonly and can_write and disk_full(path):
        raise full_disk_error(path)  # before SQLite creates a -shm it cannot fill
    check_hot_wal(path, replay_problem)
    check_hot_journal(path, rollback_problem)
    wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
    hot_wal = wal.exists() and wal.stat().st_size > 0
    # On a full disk a reader cannot create the -shm a read-write connection needs ("disk
    # I/O error"): it reads the file alone (immutable), or a -wal read-only (never a checkpoint).
    full = readonly and disk_full(path)
    had = {p for p in (wal, shm) if p.exists()}
    try:
        conn = connect(path, "rw" if can_write and not full else "ro",
                       immutable=(not can_write or full) and not hot_wal)
        if readonly:
            conn.execute("PRAGMA query_only=ON")
    except sqlite3.DatabaseError as exc:
        raise unreadable(path, exc) from None
    if not readonly or hot_wal:
        return conn
    try:
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()  # creates -wal/-shm now
        return conn
    except sqlite3.DatabaseError as exc:
        if not _disk_trouble(exc):
            return conn  # a damaged or foreign file: the caller's check says what it is
        conn.close()
    # the disk filled up meanwhile: take away the empty -wal/-shm SQLite left, read alone
    _remove_empty_leftovers(path, had)
    try:
        conn = connect(path, "ro", immutable=True)
        conn.execute("PRAGMA query_only=ON")
    except sqlite3.DatabaseError as exc:
        raise unreadable(path, exc) from None
    return conn


def _disk_trouble(exc: sqlite3.DatabaseError) -> bool:
    text = str(exc).lower()
    return any(k in text for k in ("disk i/o", "disk is full", "database or disk is full"))


def _remove_empty_leftovers(path: Path, had: set[Path]) -> None:
    """Remove the -wal/-shm a failed open created (empty, and used by nobody)."""
    if wal_in_use(path):
        return
    wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
    if wal not in had and wal.exists() and wal.stat().st_size == 0:
        wal.unlink(missing_ok=True)
    if shm not in had and shm.exists() and not wal.exists():
        shm.unlink(missing_ok=True)


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
        objects = conn.execute("SELECT type, name FROM sqlite_master").fetchall()
        row = None
        if ("table", "meta") in objects:  # a plain table: reading it runs nothing
            row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None or not str(row[0]).isdigit():
            raise SgtuiError(f"{path} has no schema version; it is damaged or not an sgproj file")
        version = int(row[0])
        if version > schema.SCHEMA_VERSION:
            raise SgtuiError(f"{path} was written by a newer sgtui (schema {version}, this sgtui "
                             f"reads up to {schema.SCHEMA_VERSION}); upgrade sgtui to open it")
        # Before reading any other table: refuse anything that could run code (triggers, views).
        known = {n for v in range(1, schema.SCHEMA_VERSION + 1) for _, n in schema.expected_schema(v)}
        bad = [f"{t} '{n}'" for t, n in objects
               if t not in ("table", "index") or (n not in known and not n.startswith("sqlite_"))]
        if bad:
            raise SgtuiError(f"{path} holds schema objects sgtui did not create ({', '.join(bad)}); "
                             "refusing to open it — ask its author for a clean export")
        if version < 1:
            raise SgtuiError(f"{path} has an invalid schema version {version}; it is damaged")
        diff = schema.schema_differences(conn, version)
        if diff:
            raise SgtuiError(f"{path} does not match schema {version} ({'; '.join(diff[:3])}); "
                             "it was edited by hand or damaged — refusing to open it")
        _check_sequences(conn, path)
        bad_op = conn.execute(
            "SELECT action_id FROM ops WHERE payload IS NOT NULL AND (NOT json_valid(payload) "
            "OR json_type(payload) != 'object') ORDER BY id LIMIT 1").fetchone()
        if bad_op:
            raise SgtuiError(f"{path}: the op log is damaged at action {bad_op[0]} (its payload is "
                             "not the JSON object sgtui wrote); restore the file from a backup copy")
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise SgtuiError(f"{path} is damaged ({one_line(check)}); restore it from a backup copy")
        return version
    except sqlite3.DatabaseError as exc:
        raise unreadable(path, exc) from None


def unreadable(path: Path, exc: sqlite3.DatabaseError, what: str = "sgproj file") -> SgtuiError:
    """The one-line error for a file SQLite could not read: permissions, or real damage.
    `what` names the kind of file the user gave (a bank is not called a project)."""
    text = str(exc)
    if _disk_trouble(exc) and disk_full(path):
        return full_disk_error(path, text)
    if isinstance(exc, sqlite3.OperationalError) and any(
            k in text for k in ("unable to open", "readonly", "read-only", "disk I/O", "locking")):
        return SgtuiError(f"cannot read {path} ({text}); check that you may read it and its folder")
    return SgtuiError(f"{path} is not a readable {what} ({text}); "
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


WAL_MAGIC = (0x377F0682, 0x377F0683)
WAL_HEADER = 32
WAL_FRAME_HEADER = 24
SHM_DMS_BYTE = 128  # every connection using the WAL holds a shared lock on this byte of -shm
JOURNAL_MAGIC = bytes.fromhex("d9d505f920a163d7")  # a rollback journal's header (SQLite file format §4)
RESERVED_BYTE = 0x40000001  # a writer with a transaction open holds a lock on this byte of the file


_OPEN_HERE: dict[str, int] = {}  # resolved path -> connections this process holds on it


def opened(path: Path) -> None:
    """Note that this process holds a connection on `path` (its -wal is live, not left over)."""
    key = str(path.resolve())
    _OPEN_HERE[key] = _OPEN_HERE.get(key, 0) + 1


def closed(path: Path) -> None:
    key = str(path.resolve())
    if _OPEN_HERE.get(key, 0) > 1:
        _OPEN_HERE[key] -= 1
    else:
        _OPEN_HERE.pop(key, None)


def wal_in_use(path: Path) -> bool:
    """Whether a live connection uses the file's -wal: one of this process, or another
    process holding SQLite's lock on the -shm."""
    if str(path.resolve()) in _OPEN_HERE:
        # never open -shm ourselves then: closing any descriptor of a file drops every POSIX
        # lock this process holds on it, SQLite's included
        return True
    shm = Path(f"{path}-shm")
    return shm.exists() and _locked(shm, SHM_DMS_BYTE)


def _locked(path: Path, byte: int) -> bool:
    """Whether another process holds a POSIX lock on `byte` of `path` (how SQLite marks a
    live connection or transaction; os_unix.c)."""
    import fcntl
    import struct

    try:
        with open(path, "rb") as fh:
            probe = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, byte, 1, 0)
            got = fcntl.fcntl(fh.fileno(), fcntl.F_GETLK, probe)
        return struct.unpack("hhqqi4x", got)[0] != fcntl.F_UNLCK
    except OSError:
        return False


def open_here(path: Path) -> bool:
    """Whether this process still holds a connection on `path`."""
    return str(path.resolve()) in _OPEN_HERE


# ---- checkpoints: the file alone is whole once a command ends ------------------------------
def _wal_of(path: Path) -> str:
    """The -wal SQLite uses for `path` (named after the resolved file: `connect`)."""
    return f"{path.resolve()}-wal"


CHECKPOINT_AFTER = 4 << 20  # bytes of -wal after which a commit moves it into the file
_ROOM_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _sqlite_fd(path: Path) -> int | None:
    """A descriptor SQLite holds open read-write on `path` (from /proc/self/fd), or None.

    The file is grown through SQLite's own descriptor: opening and closing another one
    would drop every POSIX lock this process holds on the file, SQLite's included."""
    import fcntl

    target = path.resolve()
    try:
        ident = os.stat(target)
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            try:
                if os.readlink(f"/proc/self/fd/{name}") != str(target):
                    continue
                st = os.fstat(fd)
                if (st.st_dev, st.st_ino) == (ident.st_dev, ident.st_ino) and \
                        fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDWR:
                    return fd
            except OSError:
                continue
    except OSError:
        return None
    return None


def reserve_room(conn: sqlite3.Connection, path: Path) -> str | None:
    """Grow the file to the size a checkpoint will give it, before the checkpoint copies a page.

    A checkpoint copies the -wal's pages into the file in page order; on a full disk it
    stops at the first page past the file's end, and the file alone is then half new, half
    old ("database disk image is malformed" once copied without its -wal). With the room
    reserved first (fallocate past the file's end: no page inside it is touched, and SQLite
    ignores bytes past the page count its header records) a checkpoint is all or nothing.
    Returns None, or why the room could not be had."""
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    need = page_size * conn.execute("PRAGMA page_count").fetchone()[0]
    fd = _sqlite_fd(path)
    if fd is None:
        return None  # nothing to grow through here: the checkpoint runs as SQLite's would
    try:
        have = os.fstat(fd).st_size
        if have < need:
            os.posix_fallocate(fd, have, need - have)
    except OSError as exc:
        if exc.errno in _ROOM_ERRNOS:
            return f"{exc.strerror}: the file must grow to {need // 1024} KiB"
        return None  # no fallocate on this filesystem
    return None


def checkpoint(conn: sqlite3.Connection, path: Path, *, wait: bool = True) -> str | None:
    """Move every committed page of the -wal into the file and empty the -wal, so that the
    file alone — what annotators copy and share — holds all the work. Returns None when done,
    else why not, in words; the file alone is then still whole (the -wal holds the rest).
    `wait=False` gives up at once where another connection is reading (the app when idle)."""
    try:
        if os.stat(_wal_of(path)).st_size == 0:
            return None  # nothing to move (SQLite's close tidies the empty -wal away)
    except OSError:
        return None
    try:
        if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
            return None
        problem = reserve_room(conn, path)
        if problem:
            return problem
        if not wait:
            conn.execute("PRAGMA busy_timeout=0")
        try:
            busy, log, done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            if not wait:
                conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    except sqlite3.DatabaseError as exc:
        return one_line(exc)
    if busy:
        return "another program kept the file busy (reading or writing it)"
    if log != done:
        return f"only {done} of {log} pages of the -wal were moved"
    return None


def checkpoint_if_large(conn: sqlite3.Connection, path: Path) -> None:
    """After a commit: keep the -wal small (SQLite's own automatic checkpoint is off, see
    `connect`). A failure here is left for the checkpoint at close, which reports it."""
    try:
        if os.stat(_wal_of(path)).st_size < CHECKPOINT_AFTER:
            return
    except OSError:
        return
    checkpoint(conn, path, wait=False)


def close_keeping_log(conn: sqlite3.Connection, path: Path) -> None:
    """Close `conn` without SQLite's own checkpoint at close (unchecked: on a full disk it
    stops half way, and a refused file must not take in its -wal). A read-only connection
    is held open meanwhile: only the last connection checkpoints, and a read-only one never.
    With an empty -wal there is nothing to move: SQLite's close just tidies -wal/-shm away."""
    try:
        empty = os.stat(_wal_of(path)).st_size == 0
    except OSError:
        empty = True
    if empty:
        conn.close()
        return
    guard = None
    try:
        guard = connect(path, "ro")
        guard.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.DatabaseError:
        pass
    conn.close()
    if guard is not None:
        guard.close()


def close_checkpointed(conn: sqlite3.Connection, path: Path, *, wait: bool = True) -> str | None:
    """Close the last connection of this process on `path` after a checked checkpoint;
    returns None, or why the -wal is still beside the file (the file alone is whole).
    A reader passes `wait=False`: it tidies up when it can, never waits for a writer."""
    problem = checkpoint(conn, path, wait=wait)
    if problem is None:
        conn.close()
    else:
        close_keeping_log(conn, path)
    return problem


def unfinished_error(path: Path, problem: str, reader: str = "sgtui info") -> SgtuiError:
    """The one line for a command whose work stays in the -wal: the file alone is whole but
    without it; how to finish (`reader`: a command that opens the file and so finishes it)."""
    finish = (f"free some space, then run '{reader} {path}' to finish it; until then keep "
              f"{path.name}-wal beside the file (the file alone lacks that work)")
    low = problem.lower()
    if any(k in low for k in ("space", "full", "quota", "too large")):
        return WriteFailed(f"disk full: the last work on {path.name} is saved in {path.name}-wal but "
                           f"could not be moved into the file ({problem}); {finish}")
    return WriteFailed(f"could not finish writing {path.name}: its last work is saved in "
                       f"{path.name}-wal but could not be moved into the file ({problem}); "
                       f"{finish.replace('free some space, then run', 'run')}")


ReplayCheck = Callable[[Path, Path], str | None]


def check_hot_wal(path: Path, replay_problem: ReplayCheck | None = None) -> None:
    """Refuse a -wal left by a crashed writer that does not belong to the file as it is now.

    SQLite replays any valid -wal into the file beside it, even when the file was replaced by
    another copy since the crash: pages of one file land in another. So before SQLite sees a
    left-over -wal, it is replayed into a private copy, which must pass `replay_problem`
    (default, a project's: a full integrity check, and every op-log row of the file alone
    kept — the log is append-only, so a -wal of this file only adds to it). Nothing beside
    the file is changed here.
    """
    import struct

    wal = Path(f"{path}-wal")
    try:
        size = wal.stat().st_size
    except FileNotFoundError:
        return
    if size < WAL_HEADER + WAL_FRAME_HEADER or wal_in_use(path):
        return  # no frame to replay, or a live session's log
    advice = (f"move {wal.name} (and {path.name}-shm) out of the folder, keeping it if that session's "
              "last work matters, then run again")
    try:
        with open(wal, "rb") as fh:
            magic, _, wal_page = struct.unpack(">III", fh.read(12))
        with open(path, "rb") as fh:
            head = fh.read(100)
    except OSError as exc:
        raise SgtuiError(f"cannot read {path} or its -wal ({exc.strerror}); check that you may "
                         "read both") from None
    db_page = struct.unpack(">H", head[16:18])[0] if len(head) >= 18 else 0
    db_page = 65536 if db_page == 1 else db_page
    if magic not in WAL_MAGIC or wal_page != db_page:
        raise SgtuiError(f"{wal} beside {path} is not a log of this file (page size {wal_page}, "
                         f"the file's {db_page}); sgtui will not replay it — {advice}")
    _vet_log(path, wal, replay_problem or _replay_problem, "replay it", "stopped without closing", advice)


def _vet_log(path: Path, log: Path, check: ReplayCheck, verb: str, stopped: str, advice: str) -> None:
    """Apply a left-over `log` (-wal or -journal) to a private copy of `path` and refuse it,
    in one line, unless `check(alone, applied)` finds nothing wrong."""
    import shutil
    import tempfile

    try:
        with tempfile.TemporaryDirectory(prefix="sgtui-log-") as tmp:
            alone, applied = Path(tmp) / "alone.sgproj", Path(tmp) / "applied.sgproj"
            shutil.copyfile(path, alone)
            shutil.copyfile(path, applied)
            shutil.copyfile(log, f"{applied}{log.name[len(path.name):]}")  # its -wal / -journal
            problem = check(alone, applied)
    except OSError as exc:
        raise SgtuiError(f"{log} was left by a writer that {stopped} and could not be checked "
                         f"({exc.strerror} in the temporary folder); free space there (or set "
                         "TMPDIR) and run again") from None
    if problem and "schema" in problem:  # not another file's log: a hostile or damaged one
        raise SgtuiError(f"{log} was left by a writer that {stopped}, and {problem}; sgtui will "
                         f"not {verb} — {advice}")
    if problem:
        raise SgtuiError(f"{log} was left by a writer that {stopped} and does not belong to {path} "
                         f"as it is now ({problem}; was the file replaced?); sgtui will not {verb} — "
                         f"{advice}")


def journal_in_use(path: Path) -> bool:
    """Whether a live writer owns the file's -journal: one of this process, or another
    process holding SQLite's reserved lock on the file (a transaction in progress)."""
    if str(path.resolve()) in _OPEN_HERE:
        return True  # never open the file ourselves then (it would drop our own locks on it)
    return _locked(path, RESERVED_BYTE)


def hot_journal(path: Path) -> bool:
    """A rollback journal a crashed writer left beside the file (SQLite rolls it back into
    the file on the next read)."""
    journal = Path(f"{path}-journal")
    try:
        with open(journal, "rb") as fh:
            head = fh.read(len(JOURNAL_MAGIC))
    except OSError:
        return False
    return head == JOURNAL_MAGIC and not journal_in_use(path)


def check_hot_journal(path: Path, rollback_problem: ReplayCheck | None = None) -> None:
    """Refuse a -journal left by a crashed writer that does not belong to the file as it is now.

    On filesystems where sgtui uses a rollback journal (network shares, see
    `journal_mode_for`), a writer that dies mid-transaction leaves the file's original pages
    in -journal, and SQLite copies them back into whatever file sits there on the next read:
    into another copy's pages if the file was replaced since. So the rollback is first done in
    a private copy, which must pass `rollback_problem` (default, a project's: a full integrity
    check, and the op log rolled back to a prefix of the file's own — a rollback only takes
    away the unfinished transaction's rows). Nothing beside the file is changed here.
    """

    if not hot_journal(path):
        return
    journal = Path(f"{path}-journal")
    advice = (f"move {journal.name} out of the folder, keeping it if that session's last work "
              "matters, then run again")
    if not writable(path):
        raise SgtuiError(f"{journal} was left by a writer that stopped mid-change, and only a writer "
                         f"can roll it back; open {path.name} where you may write it (or ask its "
                         "owner to), or " + advice)
    _vet_log(path, journal, rollback_problem or _rollback_problem, "roll it back", "stopped mid-change",
             advice)


OPS_COLUMNS = "id, action_id, ts, annotator, kind, line_id, src_cluster, dst_cluster, payload, undoes"


def _ops(path: Path, immutable: bool) -> list[tuple]:
    uri = f"file:{quote(str(path))}" + ("?mode=ro&immutable=1" if immutable else "")
    conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    try:
        conn.execute("PRAGMA trusted_schema=OFF")
        return conn.execute(f"SELECT {OPS_COLUMNS} FROM ops ORDER BY id").fetchall()
    finally:
        conn.close()


def integrity_problem(path: Path, doing: str) -> str | None:
    """Open `path` (SQLite replays or rolls back whatever log is beside it) and check every
    page: None, or what `doing` that did to it, in one line."""
    try:
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("PRAGMA trusted_schema=OFF")
            errors = [r[0] for r in conn.execute("PRAGMA integrity_check(5)")]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return f"{doing} leaves an unreadable file: {exc}"
    return None if errors == ["ok"] else f"{doing} breaks the file: {one_line(errors[0])}"


def schema_problem(applied: Path, doing: str) -> str | None:
    """What `doing` (replaying a -wal, rolling back a -journal: already done to the private
    copy `applied`) would make of the project's schema, or None: the exact check `verify`
    makes, done here so that a refused log never reaches the real file."""
    try:
        conn = sqlite3.connect(f"file:{quote(str(applied))}?mode=ro", uri=True, isolation_level=None)
        try:
            conn.execute("PRAGMA trusted_schema=OFF")
            if conn.execute("PRAGMA application_id").fetchone()[0] != schema.APPLICATION_ID:
                return f"{doing} leaves a file that is not an sgproj project"
            objects = conn.execute("SELECT type, name FROM sqlite_master").fetchall()
            known = {n for v in range(1, schema.SCHEMA_VERSION + 1) for _, n in schema.expected_schema(v)}
            bad = [f"{t} '{n}'" for t, n in objects
                   if t not in ("table", "index") or (n not in known and not n.startswith("sqlite_"))]
            if bad:
                return f"{doing} adds schema objects sgtui did not create ({', '.join(bad)})"
            row = None
            if ("table", "meta") in objects:
                row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None or not str(row[0]).isdigit() \
                    or not 1 <= int(row[0]) <= schema.SCHEMA_VERSION:
                return f"{doing} leaves a schema version this sgtui does not read ({row and row[0]})"
            diff = schema.schema_differences(conn, int(row[0]))
            if diff:
                return f"{doing} changes the schema ({'; '.join(diff[:3])})"
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return f"{doing} leaves an unreadable file: {exc}"
    return None


def _replay_problem(alone: Path, replayed: Path) -> str | None:
    """Why the copy replayed with its -wal cannot be the file plus its own log, or None: the
    op log only grows by a -wal."""
    return _op_log_problem(alone, replayed, "replaying it", grows=True)


def _rollback_problem(alone: Path, rolled: Path) -> str | None:
    """Why the copy rolled back by its -journal cannot be the file before its unfinished
    transaction, or None: a rollback only takes rows away from the end of the op log."""
    return _op_log_problem(alone, rolled, "rolling it back", grows=False)


def _op_log_problem(alone: Path, applied: Path, doing: str, grows: bool) -> str | None:
    problem = integrity_problem(applied, doing) or schema_problem(applied, doing)
    if problem:
        return problem
    try:
        after = _ops(applied, immutable=False)
    except sqlite3.DatabaseError as exc:
        return f"{doing} leaves an unreadable file: {exc}"
    try:
        conn = sqlite3.connect(f"file:{quote(str(alone))}?mode=ro&immutable=1", uri=True)
        try:
            intact = [r[0] for r in conn.execute("PRAGMA integrity_check(1)")] == ["ok"]
        finally:
            conn.close()
        before = _ops(alone, immutable=True) if intact else None
    except sqlite3.DatabaseError:
        before = None
    if before is None:
        return None  # the file alone is mid-checkpoint or mid-transaction: the check above decides
    kept, whole = (before, after) if grows else (after, before)
    if whole[: len(kept)] != kept:
        return f"the op log would go from {len(before)} rows to {len(after)} that are not the file's own"
    return None


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
        if conn.in_transaction:
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
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise SgtuiError(f"cannot write in folder {path.parent} (read-only); "
                         "choose an output in a folder you can write")


__all__ = ["connect", "writable", "unreadable", "verify", "migrate", "backup_copy", "copy_to_memory", "create_file",
           "journal_mode_for"]
