"""Issue 24 A.4: every OS error on a command's input or output path is exit 2 and one line
that names the path, the error and what to do (sgtui.paths.os_error_line, used by the CLI's
one top-level handler, and sgtui.paths.probe in the path checks) — never "internal error".

Real symlink loops, real over-long names, real paths through a file, a real read-only mount
and (for root, who ignores mode bits) a real permission refusal: the command runs without
the capability that lets root pass them.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import read_only_folder
from conftest import refusal as _err

from sgtui.paths import PATH_ERRNOS, os_error_line

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_projects" / "sample01.sgproj"
LOOP_WORDS = ("loops back on itself", "ELOOP")


def _loop(folder: Path, name: str) -> Path:
    """NAME -> NAME.2 -> NAME: a real symlink loop."""
    a, b = folder / name, folder / f"{name}.2"
    a.symlink_to(b.name)
    b.symlink_to(a.name)
    return a


def _digest(folder: Path) -> dict[str, str]:
    """Every entry under folder: a file's md5, a link's target (nothing may change)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_symlink():
            out[str(p)] = "-> " + os.readlink(p)
        elif p.is_file():
            out[str(p)] = hashlib.md5(p.read_bytes()).hexdigest()
        else:
            out[str(p)] = "dir"
    return out


@pytest.fixture
def ep(tmp_path: Path) -> Path:
    dst = tmp_path / "ep.sgproj"
    shutil.copy(SAMPLE, dst)
    return dst


@pytest.fixture
def labelled(cli, ep: Path) -> Path:
    """ep with its true speakers imported: named clusters, what a bank is made of."""
    r = cli("labels", "import", ep, SAMPLE.with_name("sample01.truth.csv"))
    assert r.returncode == 0, r.stderr
    return ep


# Each writing command with its output path being a symlink loop.
OUTPUT_LOOPS = {
    "ingest -o": lambda t, ep, loop: ["ingest", t / "ep.mp4", "--subs", t / "ep.srt", "-o", loop],
    "export -o (text)": lambda t, ep, loop: ["export", ep, "-f", "srt", "--include-unnamed", "-o", loop],
    "export -o (dataset)": lambda t, ep, loop: ["export", ep, "-f", "ljspeech", "--include-unnamed",
                                                "-o", loop],
    "labels export": lambda t, ep, loop: ["labels", "export", ep, loop],
    "bank add": lambda t, ep, loop: ["bank", "add", loop, ep],
    "train -o": lambda t, ep, loop: ["train", ep, "-o", loop],
    "clip -o": lambda t, ep, loop: ["clip", ep, "1", "-o", loop],
    "sample -o": lambda t, ep, loop: ["sample", "-o", loop],
    "import-features -o": lambda t, ep, loop: ["import-features", t / "lines.csv", "--voice",
                                               t / "v.npy", "-o", loop],
}
LOOP_NAMES = {"clip -o": "LOOP.wav", "labels export": "LOOP.csv", "bank add": "LOOP.sgbank",
              "train -o": "LOOP.npz"}


@pytest.mark.parametrize("case", list(OUTPUT_LOOPS))
def test_a_symlink_loop_as_output_is_one_line_naming_it(cli, tmp_path, ep, case):
    (tmp_path / "ep.mp4").write_bytes(b"not looked at: the output is refused first")
    (tmp_path / "ep.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\nHi\n", encoding="utf-8")
    (tmp_path / "lines.csv").write_text("start,end\n1,2\n", encoding="utf-8")
    (tmp_path / "v.npy").write_bytes(b"")
    loop = _loop(tmp_path, LOOP_NAMES.get(case, "LOOP.sgproj"))
    before = _digest(tmp_path)
    r = cli(*OUTPUT_LOOPS[case](tmp_path, ep, loop))
    _err(r, str(loop), *LOOP_WORDS)
    assert _digest(tmp_path) == before  # a refusal changes no byte and adds no file


# Each command with one of its inputs being a symlink loop: a loop, not "does not exist".
INPUT_LOOPS = {
    "info": lambda t, ep, loop: ["info", loop],
    "ops": lambda t, ep, loop: ["ops", loop],
    "cluster": lambda t, ep, loop: ["cluster", loop],
    "cluster --model": lambda t, ep, loop: ["cluster", ep, "--model", loop],
    "eval --truth": lambda t, ep, loop: ["eval", ep, "--truth", loop],
    "embed": lambda t, ep, loop: ["embed", loop],
    "labels import (csv)": lambda t, ep, loop: ["labels", "import", ep, loop],
    "labels import (project)": lambda t, ep, loop: ["labels", "import", loop, t / "x.csv"],
    "labels export": lambda t, ep, loop: ["labels", "export", loop, t / "out.csv"],
    "export": lambda t, ep, loop: ["export", loop, "-f", "srt", "-o", t / "out.srt"],
    "export --source": lambda t, ep, loop: ["export", ep, "-f", "ljspeech", "--include-unnamed",
                                            "--source", loop, "-o", t / "ds"],
    "bank list": lambda t, ep, loop: ["bank", "list", loop],
    "bank add (project)": lambda t, ep, loop: ["bank", "add", t / "new.sgbank", loop],
    "clip": lambda t, ep, loop: ["clip", loop, "1", "-o", t / "out.wav"],
    "train": lambda t, ep, loop: ["train", loop, "-o", t / "m.npz"],
    "ingest (video)": lambda t, ep, loop: ["ingest", loop, "-o", t / "new.sgproj"],
    "ingest --subs": lambda t, ep, loop: ["ingest", ep, "--subs", loop, "-o", t / "new.sgproj"],
    "import-features": lambda t, ep, loop: ["import-features", loop, "--voice", t / "v.npy",
                                            "-o", t / "new.sgproj"],
}


@pytest.mark.parametrize("case", list(INPUT_LOOPS))
def test_a_symlink_loop_as_input_is_called_a_loop(cli, tmp_path, ep, case):
    loop = _loop(tmp_path, "LOOP.in")
    before = _digest(tmp_path)
    err = _err(cli(*INPUT_LOOPS[case](tmp_path, ep, loop)), str(loop), *LOOP_WORDS)
    assert "does not exist" not in err
    assert _digest(tmp_path) == before


def test_a_name_too_long_is_one_line_as_input_and_as_output(cli, tmp_path, ep):
    long_name = tmp_path / ("x" * 300 + ".sgproj")
    _err(cli("info", long_name), "name is too long", "ENAMETOOLONG", "shorter")
    _err(cli("labels", "export", ep, tmp_path / ("y" * 300 + ".csv")), "ENAMETOOLONG")
    _err(cli("ingest", ep, "-o", long_name), "ENAMETOOLONG")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ep.sgproj"]


def test_a_path_through_a_file_says_so(cli, tmp_path, ep):
    """ENOTDIR: 'ep.sgproj/x' used to be "folder ep.sgproj does not exist; create it"."""
    err = _err(cli("labels", "export", ep, ep / "out.csv"), "not a folder")
    assert "create it" not in err
    err = _err(cli("info", ep / "x.sgproj"), "not a folder", "ENOTDIR")
    assert "does not exist" not in err
    _err(cli("train", ep, "-o", ep / "m.npz"), "not a folder")
    _err(cli("sample", "-o", ep / "samples"), "not a folder")


def test_a_folder_where_a_file_is_needed(cli, tmp_path, ep):
    (tmp_path / "d.wav").mkdir()
    (tmp_path / "d.csv").mkdir()
    _err(cli("clip", ep, "1", "-o", tmp_path / "d.wav", "--force"), "is a folder")
    _err(cli("labels", "import", ep, tmp_path / "d.csv"), "is a folder")
    _err(cli("import-features", tmp_path / "d.csv", "--voice", tmp_path / "d.csv",
             "-o", tmp_path / "n.sgproj"), "is a folder")


def test_a_folder_this_user_may_not_enter_is_permission_denied(cli, tmp_path, labelled):
    """EACCES, really raised by the system. Root passes mode bits by CAP_DAC_OVERRIDE, so as
    root the command runs with that capability dropped (setpriv), as an ordinary user would."""
    ep = labelled
    locked = tmp_path / "locked"
    (locked / "inner").mkdir(parents=True)
    shutil.copy(ep, locked / "inner" / "ep.sgproj")
    locked.chmod(0)
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv, "setpriv (util-linux) is needed to test permissions as root"
        prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search"]
    try:
        def run(*args: object) -> subprocess.CompletedProcess:
            return subprocess.run([*prefix, sys.executable, "-m", "sgtui", *map(str, args)],
                                  capture_output=True, text=True, timeout=120)

        _err(run("info", locked / "inner" / "ep.sgproj"), "permission denied", "EACCES",
             str(locked / "inner" / "ep.sgproj"))
        _err(run("labels", "export", ep, locked / "inner" / "out.csv"), "EACCES")
        _err(run("bank", "add", locked / "inner" / "s.sgbank", ep), "EACCES")
    finally:
        locked.chmod(0o755)
    assert sorted(p.name for p in (locked / "inner").iterdir()) == ["ep.sgproj"]


def test_a_read_only_disk_is_one_line_for_every_writer(cli, tmp_path, labelled):
    """EROFS, on a real read-only mount (for root) or a folder without write permission."""
    ep = labelled
    with read_only_folder(tmp_path, [ep]) as ro:
        before = _digest(ro)
        _err(cli("labels", "export", ep, ro / "out.csv"), str(ro), "read-only")
        _err(cli("bank", "add", ro / "s.sgbank", ep), str(ro), "read-only")
        _err(cli("train", ep, "-o", ro / "m.npz"), str(ro), "read-only")
        _err(cli("sample", "-o", ro / "samples"), str(ro), "read-only")
        _err(cli("ingest", ep, "-o", ro / "new.sgproj"), str(ro), "read-only")
        assert _digest(ro) == before


# ---- the mapping itself, on errors the system really raises --------------------------------
def _real_errors(tmp_path: Path) -> dict[int, tuple[OSError, Path]]:
    """One OSError per errno, each from a failing system call on a real path."""
    found: dict[int, tuple[OSError, Path]] = {}
    loop = _loop(tmp_path, "loop")
    afile = tmp_path / "afile"
    afile.write_text("x")
    calls = [
        (loop, lambda p: os.stat(p)),
        (tmp_path / ("n" * 300), lambda p: os.stat(p)),
        (afile / "below", lambda p: os.stat(p)),
        (tmp_path, lambda p: open(p, "w")),  # noqa: SIM115 - it fails
        (afile, lambda p: os.mkdir(p)),
        (tmp_path / "missing", lambda p: open(p)),  # noqa: SIM115 - it fails
    ]
    for path, call in calls:
        try:
            call(path)
        except OSError as exc:
            found[exc.errno] = (exc, path)
    return found


def test_the_mapping_names_the_path_the_error_and_what_to_do(tmp_path):
    found = _real_errors(tmp_path)
    assert set(found) == {errno.ELOOP, errno.ENAMETOOLONG, errno.ENOTDIR, errno.EISDIR,
                          errno.EEXIST, errno.ENOENT}
    for code, (exc, path) in found.items():
        line = os_error_line(exc)
        assert line is not None and "\n" not in line
        name = errno.errorcode[code]
        assert str(path) in line and name in line, line
        what, todo = PATH_ERRNOS[code]
        assert line.endswith(f"; {todo}") and what in line, line


def test_the_mapping_covers_the_errors_that_need_root_to_cause(tmp_path):
    """EROFS, EACCES, ENOSPC as the system words them (a unit of the table: the CLI tests
    above raise EACCES and EROFS for real)."""
    for code in (errno.EROFS, errno.EACCES, errno.ENOSPC, errno.EPERM):
        exc = OSError(code, os.strerror(code), str(tmp_path / "f"))
        line = os_error_line(exc)
        assert line and str(tmp_path / "f") in line and errno.errorcode[code] in line
    assert os_error_line(OSError(errno.ECHILD, "No child processes")) is None  # a bug, not a path


def test_a_link_to_nothing_is_called_one(cli, tmp_path, ep):
    """`sample -o LINK` to a missing place raised FileExistsError (internal error); as an input
    such a link is named as a link."""
    dangling = tmp_path / "samples"
    dangling.symlink_to(tmp_path / "gone" / "samples")
    before = _digest(tmp_path)
    _err(cli("sample", "-o", dangling), "symbolic link to", "does not exist")
    gone = tmp_path / "gone.sgproj"
    gone.symlink_to(tmp_path / "nowhere.sgproj")
    _err(cli("info", gone), "symbolic link to", str(tmp_path / "nowhere.sgproj"))
    gone.unlink()
    assert _digest(tmp_path) == before
