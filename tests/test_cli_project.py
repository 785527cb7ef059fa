"""The media-free commands through the real CLI: import-features, info, ops, labels."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import HARUHI03

from sgtui.project import Project
from sgtui.project.labels_csv import parse_time, read_label_csv

ANNOTATE = HARUHI03 / "Haruhi_03_annotate.csv"


@pytest.mark.parametrize(("text", "ms"), [
    ("0:00:31.28", 31_280),        # H:MM:SS.cc
    ("00:01:02,345", 62_345),      # HH:MM:SS,mmm
    ("01:02:03.004", 3_723_004),   # HH:MM:SS.mmm
    ("00:00:03:330", 3_330),       # HH:MM:SS:mmm
    ("1:00:00", 3_600_000),        # H:MM:SS
    ("12.5", 12_500),              # seconds (generic layout)
    ("0:00:01.5", 1_500),
])
def test_every_time_format_parses(text, ms):
    assert parse_time(text) == ms


@pytest.mark.parametrize("bad", ["", "abc", "0:61:00", "1:2", "-3"])
def test_bad_times_are_refused(bad):
    from sgtui.errors import SgtuiError

    with pytest.raises(SgtuiError):
        parse_time(bad)


def test_import_features_then_info_reports_lines_and_one_encoder(cli, h3_project):
    r = cli("info", h3_project, "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["lines"] == 440 and info["unassigned"] == 440
    assert info["encoders"] == [{"modality": "voice", "model": "imported", "dim": 192, "lines": 440}]
    for key in ("lines", "clips", "keyframes", "clusters", "named", "assigned", "unassigned",
                "encoders", "actors", "ops", "annotators", "schema_version"):
        assert key in info
    with Project.open(h3_project, readonly=True) as p:
        raw = np.load(HARUHI03 / "voice_ecapa192.npy")
        _, vecs = p.embeddings("voice")
        np.testing.assert_allclose(vecs[7], raw[7] / np.linalg.norm(raw[7]), rtol=1e-5)


def test_reading_commands_leave_no_side_files_beside_a_shared_project(cli, h3_project, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    ep = shared / "ep.sgproj"
    ep.write_bytes(h3_project.read_bytes())
    with Project.open(ep) as p:  # a project written locally is in WAL mode
        assert p.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    for args in (["info", ep], ["info", ep, "--json"], ["ops", ep, "--json"]):
        assert cli(*args).returncode == 0
        assert sorted(f.name for f in shared.iterdir()) == ["ep.sgproj"], args
    with Project.open(ep, readonly=True) as p, pytest.raises(Exception, match="read-only|readonly"):
        p.conn.execute("DELETE FROM lines")  # read-only all the way down, not only by convention


def test_labels_import_of_the_annotation_file_labels_exactly_440_lines(cli, h3_project):
    r = cli("labels", "import", h3_project, ANNOTATE, "--as", "tester", "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["labelled"] == 440 and rep["unlabelled_rows"] == 123
    assert rep["unmatched_lines"] == 0 and rep["ties"] == []
    info = json.loads(cli("info", h3_project, "--json").stdout)
    assert (info["named"], info["assigned"]) == (5, 440)
    ops = json.loads(cli("ops", h3_project, "--json").stdout)
    assert ops["actions"] == 1 and ops["raw"]["add"] == 0, "one import action, not one add per line"
    with Project.open(h3_project, readonly=True) as p:
        sizes = sorted(c.size for c in p.clusters())
    assert sizes == [60, 65, 76, 76, 163]


def test_labels_export_import_export_is_byte_identical(cli, h3_project, tmp_path):
    cli("labels", "import", h3_project, ANNOTATE)
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert cli("labels", "export", h3_project, a).returncode == 0
    assert cli("labels", "import", h3_project, a).returncode == 0
    assert cli("labels", "export", h3_project, b).returncode == 0
    assert a.read_bytes() == b.read_bytes()
    layout, rows = read_label_csv(a)
    assert layout == "chat-haruhi" and len(rows) == 440
    g1, g2 = tmp_path / "g1.csv", tmp_path / "g2.csv"
    cli("labels", "export", h3_project, g1, "--layout", "generic")
    cli("labels", "import", h3_project, g1)
    cli("labels", "export", h3_project, g2, "--layout", "generic")
    assert g1.read_bytes() == g2.read_bytes()


def test_maybe_prefix_imports_as_suggested_and_empty_speaker_is_no_label(cli, h3_project, tmp_path):
    csv = tmp_path / "guess.csv"
    csv.write_text("人物,人物台词,开始时间,结束时间\n"
                   "(可能)长门,x,0:00:04.52,0:00:07.23\n"
                   ",y,0:00:07.34,0:00:10.32\n"
                   "阿虚,z,00:00:10:480,00:00:10:970\n", encoding="utf-8")
    r = cli("labels", "import", h3_project, csv, "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert (rep["labelled"], rep["suggested"], rep["unlabelled_rows"]) == (1, 1, 1)
    with Project.open(h3_project, readonly=True) as p:
        origins = sorted(a.origin for a in p.assignments().values())
    assert origins == ["human", "suggested"]


def test_a_tie_between_speakers_leaves_the_line_unmatched_and_is_reported(cli, h3_project, tmp_path):
    csv = tmp_path / "tie.csv"
    csv.write_text("start,end,speaker\n4.52,7.23,A\n4.52,7.23,B\n7.34,10.32,A\n", encoding="utf-8")
    rep = json.loads(cli("labels", "import", h3_project, csv, "--json").stdout)
    assert rep["labelled"] == 1 and len(rep["ties"]) == 1 and rep["unmatched_rows"] == 2


def _err(r):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def test_info_on_a_non_project_exits_2_with_one_line(cli):
    assert "not a readable sgproj" in _err(cli("info", "/etc/hostname"))


def test_import_features_with_mismatched_rows_exits_2_and_writes_nothing(cli, tmp_path):
    npy = tmp_path / "v.npy"
    np.save(npy, np.ones((439, 192), np.float32))
    out = tmp_path / "x.sgproj"
    msg = _err(cli("import-features", HARUHI03 / "lines.csv", "--voice", npy, "-o", out))
    assert "439 rows" in msg and "440" in msg
    assert not out.exists() and not (tmp_path / "x.sgproj.part").exists()


def test_existing_output_is_refused_unless_forced(cli, h3_project, tmp_path):
    msg = _err(cli("import-features", HARUHI03 / "lines.csv", "--voice",
                   HARUHI03 / "voice_ecapa192.npy", "-o", h3_project))
    assert "--force" in msg
    out = tmp_path / "e.csv"
    out.write_text("keep")
    _err(cli("labels", "export", h3_project, out))
    assert out.read_text() == "keep"
    assert cli("labels", "export", h3_project, out, "--force").returncode == 0


@pytest.mark.parametrize(("content", "fragment"), [
    (b"name,age\nx,1\n", "not a label layout"),
    (b"start,end\n1.0,abc\n", "cannot read time"),
    (b"start,end\n5.0,1.0\n", "ends before it starts"),
    ("start,end\n1,2\n".encode("utf-16"), "not UTF-8"),
])
def test_bad_label_files_exit_2(cli, h3_project, tmp_path, content, fragment):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    assert fragment in _err(cli("labels", "import", h3_project, bad))


def test_bad_npy_and_missing_files_exit_2(cli, tmp_path):
    txt = tmp_path / "v.npy"
    txt.write_text("not numpy")
    assert "not a readable .npy" in _err(cli("import-features", HARUHI03 / "lines.csv",
                                             "--voice", txt, "-o", tmp_path / "o.sgproj"))
    assert "does not exist" in _err(cli("info", tmp_path / "missing.sgproj"))
    assert "does not exist" in _err(cli("import-features", tmp_path / "no.csv", "--voice", txt,
                                        "-o", tmp_path / "o.sgproj"))


def test_debug_shows_the_traceback(cli):
    r = cli("--debug", "info", "/etc/hostname")
    assert r.returncode == 2 and "Traceback" in r.stderr


def test_ops_json_has_the_contract_shape(cli, h3_project):
    with Project.open(h3_project) as p:
        p.add([1, 2], None, "ann")
        p.undo("ann")
    ops = json.loads(cli("ops", h3_project, "--json").stdout)
    assert set(ops) == {"raw", "net", "by_annotator", "actions"}
    assert set(ops["raw"]) == {"add", "remove", "merge", "rename", "confirm", "undo", "redo",
                               "recluster", "flag"}
    assert ops["raw"]["add"] == 2 and ops["net"] == {"add": 0, "remove": 0, "merge": 0}
    assert ops["by_annotator"]["ann"]["raw"]["undo"] == 1


def test_help_and_module_entry_point_work(cli):
    r = cli("--help")
    assert r.returncode == 0 and "import-features" in r.stdout and "labels" in r.stdout
