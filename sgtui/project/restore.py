"""Payload entries of actions that are not assignments or clusters: a line's flags and the
episode's title, read, checked and restored for undo and redo (actions.py) and for a merge's
decisions (actions.py, `resolve_conflict`). Plain functions on a connection."""

from __future__ import annotations

import sqlite3


def flag_state(conn: sqlite3.Connection, line_id: int) -> list[str]:
    """A line's flags, sorted (the form stored in action payloads)."""
    return sorted(r[0] for r in conn.execute(
        "SELECT flag FROM line_flags WHERE line_id=?", (line_id,)))


def restore_flags(conn: sqlite3.Connection, payload: dict, side: int) -> None:
    """Put every line a flag action touched back to its flags on `side` (0 before, 1 after)."""
    for k, states in payload.get("flags", {}).items():
        conn.execute("DELETE FROM line_flags WHERE line_id=?", (int(k),))
        conn.executemany("INSERT INTO line_flags(line_id, flag) VALUES (?, ?)",
                         [(int(k), f) for f in states[side]])


def flags_match(conn: sqlite3.Connection, payload: dict, side: int) -> bool:
    """True when every flagged line still has the flags of `side` (nobody changed them)."""
    return all(flag_state(conn, int(k)) == states[side]
               for k, states in payload.get("flags", {}).items())


def title_value(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key='title'").fetchone()
    return None if row is None else row[0]


def restore_title(conn: sqlite3.Connection, payload: dict, side: int) -> None:
    """Put the title a `title` action changed back to its value on `side` (0 before, 1 after)."""
    if "title" not in payload:
        return
    value = payload["title"][side]
    if value is None:
        conn.execute("DELETE FROM meta WHERE key='title'")
    else:
        conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('title', ?)", (value,))


def title_matches(conn: sqlite3.Connection, payload: dict, side: int) -> bool:
    """True when the title is still that of `side` (nobody retitled the episode since)."""
    return "title" not in payload or title_value(conn) == payload["title"][side]
