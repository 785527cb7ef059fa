"""The suite without its data folder (issue 24, C.20).

Each test runs pytest itself in a subprocess, with SGTUI_SHARED pointing at a folder this test
made: a run that selects tests reading the data stops before the first test with one line
when the data is missing or incomplete; `-m "not data"` runs the rest and passes; the `data`
marker follows the data however a test reaches it (the rules of tests/conftest.py).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import DATA_FILES, REPO

# Two small test files of the real suite: each holds tests that read the data and tests that do not.
MIXED = ("tests/test_engine_metrics.py", "tests/test_engine_confidence.py")


def run_pytest(*args: str, shared: Path, cwd: Path = REPO) -> tuple[subprocess.CompletedProcess, float]:
    """`python -m pytest ARGS` with SGTUI_SHARED=shared (no cache written), and its seconds."""
    env = {**os.environ, "SGTUI_SHARED": str(shared), "PYTHONUNBUFFERED": "1"}
    start = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                       capture_output=True, text=True, cwd=cwd, env=env, timeout=600)
    return r, time.monotonic() - start


def partial_copy(root: Path) -> Path:
    """A shared folder whose data/ has every file DATA_FILES names (empty), no LibriSpeech FLAC,
    and a devspeech manifest that lists a file that is not there."""
    for name in DATA_FILES:
        (root / "data" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "data" / name).write_bytes(b"")
    (root / "data" / "devspeech" / "manifest.csv").write_text(
        "file,speaker,source,language,duration_s,licence\n"
        "speakers/vctk-p225/p225_001.flac,vctk-p225,vctk,en,2.0,CC-BY-4.0\n")
    return root


@pytest.mark.parametrize("kind", ["absent", "incomplete"])
def test_selecting_data_tests_without_the_data_stops_at_once_with_one_line(tmp_path, kind):
    shared = tmp_path / "absent" if kind == "absent" else partial_copy(tmp_path / "partial")
    r, seconds = run_pytest("-q", *MIXED, shared=shared)
    out = r.stdout + r.stderr
    assert r.returncode == pytest.ExitCode.USAGE_ERROR, out
    assert "no tests ran" in out and " passed" not in out, out  # stopped before the first test
    said = [line for line in out.splitlines() if "SGTUI_SHARED" in line]
    assert len(said) == 1, out
    line = said[0]
    assert f"{shared / 'data'} " in line and f"SGTUI_SHARED is {shared}" in line
    assert "README \"The tests' data\"" in line and 'pytest -m "not data"' in line
    if kind == "absent":
        assert "does not exist" in line
    else:  # what is missing is named, though every checked file name exists
        assert "librispeech-test-other (0 of 100 FLACs)" in line
        assert "devspeech (1 of the 1 files its manifest lists)" in line
    assert seconds < 60, f"took {seconds:.0f} s to stop"


def test_not_data_runs_the_other_tests_without_the_folder_and_they_pass(tmp_path):
    r, _ = run_pytest("-q", "-m", "not data", *MIXED, shared=tmp_path / "absent")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    summary = re.search(r"(\d+) passed, (\d+) deselected", out)
    assert summary, out
    assert int(summary[1]) >= 10 and int(summary[2]) >= 2, out  # both kinds are in these files
    assert not re.search(r"\d+ (failed|errors?)\b", out), out


def test_the_readme_says_where_the_data_comes_from():
    """The stop line sends the reader to this section: it names every folder checked and the
    licences of the data's sources."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("### The tests' data", 1)[1].split("\n## ", 1)[0]
    for folder in {name.split("/")[0] for name in DATA_FILES} | {"librispeech-test-other"}:
        assert f"`{folder}/`" in section, folder
    for fact in ("Chat-Haruhi-Suzumiya", "Apache-2.0", "CC BY 4.0", "CC0-1.0", "speechocean762",
                 "EmoDB", "AISHELL-1", "VCTK", "SGTUI_SHARED", 'pytest -m "not data"'):
        assert fact in section, fact


RULES = '''
import data_helpers
import pytest
from conftest import HARUHI03

ANNOTATE = HARUHI03 / "annotate.csv"


def _name():
    return ANNOTATE.name


@pytest.fixture
def h3(shared_data):
    return shared_data


def test_fixture(shared_data): pass
def test_fixture_through_another(h3): pass
def test_constant(): assert HARUHI03.name
def test_helper_of_this_file_naming_a_derived_constant(): _name()
def test_helper_module_attribute(): data_helpers.corpus_files()
def test_imported_inside():
    from engine_helpers import haruhi03
    haruhi03()
@pytest.mark.parametrize("path", [HARUHI03 / "lines.csv"])
def test_parameter(path): pass
@pytest.mark.data
def test_by_hand(): pass

def test_pure(): assert data_helpers.words()
def test_names_the_variable_only(monkeypatch): monkeypatch.setenv("SGTUI_SHARED", "/nowhere")
def test_tmp(tmp_path): assert tmp_path
'''
HELPERS = {
    "data_helpers.py": ('import os\nfrom pathlib import Path\n\n'
                        'CORPUS = Path(os.environ["SGTUI_SHARED"]) / "data" / "librispeech-test-other"\n\n\n'
                        'def corpus_files():\n    return sorted(CORPUS.glob("*/*.flac"))\n\n\n'
                        'def words():\n    return ["a"]\n'),
    "engine_helpers.py": ('import os\nfrom pathlib import Path\n\n\n'
                          'def shared_dir():\n    return Path(os.environ["SGTUI_SHARED"])\n\n\n'
                          'def haruhi03():\n    return shared_dir() / "data" / "haruhi03"\n'),
}


def test_the_data_marker_follows_the_data_however_a_test_reaches_it(tmp_path):
    """The rules other tests rely on, on a tree of their own with this repository's conftest."""
    tests = tmp_path / "tests"
    tests.mkdir()
    shutil.copy(REPO / "tests" / "conftest.py", tests)
    for name, text in {**HELPERS, "test_rules.py": RULES}.items():
        (tests / name).write_text(text)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    data: reads the data\n")
    r, _ = run_pytest("--collect-only", "-q", "-m", "data", "tests", shared=tmp_path / "absent",
                      cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr  # listing tests needs no data
    marked = set(re.findall(r"::(test_\w+)", r.stdout))
    assert marked == {"test_fixture", "test_fixture_through_another", "test_constant",
                      "test_helper_of_this_file_naming_a_derived_constant",
                      "test_helper_module_attribute", "test_imported_inside", "test_parameter",
                      "test_by_hand"}, r.stdout
