"""Human work is never lost or misapplied by a re-cluster (issue 9, cases 1 and 3).

Real sample project files, the real engine and the real `sgtui` CLI in subprocesses.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from sgtui.project import Project
from sgtui.workflows import plan_recluster, recluster

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_projects" / "sample01.sgproj"


@pytest.fixture
def demo(tmp_path) -> Path:
    """A copy of the demo project (what `sgtui demo` opens)."""
    dst = tmp_path / "demo.sgproj"
    shutil.copy(SAMPLE, dst)
    return dst


def snapshot(p: Project) -> tuple:
    """Everything a re-cluster may touch: assignments, clusters, suggestions."""
    return p.assignments(), p.clusters(), p.suggestions()


def named_lines(p: Project) -> dict[str, list[int]]:
    return {c.name: sorted(p.cluster_lines(c.id)) for c in p.clusters() if c.name}


def test_cli_recluster_after_naming_every_cluster_keeps_every_name_on_its_lines(demo, cli, tmp_path):
    with Project.open(demo) as p:
        for i, c in enumerate(p.clusters()):
            p.rename(c.id, f"Speaker{i}", "alice")
        before = named_lines(p)
        ids_before = {c.name: c.id for c in p.clusters()}
        state_before = snapshot(p)
    assert sum(map(len, before.values())) == 80
    # the sample's own first clustering (by "sgtui") may already count as one
    reclusters_before = json.loads(cli("ops", demo, "--json").stdout)["raw"]["recluster"]
    r = cli("cluster", demo, "--as", "alice", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["annotator"] == "alice"
    info = json.loads(cli("info", demo, "--json").stdout)
    assert (info["clusters"], info["named"], info["assigned"]) == (len(before), len(before), 80)
    out = tmp_path / "labels.csv"
    assert cli("labels", "export", demo, out).returncode == 0
    with open(out, encoding="utf-8-sig") as f:
        speakers = [row[0] for row in csv.reader(f)][1:]
    assert len(speakers) == 80 and all(speakers), "no line exported without a speaker"
    ops = json.loads(cli("ops", demo, "--json").stdout)
    assert ops["raw"]["recluster"] == reclusters_before + 1
    assert ops["raw"]["add"] == ops["raw"]["remove"] == ops["raw"]["merge"] == 0
    assert ops["by_annotator"]["alice"]["raw"]["recluster"] == 1
    with Project.open(demo) as p:
        assert named_lines(p) == before
        assert {c.name: c.id for c in p.clusters()} == ids_before
        assert p.ops()[-1].kind == "recluster" and p.ops()[-1].annotator == "alice"
        assert p.undo("alice") is not None
        assert snapshot(p) == state_before, "undo restores the exact state before"


def test_a_named_or_reviewed_cluster_keeps_all_its_auto_lines(demo):
    with Project.open(demo) as p:
        a, b = (cl.id for cl in p.clusters()[:2])
        # the unnamed, unreviewed cluster the one new group below overlaps most
        biggest = max((cl.id for cl in p.clusters()[2:]), key=lambda cid: (len(p.cluster_lines(cid)), -cid))
        p.rename(a, "Kyon", "alice")
        p.confirm(b, "bob")
        lines_a, lines_b = sorted(p.cluster_lines(a)), sorted(p.cluster_lines(b))
        assert {p.assignments()[lid].origin for lid in lines_a + lines_b} == {"auto"}
        # an engine result that scatters both clusters' lines into one new group
        everything = [ln.id for ln in p.lines()]
        p.apply_clustering([(None, everything)], {}, annotator="carol")
        assert sorted(p.cluster_lines(a)) == lines_a and p.cluster(a).name == "Kyon"
        assert sorted(p.cluster_lines(b)) == lines_b and p.cluster(b).confirmed
        rest = set(everything) - set(lines_a) - set(lines_b)
        assert {p.assignments()[lid].cluster_id for lid in rest} == {biggest}, \
            "the new group takes the identity of the old cluster it overlaps most"


def test_unnamed_clusters_keep_their_ids_across_reclusters(demo):
    with Project.open(demo) as p:
        first = snapshot(p)
        recluster(p, annotator="alice")
        second = {c.id: sorted(p.cluster_lines(c.id)) for c in p.clusters()}
        recluster(p, annotator="alice")
        third = {c.id: sorted(p.cluster_lines(c.id)) for c in p.clusters()}
        assert second == third, "a re-run on the same state changes nothing"
        assert set(second) <= {c.id for c in first[1]}, "ids do not jump"
        p.undo("alice")
        p.undo("alice")
        assert snapshot(p) == first


def test_a_stale_recluster_never_undoes_a_removal_made_meanwhile(demo):
    """Case 3: the engine ran before the removal; its result is written after it."""
    with Project.open(demo) as p, Project.open(demo) as other:
        plan = plan_recluster(p)
        line = p.cluster_lines(p.clusters()[0].id)[0]
        src = p.assignments()[line].cluster_id
        assert any(line in ids for _, ids in plan.groups)
        other.remove([line], "bob")
        from sgtui.workflows import apply_recluster

        apply_recluster(p, plan, "alice")
        assert p.assignments().get(line, None) is None or p.assignments()[line].cluster_id != src
        assert (line, src) in p.constraints().cannot_link
        recluster(p, annotator="alice")  # later re-runs keep it out too
        assert p.assignments().get(line) is None or p.assignments()[line].cluster_id != src


def test_a_removal_stays_a_cannot_link_until_it_is_undone(demo):
    with Project.open(demo) as p:
        a, b = (c.id for c in p.clusters()[:2])
        line = p.cluster_lines(a)[0]
        p.remove([line], "bob")
        p.merge(a, b, "alice")  # followed through the merge
        assert (line, b) in p.constraints().cannot_link
        # the line back in that cluster by a machine does not lift the constraint
        p.rename(b, "Y", "alice")
        p.import_labels({line: "Y"}, "bot", origin="suggested")
        assert p.assignments()[line].cluster_id == b
        assert (line, b) in p.constraints().cannot_link
        p.undo("bot")
        p.undo("alice")
        p.undo("alice")  # the merge
        assert (line, a) in p.constraints().cannot_link
        p.undo("bob")  # the removal itself
        assert not any(pair[0] == line for pair in p.constraints().cannot_link)


def test_a_human_put_back_lifts_the_cannot_link(demo):
    with Project.open(demo) as p:
        a = p.clusters()[0].id
        line = p.cluster_lines(a)[0]
        p.remove([line], "bob")
        assert (line, a) in p.constraints().cannot_link
        p.add([line], a, "alice")
        assert (line, a) not in p.constraints().cannot_link


def test_undo_of_a_recluster_is_refused_when_someone_changed_its_lines(demo):
    with Project.open(demo) as p:
        a = p.clusters()[0].id
        p.apply_clustering([(a, p.cluster_lines(a)[1:])], {}, annotator="alice")
        line = p.cluster_lines(a)[0]
        p.remove([line], "bob")
        from sgtui.errors import ConflictError

        with pytest.raises(ConflictError):
            p.undo("alice")


def test_a_merged_away_cluster_id_never_comes_back(demo):
    """An old merge row must never come to mean a new cluster (it would redirect removals)."""
    with Project.open(demo) as p:
        top = max(c.id for c in p.clusters())
        other = min(c.id for c in p.clusters())
        p.move([p.cluster_lines(other)[-1]], top, "bob")  # top keeps a line after the removal
        line = p.cluster_lines(top)[0]
        p.remove([line], "bob")
        p.merge(top, other, "bob")
        p.move([line], None, "alice")  # a new cluster
        new = p.assignments()[line].cluster_id
        assert new > top
        assert (line, other) in p.constraints().cannot_link
        assert (line, new) not in p.constraints().cannot_link


def test_a_removed_line_is_not_suggested_back_to_its_cluster(demo):
    with Project.open(demo) as p:
        a, b = (c.id for c in p.clusters()[:2])
        line = p.cluster_lines(a)[0]
        p.remove([line], "bob")
        rest_a = p.cluster_lines(a)
        p.apply_clustering([(a, rest_a), (b, p.cluster_lines(b))], {line: [(0, 0.9), (1, 0.5)]},
                           annotator="alice")
        assert [s.cluster_id for s in p.suggestions()[line]] == [b]
