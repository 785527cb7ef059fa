"""`sgtui diff`, `sgtui merge`, `sgtui merge-driver` and `sgtui info --textconv` through the
real command, on copies of a bundled episode (issue 22's acceptance), and with real git."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from sgtui.project import LineIn, Project
from tests.conftest import REPO, refusal, succeeded

SAMPLE = REPO / "sample_projects" / "sample02.sgproj"


def md5(p: Path) -> str:
    return hashlib.md5(p.read_bytes()).hexdigest()


def scenario(d: Path) -> dict:
    """The issue's acceptance: A names three clusters and moves two lines; B (another
    annotator) merges two clusters, names one of A's clusters differently and moves one of
    A's two lines elsewhere."""
    a, b = d / "a.sgproj", d / "b.sgproj"
    shutil.copyfile(SAMPLE, a)
    shutil.copyfile(SAMPLE, b)
    with Project.open(a) as p:
        ids = [c.id for c in sorted(p.clusters(), key=lambda c: (-c.size, c.id))]
        for cid, name in zip(ids, ("Kyon", "Haruhi", "Mikuru"), strict=False):
            p.rename(cid, name, "alice")
        l1, l2 = p.cluster_lines(ids[3])[:2]
        p.move([l1], ids[0], "alice")
        p.move([l2], ids[1], "alice")
    with Project.open(b) as p:
        p.merge(ids[5], ids[4], "bob")
        p.rename(ids[0], "Koizumi", "bob")
        p.move([l1], ids[2], "bob")
    return {"a": a, "b": b, "ids": ids, "l1": l1, "l2": l2}


def labels(path: Path) -> dict[int, str | None]:
    with Project.open(path, readonly=True) as p:
        names = {c.id: c.label for c in p.clusters()}
        return {lid: names[a.cluster_id] for lid, a in p.assignments().items()}


def test_diff_shows_both_sides_and_the_two_conflicts(tmp_path, cli):
    s = scenario(tmp_path)
    before = md5(s["a"]), md5(s["b"])
    r = cli("diff", s["a"], s["b"], "--json")
    succeeded(r)
    rep = json.loads(r.stdout)
    assert [x["annotator"] for x in rep["a_actions"]] == ["alice"] * 5
    assert [x["kind"] for x in rep["b_actions"]] == ["merge", "rename", "move"]
    kinds = sorted(c["kind"] for c in rep["conflicts"])
    assert kinds == ["line", "name"] and rep["unresolved"] == 2
    line = next(c for c in rep["conflicts"] if c["kind"] == "line")
    assert line["rows"][0]["key"] == ["line", s["l1"]]
    assert line["kept"]["annotator"] == "alice" and line["other"]["annotator"] == "bob"
    text = cli("diff", s["a"], s["b"])
    assert "2 conflicts" in text.stdout and "alice" in text.stdout and "bob" in text.stdout
    assert (md5(s["a"]), md5(s["b"])) == before  # read only
    assert not list(tmp_path.glob("*-wal")) and not list(tmp_path.glob("*-shm"))


def test_merge_applies_everything_else_and_leaves_two_review_items(tmp_path, cli):
    s = scenario(tmp_path)
    ids, l1, l2 = s["ids"], s["l1"], s["l2"]
    before = md5(s["a"]), md5(s["b"])
    out = tmp_path / "out.sgproj"
    r = cli("merge", s["a"], s["b"], "-o", out, "--json")
    succeeded(r)
    assert json.loads(r.stdout)["unresolved"] == 2
    assert (md5(s["a"]), md5(s["b"])) == before
    with Project.open(out, readonly=True) as p:
        names = {c.id: c.name for c in p.clusters()}
        assert names[ids[0]] == "Kyon" and names[ids[1]] == "Haruhi" and names[ids[2]] == "Mikuru"
        assert ids[5] not in names  # B's merge
        where = p.assignments()
        assert where[l2].cluster_id == ids[1]  # A's second move, untouched by B
        assert where[l1].cluster_id == ids[0]  # the conflict keeps the earlier choice until decided
        conflicts = p.merge_conflicts()
        assert sorted(c.kind for c in conflicts) == ["line", "name"]
        counts = p.op_counts()["by_annotator"]
        assert counts["alice"]["net"] == {"add": 2, "remove": 2, "merge": 0}
        assert counts["bob"]["net"] == {"add": 0, "remove": 0, "merge": 1}
    # deciding both for B in the file gives --prefer B's labels
    pref = tmp_path / "preferB.sgproj"
    succeeded(cli("merge", s["a"], s["b"], "--prefer", "B", "-o", pref))
    with Project.open(out) as p:
        for c in p.merge_conflicts():
            p.resolve_conflict(c.id, "other", "carol")
        assert p.merge_conflicts() == []
    assert labels(out) == labels(pref)
    assert labels(pref)[l1] == "Mikuru" and "Koizumi" in labels(pref).values()
    prefer_a = tmp_path / "preferA.sgproj"
    succeeded(cli("merge", s["a"], s["b"], "--prefer", "A", "-o", prefer_a))
    assert labels(prefer_a)[l1] == "Kyon" and "Koizumi" not in labels(prefer_a).values()


def test_each_annotator_undoes_exactly_their_own_action_in_the_merged_file(tmp_path, cli):
    s = scenario(tmp_path)
    out = tmp_path / "out.sgproj"
    succeeded(cli("merge", s["a"], s["b"], "-o", out))
    with Project.open(out) as p:
        ids = s["ids"]
        p.undo("alice")  # her last action: line 2 into Haruhi
        assert p.assignments()[s["l2"]].cluster_id == ids[3]
        p.undo("bob")  # his only action in effect here: the merge (his rename and move lost)
        assert p.cluster(ids[5]) is not None
        p.redo("bob")
        assert p.cluster(ids[5]) is None


def test_merging_again_or_with_an_ancestor_changes_nothing(tmp_path, cli):
    s = scenario(tmp_path)
    out = tmp_path / "out.sgproj"
    succeeded(cli("merge", s["a"], s["b"], "-o", out))
    for other in (s["a"], s["b"], out):
        again = tmp_path / "again.sgproj"
        r = cli("merge", out, other, "-o", again, "--force")
        succeeded(r)
        assert "already holds every action" in r.stdout
        assert labels(again) == labels(out)
    base = tmp_path / "base.sgproj"
    shutil.copyfile(SAMPLE, base)
    r = cli("merge", s["a"], s["b"], "--base", base, "-o", tmp_path / "o2.sgproj")
    succeeded(r)
    assert labels(tmp_path / "o2.sgproj") == labels(out)


def test_refusals_are_one_line_and_write_nothing(tmp_path, cli):
    s = scenario(tmp_path)
    a, b = s["a"], s["b"]
    before = md5(a), md5(b)
    other = tmp_path / "other.sgproj"
    shutil.copyfile(REPO / "sample_projects" / "sample01.sgproj", other)
    refusal(cli("merge", a, other, "-o", tmp_path / "x.sgproj"), "different episodes")
    # the same lines made by two separate ingests: no history in common
    for name in ("p.sgproj", "q.sgproj"):
        with Project.create(tmp_path / name) as p:
            p.add_lines([LineIn(0, 1000, "hi")])
    refusal(cli("merge", tmp_path / "p.sgproj", tmp_path / "q.sgproj", "-o", tmp_path / "x.sgproj"),
            "share no history")
    junk = tmp_path / "junk.sgproj"
    junk.write_bytes(b"not a database at all" * 100)
    refusal(cli("merge", a, junk, "-o", tmp_path / "x.sgproj"), "junk.sgproj")
    refusal(cli("merge", a, b, "-o", a, "--force"))
    out = tmp_path / "exists.sgproj"
    out.write_bytes(b"keep me")
    refusal(cli("merge", a, b, "-o", out), "already exists")
    assert out.read_bytes() == b"keep me"
    refusal(cli("diff", a, b, "--base", other), "different episodes")
    refusal(cli("merge", a, b, "--prefer", "C", "-o", tmp_path / "x.sgproj"))
    assert (md5(a), md5(b)) == before and not (tmp_path / "x.sgproj").exists()
    assert not [p for p in tmp_path.iterdir() if ".merge-" in p.name]


def _schema4_file(path: Path) -> None:
    """A file as sgtui wrote it at schema 4 (before action identities): lines, a cluster,
    one logged rename."""
    from sgtui.project import schema

    conn = sqlite3.connect(path, isolation_level=None)
    schema.build(conn, 4)
    conn.executemany("INSERT INTO meta(key, value) VALUES (?, ?)",
                     [("schema_version", "4"), ("created", "2026-01-02T03:04:05.000+00:00"),
                      ("title", "old")])
    conn.executemany("INSERT INTO lines(id, idx, start_ms, end_ms, text) VALUES (?,?,?,?,?)",
                     [(i, i - 1, i * 1000, i * 1000 + 500, f"line {i}") for i in range(1, 5)])
    conn.execute("INSERT INTO clusters(id, name) VALUES (1, 'Kyon'), (2, NULL)")
    conn.executemany("INSERT INTO assignments(line_id, cluster_id, origin) VALUES (?,?,'auto')",
                     [(1, 1), (2, 1), (3, 2), (4, 2)])
    payload = json.dumps({"lines": {}, "clusters": {"1": [[None, 0, "auto", 0], ["Kyon", 0, "auto", 0]]}})
    conn.execute("INSERT INTO ops(action_id, ts, annotator, kind, src_cluster, dst_cluster, payload) "
                 "VALUES (1, '2026-01-02T03:05:00.000+00:00', 'alice', 'rename', 1, 1, ?)", (payload,))
    conn.execute(f"PRAGMA application_id={schema.APPLICATION_ID}")
    conn.execute("PRAGMA user_version=4")
    conn.close()


def test_a_schema4_file_copied_then_migrated_apart_still_merges(tmp_path, cli):
    """Actions logged before schema 5 get the same identity in every copy that migrates."""
    from sgtui.project.history import load_actions

    a, b = tmp_path / "a.sgproj", tmp_path / "b.sgproj"
    _schema4_file(a)
    shutil.copyfile(a, b)
    uids = []
    for path, who, cid, name in ((a, "alice", 2, "Haruhi"), (b, "bob", 2, None)):
        with Project.open(path) as p:  # migrates (after a backup copy)
            uids.append(load_actions(p.conn)[0].uid)
            if name:
                p.rename(cid, name, who)
            else:
                p.move([3], 1, who)
    assert uids[0] == uids[1] and len(uids[0]) == 32
    out = tmp_path / "out.sgproj"
    r = cli("merge", a, b, "-o", out, "--json")
    succeeded(r)
    rep = json.loads(r.stdout)
    assert rep["shared_actions"] == 1 and rep["conflicts"] == []
    assert labels(out) == {1: "Kyon", 2: "Kyon", 3: "Kyon", 4: "Haruhi"}


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=120,
                          env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "HOME": str(repo),
                               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x",
                               "PATH": "/usr/bin:/bin"})


@pytest.fixture
def repo(tmp_path) -> Path:
    """A git repository with the driver and the textconv configured as 'sgtui merge --help' says."""
    r = tmp_path / "repo"
    r.mkdir()
    sgtui = f"{sys.executable} -m sgtui"
    for args in (("init", "-q", "-b", "main"),
                 ("config", "merge.sgproj.name", "sgtui"),
                 ("config", "merge.sgproj.driver", f"{sgtui} merge-driver %O %A %B"),
                 ("config", "diff.sgproj.textconv", f"{sgtui} info --textconv"),
                 ("config", "diff.sgproj.binary", "true")):
        assert _git(r, *args).returncode == 0
    (r / ".gitattributes").write_text("*.sgproj merge=sgproj diff=sgproj\n")
    shutil.copyfile(SAMPLE, r / "ep.sgproj")
    _git(r, "add", ".")
    assert _git(r, "commit", "-qm", "episode").returncode == 0
    return r


def _commit_work(repo: Path, branch: str, work) -> None:
    assert _git(repo, "checkout", "-q", "-b", branch, "main").returncode == 0
    with Project.open(repo / "ep.sgproj") as p:
        work(p)
    _git(repo, "add", "ep.sgproj")
    assert _git(repo, "commit", "-qm", branch).returncode == 0


def test_git_merges_two_branches_of_labelling_with_the_driver(repo, cli):
    ids = [c.id for c in sorted(Project.open(SAMPLE, readonly=True).clusters(), key=lambda c: -c.size)]
    _commit_work(repo, "alice", lambda p: (p.rename(ids[0], "Kyon", "alice"),
                                           p.rename(ids[1], "Haruhi", "alice")))
    _commit_work(repo, "bob", lambda p: (p.rename(ids[2], "Mikuru", "bob"), p.merge(ids[6], ids[5], "bob")))
    diff = _git(repo, "diff", "main", "bob", "--", "ep.sgproj")
    assert "Mikuru" in diff.stdout and "+cluster" in diff.stdout, diff.stdout[-2000:]
    assert _git(repo, "checkout", "-q", "alice").returncode == 0
    merged = _git(repo, "merge", "-q", "--no-edit", "bob")
    assert merged.returncode == 0, merged.stdout + merged.stderr
    r = cli("info", repo / "ep.sgproj", "--json")
    succeeded(r)
    info = json.loads(r.stdout)
    assert info["named"] == 3 and sorted(info["annotators"]) == ["alice", "bob", "sgtui"]
    with Project.open(repo / "ep.sgproj", readonly=True) as p:
        assert p.cluster(ids[6]) is None and p.merge_conflicts() == []


def test_a_git_conflict_leaves_review_items_and_a_non_zero_driver(repo, cli):
    cid = max(Project.open(SAMPLE, readonly=True).clusters(), key=lambda c: c.size).id
    _commit_work(repo, "alice", lambda p: p.rename(cid, "Kyon", "alice"))
    _commit_work(repo, "bob", lambda p: p.rename(cid, "Koizumi", "bob"))
    assert _git(repo, "checkout", "-q", "alice").returncode == 0
    merged = _git(repo, "merge", "-q", "--no-edit", "bob")
    assert merged.returncode != 0 and "conflict" in (merged.stdout + merged.stderr).lower()
    with Project.open(repo / "ep.sgproj", readonly=True) as p:
        [conflict] = p.merge_conflicts()
        assert conflict.kind == "name" and "Koizumi" in conflict.summary
