"""`sgtui cluster`, `eval`, `train` end to end on real project files ("The command line" in docs/architecture.md)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from sgtui.engine.metrics import evaluate
from sgtui.project import LineIn, Project
from tests.conftest import HARUHI03
from tests.engine_helpers import clustered_vectors

TRUTH = HARUHI03 / "Haruhi_03_annotate.csv"


def _speakers_by_line(project: Project) -> dict[int, str]:
    """Truth straight from lines.csv (row i = line idx i), independent of CSV time matching."""
    with open(HARUHI03 / "lines.csv", encoding="utf-8-sig", newline="") as f:
        speakers = [r["speaker"] for r in csv.DictReader(f)]
    return {ln.id: speakers[ln.idx] for ln in project.lines()}


def _one_line_error(r) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith("sgtui: error: ")


def test_cluster_then_eval_reports_the_metrics_json_on_haruhi03(cli, h3_project):
    r = cli("cluster", h3_project)
    assert r.returncode == 0, r.stderr
    r = cli("eval", h3_project, "--truth", TRUTH, "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["lines"] == report["evaluated"] == 440 and report["unmatched"] == 0
    assert report["speakers"] == 5
    with Project.open(h3_project, readonly=True) as p:
        speakers = _speakers_by_line(p)
        names = sorted(set(speakers.values()))
        a = p.assignments()
        lines = p.lines()
        pred = np.array([a[ln.id].cluster_id if ln.id in a else -1 for ln in lines])
        truth = np.array([names.index(speakers[ln.id]) for ln in lines])
        named = {cid: (names.index(n) if n in names else -2)
                 for cid, n in ((c.id, c.name) for c in p.clusters()) if n}
        suggested = {cid: s.name for cid, s in p.name_suggestions().items()}
    named.update({cid: (names.index(n) if n in names else -2)
                  for cid, n in suggested.items() if cid not in named})
    e = evaluate(pred, truth, (1, 1, 1, 1), names=named)
    assert report["ops"] == {
        "add": e.ops.add, "remove": e.ops.remove, "merge": e.ops.merge,
        "total": e.ops.total, "per_100_lines": round(e.ops.per_100_lines, 4),
        "rename": e.ops.rename, "total_with_names": e.ops.total_with_names,
    }
    assert report["names"] == e.names
    assert report["clusters"] == e.clusters and report["unassigned"] == e.unassigned
    assert np.isclose(report["edge_f1"], e.edge_f1, atol=1e-6)


def test_ahc_through_the_cli_reproduces_the_reference_62_62_11(cli, h3_project):
    assert cli("cluster", h3_project, "--method", "ahc").returncode == 0
    ops = json.loads(cli("eval", h3_project, "--truth", TRUTH, "--json").stdout)["ops"]
    assert (ops["add"], ops["remove"], ops["merge"], ops["total"]) == (62, 62, 11, 135)
    heavy = json.loads(cli("eval", h3_project, "--truth", TRUTH, "--json", "--weights", "1,1,20").stdout)
    assert heavy["ops"]["merge"] < 11 and heavy["ops"]["total"] < 135 + 19 * 11


def test_cluster_never_changes_human_work(cli, h3_project):
    with Project.open(h3_project) as p:
        speakers = _speakers_by_line(p)
        by: dict[str, list[int]] = {}
        for lid, s in speakers.items():
            by.setdefault(s, []).append(lid)
        names = sorted(by)
        p.add(by[names[0]][:3], None, "ann")
        c0 = p.assignments()[by[names[0]][0]].cluster_id
        p.rename(c0, names[0], "ann")
        p.add(by[names[1]][:2], None, "ann")
        c1 = p.assignments()[by[names[1]][0]].cluster_id
        p.add([by[names[0]][3]], c1, "ann")  # a deliberate human "mistake" must stay too
        p.add([by[names[0]][4]], c0, "ann")
        p.remove([by[names[0]][4]], "ann")  # removal = cannot-link with c0
        before = {lid: a for lid, a in p.assignments().items()}
    assert cli("cluster", h3_project).returncode == 0
    assert cli("cluster", h3_project).returncode == 0  # a re-run too
    with Project.open(h3_project, readonly=True) as p:
        after = p.assignments()
        for lid, a in before.items():
            assert after[lid].cluster_id == a.cluster_id and after[lid].origin == "human"
        assert after.get(by[names[0]][4], None) is None or after[by[names[0]][4]].cluster_id != c0
        assert {c.id: c.name for c in p.clusters()}[c0] == names[0]
        assert len([c for c in p.clusters() if c.size]) >= 5


def test_train_writes_a_plain_array_model_that_cluster_accepts(cli, h3_project, tmp_path):
    labelled = tmp_path / "labelled.sgproj"
    import shutil

    shutil.copy(h3_project, labelled)
    r = cli("labels", "import", labelled, TRUTH)
    assert r.returncode == 0, r.stderr
    model = tmp_path / "conf.npz"
    r = cli("train", labelled, "-o", model, "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["lines"] == 440 and summary["projects"] == 1
    with np.load(model, allow_pickle=False) as data:
        assert "coef" in data.files
    r = cli("cluster", h3_project, "--model", model, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["assigned"] > 0
    _one_line_error(cli("train", labelled, "-o", model))  # exists, no --force
    assert cli("train", labelled, "-o", model, "--force", "--folds", "10").returncode == 0


def test_knn_method_labels_from_the_lines_a_human_placed(cli, h3_project):
    with Project.open(h3_project) as p:
        speakers = _speakers_by_line(p)
        for s in sorted(set(speakers.values())):
            lids = [lid for lid, v in speakers.items() if v == s][:5]
            p.add(lids, None, "ann")
    assert cli("cluster", h3_project, "--method", "knn").returncode == 0
    report = json.loads(cli("eval", h3_project, "--truth", TRUTH, "--json").stdout)
    assert report["clusters"] == 5


def _no_embeddings(tmp_path):
    path = tmp_path / "bare.sgproj"
    with Project.create(path) as p:
        p.add_lines([LineIn(0, 1000, "a"), LineIn(1000, 2000, "b")])
    return path


def test_bad_inputs_exit_2_with_one_line(cli, h3_project, tmp_path):
    _one_line_error(cli("cluster", tmp_path / "missing.sgproj"))
    _one_line_error(cli("cluster", _no_embeddings(tmp_path)))
    _one_line_error(cli("cluster", h3_project, "--method", "knn"))  # nobody labelled anything
    text = tmp_path / "model.npz"
    text.write_text("not a model")
    _one_line_error(cli("cluster", h3_project, "--model", text))
    _one_line_error(cli("cluster", h3_project, "--model", tmp_path / "nope.npz"))
    _one_line_error(cli("eval", h3_project, "--truth", tmp_path / "nope.csv"))
    _one_line_error(cli("eval", h3_project, "--truth", TRUTH, "--weights", "1,1"))
    _one_line_error(cli("eval", h3_project, "--truth", TRUTH, "--weights", "1,-1,1"))
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("a,b\n1,2\n")
    _one_line_error(cli("eval", h3_project, "--truth", bad_csv))
    _one_line_error(cli("train", h3_project, "-o", tmp_path / "m.npz"))  # no labels
    _one_line_error(cli("train", h3_project, "-o", tmp_path / "m.npz", "--q", "0.1", "--folds", "3"))
    _one_line_error(cli("train", h3_project, "-o", tmp_path / "m.npz", "--folds", "1"))


@pytest.mark.parametrize("method", ["gated", "ahc", "hdbscan", "spectral"])
def test_every_method_writes_auto_clusters_with_suggestions(method, tmp_path):
    from sgtui.workflows import recluster

    x, _ = clustered_vectors(150, 4, dim=32, spread=1.0, seed=3)
    with Project.create(tmp_path / "s.sgproj") as p:
        ids = p.add_lines([LineIn(i * 1000, i * 1000 + 800, f"l{i}") for i in range(150)])
        p.put_embeddings("voice", "synthetic", ids, x)
        summary = recluster(p, method)
        assert summary["assigned"] + summary["unassigned"] == 150
        assert all(a.origin == "auto" for a in p.assignments().values())
        loose = set(p.unassigned_ids())
        assert set(p.suggestions()) == loose


def test_train_says_how_many_labelled_lines_each_project_gave(cli, h3_project, tmp_path):
    """The count printed is the human-labelled lines trained on, and a project that gave none is
    named as skipped, not silently left out of a total that looks too small."""
    import shutil

    labelled = tmp_path / "labelled.sgproj"
    shutil.copy(h3_project, labelled)
    assert cli("labels", "import", labelled, TRUTH).returncode == 0
    r = cli("train", labelled, h3_project, "-o", tmp_path / "m.npz")
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0].startswith("trained on 440 human-labelled lines of 1 project → "), out
    assert "labelled.sgproj: 440 of 440 lines labelled by a human (with voice vectors) — used" in out[1]
    assert f"{h3_project.name}: 0 of 440 lines" in out[2] and "skipped" in out[2], out
