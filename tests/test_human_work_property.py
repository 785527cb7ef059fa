"""Property: whatever two annotators and re-clusters do, in any order, human work holds.

Random interleavings of add/remove/move/merge/rename/confirm/undo/redo by Alice and Bob
(two connections to one real project file, the demo sample), with re-clusters by the real
engine — some written at once, some computed first and written steps later (stale). After
every step the file is checked against its op log:

- a line whose latest standing human decision is "put into C" is in C (followed through
  merges), placed by a human; one whose latest decision is "removed from C" is not in C;
- a re-cluster never changes a name or a review, and never moves a human-placed line or
  any line of a named or reviewed cluster (it may add lines to such a cluster);
- a refused action changes nothing; undoing a re-cluster right after it restores the exact
  state before it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sgtui.errors import SgtuiError
from sgtui.project import Project
from sgtui.workflows import apply_recluster, plan_recluster, recluster

SAMPLE = Path(__file__).resolve().parent.parent / "sample_projects" / "sample01.sgproj"
KINDS = ("add", "remove", "move", "merge", "rename", "confirm", "undo", "redo",
         "recluster", "plan", "apply_plan")
NAMES = ("Kyon", "Haruhi", "Mikuru", "")
STEP = st.tuples(st.sampled_from(("alice", "bob")), st.sampled_from(KINDS),
                 st.integers(0, 10_000), st.integers(0, 10_000))


def state(p: Project) -> tuple:
    return p.assignments(), p.clusters(), p.suggestions()


def standing_decisions(p: Project) -> dict[int, tuple[str, int]]:
    """line -> ('in'|'out', cluster) of its latest human decision not undone.

    A removal is checked only while no merge came after it: merging the cluster with one
    that holds the line is a later human decision that may bring them together again."""
    undone = p.undone_actions()
    merged_into: dict[int, int] = {}
    decision: dict[int, tuple[str, int]] = {}
    for op in p.ops():
        if op.action_id in undone:
            continue
        if op.kind == "merge":
            merged_into[op.src_cluster] = op.dst_cluster
            for lid in json.loads(op.payload or "{}").get("moved", []):
                decision[lid] = ("merged", op.dst_cluster)
            for lid, (kind, cid) in list(decision.items()):
                if kind == "out":
                    decision[lid] = ("merged", cid)
        elif op.kind == "add":
            decision[op.line_id] = ("in", op.dst_cluster)
        elif op.kind == "remove":
            decision[op.line_id] = ("out", op.src_cluster)

    def resolve(cid: int) -> int:
        seen = set()
        while cid in merged_into and cid not in seen:
            seen.add(cid)
            cid = merged_into[cid]
        return cid

    return {lid: (kind, resolve(cid)) for lid, (kind, cid) in decision.items()}


def check_log(p: Project) -> None:
    a = p.assignments()
    for lid, (kind, cid) in standing_decisions(p).items():
        if kind == "in":
            assert lid in a and (a[lid].cluster_id, a[lid].origin) == (cid, "human"), (lid, kind, cid)
        elif kind == "out":
            assert lid not in a or a[lid].cluster_id != cid, (lid, kind, cid)


def endorsed_view(p: Project) -> tuple:
    """What a re-cluster must leave alone."""
    endorsed = {c.id: (c.name, c.confirmed) for c in p.clusters() if c.name or c.confirmed}
    a = p.assignments()
    kept = {lid: v.cluster_id for lid, v in a.items() if v.origin != "auto" or v.cluster_id in endorsed}
    return endorsed, kept


def run_step(projects: dict[str, Project], plans: dict, who: str, kind: str, i: int, j: int) -> None:
    p = projects[who]
    lines = [ln.id for ln in p.lines()]
    a = p.assignments()
    clusters = [c.id for c in p.clusters()]
    line = lines[i % len(lines)]
    cid = clusters[j % len(clusters)] if clusters else None
    if kind == "add":
        loose = [lid for lid in lines if lid not in a]
        if loose:
            p.add([loose[i % len(loose)]], cid, who)
    elif kind == "remove" and line in a:
        p.remove([line], who, expect={line: a[line].cluster_id})
    elif kind == "move" and cid is not None:
        p.move([line], cid, who, expect={line: a[line].cluster_id if line in a else None})
    elif kind == "merge" and len(clusters) > 1:
        p.merge(clusters[i % len(clusters)], cid, who)
    elif kind == "rename" and cid is not None:
        p.rename(cid, NAMES[i % len(NAMES)], who)
    elif kind == "confirm" and cid is not None:
        p.confirm(cid, who, value=bool(i % 2))
    elif kind == "undo":
        p.undo(who)
    elif kind == "redo":
        p.redo(who)
    elif kind == "recluster":
        recluster(p, annotator=who)
    elif kind == "plan":
        plans[who] = plan_recluster(p)
    elif kind == "apply_plan" and who in plans:
        apply_recluster(p, plans.pop(who), who)


@pytest.fixture(autouse=True)
def _hypothesis_safe(no_modules_that_raise_on_getattr):
    """Hypothesis reads every imported module's `__file__` (tests/conftest.py says why)."""


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(STEP, min_size=1, max_size=14))
def test_two_annotators_and_reclusters_never_revert_human_work(steps):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ep.sgproj"
        shutil.copy(SAMPLE, path)
        with Project.open(path) as alice, Project.open(path) as bob:
            projects = {"alice": alice, "bob": bob}
            plans: dict = {}
            before_recluster: dict[str, tuple] = {}
            for who, kind, i, j in steps:
                p = projects[who]
                before, n_ops = state(p), len(p.ops())
                guarded = endorsed_view(p)
                try:
                    run_step(projects, plans, who, kind, i, j)
                except SgtuiError:
                    assert state(p) == before and len(p.ops()) == n_ops, f"refused {kind} changed the file"
                    continue
                last = p.ops()[-1] if len(p.ops()) > n_ops else None
                if last is not None and last.kind == "recluster":
                    endorsed, kept = endorsed_view(p)
                    assert endorsed == guarded[0], "a re-cluster changed a name or a review"
                    assert guarded[1].items() <= kept.items(), "a re-cluster moved a line it must keep"
                    before_recluster[who] = (before, len(p.ops()))
                elif kind == "undo" and who in before_recluster and last is not None:
                    snap, ops_then = before_recluster.pop(who)
                    if ops_then == n_ops:  # nothing else happened since that re-cluster
                        assert state(p) == snap, "undo of a re-cluster restores the exact state"
                else:
                    before_recluster.pop(who, None) if last is not None else None
                for q in projects.values():
                    check_log(q)
