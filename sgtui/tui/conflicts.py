"""Merge conflicts in the app: the review items `sgtui merge` leaves when two copies of a
file decided one thing differently (sgtui/project/merge.py).

The review queue (`r`) shows them before anything else: the conflict in words, the two
choices with who made each and when, and the line or cluster concerned selected. One key
keeps what the merge kept, one takes the other copy's choice; either is one logged action
of the annotator (`resolve`), undone by `u` like any other. Kept apart from the state so
this stays one small addition; the state only holds the open conflicts (`refresh`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sgtui.errors import SgtuiError
from sgtui.project.records import MergeConflict

if TYPE_CHECKING:
    from sgtui.tui.state import AnnotatorState

KEEP_KEY, TAKE_KEY = "K", "O"  # the default keys of the two choices (ids conflict_keep/_other)
PICKS = ("kept", "other")


def _when(ts: str) -> str:
    """'12-07 16:11' (the year too when it is not this one): when a choice was made, in UTC
    as the op log keeps it."""
    when = ts[:16].replace("T", " ")
    return when[5:] if when[:4] == str(datetime.now(UTC).year) else when


def who(conflict: MergeConflict, which: str) -> str:
    """Whose choice it is: 'alice' (and her file when both sides are one annotator)."""
    side = getattr(conflict, which)
    name = side.get("annotator") or f"copy {side.get('side', '?')}"
    other = conflict.other if which == "kept" else conflict.kept
    if side.get("file") and other.get("annotator") == side.get("annotator"):
        name += f" in {side['file']}"
    return name


def _cluster_name(conflict: MergeConflict, which: str, cluster_id: int,
                  state: AnnotatorState) -> str:
    """A cluster as that choice would show it: its name in the choice when the conflict
    names it, else as the screen shows it now."""
    for r in conflict.rows:
        kind, i = r["key"]
        value = r[which]
        if kind == "cluster" and i == cluster_id and value and value[0]:
            return str(value[0])
    return state.cluster_label(cluster_id)


def _value(conflict: MergeConflict, which: str, row: dict[str, Any], state: AnnotatorState) -> str:
    """One piece of a choice in words."""
    kind, _ = row["key"]
    value = row[which]
    if kind == "line":
        return "unassigned" if value is None else _cluster_name(conflict, which, value[0], state)
    if kind == "cluster":
        if value is None:
            return "no such cluster"
        return str(value[0]) if value[0] else "no name"
    if kind == "flags":
        return ", ".join(value) if value else "no flags"
    return repr(value) if value else "no title"


def _subject(row: dict[str, Any]) -> str:
    kind, i = row["key"]
    return {"line": f"line {i}", "cluster": f"#{i}", "flags": f"flags of line {i}"}.get(kind, kind)


def choice(state: AnnotatorState, conflict: MergeConflict, which: str) -> str:
    """What one side chose, short: 'Koizumi'; several pieces: 'line 2: Kyon, #6: Koizumi'."""
    rows = conflict.rows
    if len(rows) == 1:
        return _value(conflict, which, rows[0], state)
    parts = [f"{_subject(r)}: {_value(conflict, which, r, state)}" for r in rows[:2]]
    more = f" and {len(rows) - 2} more" if len(rows) > 2 else ""
    return ", ".join(parts) + more


def choices(state: AnnotatorState, conflict: MergeConflict) -> str:
    """'K keep alice's: Kyon (12-07 16:11) · O take bob's: Koizumi (12-07 16:12)'."""
    out = []
    for key, verb, which in ((KEEP_KEY, "keep", "kept"), (TAKE_KEY, "take", "other")):
        side = getattr(conflict, which)
        when = f" ({_when(side['ts'])})" if side.get("ts") else ""
        out.append(f"{key} {verb} {who(conflict, which)}'s: {choice(state, conflict, which)}{when}")
    return " · ".join(out)


def message(state: AnnotatorState, conflict: MergeConflict) -> str:
    """What the queue says about a conflict: the two choices and their keys first (on an
    80-column terminal the status bar's two lines end with the summary), then the summary."""
    n = len(state.conflicts)
    return (f"merge conflict {conflict.id} ({n} open): {choices(state, conflict)} · r next — "
            f"{conflict.summary}")


def focus(state: AnnotatorState, conflict: MergeConflict) -> None:
    """Select what the conflict is about: the line (in its cluster, or in the pool), else the
    cluster; nothing for a title."""
    keys = [tuple(r["key"]) for r in conflict.rows]
    line = next((i for kind, i in keys if kind in ("line", "flags") and i in state.lines), None)
    if line is not None:
        a = state.assign.get(line)
        state.select_cluster(a.cluster_id if a else None)
        state._keep_cursor_on(line)
        return
    cid = next((i for kind, i in keys if kind == "cluster" and i in state.by_id), None)
    if cid is not None:
        state.select_cluster(cid)


def show_next(state: AnnotatorState, again: bool = False) -> str | None:
    """Show the next open conflict the queue has not shown yet (`again`: start over with
    the ones shown and left open); None when there is none."""
    if again:
        state.visited_conflicts.clear()
    todo = [c for c in state.conflicts if c.id not in state.visited_conflicts]
    if not todo:
        return None
    c = todo[0]
    state.visited_conflicts.add(c.id)
    focus(state, c)
    state.conflict = c
    state.message = message(state, c)
    return state.message


def pick(state: AnnotatorState, which: str) -> str:
    """Decide the conflict the queue shows: 'kept' leaves the merge's choice, 'other' puts
    the other copy's in place (refused in one line when those lines or clusters changed
    since the merge). One undoable action of this annotator."""
    if which not in PICKS:
        raise ValueError(which)
    state.check_writable()
    c = state.conflict
    if c is None:
        raise SgtuiError("no merge conflict is shown; press r to review the next one" if state.conflicts
                         else "this project has no open merge conflict to decide")
    said = f"{'kept' if which == 'kept' else 'took'} {who(c, which)}'s: {choice(state, c, which)}"
    state._run(lambda: state.project.resolve_conflict(c.id, which, state.annotator), "")
    state.conflict = None
    focus(state, c)  # the result in view: the line where it now is, the cluster as named now
    left = len(state.conflicts)
    nxt = f"r next conflict ({left} open)" if left else "r review queue"
    state.message = f"merge conflict {c.id} decided, {said} (u undoes it) · {nxt}"
    return state.message


def status_hint(state: AnnotatorState) -> str:
    """The status bar's part for open conflicts ('' when there are none)."""
    n = len(state.conflicts)
    if not n:
        return ""
    if state.conflict is not None:  # short: it must fit beside the counts at 80 columns
        return f"conflict {state.conflict.id}: {KEEP_KEY}/{TAKE_KEY} "
    return f"{n} conflict{'s' if n != 1 else ''} · r "
