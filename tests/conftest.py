"""Shared fixtures: paths to ../shared data, fresh projects, running the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SGTUI_SHARED", REPO.parent / "shared"))
DATA = SHARED / "data"
HARUHI03 = DATA / "haruhi03"


def pytest_report_header(config) -> str:
    return f"sgtui shared data: {DATA} ({'present' if DATA.exists() else 'MISSING'})"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data; its absence is a set-up error, not a reason to skip."""
    if not HARUHI03.exists():
        pytest.fail(f"shared data not found at {DATA}; set SGTUI_SHARED to the shared/ folder")
    return DATA


def run_cli(*args: str, cwd: Path | None = None, input: str | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the real `sgtui` command in a subprocess and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "sgtui", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, input=input, timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session")
def h3_project_template(tmp_path_factory, shared_data) -> Path:
    """haruhi03 imported once (lines + voice vectors, no labels); copy it per test."""
    out = tmp_path_factory.mktemp("h3") / "h3.sgproj"
    r = run_cli("import-features", HARUHI03 / "lines.csv", "--voice",
                HARUHI03 / "voice_ecapa192.npy", "-o", out)
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture
def h3_project(h3_project_template, tmp_path) -> Path:
    import shutil

    dst = tmp_path / "h3.sgproj"
    shutil.copy(h3_project_template, dst)
    return dst
