"""The annotator's actions and the append-only op log (docs/architecture.md, "The op log").

Each action is one transaction: its state change and its op rows commit together. The
action's first op row carries a payload with the before/after state of every assignment
and cluster it touched, so undo and redo restore exact state — and refuse (ConflictError)
when someone changed those rows since, instead of overwriting their work.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sgtui.errors import ConflictError, SgtuiError
from sgtui.project.core import ProjectCore
from sgtui.project.records import HumanConstraints, MergeConflict, OpRow
from sgtui.project.restore import (
    flags_match,
    restore_flags,
    restore_title,
    title_matches,
)

COUNTED = ("add", "remove", "merge")
RAW_KINDS = ("add", "remove", "merge", "rename", "confirm", "undo", "redo", "recluster", "flag")
RESOLVED = {"kept": 1, "other": 2}  # merge_conflicts.resolved


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_uid() -> str:
    """An action's identity across copies of the file: 128 random bits (integer action ids are
    local to one copy and collide once copies diverge)."""
    return uuid.uuid4().hex


class _Recorder:
    """Collects the rows an action touches (state before) and the op rows it logs."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.lines: dict[int, list | None] = {}
        self.clusters: dict[int, list | None] = {}
        self.rows: list[dict[str, Any]] = []
        self.extra: dict[str, Any] = {}
        self.undoes: int | None = None
        self.next_cluster: int | None = None

    def touch_line(self, line_id: int) -> None:
        if line_id not in self.lines:
            self.lines[line_id] = _line_state(self.conn, line_id)

    def touch_cluster(self, cluster_id: int) -> None:
        if cluster_id not in self.clusters:
            self.clusters[cluster_id] = _cluster_state(self.conn, cluster_id)

    def log(self, kind: str, line_id: int | None = None, src: int | None = None,
            dst: int | None = None) -> None:
        self.rows.append({"kind": kind, "line_id": line_id, "src": src, "dst": dst})

    def payload(self) -> dict[str, Any]:
        return {  # extras first: they must never clobber the state undo restores
            **self.extra,
            "lines": {str(k): [v, _line_state(self.conn, k)] for k, v in self.lines.items()},
            "clusters": {str(k): [v, _cluster_state(self.conn, k)] for k, v in self.clusters.items()},
        }


def highest_cluster_id(conn: sqlite3.Connection) -> int:
    """The highest cluster id ever used, by a cluster, the id counter or an op row: a new
    cluster must never take the id of one merged away or dropped, or old op rows would come
    to mean it."""
    return conn.execute(
        "SELECT MAX(COALESCE((SELECT MAX(id) FROM clusters), 0), "
        "COALESCE((SELECT seq FROM sqlite_sequence WHERE name='clusters'), 0), "
        "COALESCE((SELECT MAX(src_cluster) FROM ops), 0), "
        "COALESCE((SELECT MAX(dst_cluster) FROM ops), 0))"
    ).fetchone()[0]


def _line_state(conn: sqlite3.Connection, line_id: int) -> list | None:
    r = conn.execute(
        "SELECT cluster_id, origin, confirmed FROM assignments WHERE line_id=?", (line_id,)
    ).fetchone()
    return list(r) if r else None


def _cluster_state(conn: sqlite3.Connection, cluster_id: int) -> list | None:
    r = conn.execute(
        "SELECT name, locked, created_by, confirmed FROM clusters WHERE id=?", (cluster_id,)
    ).fetchone()
    return list(r) if r else None


class _DryRun(Exception):  # noqa: N818 - control flow, never seen by users
    """Rolls a preview's transaction back, carrying what it would have done."""

    def __init__(self, plan: dict) -> None:
        super().__init__("dry run")
        self.plan = plan


def _suggestion_rows(conn: sqlite3.Connection) -> list[list]:
    return [list(r) for r in conn.execute(
        "SELECT line_id, rank, cluster_id, score FROM suggestions ORDER BY line_id, rank")]


def _name_suggestion_rows(conn: sqlite3.Connection) -> list[list]:
    return [list(r) for r in conn.execute(
        "SELECT cluster_id, source, name, score FROM name_suggestions ORDER BY cluster_id, source")]


def _confidence_rows(conn: sqlite3.Connection, modality: str, model: str) -> list[list]:
    return [list(r) for r in conn.execute(
        "SELECT line_id, value FROM confidence WHERE modality=? AND model=? ORDER BY line_id",
        (modality, model))]


def _restore_confidence(conn: sqlite3.Connection, payload: dict, side: int) -> None:
    """A re-cluster rewrote the confidences the screen shows: put back that side's rows."""
    conf = payload.get("confidence")
    if not isinstance(conf, dict):
        return
    conn.execute("DELETE FROM confidence WHERE modality=? AND model=?", (conf["modality"], conf["model"]))
    conn.executemany(
        "INSERT INTO confidence(line_id, modality, model, value) "
        "SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM lines WHERE id=?)",
        [(lid, conf["modality"], conf["model"], value, lid) for lid, value in conf["rows"][side]],
    )


def _restore(conn: sqlite3.Connection, payload: dict, side: int) -> None:
    """Put every touched row into its state on `side` (0 = before, 1 = after)."""
    clusters = {int(k): v[side] for k, v in payload["clusters"].items()}
    lines = {int(k): v[side] for k, v in payload["lines"].items()}
    try:
        # names move between clusters (merge, rename): clear the touched ones first.
        for cid in clusters:
            conn.execute("UPDATE clusters SET name=NULL WHERE id=?", (cid,))
        for cid, st in clusters.items():
            if st is not None:
                conn.execute(
                    "INSERT INTO clusters(id, name, locked, created_by, confirmed) VALUES (?,?,?,?,?) "
                    "ON CONFLICT(id) DO UPDATE SET name=excluded.name, locked=excluded.locked, "
                    "created_by=excluded.created_by, confirmed=excluded.confirmed",
                    (cid, *st),
                )
        for lid, st in lines.items():
            if st is None:
                conn.execute("DELETE FROM assignments WHERE line_id=?", (lid,))
            else:
                conn.execute(
                    "INSERT INTO assignments(line_id, cluster_id, origin, confirmed) VALUES (?,?,?,?) "
                    "ON CONFLICT(line_id) DO UPDATE SET cluster_id=excluded.cluster_id, "
                    "origin=excluded.origin, confirmed=excluded.confirmed",
                    (lid, *st),
                )
        for cid, st in clusters.items():
            if st is None:
                conn.execute("DELETE FROM suggestions WHERE cluster_id=?", (cid,))
                conn.execute("DELETE FROM clusters WHERE id=?", (cid,))
        restore_flags(conn, payload, side)
        restore_title(conn, payload, side)
        for k, states in payload.get("conflicts", {}).items():  # a resolved merge conflict
            conn.execute("UPDATE merge_conflicts SET resolved=? WHERE id=?", (states[side], int(k)))
        if "suggestions" in payload:  # a re-cluster rewrote them all
            conn.execute("DELETE FROM suggestions")
            conn.executemany(
                "INSERT OR IGNORE INTO suggestions(line_id, rank, cluster_id, score) "
                "SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM clusters WHERE id=?)",
                [(*row, row[2]) for row in payload["suggestions"][side]],
            )
        _restore_confidence(conn, payload, side)
        if "name_suggestions" in payload:  # a re-cluster named its clusters anew
            conn.execute("DELETE FROM name_suggestions")
            conn.executemany(
                "INSERT INTO name_suggestions(cluster_id, source, name, score) "
                "SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM clusters WHERE id=?)",
                [(*row, row[0]) for row in payload["name_suggestions"][side]],
            )
    except sqlite3.IntegrityError as exc:
        raise ConflictError(f"cannot restore: the clusters changed since ({exc}); "
                            "review the current state and act again") from None


def _matches(conn: sqlite3.Connection, payload: dict, side: int) -> bool:
    if not flags_match(conn, payload, side) or not title_matches(conn, payload, side):
        return False
    for k, states in payload.get("conflicts", {}).items():
        r = conn.execute("SELECT resolved FROM merge_conflicts WHERE id=?", (int(k),)).fetchone()
        if r is None or r[0] != states[side]:
            return False
    for k, v in payload["lines"].items():
        if _line_state(conn, int(k)) != v[side]:
            return False
    return all(_cluster_state(conn, int(k)) == v[side] for k, v in payload["clusters"].items())


def _check_expected(conn: sqlite3.Connection, lid: int, expect: dict[int, int | None] | None) -> None:
    """Refuse when a line is not where the screen (or the open prompt) showed it."""
    if expect is None or lid not in expect:
        return
    cur = _line_state(conn, lid)
    now = cur[0] if cur else None
    if now == expect[lid]:
        return
    if expect[lid] is None:
        raise ConflictError(f"line {lid} was put into cluster #{now} since the screen was drawn; "
                            "nothing was changed — look and try again")
    where = f"moved to cluster #{now}" if now is not None else "was taken out of its cluster"
    raise ConflictError(f"line {lid} {where} since the screen was drawn; nothing was changed — "
                        "refresh and try again")


class ActionsMixin(ProjectCore):
    """User actions on a Project; every public method here is one transaction."""


    # ---- the recording transaction -------------------------------------------------------
    @contextmanager
    def _action(self, annotator: str) -> Iterator[_Recorder]:
        annotator = (annotator or "").strip()
        if not annotator:
            raise SgtuiError("an action needs an annotator name; pass --as NAME")
        self.last_action_id = None
        with self.transaction() as conn:
            rec = _Recorder(conn)
            yield rec
            if not rec.rows:
                return
            action_id = self._next_action_id(conn)
            ts = _now()
            uid = new_uid()
            payload = json.dumps(rec.payload(), ensure_ascii=False, separators=(",", ":"))
            conn.executemany(
                "INSERT INTO ops(action_id, ts, annotator, kind, line_id, src_cluster, dst_cluster, "
                "payload, undoes, uid) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [
                    (action_id, ts, annotator, r["kind"], r["line_id"], r["src"], r["dst"],
                     payload if i == 0 else None, rec.undoes, uid)
                    for i, r in enumerate(rec.rows)
                ],
            )
            conn.execute(
                "INSERT INTO annotators(name, first_seen, last_seen) VALUES (?,?,?) "
                "ON CONFLICT(name) DO UPDATE SET last_seen=excluded.last_seen",
                (annotator, ts, ts),
            )
            rec.extra["action_id"] = action_id
            self.last_action_id = action_id

    def _new_cluster(self, rec: _Recorder, created_by: str, name: str | None = None) -> int:
        if name is not None:
            self._check_name_free(name, None)
        if rec.next_cluster is None:
            rec.next_cluster = highest_cluster_id(rec.conn) + 1
        cid = rec.next_cluster
        rec.next_cluster += 1
        rec.conn.execute(
            "INSERT INTO clusters(id, name, created_by) VALUES (?, ?, ?)", (cid, name, created_by)
        )
        rec.clusters[cid] = None  # did not exist before
        return cid

    def _require_cluster(self, cluster_id: int) -> tuple[str | None, bool]:
        r = self.conn.execute("SELECT name, confirmed FROM clusters WHERE id=?", (cluster_id,)).fetchone()
        if r is None:
            gone = self._who_ended(cluster_id)
            raise ConflictError(f"cluster #{cluster_id} no longer exists{gone}; nothing was changed — "
                                "choose again")
        return r[0], bool(r[1])

    def _who_ended(self, cluster_id: int) -> str:
        """' (NAME merged it into #N)' from the op log, or '' when the log does not say."""
        r = self.conn.execute(
            "SELECT annotator, dst_cluster FROM ops WHERE kind='merge' AND src_cluster=? "
            "ORDER BY id DESC LIMIT 1", (cluster_id,)).fetchone()
        return f" ({r[0]} merged it into #{r[1]})" if r else ""

    def _last_renamer(self, cluster_id: int) -> str:
        r = self.conn.execute(
            "SELECT annotator FROM ops WHERE kind IN ('rename', 'merge') AND dst_cluster=? "
            "ORDER BY id DESC LIMIT 1", (cluster_id,)).fetchone()
        return r[0] if r else "someone"

    def _check_name_free(self, name: str, except_id: int | None) -> None:
        r = self.conn.execute("SELECT id FROM clusters WHERE name=?", (name,)).fetchone()
        if r and r[0] != except_id:
            raise SgtuiError(f"the name {name!r} is already cluster #{r[0]}; merge the two instead")

    def _require_line(self, line_id: int) -> None:
        if self.conn.execute("SELECT 1 FROM lines WHERE id=?", (line_id,)).fetchone() is None:
            raise SgtuiError(f"line {line_id} does not exist in this project")

    def _drop_if_empty(self, rec: _Recorder, cluster_id: int) -> None:
        """An emptied cluster with no name is clutter: remove it (restored by undo)."""
        r = rec.conn.execute(
            "SELECT name, (SELECT COUNT(*) FROM assignments WHERE cluster_id=?) FROM clusters WHERE id=?",
            (cluster_id, cluster_id),
        ).fetchone()
        if r and r[0] is None and r[1] == 0:
            rec.touch_cluster(cluster_id)
            rec.conn.execute("DELETE FROM suggestions WHERE cluster_id=?", (cluster_id,))
            rec.conn.execute("DELETE FROM clusters WHERE id=?", (cluster_id,))

    # ---- the three counted operations ----------------------------------------------------
    def add(self, line_ids: Sequence[int], cluster_id: int | None, annotator: str,
            *, name: str | None = None) -> int:
        """Put unassigned lines into a cluster (None: a new cluster, optionally named)."""
        with self._action(annotator) as rec:
            if cluster_id is None:
                cluster_id = self._new_cluster(rec, annotator, name)
            else:
                self._require_cluster(cluster_id)
            for lid in line_ids:
                self._require_line(lid)
                rec.touch_line(lid)
                if rec.lines[lid] is not None:
                    raise ConflictError(f"line {lid} is already in cluster #{rec.lines[lid][0]}; "
                                        "move it instead")
                rec.conn.execute(
                    "INSERT INTO assignments(line_id, cluster_id, origin) VALUES (?, ?, 'human')",
                    (lid, cluster_id),
                )
                rec.log("add", lid, None, cluster_id)
        return self.last_action_id

    def remove(self, line_ids: Sequence[int], annotator: str,
               *, expect: dict[int, int | None] | None = None) -> int:
        """Take lines out of their clusters; `expect` (line -> cluster) refuses stale screens."""
        with self._action(annotator) as rec:
            emptied = set()
            for lid in line_ids:
                _check_expected(rec.conn, lid, expect)
                src = self._take_out(rec, lid, (expect or {}).get(lid))
                emptied.add(src)
            for cid in emptied:
                self._drop_if_empty(rec, cid)
        return self.last_action_id

    def _take_out(self, rec: _Recorder, lid: int, expected: int | None) -> int:
        self._require_line(lid)
        rec.touch_line(lid)
        cur = _line_state(rec.conn, lid)
        if cur is None:
            raise ConflictError(f"line {lid} is not in any cluster (someone may have moved it); refresh")
        if expected is not None and cur[0] != expected:
            raise ConflictError(f"line {lid} moved to cluster #{cur[0]} since the screen was drawn; "
                                "refresh and try again")
        rec.conn.execute("DELETE FROM assignments WHERE line_id=?", (lid,))
        rec.log("remove", lid, cur[0], None)
        return cur[0]

    def move(self, line_ids: Sequence[int], dst: int | None, annotator: str,
             *, expect: dict[int, int | None] | None = None, name: str | None = None) -> int:
        """Move lines to another cluster (None: a new one): remove + add rows, one action.

        `expect` (line -> the cluster the screen showed it in, None: unassigned) refuses
        the whole action when any of those lines is elsewhere now."""
        with self._action(annotator) as rec:
            for lid in line_ids:
                _check_expected(rec.conn, lid, expect)
            if dst is None:
                dst = self._new_cluster(rec, annotator, name)
            else:
                self._require_cluster(dst)
            emptied = set()
            for lid in line_ids:
                self._require_line(lid)
                rec.touch_line(lid)
                cur = _line_state(rec.conn, lid)
                if cur is not None and cur[0] == dst:
                    raise ConflictError(f"line {lid} is already in cluster #{dst}")
                if cur is not None:
                    emptied.add(self._take_out(rec, lid, (expect or {}).get(lid)))
                rec.conn.execute(
                    "INSERT INTO assignments(line_id, cluster_id, origin) VALUES (?, ?, 'human')",
                    (lid, dst),
                )
                rec.log("add", lid, None, dst)
            for cid in emptied - {dst}:
                self._drop_if_empty(rec, cid)
        return self.last_action_id

    def merge(self, src: int, dst: int, annotator: str) -> int:
        """Fold cluster `src` into `dst`; a name carries over, two different names refuse."""
        if src == dst:
            raise SgtuiError("cannot merge a cluster into itself; choose another target")
        with self._action(annotator) as rec:
            src_name, _ = self._require_cluster(src)
            dst_name, _ = self._require_cluster(dst)
            if src_name and dst_name and src_name != dst_name:
                raise SgtuiError(f"clusters {src_name!r} and {dst_name!r} have different names; "
                                 "rename one of them first if they are the same speaker")
            rec.touch_cluster(src)
            rec.touch_cluster(dst)
            moved = [r[0] for r in rec.conn.execute(
                "SELECT line_id FROM assignments WHERE cluster_id=?", (src,))]
            for lid in moved:
                rec.touch_line(lid)
            anchor = rec.conn.execute(
                "SELECT line_id FROM assignments WHERE cluster_id=? ORDER BY line_id LIMIT 1", (dst,)
            ).fetchone()
            rec.conn.execute("UPDATE assignments SET cluster_id=? WHERE cluster_id=?", (dst, src))
            rec.conn.execute("DELETE FROM suggestions WHERE cluster_id=?", (src,))
            rec.conn.execute("DELETE FROM clusters WHERE id=?", (src,))
            if src_name and not dst_name:
                rec.conn.execute("UPDATE clusters SET name=? WHERE id=?", (src_name, dst))
            rec.extra["moved"] = moved
            rec.extra["anchor"] = anchor[0] if anchor else None
            rec.log("merge", None, src, dst)
        return self.last_action_id

    # ---- logged, not counted -------------------------------------------------------------
    def rename(self, cluster_id: int, name: str | None, annotator: str,
               *, expect_name: str | None | bool = False) -> int:
        """Name a cluster (None or '' clears the name); names are unique in a project.

        `expect_name` (the name the prompt showed, None: unnamed) refuses when someone
        renamed the cluster since; False skips the check."""
        name = (name or "").strip() or None
        with self._action(annotator) as rec:
            current, _ = self._require_cluster(cluster_id)
            if expect_name is not False and current != expect_name:
                was = repr(expect_name) if expect_name else "unnamed"
                raise ConflictError(f"{self._last_renamer(cluster_id)} renamed cluster #{cluster_id} "
                                    f"({was}) to {current!r} since you opened the prompt; "
                                    "nothing was changed — look and name it again")
            if name is not None:
                self._check_name_free(name, cluster_id)
            rec.touch_cluster(cluster_id)
            rec.conn.execute("UPDATE clusters SET name=? WHERE id=?", (name, cluster_id))
            rec.log("rename", None, cluster_id, cluster_id)
        return self.last_action_id

    def accept_names(self, names: dict[int, str], annotator: str) -> int:
        """Accept suggested names (cluster id -> name) as ONE rename action of `annotator`
        (undone with one undo). Refused whole if a cluster was named since or a name is
        taken; the payload says which suggestions were accepted."""
        if not names:
            raise SgtuiError("no suggested name to accept")
        with self._action(annotator) as rec:
            taken = dict(rec.conn.execute("SELECT name, id FROM clusters WHERE name IS NOT NULL"))
            sources = dict(((cid, name), src) for cid, name, src in rec.conn.execute(
                "SELECT cluster_id, name, source FROM name_suggestions"))
            for cid, name in names.items():
                current, _ = self._require_cluster(cid)
                if current is not None:
                    raise ConflictError(f"{self._last_renamer(cid)} named cluster #{cid} {current!r} "
                                        "since the screen was drawn; nothing was changed")
                if name in taken and taken[name] != cid:
                    raise SgtuiError(f"the name {name!r} is already cluster #{taken[name]}'s; "
                                     "merge the two clusters instead")
                taken[name] = cid
                rec.touch_cluster(cid)
                rec.conn.execute("UPDATE clusters SET name=? WHERE id=?", (name, cid))
                rec.log("rename", None, cid, cid)
            rec.extra["accepted"] = {str(cid): [name, sources.get((cid, name))]
                                     for cid, name in names.items()}
        return self.last_action_id

    def confirm(self, cluster_id: int, annotator: str, value: bool = True) -> int:
        """Mark a cluster reviewed (or not)."""
        with self._action(annotator) as rec:
            self._require_cluster(cluster_id)
            rec.touch_cluster(cluster_id)
            rec.conn.execute("UPDATE clusters SET confirmed=? WHERE id=?", (int(value), cluster_id))
            rec.log("confirm", None, cluster_id, cluster_id)
        return self.last_action_id

    def import_labels(self, labels: dict[int, str], annotator: str,
                      *, origin: str = "human", source: str = "") -> int | None:
        """Assign lines to one named cluster per speaker, as ONE `import` action.

        origin 'human' places lines (overriding earlier placements); 'suggested' (machine
        guesses) never overrides a human placement.
        """
        if origin not in ("human", "suggested"):
            raise ValueError(origin)
        with self._action(annotator) as rec:
            by_name = dict(rec.conn.execute("SELECT name, id FROM clusters WHERE name IS NOT NULL"))
            changed = 0
            emptied = set()
            for lid, speaker in labels.items():
                self._require_line(lid)
                cid = by_name.get(speaker)
                if cid is None:
                    cid = self._new_cluster(rec, annotator, speaker)
                    by_name[speaker] = cid
                rec.touch_line(lid)
                cur = rec.lines[lid]
                if cur is not None and origin == "suggested" and cur[1] == "human":
                    continue
                if cur is not None and cur[0] == cid and cur[1] == origin:
                    continue
                if cur is not None and cur[0] != cid:
                    emptied.add(cur[0])
                rec.conn.execute(
                    "INSERT INTO assignments(line_id, cluster_id, origin) VALUES (?,?,?) "
                    "ON CONFLICT(line_id) DO UPDATE SET cluster_id=excluded.cluster_id, "
                    "origin=excluded.origin",
                    (lid, cid, origin),
                )
                changed += 1
            for cid in emptied:
                self._drop_if_empty(rec, cid)
            rec.extra.update(source=source, origin=origin, changed=changed)
            rec.log("import")
        return self.last_action_id

    def apply_clustering(self, groups: Sequence[tuple[int | None, Sequence[int]]],
                         suggestions: dict[int, Sequence[tuple[int, float]]] | None = None,
                         method: str = "gated", annotator: str = "sgtui",
                         confidence: tuple[str, str, Sequence[int], Sequence[float]] | None = None,
                         then: Callable[[], Any] | None = None) -> int:
        """Write the engine's groups as ONE `recluster` action of `annotator` (undoable).

        Human work is re-read inside the write transaction and never overridden, so a
        result computed before someone's action cannot undo it: lines a human placed,
        imported guesses and every line of a named or reviewed cluster stay where they are;
        a line is never put back into a cluster a human removed it from. A group with an
        existing cluster id keeps it; the others take the identity of the old unnamed,
        unreviewed cluster they overlap most, so ids and names do not jump.
        Suggestions map line -> [(group index, score)], best first. `confidence`
        (modality, model, line ids, values): the engine's new confidences, written in the
        same action with the rows they replace, so undo shows the confidences of before.
        `then`: what derives from the new clusters (their suggested names), run inside the
        action; the suggested names before and after it are kept for undo and redo.
        """
        with self._action(annotator) as rec:
            names_before = _name_suggestion_rows(rec.conn)  # before a dropped cluster takes its own
            plan = self._write_clustering(rec, groups, suggestions)
            if confidence is not None:
                modality, model, ids, values = confidence
                before = _confidence_rows(rec.conn, modality, model)
                self.put_confidence(modality, model, ids, values)
                rec.extra["confidence"] = {"modality": modality, "model": model,
                                           "rows": [before, _confidence_rows(rec.conn, modality, model)]}
            if then is not None:
                then()
            rec.extra["name_suggestions"] = [names_before, _name_suggestion_rows(rec.conn)]
            rec.extra["method"] = method
            rec.extra["lines_moved"] = plan["moved"]
            rec.log("recluster")
        return self.last_action_id

    def preview_clustering(self, groups: Sequence[tuple[int | None, Sequence[int]]]) -> dict:
        """What `apply_clustering` would do now, without doing it: {moved, into_reviewed, kept}."""
        try:
            with self.transaction() as conn:
                plan = self._write_clustering(_Recorder(conn), groups, None)
                raise _DryRun(plan)
        except _DryRun as dry:
            return dry.plan

    def _write_clustering(self, rec: _Recorder, groups: Sequence[tuple[int | None, Sequence[int]]],
                          suggestions: dict[int, Sequence[tuple[int, float]]] | None) -> dict:
        conn = rec.conn
        old = {lid: (cid, origin) for lid, cid, origin in
               conn.execute("SELECT line_id, cluster_id, origin FROM assignments")}
        endorsed = {r[0] for r in conn.execute(
            "SELECT id FROM clusters WHERE name IS NOT NULL OR confirmed=1")}
        reviewed = {r[0] for r in conn.execute("SELECT id FROM clusters WHERE confirmed=1")}
        existing = {r[0] for r in conn.execute("SELECT id FROM clusters")}
        cannot = self._cannot_links()
        # a line is the engine's to place when it is unassigned or an auto line of a
        # cluster nobody named or reviewed
        def free(lid: int) -> bool:
            cur = old.get(lid)
            return cur is None or (cur[1] == "auto" and cur[0] not in endorsed)

        released = {lid: cid for lid, (cid, origin) in old.items() if free(lid)}
        for lid, cid in released.items():
            rec.touch_line(lid)
            rec.touch_cluster(cid)
        conn.executemany("DELETE FROM assignments WHERE line_id=?", [(lid,) for lid in released])
        keyed: list[int | None] = [k if k is not None and k in existing else None for k, _ in groups]
        members = [[int(lid) for lid in ids if free(int(lid))] for _, ids in groups]
        # identity by overlap: greedy on overlap counts, largest first
        candidates = {cid for cid in released.values() if cid not in endorsed} - set(keyed)
        pairs = []
        for gi, ids in enumerate(members):
            if keyed[gi] is not None:
                continue
            counts: dict[int, int] = defaultdict(int)
            for lid in ids:
                c = released.get(lid)
                if c in candidates:
                    counts[c] += 1
            pairs.extend((-n, c, gi) for c, n in counts.items())
        taken: set[int] = set()
        for _, c, gi in sorted(pairs):
            if keyed[gi] is None and c not in taken:
                keyed[gi] = c
                taken.add(c)
        final: list[int | None] = []
        rows = []
        for gi, ids in enumerate(members):
            ids = [lid for lid in ids if keyed[gi] is None or (lid, keyed[gi]) not in cannot]
            if not ids and keyed[gi] is None:
                final.append(None)
                continue
            cid = keyed[gi]
            if cid is None:
                cid = self._new_cluster(rec, "auto")
            rec.touch_cluster(cid)
            final.append(cid)
            for lid in ids:
                rec.touch_line(lid)
                rows.append((lid, cid))
        conn.executemany(
            "INSERT INTO assignments(line_id, cluster_id, origin) VALUES (?, ?, 'auto') "
            "ON CONFLICT(line_id) DO NOTHING", rows)
        used = {c for c in final if c is not None}
        for cid in list(rec.clusters):
            if cid not in used and cid not in endorsed:
                self._drop_if_empty(rec, cid)
        new_place = dict(rows)
        moved = sum(1 for lid in set(released) | set(new_place)
                    if released.get(lid) != new_place.get(lid))
        plan = {
            "moved": moved,
            "into_reviewed": sum(1 for lid, c in rows if c in reviewed and released.get(lid) != c),
            "kept": sum(1 for cid, origin in old.values() if cid in endorsed),
        }
        if suggestions is not None:
            before = _suggestion_rows(conn)
            conn.execute("DELETE FROM suggestions")
            sugg = []
            for lid, ranked in suggestions.items():
                if int(lid) in new_place or not free(int(lid)):
                    continue  # suggestions are for lines the engine left unassigned
                for rank, (gi, score) in enumerate(ranked):
                    if final[gi] is not None and (int(lid), final[gi]) not in cannot:
                        sugg.append((int(lid), rank, final[gi], float(score)))
            conn.executemany(
                "INSERT OR IGNORE INTO suggestions(line_id, rank, cluster_id, score) VALUES (?,?,?,?)",
                sugg,
            )
            rec.extra["suggestions"] = [before, _suggestion_rows(conn)]
        return plan

    # ---- review items a merge of two copies left (sgtui/project/merge.py) ----------------
    def merge_conflicts(self, open_only: bool = True) -> list[MergeConflict]:
        """The conflicts a merge left undecided (all of them with open_only=False)."""
        out = []
        for cid, kind, summary, rows, kept, other, resolved in self.conn.execute(
                "SELECT id, kind, summary, rows, kept, other, resolved FROM merge_conflicts ORDER BY id"):
            if open_only and resolved:
                continue
            out.append(MergeConflict(cid, kind, summary, json.loads(rows), json.loads(kept),
                                     json.loads(other), ("open", "kept", "other")[resolved]))
        return out

    def resolve_conflict(self, conflict_id: int, pick: str, annotator: str) -> int:
        """Decide a merge conflict as ONE logged action (kind `resolve`, undoable): "kept"
        leaves the state as the merge kept it; "other" puts the other side's choice in place,
        refused when someone changed those lines or clusters since the merge."""
        if pick not in RESOLVED:
            raise SgtuiError(f"a conflict is resolved with 'kept' or 'other', not {pick!r}")
        with self._action(annotator) as rec:
            row = rec.conn.execute("SELECT rows, resolved FROM merge_conflicts WHERE id=?",
                                   (conflict_id,)).fetchone()
            if row is None:
                raise SgtuiError(f"no merge conflict {conflict_id} in this project")
            if row[1]:
                raise ConflictError(f"merge conflict {conflict_id} was already resolved; undo that "
                                    "resolution first to change it")
            if pick == "other":
                self._put_choice(rec, json.loads(row[0]), conflict_id)
            rec.conn.execute("UPDATE merge_conflicts SET resolved=? WHERE id=?",
                             (RESOLVED[pick], conflict_id))
            rec.extra["conflicts"] = {str(conflict_id): [0, RESOLVED[pick]]}
            rec.extra["pick"] = pick
            rec.log("resolve")
        return self.last_action_id

    def _put_choice(self, rec: _Recorder, rows: list[dict], conflict_id: int) -> None:
        """Put the other side's value of each piece of state of a conflict in place: the rows
        read as an action's payload (kept → other), checked and restored as undo does."""
        payload: dict[str, Any] = {"lines": {}, "clusters": {}}
        for r in rows:
            kind, i = r["key"]
            if kind in ("line", "cluster"):
                payload[f"{kind}s"][str(i)] = [r["kept"], r["other"]]
            elif kind == "flags":
                payload.setdefault("flags", {})[str(i)] = [list(r["kept"] or []), list(r["other"] or [])]
            else:
                payload["title"] = [r["kept"], r["other"]]
        if not _matches(rec.conn, payload, 0):
            raise ConflictError(f"the lines or clusters of merge conflict {conflict_id} changed since "
                                "the merge; look at them and decide by hand (or keep)")
        for k in payload["lines"]:
            rec.touch_line(int(k))
        for k in payload["clusters"]:
            rec.touch_cluster(int(k))
        _restore(rec.conn, payload, 1)
        rec.extra.update({k: payload[k] for k in ("flags", "title") if k in payload})

    # ---- undo and redo -------------------------------------------------------------------
    def _history(self, annotator: str) -> tuple[list[int], list[int]]:
        """(undo stack, redo stack) of this annotator, replayed from the op log."""
        done: list[int] = []
        redo: list[int] = []
        rows = self.conn.execute(  # superseded: replayed by a merge, never in effect
            "SELECT action_id, MIN(kind), MIN(undoes) FROM ops WHERE annotator=? AND superseded=0 "
            "GROUP BY action_id ORDER BY action_id",
            (annotator,),
        )
        for action_id, kind, undoes in rows:
            if kind == "undo":
                if undoes in done:
                    done.remove(undoes)
                redo.append(undoes)
            elif kind == "redo":
                if undoes in redo:
                    redo.remove(undoes)
                done.append(undoes)
            else:
                done.append(action_id)
                redo.clear()
        return done, redo

    def _payload(self, action_id: int) -> dict:
        r = self.conn.execute(
            "SELECT payload FROM ops WHERE action_id=? AND payload IS NOT NULL ORDER BY id LIMIT 1",
            (action_id,),
        ).fetchone()
        return json.loads(r[0])

    def undo(self, annotator: str) -> int | None:
        """Reverse this annotator's latest action; None when there is nothing to undo."""
        return self._undo_redo(annotator, "undo")

    def redo(self, annotator: str) -> int | None:
        """Re-apply this annotator's latest undone action; None when there is nothing to redo."""
        return self._undo_redo(annotator, "redo")

    def _undo_redo(self, annotator: str, kind: str) -> int | None:
        with self._action(annotator) as rec:
            done, redo = self._history(annotator)
            stack = done if kind == "undo" else redo
            if not stack:
                return None
            target = stack[-1]
            payload = self._payload(target)
            if not isinstance(payload.get("lines"), dict) or not isinstance(payload.get("clusters"), dict):
                raise SgtuiError(f"cannot {kind} action {target}: it was logged without the state "
                                 "to restore (an older sgtui); change the lines by hand instead")
            side_now, side_to = (1, 0) if kind == "undo" else (0, 1)
            if not _matches(rec.conn, payload, side_now):
                raise ConflictError(f"cannot {kind}: the lines or clusters of that action changed "
                                    "since (another annotator?); review them and act again")
            _restore(rec.conn, payload, side_to)
            rec.conn.execute(
                "DELETE FROM suggestions WHERE cluster_id NOT IN (SELECT id FROM clusters)"
            )
            rec.undoes = target
            rec.log(kind)
        return self.last_action_id

    # ---- reading the log -----------------------------------------------------------------
    def ops(self, after: int = 0) -> list[OpRow]:
        """The op log in order; `after`: only ops with a larger id (what happened since)."""
        rows = self.conn.execute(
            "SELECT id, action_id, ts, annotator, kind, line_id, src_cluster, dst_cluster, payload, "
            "undoes FROM ops WHERE id > ? ORDER BY id", (after,)
        )
        return [OpRow(*r) for r in rows]

    def action_ops(self, action_id: int) -> list[OpRow]:
        """The op rows of one action, in order (what the annotator says an undo undid)."""
        rows = self.conn.execute(
            "SELECT id, action_id, ts, annotator, kind, line_id, src_cluster, dst_cluster, payload, "
            "undoes FROM ops WHERE action_id = ? ORDER BY id", (action_id,)
        )
        return [OpRow(*r) for r in rows]

    def last_op_id(self) -> int:
        """The newest op's id (0 for an empty log)."""
        return self.conn.execute("SELECT COALESCE(MAX(id), 0) FROM ops").fetchone()[0]

    def undone_actions(self) -> set[int]:
        """Actions not in effect: those whose latest undo/redo row is an undo, and those a
        merge replayed but could not apply (superseded)."""
        last: dict[int, str] = {}
        for kind, undoes in self.conn.execute(
            "SELECT kind, undoes FROM ops WHERE kind IN ('undo','redo') AND superseded=0 ORDER BY id"
        ):
            last[undoes] = kind
        out = {a for a, k in last.items() if k == "undo"}
        out.update(r[0] for r in self.conn.execute(
            "SELECT DISTINCT action_id FROM ops WHERE superseded=1"))
        return out

    def superseded_actions(self) -> set[int]:
        """Actions a merge of two copies replayed but could not apply (never in effect)."""
        return {r[0] for r in self.conn.execute("SELECT DISTINCT action_id FROM ops WHERE superseded=1")}

    def op_counts(self) -> dict[str, Any]:
        """The `ops --json` object (docs/architecture.md, "The op log"): raw and net counts, per annotator, and the number of actions."""
        undone = self.undone_actions()

        def empty() -> dict[str, Any]:
            return {"raw": dict.fromkeys(RAW_KINDS, 0), "net": dict.fromkeys(COUNTED, 0)}

        total = empty()
        per: dict[str, dict[str, Any]] = {}
        actions = set()
        for action_id, annotator, kind in self.conn.execute(
            "SELECT action_id, annotator, kind FROM ops ORDER BY id"
        ):
            actions.add(action_id)
            who = per.setdefault(annotator, empty())
            for bucket in (total, who):
                if kind in RAW_KINDS:
                    bucket["raw"][kind] += 1
                if kind in COUNTED and action_id not in undone:
                    bucket["net"][kind] += 1
        return {"raw": total["raw"], "net": total["net"], "by_annotator": per, "actions": len(actions)}

    def constraints(self) -> HumanConstraints:
        """Human work as hard constraints for the engine (docs/architecture.md, "The engine" 2–3).

        Cannot-links come from the op log, not from the current state: a human removal
        holds until that removal is undone, whatever happened to the line since.
        """
        fixed = {lid: cid for lid, cid in self.conn.execute(
            "SELECT line_id, cluster_id FROM assignments WHERE origin='human'")}
        must: list[tuple[int, int]] = []
        undone = self.undone_actions()
        for action_id, payload in self.conn.execute(
            "SELECT action_id, payload FROM ops WHERE kind='merge' AND payload IS NOT NULL ORDER BY id"
        ):
            if action_id in undone:
                continue
            p = json.loads(payload)
            anchor = p.get("anchor")
            if anchor is not None:
                must.extend((lid, anchor) for lid in p.get("moved", []))
        names = {cid: name for cid, name in self.conn.execute(
            "SELECT id, name FROM clusters WHERE name IS NOT NULL")}
        return HumanConstraints(fixed=fixed, cannot_link=self._cannot_links(), must_link=must, names=names)

    def _cannot_links(self) -> set[tuple[int, int]]:
        """(line, cluster) pairs a human separated and nobody has put back by hand.

        Each removal not undone counts, followed through later merges of its cluster; only
        a later human add of the line into that same cluster (or the line being there now
        by a human's hand) lifts it. A re-cluster never does.
        """
        undone = self.undone_actions()
        merged_into: dict[int, int] = {}
        events: list[tuple[str, int, int]] = []
        for action_id, kind, line_id, src, dst in self.conn.execute(
            "SELECT action_id, kind, line_id, src_cluster, dst_cluster FROM ops "
            "WHERE kind IN ('merge', 'remove', 'add') ORDER BY id"
        ):
            if action_id in undone:
                continue
            if kind == "merge":
                merged_into[src] = dst
            elif line_id is not None:
                events.append((kind, line_id, src if kind == "remove" else dst))

        def resolve(cid: int) -> int:
            seen = set()
            while cid in merged_into and cid not in seen:
                seen.add(cid)
                cid = merged_into[cid]
            return cid

        cannot: set[tuple[int, int]] = set()
        for kind, lid, cid in events:
            if cid is None:
                continue
            pair = (lid, resolve(cid))
            if kind == "remove":
                cannot.add(pair)
            else:
                cannot.discard(pair)
        existing = {r[0] for r in self.conn.execute("SELECT id FROM clusters")}
        human = {(lid, cid) for lid, cid in self.conn.execute(
            "SELECT line_id, cluster_id FROM assignments WHERE origin='human'")}
        return {pair for pair in cannot if pair[1] in existing and pair not in human}
