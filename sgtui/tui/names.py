"""Suggested names in the app: show them, accept one or all, follow a suggested merge.

A suggested name comes from the character bank or the subtitles' speaker names (see
`sgtui/engine/names.py`, `sgtui/engine/bank.py`); it is a guess, drawn as `Kyon? 0.93`
beside an unnamed cluster. Accepting is the annotator's rename (logged, undoable). Two
clusters with one suggested name (or a suggestion that is another cluster's name) are a
suggested merge. Kept apart from the state so this stays one small addition.
"""

from __future__ import annotations

from sgtui.engine.names import actor_names, line_speaker
from sgtui.errors import SgtuiError
from sgtui.project.records import NameSuggestion
from sgtui.tui.state import AnnotatorState

ACCEPT_ALL = 0.9  # `Y` accepts every suggestion at least this confident (shown in the status bar)


def suggestion(state: AnnotatorState, cluster_id: int | None) -> NameSuggestion | None:
    """The suggested name of an unnamed cluster, else None."""
    if cluster_id is None or cluster_id not in state.by_id or state.by_id[cluster_id].name:
        return None
    return state.name_sugg.get(cluster_id)


def merge_partner(state: AnnotatorState, cluster_id: int) -> int | None:
    """The cluster the suggestion points to: the one named so, else the largest other one
    with the same suggested name."""
    sug = suggestion(state, cluster_id)
    if sug is None:
        return None
    for c in state.clusters:
        if c.name == sug.name and c.id != cluster_id:
            return c.id
    same = [c for c in state.clusters if c.id != cluster_id and not c.name
            and (s := suggestion(state, c.id)) is not None and s.name == sug.name]
    return max(same, key=lambda c: (c.size, -c.id)).id if same else None


def accept(state: AnnotatorState) -> str:
    """Name the current cluster as suggested (one rename action of the annotator)."""
    state.check_writable()
    cid = state.current_cluster()
    sug = suggestion(state, cid)
    if sug is None:
        raise SgtuiError("this cluster has no suggested name; press n to name it")
    taken = next((c for c in state.clusters if c.name == sug.name), None)
    if taken is not None:
        raise SgtuiError(f"{sug.name} is already {state.cluster_label(taken.id)}'s name; "
                         "press J to merge this cluster into it")
    state._run(lambda: state.project.accept_names({cid: sug.name}, state.annotator),
               f"named #{cid} {sug.name} (suggested by the {sug.source}; u undoes it)")
    return state.message


def accept_all(state: AnnotatorState, threshold: float = ACCEPT_ALL) -> str:
    """Accept every suggestion at least `threshold` confident whose name is free and not
    suggested for another cluster too (those are suggested merges): one action."""
    state.check_writable()
    taken = {c.name for c in state.clusters if c.name}
    cands = {c.id: s for c in state.clusters if (s := suggestion(state, c.id)) is not None}
    counts: dict[str, int] = {}
    for s in cands.values():
        counts[s.name] = counts.get(s.name, 0) + 1
    pick = {cid: s.name for cid, s in cands.items()
            if s.score >= threshold and s.name not in taken and counts[s.name] == 1}
    if not pick:
        raise SgtuiError(f"no suggested name at {threshold:.2f} or above to accept "
                         "(y accepts the current cluster's, J follows a suggested merge)")
    state._run(lambda: state.project.accept_names(pick, state.annotator),
               f"named {len(pick)} clusters as suggested (≥ {threshold:.2f}; u undoes it)")
    return state.message


def follow_merge(state: AnnotatorState) -> str:
    """Merge the current cluster into the one its suggested name points to."""
    state.check_writable()
    cid = state.current_cluster()
    dst = merge_partner(state, cid)
    if dst is None:
        raise SgtuiError("no suggested merge for this cluster (none shares its suggested name)")
    return state.merge_into(dst, cid)


def prompt_default(state: AnnotatorState, cluster_id: int, current: str | None) -> str:
    """What the name prompt opens with: the current name, else the suggested one."""
    if current:
        return current
    sug = suggestion(state, cluster_id)
    return sug.name if sug else ""


def completion_names(state: AnnotatorState) -> list[str]:
    """Names used in the project, every speaker the subtitles name, and every suggestion."""
    names = list(state.name_choices())
    extra = actor_names(line_speaker(ln.actor, ln.text) for ln in state.lines.values())
    extra += [s.name for s in state.name_sugg.values()]
    for n in extra:
        if n not in names:
            names.append(n)
    return names


def status_hint(state: AnnotatorState) -> str:
    """The status bar's part for suggestions ('' when there are none)."""
    n = sum(1 for c in state.clusters if suggestion(state, c.id) is not None)
    return f"{n} suggested · y/Y ≥ {ACCEPT_ALL:.2f} " if n else ""
