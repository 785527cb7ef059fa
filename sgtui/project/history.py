"""An episode's human state as plain values, and the op log as actions that change it.

The merge of two copies (merge.py) works here, in memory: it loads each copy's state and log,
rewinds one copy to the state the two copies shared, and replays both sides' actions onto it.
A *key* names one piece of human state:

- ``("line", id)``: the line's assignment ``(cluster, origin, confirmed)``, None when unassigned;
- ``("cluster", id)``: ``(name, locked, created_by, confirmed)``, None when it does not exist;
- ``("flags", id)``: the line's flags, a sorted tuple (empty: none);
- ``("title", 0)``: the episode's title.

An action's payload (actions.py) holds every key it touched before and after; `rows` turns it
into ``{key: (before, after)}`` and `to_payload` back.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

Key = tuple[str, int]
Value = Any  # a tuple, a str or None: see the module docstring
Rows = dict[Key, tuple[Value, Value]]

# Payload entries that are not state but the action's own record (kept as they are).
STATE_ENTRIES = ("lines", "clusters", "flags", "title")


class State:
    """The human state of one episode, with the indexes a replay asks of it."""

    def __init__(self, values: dict[Key, Value] | None = None) -> None:
        self.values: dict[Key, Value] = {}
        self.members: dict[int, set[int]] = {}  # cluster -> its lines
        self.names: dict[str, int] = {}  # name -> cluster
        for k, v in (values or {}).items():
            self.set(k, v)

    def get(self, key: Key) -> Value:
        v = self.values.get(key)
        return () if v is None and key[0] == "flags" else v

    def set(self, key: Key, value: Value) -> None:
        old = self.values.get(key)
        if key[0] == "line" and old is not None:
            self.members.get(old[0], set()).discard(key[1])
        elif key[0] == "cluster" and old is not None and old[0] is not None \
                and self.names.get(old[0]) == key[1]:
            del self.names[old[0]]
        if value is None or (key[0] == "flags" and not value):
            self.values.pop(key, None)
            return
        self.values[key] = value
        if key[0] == "line":
            self.members.setdefault(value[0], set()).add(key[1])
        elif key[0] == "cluster" and value[0] is not None:
            self.names[value[0]] = key[1]

    def lines_of(self, cluster_id: int) -> list[int]:
        return sorted(self.members.get(cluster_id, ()))

    def named(self, name: str) -> int | None:
        return self.names.get(name)


def load_state(conn: sqlite3.Connection) -> State:
    st = State()
    for cid, name, locked, created_by, confirmed in conn.execute(
            "SELECT id, name, locked, created_by, confirmed FROM clusters"):
        st.set(("cluster", cid), (name, locked, created_by, confirmed))
    for lid, cid, origin, confirmed in conn.execute(
            "SELECT line_id, cluster_id, origin, confirmed FROM assignments"):
        st.set(("line", lid), (cid, origin, confirmed))
    flags: dict[int, list[str]] = {}
    for lid, flag in conn.execute("SELECT line_id, flag FROM line_flags ORDER BY line_id, flag"):
        flags.setdefault(lid, []).append(flag)
    for lid, fl in flags.items():
        st.set(("flags", lid), tuple(fl))
    row = conn.execute("SELECT value FROM meta WHERE key='title'").fetchone()
    if row is not None:
        st.set(("title", 0), row[0])
    return st


def _value(kind: str, v: Any) -> Value:
    if v is None:
        return () if kind == "flags" else None
    return v if kind == "title" else tuple(v)


def rows(payload: dict) -> Rows:
    """{key: (before, after)} of every piece of state an action's payload says it touched."""
    out: Rows = {}
    for entry, kind in (("lines", "line"), ("clusters", "cluster"), ("flags", "flags")):
        for k, ba in (payload.get(entry) or {}).items():
            out[(kind, int(k))] = (_value(kind, ba[0]), _value(kind, ba[1]))
    if "title" in payload:
        out[("title", 0)] = (payload["title"][0], payload["title"][1])
    return out


def to_payload(changes: Rows, extras: dict[str, Any]) -> dict[str, Any]:
    """An action's payload, in the form actions.py writes and undo reads."""
    out: dict[str, Any] = {k: v for k, v in extras.items() if k not in STATE_ENTRIES}
    out["lines"], out["clusters"] = {}, {}
    for (kind, i), (b, a) in changes.items():
        if kind == "line":
            out["lines"][str(i)] = [None if b is None else list(b), None if a is None else list(a)]
        elif kind == "cluster":
            out["clusters"][str(i)] = [None if b is None else list(b), None if a is None else list(a)]
        elif kind == "flags":
            out.setdefault("flags", {})[str(i)] = [list(b), list(a)]
        else:
            out["title"] = [b, a]
    return out


def action_label(kinds: list[str]) -> str:
    """What people call an action from its op rows' kinds: a remove and an add is a move."""
    return "move" if set(kinds) == {"remove", "add"} else kinds[0]


@dataclass
class Action:
    """One action of a copy's log: its local id, its identity across copies, and its rows."""

    local_id: int
    uid: str
    ts: str
    annotator: str
    kind: str
    ops: list[tuple[str, int | None, int | None, int | None]]  # (kind, line, src, dst)
    payload: dict
    undoes: int | None
    superseded: bool

    @property
    def is_undo_redo(self) -> bool:
        return self.kind in ("undo", "redo")


def load_actions(conn: sqlite3.Connection) -> list[Action]:
    """The whole op log as actions, in the order they were made."""
    out: list[Action] = []
    by_id: dict[int, Action] = {}
    for aid, ts, who, kind, lid, src, dst, payload, undoes, uid, sup in conn.execute(
            "SELECT action_id, ts, annotator, kind, line_id, src_cluster, dst_cluster, payload, "
            "undoes, uid, superseded FROM ops ORDER BY id"):
        act = by_id.get(aid)
        if act is None:
            act = Action(aid, uid or f"local-{aid}", ts, who, kind, [], {}, undoes, bool(sup))
            by_id[aid] = act
            out.append(act)
        if payload is not None and not act.payload:
            act.payload = json.loads(payload)
        act.ops.append((kind, lid, src, dst))
    out.sort(key=lambda a: a.local_id)
    return out


def effect(action: Action, by_local: dict[int, Action]) -> Rows:
    """{key: (before, after)} of what an action in effect did to the state (an undo logged by
    the app: its target's rows reversed; a redo: its target's rows). Superseded actions did
    nothing."""
    if action.superseded:
        return {}
    own = rows(action.payload)
    if action.is_undo_redo and not own:  # the app logs an undo without rows: its target's
        target = by_local.get(action.undoes or -1)
        if target is None:
            return {}
        r = rows(target.payload)
        return {k: (a, b) for k, (b, a) in r.items()} if action.kind == "undo" else r
    return own  # an undo a merge replayed keeps the rows it changed there


def rewind(state: State, actions: Iterable[Action], by_local: dict[int, Action]) -> None:
    """Undo `actions` (given newest first) on `state` in memory: the state before them."""
    for act in actions:
        for key, (before, _after) in effect(act, by_local).items():
            state.set(key, before)


def replay(state: State, actions: Iterable[Action], by_local: dict[int, Action]) -> None:
    """Apply `actions` (oldest first) to `state` in memory: the state after them."""
    for act in actions:
        for key, (_before, after) in effect(act, by_local).items():
            state.set(key, after)
