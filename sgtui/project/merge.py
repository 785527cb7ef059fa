"""Merging two diverged copies of one .sgproj (docs/architecture.md, "Merging copies").

Two copies share the prefix of their op logs (actions are known by `uid` across copies). The
merge rewinds copy A to the state at the end of that prefix, then replays the actions both
sides made after it, in time order, each re-checked against the state it meets, piece of state
by piece of state (history.py's keys):

- a piece the action finds as it found it on its own side is changed (independent work);
- a piece already as the action would make it is left (the same decision, applied once);
- anything else is a **conflict**, never decided silently: `prefer` decides it ("A", "B",
  "newer"), or it stays undecided, kept in the result as a review item with both choices.

The engine never overrides a human decision: a re-cluster's placement of a line that a human
placed on the other side is skipped (noted); a human placement over the other side's engine
placement applies. A merge, an import, an undo and a redo apply whole or not at all (an undo
whose rows someone changed would not be the undo its annotator made). Integer cluster ids are
local to a copy: A's are kept, clusters B created get fresh ids.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sgtui.errors import SgtuiError
from sgtui.project.actions import highest_cluster_id
from sgtui.project.core import highest_action_id
from sgtui.project.history import (
    Action,
    Key,
    Rows,
    State,
    Value,
    action_label,
    effect,
    load_actions,
    load_state,
    rewind,
    rows,
    to_payload,
)
from sgtui.project.store import Project

PREFER = ("A", "B", "newer")
WHOLE = ("merge", "undo", "redo")  # applied whole or not at all
CHANGED = "changed on the other side"  # a row's "before" that never matches: a conflict


@dataclass
class Side:
    """One input copy, read-only."""

    name: str  # "A" | "B" | "base"
    path: Path
    project: Project
    actions: list[Action]
    state: State

    @property
    def by_local(self) -> dict[int, Action]:
        return {a.local_id: a for a in self.actions}


@dataclass
class Conflict:
    """A review item: the state the result kept, and the other side's choice."""

    kind: str  # line | cluster | name | gone | flags | title | recluster | merge | import | undo | redo
    summary: str
    rows: list[tuple[Key, Value, Value]]  # (key, kept, other)
    kept: dict[str, Any]  # who made the kept choice: side, annotator, ts, action
    other: dict[str, Any]
    resolution: str | None = None  # "kept" | "other" | None (left as a review item)

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "summary": self.summary, "kept": self.kept, "other": self.other,
                "resolution": self.resolution,
                "rows": [{"key": list(k), "kept": _jsonable(a), "other": _jsonable(b)}
                         for k, a, b in self.rows]}


@dataclass
class Replayed:
    """An action as the result's log holds it."""

    side: str
    source: Action
    local_id: int
    ops: list[tuple[str, int | None, int | None, int | None]]
    changes: Rows  # what it changed in the result, before -> after
    extras: dict[str, Any]
    undoes: int | None  # the result's local id of the target of an undo/redo
    superseded: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class MergePlan:
    a: Side
    b: Side
    prefix: int  # actions the copies share, from the start
    fast_forward: str | None  # "A" / "B": that copy already holds all of the other's actions
    replayed: list[Replayed] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    state: State = field(default_factory=State)
    cluster_map: dict[str, dict[int, int]] = field(default_factory=dict)
    machine_side: str = "A"
    next_cluster: int = 1

    @property
    def unresolved(self) -> list[Conflict]:
        return [c for c in self.conflicts if c.resolution is None]

    def side_actions(self, name: str) -> list[Action]:
        side = self.a if name == "A" else self.b
        return side.actions[self.prefix:]


# ---- opening the inputs -----------------------------------------------------------------------


@contextmanager
def open_sides(a: Path, b: Path, base: Path | None = None) -> Iterator[tuple[Side, Side, Side | None]]:
    """The inputs, opened read-only (never written; an older schema is migrated in memory)."""
    opened: list[Project] = []
    try:
        sides = []
        for name, path in (("A", a), ("B", b), ("base", base)):
            if path is None:
                sides.append(None)
                continue
            proj = Project.open(path, readonly=True)
            opened.append(proj)
            sides.append(Side(name, Path(path), proj, _actions(proj, path), load_state(proj.conn)))
        yield sides[0], sides[1], sides[2]
    finally:
        for p in opened:
            p.close()


def _actions(proj: Project, path: Path) -> list[Action]:
    acts = load_actions(proj.conn)
    for act in acts:
        if not act.is_undo_redo and not act.superseded and not isinstance(act.payload.get("lines"), dict):
            raise SgtuiError(f"{path}: action {act.local_id} was logged by an older sgtui without the "
                             "state a merge needs; merge by hand (labels export/import)")
    return acts


def episode_digest(conn: sqlite3.Connection) -> str:
    """What makes two files the same episode: their lines and their clips' sizes."""
    h = hashlib.sha256()
    for row in conn.execute("SELECT id, idx, start_ms, end_ms, text FROM lines ORDER BY id"):
        h.update(repr(row).encode())
    for row in conn.execute("SELECT line_id, codec, sample_rate, length(data) FROM clips ORDER BY line_id"):
        h.update(repr(row).encode())
    return h.hexdigest()


def check_copies(a: Side, b: Side) -> None:
    """Refuse two files that are not copies of one episode's file (exit 2, one line)."""
    if episode_digest(a.project.conn) != episode_digest(b.project.conn):
        raise SgtuiError(f"{a.path.name} and {b.path.name} are different episodes (their lines or "
                         "clips differ); merge copies of one episode's file only")
    ca, cb = a.project.meta_get("created"), b.project.meta_get("created")
    if ca != cb:
        raise SgtuiError(f"{a.path.name} and {b.path.name} share no history (made by separate "
                         f"ingests, {ca} and {cb}); carry labels across with 'sgtui labels "
                         "export' and 'sgtui labels import' instead")


def _prefix(a: list[Action], b: list[Action]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x.uid != y.uid:
            break
        n += 1
    return n


# ---- planning -------------------------------------------------------------------------------


def plan(a: Side, b: Side, prefer: str | None = None, base: Side | None = None) -> MergePlan:
    """What merging B into A gives, computed in memory (nothing is written)."""
    if prefer is not None and prefer not in PREFER:
        raise SgtuiError(f"--prefer takes one of {', '.join(PREFER)}, not {prefer!r}")
    check_copies(a, b)
    p = _prefix(a.actions, b.actions)
    if base is not None:
        check_copies(a, base)
        n = len(base.actions)
        if _prefix(base.actions, a.actions) != n or _prefix(base.actions, b.actions) != n:
            raise SgtuiError(f"{base.path.name} is not the common ancestor of {a.path.name} and "
                             f"{b.path.name} (its op log is not the start of both); leave out --base")
    ua, ub = {x.uid for x in a.actions}, {x.uid for x in b.actions}
    ff = "A" if ub <= ua else "B" if ua <= ub else None
    mp = MergePlan(a, b, p, ff)
    if ff is not None:
        mp.state = (a if ff == "A" else b).state
        return mp
    _Replayer(mp, prefer).run()
    return mp


def _created(act: Action) -> list[int]:
    """The clusters an action created (its payload's clusters with no state before)."""
    return sorted(int(k) for k, (bef, aft) in (act.payload.get("clusters") or {}).items()
                  if bef is None and aft is not None)


def _jsonable(v: Value) -> Any:
    return list(v) if isinstance(v, tuple) else v


class _Replayer:
    """Replays both sides' actions after the shared prefix onto the rewound state."""

    def __init__(self, mp: MergePlan, prefer: str | None) -> None:
        self.mp, self.prefer = mp, prefer
        a, b = mp.a, mp.b
        self.by_local = {"A": a.by_local, "B": b.by_local}
        self.state = State(a.state.values)
        rewind(self.state, reversed(a.actions[mp.prefix:]), self.by_local["A"])
        # clusters created by actions both copies hold: B's id -> the result's (A's) id
        a_by_uid = {x.uid: x for x in a.actions}
        self.maps: dict[str, dict[int, int]] = {"A": {}, "B": {}}
        for act in b.actions:
            twin = a_by_uid.get(act.uid)
            if twin is not None:
                for cb, ca in zip(_created(act), _created(twin), strict=False):
                    self.maps["B"][cb] = ca
        self.next_cluster = max(highest_cluster_id(a.project.conn), highest_cluster_id(b.project.conn),
                                max((k[1] for k in self.state.values if k[0] == "cluster"), default=0)) + 1
        self.next_local = highest_action_id(a.project.conn) + 1
        self.local_of_uid = {x.uid: x.local_id for x in a.actions[:mp.prefix]}
        self.result_rows: dict[str, Rows] = {}  # what each replayed action changed here
        self.shared = {x.uid: x for x in a.actions[:mp.prefix]}  # their effect: read when undone
        self.writer: dict[Key, dict[str, Any]] = {}
        # the sides whose decision a piece of state holds now: both, after the same decision
        # on both sides; then a change by one side alone is a conflict, not a silent undo
        self.owners: dict[Key, set[str]] = {}
        self.merged_into: dict[int, int] = {}
        self.texts = dict(a.project.conn.execute("SELECT id, text FROM lines"))

    # ---- order ------------------------------------------------------------------------------
    def sequence(self) -> Iterator[tuple[str, Action]]:
        """Both sides' new actions in time order, each side's own order kept; an action both
        sides hold (after an earlier merge) once — the version a merge already replayed."""
        da, db = self.mp.side_actions("A"), self.mp.side_actions("B")
        a_uids = {x.uid: x for x in da}
        b_uids = {x.uid: x for x in db}
        i = j = 0
        seen: set[str] = set()
        while i < len(da) or j < len(db):
            take_a = j >= len(db) or (i < len(da) and (da[i].ts, da[i].uid) <= (db[j].ts, db[j].uid))
            side, act = ("A", da[i]) if take_a else ("B", db[j])
            if take_a:
                i += 1
            else:
                j += 1
            if act.uid in seen:
                continue
            seen.add(act.uid)
            if side == "A" and act.uid in b_uids and b_uids[act.uid].payload.get("replayed") \
                    and not act.payload.get("replayed"):
                side, act = "B", b_uids[act.uid]
            elif side == "B" and act.uid in a_uids and not (
                    act.payload.get("replayed") and not a_uids[act.uid].payload.get("replayed")):
                side, act = "A", a_uids[act.uid]
            yield side, act

    # ---- ids ----------------------------------------------------------------------------------
    def _cid(self, side: str, cid: int | None, create: bool = False) -> int | None:
        if cid is None:
            return None
        m = self.maps[side]
        if cid in m:
            return m[cid]
        if create and side == "B":
            m[cid] = self.next_cluster
            self.next_cluster += 1
            return m[cid]
        return cid

    def translate(self, side: str, r: Rows) -> Rows:
        out: Rows = {}
        for (kind, i), (bef, aft) in sorted(r.items(), key=lambda kv: kv[0][0] != "cluster"):
            if kind == "cluster":
                out[("cluster", self._cid(side, i, create=bef is None and aft is not None))] = (bef, aft)
            elif kind == "line":
                out[(kind, i)] = tuple(None if v is None else (self._cid(side, v[0]), *v[1:])
                                       for v in (bef, aft))
            else:
                out[(kind, i)] = (bef, aft)
        return out

    def _extras(self, side: str, act: Action) -> dict[str, Any]:
        ex = {k: v for k, v in act.payload.items() if k not in ("lines", "clusters", "flags", "title",
                                                                 "action_id", "conflicts")}
        if "suggestions" in ex:
            ex["suggestions"] = [[[r[0], r[1], self._cid(side, r[2]), r[3]] for r in part]
                                 for part in ex["suggestions"]]
        if "name_suggestions" in ex:
            ex["name_suggestions"] = [[[self._cid(side, r[0]), *r[1:]] for r in part]
                                      for part in ex["name_suggestions"]]
        if "accepted" in ex:
            ex["accepted"] = {str(self._cid(side, int(k))): v for k, v in ex["accepted"].items()}
        ex["replayed"] = True
        return ex

    # ---- helpers on the result's state ------------------------------------------------------------
    def follow(self, cid: int) -> int | None:
        seen = set()
        while cid in self.merged_into and cid not in seen:
            seen.add(cid)
            cid = self.merged_into[cid]
        return cid if self.state.get(("cluster", cid)) is not None else None

    def human_held(self, v: Value) -> bool:
        if v is None:
            return False
        c = self.state.get(("cluster", v[0]))
        return v[1] == "human" or (c is not None and (c[0] is not None or bool(c[3])))

    def label(self, cid: int | None) -> str:
        if cid is None:
            return "no cluster"
        c = self.state.get(("cluster", cid))
        return repr(c[0]) if c and c[0] else f"#{cid}"

    def who(self, side: str, act: Action) -> dict[str, Any]:
        path = (self.mp.a if side == "A" else self.mp.b).path.name
        return {"side": side, "file": path, "annotator": act.annotator, "ts": act.ts, "action": act.kind,
                "uid": act.uid}

    def describe(self, key: Key, kept: Value, other: Value, kept_by: dict, other_by: dict) -> tuple[str, str]:
        k, i = key
        a, b = kept_by.get("annotator", "the shared history"), other_by["annotator"]
        if k == "line":
            text = (self.texts.get(i) or "")[:40]
            where = [self.label(v[0]) if v else "no cluster" for v in (kept, other)]
            return "line", f"line {i} ({text!r}): {a} put it in {where[0]}, {b} in {where[1]}"
        if k == "cluster":
            if kept is None or other is None:
                gone = "exists" if kept is not None else "is gone"
                return "cluster", f"cluster #{i} {gone} ({a}); {b} " + (
                    "removed it" if other is None else f"changed it to {other[0] or 'unnamed'}")
            if kept[0] != other[0]:
                return "name", f"cluster #{i}: {a} named it {kept[0]!r}, {b} {other[0]!r}"
            return "cluster", f"cluster #{i}: {a} and {b} marked it differently"
        if k == "flags":
            return "flags", f"line {i}: {a} flagged it {list(kept) or 'none'}, {b} {list(other) or 'none'}"
        return "title", f"title: {a} {kept!r}, {b} {other!r}"

    # ---- the replay --------------------------------------------------------------------------------
    def run(self) -> None:
        for side, act in self.sequence():
            self.one(side, act)
        self.mp.state = self.state
        self.mp.cluster_map = self.maps
        self.mp.next_cluster = self.next_cluster
        reclusters = [(r.source.ts, r.side) for r in self.mp.replayed
                      if r.source.kind == "recluster" and not r.superseded]
        self.mp.machine_side = max(reclusters)[1] if reclusters else "A"

    def decide(self, side: str) -> str | None:
        if self.prefer is None:
            return None
        return "other" if self.prefer in ("newer", side) else "kept"

    def one(self, side: str, act: Action) -> None:
        local = self.next_local
        self.next_local += 1
        self.local_of_uid[act.uid] = local
        rep = Replayed(side, act, local, [(k, ln, self._cid(side, s), self._cid(side, d))
                                          for k, ln, s, d in act.ops], {}, self._extras(side, act), None)
        self.mp.replayed.append(rep)
        if act.superseded:
            rep.superseded = True
            return
        if act.is_undo_redo:
            target = self.by_local[side].get(act.undoes or -1)
            t_rows = None
            if target is not None:
                shared = self.shared.get(target.uid)
                t_rows = effect(shared, self.by_local["A"]) if shared else self.result_rows.get(target.uid)
            rep.undoes = self.local_of_uid.get(target.uid) if target is not None else None
            if not t_rows or rep.undoes is None:
                rep.superseded = True  # its target never took effect here: nothing to undo
                rep.notes.append("nothing to undo here")
                return
            eff = {k: (a, b) for k, (b, a) in t_rows.items()} if act.kind == "undo" else dict(t_rows)
        elif act.kind == "merge":
            folded = self.fold(side, act, rep)
            if folded is None:
                return
            eff, moved = folded
            rep.extras["moved"] = moved
        else:
            eff = self.translate(side, rows(act.payload))
        changes, groups, notes = self.classify(side, act, eff)
        rep.notes.extend(notes)
        whole = act.kind in WHOLE
        decision = self.decide(side)
        kept_by = {}
        if groups:
            items = [[row for g in groups for row in g]] if whole or act.kind == "recluster" else groups
            if whole:  # all of it or nothing: the review item carries every row it would change
                conflicting = {row[0] for row in items[0]}
                items[0] += [(k, self.state.get(k), v) for k, v in changes.items() if k not in conflicting]
            for g in items:
                kept_by = self.writer.get(g[0][0], {"side": "shared", "annotator": "the shared history"})
                kind, summary = self.describe(g[0][0], g[0][1], g[0][2], kept_by, self.who(side, act))
                if whole or act.kind == "recluster":
                    kind = act.kind
                    summary = (f"{act.annotator}'s {act.kind} ({side}, {act.ts}) meets {len(g)} "
                               f"piece(s) of state the other side changed; first: {summary}")
                self.mp.conflicts.append(Conflict(kind, summary, g, kept_by, self.who(side, act), decision))
                if decision == "other":
                    changes.update({k: other for k, _kept, other in g})
            if whole and decision != "other":
                changes = {}
        for key in [k for k, v in changes.items() if k[0] == "cluster" and v is None]:
            stays = [lid for lid in self.state.lines_of(key[1])
                     if ("line", lid) not in changes or (changes[("line", lid)] or (None,))[0] == key[1]]
            if stays:  # a line whose move lost a conflict is still in it: the cluster stays
                del changes[key]
        if not changes and groups:
            rep.superseded = True
            return
        self.apply(side, act, rep, changes)

    def fold(self, side: str, act: Action, rep: Replayed) -> tuple[Rows, list[int]] | None:
        """A merge of clusters as it reads here: fold what cluster src holds *here* into dst
        (lines the other side moved out of src stay where they went; lines it put in src go
        along). Rows are (state here, after the fold); a src or dst the other side merged
        away is followed to where it went, and the fold, no longer the one its annotator saw,
        becomes a conflict (its rows' "before" then differs from here). None: nothing to do."""
        src = next(self._cid(side, s) for k, _l, s, _d in act.ops if k == "merge")
        dst = next(self._cid(side, d) for k, _l, _s, d in act.ops if k == "merge")
        s2 = src if self.state.get(("cluster", src)) is not None else self.follow(src)
        d2 = dst if self.state.get(("cluster", dst)) is not None else self.follow(dst)
        st = self.state
        if s2 is not None and s2 == d2 or (s2 is None and d2 is None):
            # nothing to fold: in the log, but never in effect (the same merge is already here,
            # or neither cluster is left); an op row merging into a cluster that no longer
            # exists must not count when cannot-links follow merges
            rep.superseded = True
            rep.notes.append("already merged here" if s2 is not None else
                             "neither cluster it merged is left here")
            if s2 is not None:  # the same decision on both sides: both now hold what it moved
                for key in [("cluster", src), *(("line", lid) for lid in act.payload.get("moved", []))]:
                    if self.owners.get(key):
                        self.owners[key].add(side)
            self.result_rows[act.uid] = {}
            return None
        if s2 is None:  # src dropped on the other side: its lines, as this side saw them, into dst
            eff: Rows = {}
            for lid in act.payload.get("moved", []):
                cur = st.get(("line", lid))
                eff[("line", lid)] = (CHANGED, (d2, cur[1] if cur else "human", 0))
            return eff, list(act.payload.get("moved", []))
        if d2 is None:  # dst dropped on the other side: it comes back with src's lines
            local_dst = next(d for k, _l, _s, d in act.ops if k == "merge")
            was = (act.payload.get("clusters") or {}).get(str(local_dst), [None, None])[1]
            cs = st.get(("cluster", s2))
            back = tuple(was) if was else (cs[0], 0, act.annotator, 0)
            eff = {("cluster", dst): (CHANGED, back), ("cluster", s2): (CHANGED, None)}
            moved = st.lines_of(s2)
            for lid in moved:
                eff[("line", lid)] = (CHANGED, (dst, *st.get(("line", lid))[1:]))
            return eff, moved
        moved = st.lines_of(s2)
        cs, cd = st.get(("cluster", s2)), st.get(("cluster", d2))
        eff: Rows = {("line", lid): (st.get(("line", lid)), (d2, *st.get(("line", lid))[1:]))
                     for lid in moved}
        eff[("cluster", s2)] = (cs, None)
        if cs[0] is not None and cd[0] is None:
            eff[("cluster", d2)] = (cd, (cs[0], *cd[1:]))
        if (s2, d2) != (src, dst) or (cs[0] and cd[0] and cs[0] != cd[0]):
            # not the clusters its annotator merged: the other side's state is what it meets
            eff = {k: (CHANGED, a) for k, (_b, a) in eff.items()}
        return eff, moved

    def classify(self, side: str, act: Action, eff: Rows
                 ) -> tuple[dict[Key, Value], list[list[tuple[Key, Value, Value]]], list[str]]:
        """What of an action applies here ({key: new value}), its conflicts (groups of
        (key, kept, other) decided together) and notes."""
        st, engine = self.state, act.kind == "recluster"
        changes: dict[Key, Value] = {}
        groups: list[list[tuple[Key, Value, Value]]] = []
        notes: list[str] = []
        for key, (bef, aft) in eff.items():
            if key[0] != "cluster" or bef == aft:
                continue
            cur = st.get(key)
            if cur == aft:
                self.owners.setdefault(key, set()).add(side)
                continue
            if bef == CHANGED:
                groups.append([(key, cur, aft)])
            elif cur == bef and len(self.owners.get(key, ())) > 1:
                groups.append([(key, cur, aft)])  # the other side decided this too
            elif cur == bef:
                changes[key] = aft
            elif bef is not None and aft is not None and cur is not None and not act.is_undo_redo:
                new, ok = list(cur), True
                for f in range(4):
                    if bef[f] != aft[f] and cur[f] != aft[f]:
                        if cur[f] == bef[f]:
                            new[f] = aft[f]
                        else:
                            ok = False
                if ok:
                    changes[key] = tuple(new)
                else:
                    groups.append([(key, cur, tuple(aft[f] if bef[f] != aft[f] else cur[f] for f in range(4)))])
            elif aft is None and cur is not None:
                if engine and (cur[0] is not None or cur[3]):
                    notes.append(f"kept cluster #{key[1]}: named or reviewed on the other side")
                else:
                    groups.append([(key, cur, None)])
            elif cur is None and bef is not None and aft is not None:
                dst = self.follow(key[1])
                if dst is not None:
                    d = st.get(("cluster", dst))
                    moved = tuple(aft[f] if bef[f] != aft[f] else d[f] for f in range(4))
                    groups.append([(("cluster", dst), d, moved)])
                else:
                    groups.append([(key, None, aft)])
            else:
                groups.append([(key, cur, aft)])
        # a cluster this action deletes but that holds lines the action does not move
        merge_dst = next((self._cid(side, d) for k, _l, _s, d in act.ops if k == "merge"), None)
        for key, new in list(changes.items()):
            if key[0] != "cluster" or new is not None:
                continue
            left = [lid for lid in st.lines_of(key[1]) if ("line", lid) not in eff]
            if not left:
                continue
            if act.kind == "merge" and merge_dst is not None:
                for lid in left:
                    cur = st.get(("line", lid))
                    changes[("line", lid)] = (merge_dst, cur[1], cur[2])
                notes.append(f"{len(left)} line(s) the other side put in #{key[1]} follow it into #{merge_dst}")
            elif act.is_undo_redo:
                groups.append([(key, st.get(key), None)])
                del changes[key]
            else:
                del changes[key]  # not empty here: it stays
        def exists_after(cid: int) -> bool:
            k = ("cluster", cid)
            return (changes[k] if k in changes else st.get(k)) is not None

        for key, (bef, aft) in eff.items():
            if key[0] == "cluster" or key in changes or bef == aft:
                continue
            cur = st.get(key)
            if cur == aft:
                self.owners.setdefault(key, set()).add(side)  # the same decision, once
                continue
            if bef == CHANGED:
                groups.append([(key, cur, aft)])
                continue
            if cur == bef and len(self.owners.get(key, ())) > 1:
                groups.append([(key, cur, aft)])  # the other side decided this too
                continue
            if engine and key[0] == "line" and self.human_held(cur):
                # its side saw the line free; here a person placed it or named its cluster
                notes.append(f"line {key[1]} kept where a human put it on the other side")
                continue
            if key[0] == "line" and aft is not None and not exists_after(aft[0]):
                dst = self.follow(aft[0])
                groups.append([(key, cur, None if dst is None else (dst, *aft[1:]))])
                continue
            if cur == bef:
                changes[key] = aft
            elif key[0] == "line" and engine and self.human_held(cur):
                notes.append(f"line {key[1]} kept where a human put it on the other side")
            elif key[0] == "line" and not engine and self.writer.get(key, {}).get("action") == "recluster" \
                    and (cur is None or cur[1] == "auto"):
                changes[key] = aft  # a human decision over the other side's engine
            else:
                groups.append([(key, cur, aft)])
        # names are unique: a name this action gives that another cluster holds here
        for key, new in list(changes.items()):
            if key[0] != "cluster" or new is None or new[0] is None:
                continue
            cur = st.get(key)
            if cur is not None and cur[0] == new[0]:
                continue
            holder = st.named(new[0])
            if holder is not None and holder != key[1] and changes.get(("cluster", holder), 0) is not None \
                    and (changes.get(("cluster", holder)) or (new[0],))[0] == new[0]:
                h = st.get(("cluster", holder))
                del changes[key]
                groups.append([(key, cur, new), (("cluster", holder), h, (None, *h[1:]))])
        return changes, groups, notes

    def apply(self, side: str, act: Action, rep: Replayed, changes: dict[Key, Value]) -> None:
        st = self.state
        done: Rows = {}
        for key in sorted(changes, key=lambda k: (k[0] == "cluster" and changes[k] is None, k)):
            before = st.get(key)
            if before == changes[key]:
                continue
            done[key] = (before, changes[key])
            st.set(key, changes[key])
            self.writer[key] = self.who(side, act)
            self.owners[key] = {side}
        if act.kind == "merge":
            gone = [k[1] for k, (_b, a) in done.items() if k[0] == "cluster" and a is None]
            into = {v[1][0] for k, v in done.items() if k[0] == "line" and v[1] is not None}
            for s in gone:
                self.merged_into[s] = next(iter(into), None) or next(
                    self._cid(side, d) for k, _l, _s, d in act.ops if k == "merge")
        rep.changes = done
        self.result_rows[act.uid] = done


# ---- writing the result -------------------------------------------------------------------------


def _tmp_beside(out: Path) -> Path:
    return out.with_name(f".{out.name}.merge-{os.getpid()}.tmp")


def write(mp: MergePlan, out: Path) -> None:
    """Write the result to `out` atomically: a temporary file beside it, checked, renamed."""
    src = mp.b if mp.fast_forward == "B" else mp.a
    tmp = _tmp_beside(out)
    for extra in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm"), Path(f"{tmp}-journal")):
        extra.unlink(missing_ok=True)
    try:
        dst = sqlite3.connect(tmp)
        try:
            src.project.conn.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
        if mp.fast_forward is None:
            proj = Project.open(tmp)
            try:
                with proj.transaction() as conn:
                    _write_merged(mp, conn)
            finally:
                proj.close()
            Project.open(tmp, readonly=True).close()  # the schema and integrity checks, again
        os.replace(tmp, out)
    except BaseException:
        for extra in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm"), Path(f"{tmp}-journal")):
            with suppress(OSError):
                extra.unlink()
        raise


def _write_merged(mp: MergePlan, conn: sqlite3.Connection) -> None:
    """Inside one transaction of the copy of A: its new actions out, the merged log and state in."""
    diverged = [x.local_id for x in mp.side_actions("A")]
    conn.executemany("DELETE FROM ops WHERE action_id=?", [(i,) for i in diverged])
    st = mp.state
    conn.execute("DELETE FROM assignments")
    conn.execute("DELETE FROM suggestions")
    conn.execute("DELETE FROM name_suggestions")
    conn.execute("DELETE FROM line_flags")
    conn.execute("DELETE FROM clusters")
    conn.executemany("INSERT INTO clusters(id, name, locked, created_by, confirmed) VALUES (?,?,?,?,?)",
                     [(k[1], *v) for k, v in sorted(st.values.items()) if k[0] == "cluster"])
    conn.executemany("INSERT INTO assignments(line_id, cluster_id, origin, confirmed) VALUES (?,?,?,?)",
                     [(k[1], *v) for k, v in sorted(st.values.items()) if k[0] == "line"])
    conn.executemany("INSERT INTO line_flags(line_id, flag) VALUES (?,?)",
                     [(k[1], f) for k, v in sorted(st.values.items()) if k[0] == "flags" for f in v])
    title = st.get(("title", 0))
    if title is not None:
        conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('title', ?)", (title,))
    _write_machine_state(mp, conn)
    top_action = 0
    for rep in mp.replayed:
        act = rep.source
        payload = json.dumps(to_payload(rep.changes,
                                        {**rep.extras, "action_id": rep.local_id,
                                         **({"notes": rep.notes} if rep.notes else {})}),
                             ensure_ascii=False, separators=(",", ":"))
        conn.executemany(
            "INSERT INTO ops(action_id, ts, annotator, kind, line_id, src_cluster, dst_cluster, payload, "
            "undoes, uid, superseded) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [(rep.local_id, act.ts, act.annotator, k, ln, s, d, payload if i == 0 else None,
              rep.undoes, act.uid, int(rep.superseded)) for i, (k, ln, s, d) in enumerate(rep.ops)])
        top_action = max(top_action, rep.local_id)
        conn.execute("INSERT INTO annotators(name, first_seen, last_seen) VALUES (?,?,?) ON CONFLICT(name) "
                     "DO UPDATE SET first_seen=MIN(first_seen, excluded.first_seen), "
                     "last_seen=MAX(last_seen, excluded.last_seen)", (act.annotator, act.ts, act.ts))
    conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('action_seq', ?)", (str(top_action),))
    top = max(mp.next_cluster - 1, conn.execute("SELECT COALESCE(MAX(id), 0) FROM clusters").fetchone()[0])
    conn.execute("DELETE FROM sqlite_sequence WHERE name='clusters'")
    conn.execute("INSERT INTO sqlite_sequence(name, seq) VALUES ('clusters', ?)", (top,))
    conn.executemany(
        "INSERT INTO merge_conflicts(kind, summary, rows, kept, other, resolved) VALUES (?,?,?,?,?,0)",
        [(c.kind, c.summary, json.dumps(c.as_json()["rows"], ensure_ascii=False),
          json.dumps(c.kept, ensure_ascii=False), json.dumps(c.other, ensure_ascii=False))
         for c in mp.unresolved])


def _write_machine_state(mp: MergePlan, conn: sqlite3.Connection) -> None:
    """Suggestions, suggested names and confidences: the engine's, from the copy whose latest
    re-cluster is the newest, for the clusters and unassigned lines of the result."""
    side = mp.a if mp.machine_side == "A" else mp.b
    m = mp.cluster_map.get(mp.machine_side, {})
    clusters = {k[1] for k in mp.state.values if k[0] == "cluster"}
    assigned = {k[1] for k in mp.state.values if k[0] == "line"}
    src = side.project.conn
    conn.executemany(
        "INSERT OR IGNORE INTO suggestions(line_id, rank, cluster_id, score) VALUES (?,?,?,?)",
        [(lid, rank, m.get(cid, cid), score) for lid, rank, cid, score in
         src.execute("SELECT line_id, rank, cluster_id, score FROM suggestions")
         if m.get(cid, cid) in clusters and lid not in assigned])
    conn.executemany(
        "INSERT OR IGNORE INTO name_suggestions(cluster_id, source, name, score) VALUES (?,?,?,?)",
        [(m.get(cid, cid), source, name, score) for cid, source, name, score in
         src.execute("SELECT cluster_id, source, name, score FROM name_suggestions")
         if m.get(cid, cid) in clusters])
    if side is mp.b:
        conn.execute("DELETE FROM confidence")
        conn.executemany("INSERT INTO confidence(line_id, modality, model, value) VALUES (?,?,?,?)",
                         src.execute("SELECT line_id, modality, model, value FROM confidence"))


# ---- reports ------------------------------------------------------------------------------------


def _action_json(act: Action) -> dict[str, Any]:
    lines = sorted({ln for _k, ln, _s, _d in act.ops if ln is not None})
    return {"uid": act.uid, "ts": act.ts, "annotator": act.annotator,
            "kind": action_label([k for k, _l, _s, _d in act.ops]),
            "lines": lines[:20], "line_count": len(lines)}


def report(mp: MergePlan) -> dict[str, Any]:
    """What `sgtui diff --json` and `sgtui merge --json` print."""
    applied = [r for r in mp.replayed if not r.superseded]
    return {
        "a": str(mp.a.path), "b": str(mp.b.path),
        "shared_actions": mp.prefix,
        "fast_forward": mp.fast_forward,
        "a_actions": [_action_json(x) for x in mp.side_actions("A")],
        "b_actions": [_action_json(x) for x in mp.side_actions("B")],
        "replayed": len(mp.replayed), "applied": len(applied),
        "superseded": len(mp.replayed) - len(applied),
        "conflicts": [c.as_json() for c in mp.conflicts],
        "unresolved": len(mp.unresolved),
        "notes": [f"{r.source.annotator} ({r.side}) {r.source.kind}: {n}" for r in mp.replayed for n in r.notes],
    }
