"""Shared fixtures: paths to ../shared data, fresh projects, running the real CLI."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
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


# ---- a folder this process cannot write (tests of read-only files) -------------------------
@contextlib.contextmanager
def read_only_folder(base: Path, files: list[Path]) -> Iterator[Path]:
    """A folder this process cannot write, holding copies of `files` (mode 0444)."""
    folder = base / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        for f in files:
            shutil.copy(f, folder)
            (folder / f.name).chmod(0o444)
        folder.chmod(0o555)
        try:
            yield folder
        finally:
            folder.chmod(0o755)
        return
    # root writes through permissions: only a read-only mount stops it
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"running as root without the right to mount a read-only tmpfs ({mounted.stderr.strip()})")
    try:
        for f in files:
            shutil.copy(f, folder)
            (folder / f.name).chmod(0o444)
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)
