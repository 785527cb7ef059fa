"""Episode titles (issue 24, B.9): a project is titled by the file it makes, `sgtui info
--set-title` retitles it as one logged and undoable action, and a season export whose
titles collide tells the episodes apart by file name (or gives advice that works)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import refusal as _refused
from conftest import run_cli
from conftest import succeeded as _ok

from sgtui.errors import ConflictError
from sgtui.project import Project

ROWS = [(0.5, 1.5, "A"), (2.0, 3.0, "B"), (3.5, 4.5, "A"), (5.0, 6.0, "B")]


def _features(folder: Path) -> Path:
    """A lines.csv (generic layout, with speakers) and its voice vectors in `folder`."""
    folder.mkdir(parents=True)
    csv = folder / "lines.csv"
    csv.write_text("start,end,speaker,text\n"
                   + "".join(f"{a},{b},{s},line {i}\n" for i, (a, b, s) in enumerate(ROWS)))
    rng = np.random.default_rng(len(str(folder)))
    np.save(folder / "voice.npy", rng.normal(size=(len(ROWS), 8)).astype(np.float32))
    return csv


def _project(base: Path, name: str, out_name: str) -> Path:
    csv = _features(base / name)
    out = base / name / out_name
    _ok(run_cli("import-features", csv, "--voice", base / name / "voice.npy", "-o", out))
    _ok(run_cli("labels", "import", out, csv))
    return out


def _uris(rttm: str) -> list[str]:
    return sorted({row.split()[1] for row in rttm.splitlines()})


def test_import_features_titles_the_project_by_the_file_it_makes(tmp_path, cli) -> None:
    a = _project(tmp_path, "ep01", "ep01.sgproj")
    b = _project(tmp_path, "ep02", "ep02.sgproj")
    assert json.loads(cli("info", a, "--json").stdout)["title"] == "ep01"
    r = cli("export", a, b, "-f", "rttm", "-o", "-")
    _ok(r)
    assert _uris(r.stdout) == ["ep01", "ep02"]


def test_colliding_titles_are_told_apart_by_file_name(tmp_path, cli) -> None:
    a = _project(tmp_path, "x", "ep01.sgproj")
    b = tmp_path / "x" / "ep02.sgproj"
    shutil.copy(a, b)  # a copy keeps the title "ep01"
    r = cli("export", a, b, "-f", "rttm", "-o", "-")
    assert "titled 'ep01'" in _ok(r) and "'ep02'" in r.stderr
    assert _uris(r.stdout) == ["ep01", "ep02"]


def test_set_title_is_logged_undoable_and_used_by_export(tmp_path, cli) -> None:
    a = _project(tmp_path, "x", "ep01.sgproj")
    err = _ok(cli("info", a, "--set-title", "  Episode  1 ", "--as", "alice"))
    assert "'Episode 1'" in err
    info = json.loads(cli("info", a, "--json").stdout)
    assert info["title"] == "Episode 1"
    with Project.open(a) as p:
        ops = [o for o in p.ops() if o.kind == "title"]
        assert [(o.annotator, json.loads(o.payload)["title"]) for o in ops] == \
            [("alice", ["ep01", "Episode 1"])]
    r = cli("export", a, "-f", "rttm", "-o", "-")
    _ok(r)
    assert _uris(r.stdout) == ["Episode_1"]
    with Project.open(a) as p:
        assert p.undo("alice") is not None
        assert p.meta_get("title") == "ep01"
        assert p.redo("alice") is not None
        assert p.meta_get("title") == "Episode 1"
        p.set_title("Third", "bob")
        with pytest.raises(ConflictError, match="changed"):
            p.undo("alice")  # alice's rename was overtaken by bob's: not reverted blindly
        assert p.meta_get("title") == "Third"
    before = a.read_bytes()
    _refused(cli("info", a, "--set-title", "   "), "empty")
    _refused(cli("info", a, "--as", "bob"), "--set-title")
    assert a.read_bytes() == before


def test_the_advice_for_a_true_collision_works(tmp_path, cli) -> None:
    a = _project(tmp_path, "s1", "ep.sgproj")
    b = _project(tmp_path, "s2", "ep.sgproj")  # same file name, same title, other folder
    err = _refused(cli("export", a, b, "-f", "rttm", "-o", "-"), "--set-title")
    hint = err.split(": ", 2)[-1].split("give one a title of its own: ", 1)[1].strip()
    assert hint == f"sgtui info {b} --set-title NEW_TITLE"
    _ok(cli(*hint.split()[1:-1], "season1-ep02"))
    r = cli("export", a, b, "-f", "rttm", "-o", "-")
    _ok(r)
    assert _uris(r.stdout) == ["ep", "season1-ep02"]


def test_a_retitled_episode_is_still_the_same_episode_to_a_bank(tmp_path, cli) -> None:
    a = _project(tmp_path, "x", "ep01.sgproj")
    bank = tmp_path / "series.sgbank"
    _ok(cli("bank", "add", bank, a))
    _ok(cli("info", a, "--set-title", "Episode 1"))
    _ok(cli("bank", "add", bank, a))  # replaces its own contribution, not a second episode
    r = cli("bank", "list", bank, "--json")
    _ok(r)
    episodes = json.loads(r.stdout)["episodes"]
    assert [e["title"] for e in episodes] == ["Episode 1"]
