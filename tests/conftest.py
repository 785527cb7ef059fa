"""Shared fixtures: paths to the tests' data, fresh projects, running the real CLI.

The tests that read the data folder (README "The tests' data") are marked `data` here, at
collection, and a run that selects any of them stops at once, with one line, when the folder is
missing or incomplete; `pytest -m "not data"` runs the rest without it.
"""

from __future__ import annotations

import contextlib
import csv
import dis
import importlib
import inspect
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path, PurePath
from types import CodeType, FunctionType, ModuleType

import pytest

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
SHARED = Path(os.environ.get("SGTUI_SHARED", REPO.parent / "shared"))
DATA = SHARED / "data"
HARUHI03 = DATA / "haruhi03"


def pytest_report_header(config) -> str:
    return f"sgtui shared data: {DATA} ({'present' if DATA.exists() else 'MISSING'})"


# ---- the tests' data: which tests read it, and one check before any of them runs -----------
# The files the data tests read (README "The tests' data"); a partial copy counts as missing.
DATA_FILES = ("haruhi03/lines.csv", "haruhi03/voice_ecapa192.npy", "haruhi03/Haruhi_03_annotate.csv",
              "haruhi16/lines.csv", "haruhi16/voice_ecapa192.npy", "devspeech/manifest.csv")
LIBRISPEECH_FLACS = 100
# Helpers that build the data's path at run time, so that no path constant shows it.
DATA_HELPERS = {("engine_helpers", "shared_dir")}


def missing_data(data: Path = DATA) -> list[str]:
    """What the data tests read that `data` lacks; empty when it is all there."""
    missing = [f for f in DATA_FILES if not (data / f).is_file()]
    flacs = len(list((data / "librispeech-test-other").glob("*/*.flac")))
    if flacs != LIBRISPEECH_FLACS:
        missing.append(f"librispeech-test-other ({flacs} of {LIBRISPEECH_FLACS} FLACs)")
    manifest = data / "devspeech" / "manifest.csv"
    if manifest.is_file():
        with open(manifest, newline="", encoding="utf-8") as f:
            files = [r.get("file") or "" for r in csv.DictReader(f)]
        absent = sum(not (manifest.parent / name).is_file() for name in files)
        if absent or not files:
            missing.append(f"devspeech ({absent} of the {len(files)} files its manifest lists)")
    return missing


def _is_data_path(value: object) -> bool:
    """A path inside the data folder (or the shared folder itself), however it was built."""
    if isinstance(value, (tuple, list)):
        return any(map(_is_data_path, value))
    if not isinstance(value, PurePath):
        return False
    return value == SHARED or Path(value).is_relative_to(DATA)


def _loaded(code: CodeType) -> Iterator[object]:
    """What a function's code (and the code nested in it) loads by name: its module's globals,
    names it imports inside itself, and attributes of modules (`features_helpers.librispeech`)."""
    scope_import: ModuleType | None = None
    last: object = None
    for ins in dis.get_instructions(code):
        value: object = None
        if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
            value = _GLOBALS.get(code, {}).get(ins.argval)
        elif ins.opname == "IMPORT_NAME":
            value = scope_import = _import(ins.argval)
        elif ins.opname == "IMPORT_FROM" and scope_import is not None:
            value = getattr(scope_import, ins.argval, None)
        elif ins.opname in ("LOAD_ATTR", "LOAD_METHOD") and isinstance(last, ModuleType):
            value = getattr(last, ins.argval, None)
        if value is not None:
            yield value
        last = value
    for const in code.co_consts:
        if isinstance(const, CodeType):
            _GLOBALS.setdefault(const, _GLOBALS.get(code, {}))
            yield from _loaded(const)


def _import(name: str) -> ModuleType | None:
    """A module a test imports inside itself, if it is a file of tests/ (only those are
    followed; nothing else is imported here)."""
    if name in sys.modules:
        return sys.modules[name]
    file = REPO.joinpath(*name.split(".")).with_suffix(".py")
    if file.parent != TESTS and name.count(".") == 0:
        file = TESTS / f"{name}.py"
    if file.parent != TESTS or not file.is_file():
        return None
    try:
        return importlib.import_module(name)
    except Exception:  # the test itself reports it, when it runs
        return None


_GLOBALS: dict[CodeType, dict] = {}
_READS_DATA: dict[CodeType, bool] = {}


def reads_data(func: object) -> bool:
    """Whether `func`, or a function of tests/ it names (followed through), names a path inside
    the data folder or one of DATA_HELPERS. Read from the code, without running it."""
    func = inspect.unwrap(func) if callable(func) else func
    code = getattr(func, "__code__", None)
    if not isinstance(code, CodeType):
        return False
    if code in _READS_DATA:
        return _READS_DATA[code]
    _READS_DATA[code] = False  # a function that calls itself
    module = (getattr(func, "__module__", None) or "").rpartition(".")[2]
    found = (module, getattr(func, "__qualname__", "")) in DATA_HELPERS
    _GLOBALS[code] = getattr(func, "__globals__", {})
    for value in _loaded(code) if not found else ():
        if _is_data_path(value) or (
                isinstance(value, FunctionType)
                and Path(value.__code__.co_filename).resolve().parent == TESTS
                and reads_data(value)):
            found = True
            break
    _READS_DATA[code] = found
    return found


def needs_data(item: pytest.Item) -> bool:
    """A test needs the data when it uses `shared_data` (directly or through another fixture),
    when its code, a fixture's or a tests/ helper's it calls names a path inside the data folder
    (HARUHI03, LIBRISPEECH, ...) or a helper of DATA_HELPERS, when a parameter is such a path,
    or when it is marked `data` by hand (data reached in a way the code does not show)."""
    if item.get_closest_marker("data") or "shared_data" in getattr(item, "fixturenames", ()):
        return True
    callspec = getattr(item, "callspec", None)
    if callspec is not None and any(map(_is_data_path, callspec.params.values())):
        return True
    funcs = [getattr(item, "function", None)]
    info = getattr(item, "_fixtureinfo", None)
    for defs in (info.name2fixturedefs.values() if info is not None else ()):
        funcs += [d.func for d in defs]
    return any(reads_data(f) for f in funcs if f is not None)


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if needs_data(item) and not item.get_closest_marker("data"):
            item.add_marker(pytest.mark.data)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Stop before the first test when data tests are selected and the data is not all there
    (else each of them fails on its own, minutes apart)."""
    if session.config.option.collectonly or not any(
            item.get_closest_marker("data") for item in session.items):
        return
    missing = missing_data()
    if missing:
        what = ("does not exist" if not DATA.is_dir() else
                f"lacks {', '.join(missing[:2])}{f' and {len(missing) - 2} more' if len(missing) > 2 else ''}")
        shared = (f"SGTUI_SHARED is {os.environ['SGTUI_SHARED']}" if "SGTUI_SHARED" in os.environ
                  else "SGTUI_SHARED is not set, so ../shared beside the repository")
        pytest.exit(f"the tests' data folder {DATA} {what} ({shared}): point SGTUI_SHARED at the "
                    "folder that holds data/ (README \"The tests' data\" says where it comes from), "
                    "or run the other tests alone: pytest -m \"not data\"",
                    returncode=pytest.ExitCode.USAGE_ERROR)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The tests' data folder (a test using it is marked `data`); its absence is a set-up
    error, not a reason to skip."""
    if not HARUHI03.exists():
        pytest.fail(f"shared data not found at {DATA}; set SGTUI_SHARED to the shared/ folder "
                    "(README \"The tests' data\")")
    return DATA


def run_cli(*args: str, cwd: Path | None = None, input: str | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the real `sgtui` command in a subprocess and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "sgtui", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, input=input, timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def refusal(r: subprocess.CompletedProcess, *fragments: str) -> str:
    """The one line of a refusal (exit 2, `sgtui: error: `, no traceback), checked to hold
    each fragment; the tests of every command share this rule."""
    assert r.returncode == 2, (r.returncode, r.stdout[-500:], r.stderr)
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("sgtui: error: "), err
    for f in fragments:
        assert f in err, err
    return err


def succeeded(r: subprocess.CompletedProcess) -> str:
    """A command that ran (exit 0); its stderr, where notes go."""
    assert r.returncode == 0, r.stderr
    return r.stderr


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def no_modules_that_raise_on_getattr():
    """For hypothesis tests: Hypothesis reads `__file__` of every imported module to collect
    constants; the lazy module stand-ins speechbrain leaves in sys.modules (when another test
    imported it) raise ImportError on any attribute. Keep them out of sys.modules during the
    test only."""
    hidden = {}
    for name, module in list(sys.modules.items()):
        try:
            getattr(module, "__file__", None)
        except Exception:  # noqa: BLE001 - whatever the stand-in raises
            hidden[name] = sys.modules.pop(name)
    yield
    sys.modules.update(hidden)


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
