"""Issue 9, the CLI side: foreign WALs, outputs onto inputs, validation before writing,
read-only files and folders, a full disk, and user mistakes that must exit 2 with one line.

Everything runs the real `python -m sgtui` on real files. Read-only places and a full disk
are real too: for root (who may write anything) a tmpfs mounted read-only or kept tiny,
otherwise plain permissions and a file-size limit.
"""

from __future__ import annotations

import contextlib
import io
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import HARUHI03, read_only_folder
from conftest import refusal as _err
from project_helpers import make_project

from sgtui.project import Project

REPO = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).with_name("project_worker.py")
ENV = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
H3_LINES = HARUHI03 / "lines.csv"
H3_VOICE = HARUHI03 / "voice_ecapa192.npy"


def _side_files(path: Path) -> list[str]:
    return [s for s in ("-wal", "-shm", "-journal") if Path(f"{path}{s}").exists()]


def _clusters(path: Path) -> list[tuple]:
    conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    try:
        return conn.execute("SELECT c.id, c.name, a.line_id, a.origin FROM clusters c "
                            "JOIN assignments a ON a.cluster_id=c.id ORDER BY a.line_id").fetchall()
    finally:
        conn.close()


# ---- case 6: a crashed writer's -wal beside a file that was replaced -------------------------
def _worker(path: Path, start: int, count: int) -> None:
    subprocess.run([sys.executable, str(WORKER), str(path), "w", str(start), str(count)],
                   env=ENV, check=True, capture_output=True, timeout=120)


def _killed_writer(path: Path, start: int, commits: int) -> None:
    """A writer SIGKILLed after `commits` actions, leaving its -wal (and -shm) behind."""
    proc = subprocess.Popen([sys.executable, str(WORKER), str(path), "w", str(start), "100000"],
                            stdout=subprocess.PIPE, text=True, env=ENV)
    assert proc.stdout is not None
    for n, _ in enumerate(proc.stdout, start=1):
        if n >= commits:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert Path(f"{path}-wal").stat().st_size > 0


def _named(path: Path) -> None:
    with make_project(path) as p:
        for i in range(3):
            p.add([i + 1], None, "setup", name=f"c{i}")


@pytest.mark.slow
def test_a_crashed_writers_wal_is_never_replayed_into_a_file_replaced_since(cli, tmp_path):
    path, older = tmp_path / "ep.sgproj", tmp_path / "older.sgproj"
    _named(path)
    _worker(path, 0, 30)
    shutil.copyfile(path, older)           # a copy from earlier in the day
    _worker(path, 30, 60)                  # more work, checkpointed into the file on close
    _killed_writer(path, 90, 40)           # a writer dies with its -wal beside the file
    shutil.copyfile(older, path)           # cp older.sgproj ep.sgproj (same inode, new bytes)
    wal = Path(f"{path}-wal")
    before, wal_before = path.read_bytes(), wal.read_bytes()
    for command in (("info",), ("cluster",), ("ops", "--json")):
        _err(cli(*command, path), "ep.sgproj-wal", "will not replay", "move ep.sgproj-wal")
        assert path.read_bytes() == before, "the file must not be written"
        assert wal.read_bytes() == wal_before
    # once the stale log is moved away, the file opens as the older copy it is
    wal.rename(tmp_path / "stale.wal")
    Path(f"{path}-shm").unlink(missing_ok=True)
    r = cli("ops", path, "--json")
    assert r.returncode == 0, r.stderr


@pytest.mark.slow
def test_a_crashed_writers_own_wal_is_replayed_as_usual(cli, tmp_path):
    path = tmp_path / "ep.sgproj"
    _named(path)
    _worker(path, 0, 20)
    _killed_writer(path, 20, 15)
    r = cli("ops", path, "--json")
    assert r.returncode == 0, r.stderr
    assert '"actions"' in r.stdout
    with Project.open(path, readonly=True) as p:
        assert sum(1 for r in p.ops() if r.annotator == "w") >= 35


# On network filesystems sgtui keeps a rollback journal (connection.journal_mode_for): a writer
# killed mid-transaction leaves the file's original pages in -journal, and SQLite would copy
# them into whatever file is there on the next read.
KILLED_MID_TRANSACTION = """
import os, signal, sys
from sgtui.project import Project
p = Project.open(sys.argv[1])
p.conn.execute("PRAGMA cache_size=2")  # changed pages spill into the file before the commit
by_name = {c.name: c.id for c in p.clusters()}
with p.transaction():
    for k in range(150):
        line, dst = k % 12 + 1, by_name[f"c{(k + 1) % 3}"]
        cur = p.assignments().get(line)
        if cur is not None and cur.cluster_id == dst:
            p.confirm(dst, "w")
        else:
            p.move([line], dst, "w")
    os.kill(os.getpid(), signal.SIGKILL)
"""


def _killed_mid_transaction(path: Path, env: dict) -> None:
    r = subprocess.run([sys.executable, "-c", KILLED_MID_TRANSACTION, str(path)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == -9, r.stderr
    assert Path(f"{path}-journal").stat().st_size > 0


@pytest.fixture
def rollback_journal(monkeypatch) -> dict:
    monkeypatch.setenv("SGTUI_JOURNAL_MODE", "DELETE")
    return {**ENV, "SGTUI_JOURNAL_MODE": "DELETE"}


def _worker_env(path: Path, start: int, count: int, env: dict) -> None:
    subprocess.run([sys.executable, str(WORKER), str(path), "w", str(start), str(count)],
                   env=env, check=True, capture_output=True, timeout=120)


def test_a_crashed_writers_journal_is_never_rolled_back_into_a_file_replaced_since(cli, tmp_path, rollback_journal):
    path, older = tmp_path / "ep.sgproj", tmp_path / "older.sgproj"
    _named(path)
    _worker_env(path, 0, 20, rollback_journal)
    shutil.copyfile(path, older)                       # a copy from earlier in the day
    _worker_env(path, 20, 40, rollback_journal)        # more work
    _killed_mid_transaction(path, rollback_journal)    # a writer dies mid-change
    shutil.copyfile(older, path)                       # cp older.sgproj ep.sgproj
    journal = Path(f"{path}-journal")
    before, journal_before = path.read_bytes(), journal.read_bytes()
    for command in (("info",), ("cluster",), ("ops", "--json")):
        _err(cli(*command, path), "ep.sgproj-journal", "will not roll it back", "move ep.sgproj-journal")
        assert path.read_bytes() == before, "the file must not be written"
        assert journal.read_bytes() == journal_before
    journal.rename(tmp_path / "stale.journal")  # once moved away, the file opens as the copy it is
    r = cli("ops", path, "--json")
    assert r.returncode == 0, r.stderr
    with Project.open(path, readonly=True) as p:
        assert sum(1 for r in p.ops() if r.annotator == "w") == 20


def test_a_crashed_writers_own_journal_is_rolled_back_as_usual(cli, tmp_path, rollback_journal):
    path = tmp_path / "ep.sgproj"
    _named(path)
    _worker_env(path, 0, 20, rollback_journal)
    with Project.open(path, readonly=True) as p:
        committed = [(r.action_id, r.line_id, r.dst_cluster) for r in p.ops()]
    _killed_mid_transaction(path, rollback_journal)
    r = cli("ops", path, "--json")
    assert r.returncode == 0, r.stderr
    assert not Path(f"{path}-journal").exists()
    with Project.open(path, readonly=True) as p:
        assert [(r.action_id, r.line_id, r.dst_cluster) for r in p.ops()] == committed
        assert p.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_crashed_writers_journal_beside_a_file_we_may_not_write_is_refused(cli, tmp_path, rollback_journal):
    path = tmp_path / "ep.sgproj"
    _named(path)
    _killed_mid_transaction(path, rollback_journal)
    with read_only_folder(tmp_path, [path, Path(f"{path}-journal")]) as folder:
        copy = folder / path.name
        before = copy.read_bytes()
        _err(cli("info", copy), "ep.sgproj-journal", "only a writer can roll it back")
        assert copy.read_bytes() == before
        assert sorted(p.name for p in folder.iterdir()) == ["ep.sgproj", "ep.sgproj-journal"]


# ---- case 7: no output ever overwrites an input ----------------------------------------------
@pytest.fixture(scope="module")
def sample_episode(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    r = subprocess.run([sys.executable, "-m", "sgtui", "sample", "-o", str(out), "--episodes", "1",
                        "--lines", "4"], capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 0, r.stderr
    return out


def test_ingest_never_overwrites_its_video_or_subtitles_even_with_force(cli, sample_episode, tmp_path):
    video, subs = tmp_path / "x.mp4", tmp_path / "x.ass"
    shutil.copy(sample_episode / "sample01.mp4", video)
    shutil.copy(sample_episode / "sample01.ass", subs)
    vbytes, sbytes = video.read_bytes(), subs.read_bytes()
    _err(cli("ingest", video, "--subs", subs, "-o", video, "--force"), "also an input")
    _err(cli("ingest", video, "--subs", subs, "-o", subs, "--force"), "also an input")
    os.link(video, tmp_path / "hard.sgproj")
    (tmp_path / "soft.sgproj").symlink_to(subs)
    _err(cli("ingest", video, "--subs", subs, "-o", tmp_path / "hard.sgproj", "--force"), "also an input")
    _err(cli("ingest", video, "--subs", subs, "-o", tmp_path / "soft.sgproj", "--force"), "also an input")
    assert video.read_bytes() == vbytes and subs.read_bytes() == sbytes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hard.sgproj", "soft.sgproj", "x.ass", "x.mp4"]


def test_no_other_command_writes_over_its_input(cli, h3_project, tmp_path):
    voice = tmp_path / "v.npy"
    shutil.copy(H3_VOICE, voice)
    lines = tmp_path / "lines.csv"
    shutil.copy(H3_LINES, lines)
    originals = {p: p.read_bytes() for p in (voice, lines, h3_project)}
    _err(cli("import-features", lines, "--voice", voice, "-o", voice, "--force"), "also an input")
    _err(cli("import-features", lines, "--voice", voice, "-o", lines, "--force"), "also an input")
    _err(cli("labels", "export", h3_project, h3_project, "--force"), "also an input")
    _err(cli("train", h3_project, "-o", h3_project, "--force"), "also an input")
    for p, data in originals.items():
        assert p.read_bytes() == data, p


# ---- case 8: validate first, then write once -------------------------------------------------
def _nan_model(tmp_path: Path, cli, h3_project: Path) -> Path:
    """A real trained model with NaN put into its arrays."""
    labelled = tmp_path / "lab.sgproj"
    shutil.copy(h3_project, labelled)
    assert cli("labels", "import", labelled, HARUHI03 / "Haruhi_03_annotate.csv").returncode == 0
    good = tmp_path / "good.npz"
    assert cli("train", labelled, "-o", good).returncode == 0
    with np.load(good, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    for k, v in arrays.items():
        if v.dtype.kind == "f":
            arrays[k] = np.full_like(v, np.nan)
    bad = tmp_path / "nan.npz"
    np.savez(bad, **arrays)
    return bad


@pytest.mark.slow
def test_cluster_with_a_nan_model_exits_2_and_leaves_the_clusters(cli, h3_project, tmp_path):
    model = _nan_model(tmp_path, cli, h3_project)
    assert cli("cluster", h3_project).returncode == 0
    before = _clusters(h3_project)
    assert before
    _err(cli("cluster", h3_project, "--model", model), "NaN")
    assert _clusters(h3_project) == before


def _put_raw_vectors(path: Path, rows: dict[int, tuple[int, bytes]]) -> None:
    conn = sqlite3.connect(path)
    for line_id, (dim, blob) in rows.items():
        conn.execute("UPDATE embeddings SET dim=?, vec=? WHERE line_id=?", (dim, blob, line_id))
    conn.commit()
    conn.close()


@pytest.mark.parametrize(("rows", "fragment"), [
    ({i: (192, np.full(192, np.nan, np.float32).tobytes()) for i in (3, 50, 200)}, "NaN"),
    ({7: (192, b"\x00" * 7)}, "7 bytes for dim 192"),
    ({7: (0, b"")}, "0 bytes for dim 0"),
])
def test_damaged_vectors_in_the_file_make_cluster_refuse_not_unassign(cli, h3_project, rows, fragment):
    assert cli("cluster", h3_project).returncode == 0
    before = _clusters(h3_project)
    _put_raw_vectors(h3_project, rows)
    _err(cli("cluster", h3_project), fragment, "re-run 'sgtui embed'")
    assert _clusters(h3_project) == before


def _zip_bomb(path: Path) -> None:
    """A small .npz whose one array claims a huge shape and unpacks to 256 MB of zeros."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (1 << 28,)})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf, \
            zf.open("mean.npy", "w", force_zip64=True) as fh:
        fh.write(header.getvalue())
        chunk = bytes(1 << 20)
        for _ in range(256):
            fh.write(chunk)


@pytest.mark.slow
def test_a_zip_bomb_model_is_refused_fast(cli, h3_project, tmp_path):
    bomb = tmp_path / "bomb.npz"
    _zip_bomb(bomb)
    assert bomb.stat().st_size < 2 << 20
    t0 = time.perf_counter()
    _err(cli("cluster", h3_project, "--model", bomb), "too large for an sgtui model")
    assert time.perf_counter() - t0 < 10  # the process start dominates; nothing is unpacked


def _npy(tmp_path: Path, name: str, arr) -> Path:
    p = tmp_path / name
    np.save(p, arr, allow_pickle=False)
    return p


def _huge_header_npy(tmp_path: Path) -> Path:
    p = tmp_path / "huge.npy"
    with open(p, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (440, 1 << 40)})
        fh.write(bytes(64))
    return p


def _npz(tmp_path: Path) -> Path:
    p = tmp_path / "v.npz"
    np.savez(p, v=np.ones((440, 4), np.float32))
    return p


def _rows_with(value, dtype=np.float64):
    v = np.random.default_rng(0).normal(size=(440, 8)).astype(dtype)
    v[5] = value
    return v


@pytest.mark.parametrize(("make", "fragment"), [
    (lambda d: _npy(d, "nan.npy", _rows_with(np.nan)), "NaN"),
    (lambda d: _npy(d, "inf.npy", _rows_with(np.inf)), "NaN or infinite"),
    (lambda d: _npy(d, "zero.npy", _rows_with(0.0)), "all-zero rows"),
    (lambda d: _npy(d, "big.npy", _rows_with(1e39)), "too large for float32"),
    (lambda d: _npy(d, "complex.npy", _rows_with(1.0).astype(np.complex64)), "complex numbers"),
    (lambda d: _npy(d, "empty.npy", np.zeros((0, 8), np.float32)), "empty"),
    (lambda d: _npy(d, "nocols.npy", np.zeros((440, 0), np.float32)), "empty"),
    (lambda d: _npy(d, "rows.npy", np.ones((439, 8), np.float32)), "439 rows"),
    (lambda d: _npy(d, "str.npy", np.array([["a"] * 8] * 440)), "dtype <U1"),
    (lambda d: _npy(d, "struct.npy", np.zeros((440, 8), dtype=[("a", "<f4")])), "dtype"),
    (lambda d: _npy(d, "zerodim.npy", np.float32(1.0)), "shape ()"),
    (_huge_header_npy, "header claims shape (440, 1099511627776)"),
    (_npz, "not a readable .npy array"),
])
def test_bad_vectors_are_refused_by_import_features_and_nothing_is_left(cli, tmp_path, make, fragment):
    bad = make(tmp_path)
    out = tmp_path / "out.sgproj"
    _err(cli("import-features", H3_LINES, "--voice", bad, "-o", out), fragment)
    assert not out.exists()
    assert not [p.name for p in tmp_path.iterdir() if ".part" in p.name or p.name.startswith("out")]


def test_huge_but_float32_values_are_stored_as_unit_vectors(cli, tmp_path):
    out = tmp_path / "out.sgproj"
    r = cli("import-features", H3_LINES, "--voice", _npy(tmp_path, "big.npy", _rows_with(1e38)),
            "-o", out)
    assert r.returncode == 0, r.stderr
    with Project.open(out, readonly=True) as p:
        _, vecs = p.embeddings("voice")
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, rtol=1e-5)


def test_a_refused_store_leaves_no_part_file(cli, tmp_path):
    lines = tmp_path / "lines.csv"
    lines.write_text("start,end\n0,1\n2,3\n")
    out = tmp_path / "out.sgproj"
    # the CSV and the vectors agree in rows; the image vectors are refused while storing
    _err(cli("import-features", lines, "--voice", _npy(tmp_path, "v.npy", np.ones((2, 4))),
             "--image", _npy(tmp_path, "i.npy", np.array([[1.0, 2.0], [0.0, 0.0]])), "-o", out),
         "all-zero rows")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["i.npy", "lines.csv", "v.npy"]


# ---- case 9: read-only files and folders, a full disk ----------------------------------------
def test_reading_a_0444_file_works_and_leaves_nothing_beside_it(cli, h3_project):
    assert cli("cluster", h3_project).returncode == 0
    h3_project.chmod(0o444)
    before = h3_project.read_bytes()
    for command in (("info", "--json"), ("ops",), ("eval",)):
        args = (*command, "--truth", HARUHI03 / "Haruhi_03_annotate.csv") if command == ("eval",) else command
        r = cli(args[0], h3_project, *args[1:])
        assert r.returncode == 0, r.stderr
        assert _side_files(h3_project) == []
    assert h3_project.read_bytes() == before


def test_a_project_in_a_read_only_folder_reads_and_refuses_writes_with_one_line(cli, h3_project, tmp_path):
    assert cli("cluster", h3_project).returncode == 0
    with read_only_folder(tmp_path, [h3_project]) as folder:
        path = folder / h3_project.name
        before = path.read_bytes()
        for args in (("info", path), ("ops", path, "--json"),
                     ("eval", path, "--truth", HARUHI03 / "Haruhi_03_annotate.csv")):
            r = cli(*args)
            assert r.returncode == 0, r.stderr
            assert "backup" not in r.stderr
        for args in (("cluster", path), ("labels", "import", path, HARUHI03 / "Haruhi_03_annotate.csv"),
                     ("embed", path)):
            err = _err(cli(*args), "read-only", "copy it somewhere you can write")
            assert "backup" not in err
        _err(cli("import-features", H3_LINES, "--voice", H3_VOICE, "-o", folder / "new.sgproj"),
             "cannot write in folder")
        assert path.read_bytes() == before
        assert sorted(p.name for p in folder.iterdir()) == [h3_project.name]


def test_ingest_into_a_read_only_folder_exits_2(cli, sample_episode, tmp_path):
    with read_only_folder(tmp_path, []) as folder:
        _err(cli("ingest", sample_episode / "sample01.mp4", "--subs", sample_episode / "sample01.ass",
                 "-o", folder / "ep.sgproj"), "cannot write in folder")
        assert list(folder.iterdir()) == []


@contextlib.contextmanager
def _tiny_disk(base: Path, project: Path, how: str) -> Iterator[tuple[Path, dict, str]]:
    """`project` where almost no room is left: (its path, subprocess kwargs, what the refusal
    says). "tmpfs": a real tiny filesystem (needs root); "fsize": a file-size limit (anyone)."""
    folder = base / "full"
    folder.mkdir()
    room = 48 << 10
    if how == "tmpfs":
        if os.geteuid() != 0:
            pytest.skip("mounting a tiny tmpfs needs root; the 'fsize' case covers this user")
        size = project.stat().st_size + room
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], check=True)
        try:
            shutil.copy(project, folder)
            yield folder / project.name, {}, "the disk is full"
        finally:
            subprocess.run(["umount", str(folder)], check=True)
        return
    shutil.copy(project, folder)

    def limit_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (room, room))

    yield folder / project.name, {"preexec_fn": limit_files}, "the disk reported an error"


@pytest.mark.parametrize("how", ["tmpfs", "fsize"])
def test_a_full_disk_during_cluster_exits_2_and_the_file_is_intact(h3_project, tmp_path, how):
    with _tiny_disk(tmp_path, h3_project, how) as (path, extra, says):
        r = subprocess.run([sys.executable, "-m", "sgtui", "cluster", str(path)], capture_output=True,
                           text=True, env=ENV, timeout=300, **extra)
        _err(r, says, "nothing of that action was written")
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*) FROM clusters").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM ops").fetchone()[0] == 0
        conn.close()


def test_open_decides_view_only_for_a_file_it_cannot_write(h3_project, tmp_path, monkeypatch):
    """`sgtui open` opens a project it cannot write read-only (the app shows it view-only)."""
    import argparse

    from sgtui.cli import tui_cmds

    seen: dict[str, bool] = {}

    class Stop(Exception):
        pass

    real_open = Project.open

    def spy(path, *, readonly=False):
        seen["readonly"] = readonly
        proj = real_open(path, readonly=readonly)
        proj.close()
        raise Stop

    monkeypatch.setattr(Project, "open", staticmethod(spy))
    args = argparse.Namespace(annotator="ann", audio="none")
    with pytest.raises(Stop):
        tui_cmds.run_annotator(h3_project, args)
    assert seen == {"readonly": False}
    with read_only_folder(tmp_path, [h3_project]) as folder, pytest.raises(Stop):
        tui_cmds.run_annotator(folder / h3_project.name, args)
    assert seen == {"readonly": True}


# ---- case 10: user mistakes exit 2 with one line ---------------------------------------------
def test_a_csv_field_over_the_csv_limit_exits_2(cli, h3_project, tmp_path):
    bad = tmp_path / "long.csv"
    bad.write_text("start,end,speaker,text\n1.0,2.0,Kyon," + "x" * 140_000 + "\n")
    _err(cli("labels", "import", h3_project, bad), "line 2", "field larger than field limit")


def test_a_csv_time_of_1e30_exits_2(cli, h3_project, tmp_path):
    bad = tmp_path / "far.csv"
    bad.write_text("start,end,speaker\n1.0,1e30,Kyon\n")
    _err(cli("labels", "import", h3_project, bad), "beyond 1000 hours")
    _err(cli("import-features", bad, "--voice", _npy(tmp_path, "v.npy", np.ones((1, 4))),
             "-o", tmp_path / "o.sgproj"), "beyond 1000 hours")


@pytest.mark.parametrize("payload", ["{not json", "[1, 2]"])
def test_an_op_payload_that_is_not_json_is_a_damaged_op_log(cli, tmp_path, payload):
    path = tmp_path / "t.sgproj"
    with make_project(path) as p:
        p.add([1], None, "ann")
        p.add([2], None, "ann")
        target = p.last_action_id
    conn = sqlite3.connect(path)
    conn.execute("UPDATE ops SET payload=? WHERE action_id=? AND payload IS NOT NULL", (payload, target))
    conn.commit()
    conn.close()
    before = path.read_bytes()
    for command in ("ops", "info"):
        _err(cli(command, path), f"op log is damaged at action {target}")
    assert path.read_bytes() == before


class _StubEncoder:
    """An encoder whose output is given: stands in for a broken model or a blank input."""

    name, version, dim, modality, device = "stub", "1", 4, "voice", "cpu"
    model_id = "stub/1"

    def __init__(self, rows) -> None:
        self.rows = rows

    def embed(self, batch):
        return np.array([self.rows(i) for i in range(len(batch))], dtype=np.float32)


@pytest.fixture(scope="module")
def ingested_sample(sample_episode, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ingested") / "ep.sgproj"
    r = subprocess.run([sys.executable, "-m", "sgtui", "ingest", str(sample_episode / "sample01.mp4"),
                        "--subs", str(sample_episode / "sample01.ass"), "-o", str(out)],
                       capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 0, r.stderr
    return out


def test_encoder_output_is_validated_before_it_is_stored(ingested_sample, tmp_path):
    from sgtui.errors import SgtuiError
    from sgtui.features.embed import embed_modality

    path = tmp_path / "ep.sgproj"
    shutil.copy(ingested_sample, path)
    with Project.open(path) as p:
        n = len(p.clip_ids())
        assert n >= 2
        with pytest.raises(SgtuiError, match="NaN or infinite vectors"):
            embed_modality(p, _StubEncoder(lambda i: [np.nan, 1, 0, 0]))
        assert p.encoders() == []
        # a zero vector says nothing: that line is left without one, the others are stored
        stats = embed_modality(p, _StubEncoder(lambda i: [0, 0, 0, 0] if i == 0 else [1, i, 0, 0]))
        assert stats["empty"] == 1 and stats["embedded"] == n - 1
        ids, vecs = p.embeddings("voice", "stub/1")
        assert len(ids) == n - 1
        np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, rtol=1e-6)


def test_a_text_output_that_the_disk_refuses_exits_2_and_leaves_nothing(tmp_path):
    from sgtui.project import LineIn

    path, out = tmp_path / "long.sgproj", tmp_path / "labels.csv"
    with Project.create(path) as p:  # about 100 kB of labels to write
        p.add_lines([LineIn(i * 1000, i * 1000 + 900, "word " * 200) for i in range(100)])

    def limit_files() -> None:  # room for SQLite's 32 kB -shm, not for the CSV
        resource.setrlimit(resource.RLIMIT_FSIZE, (40 << 10, 40 << 10))

    r = subprocess.run([sys.executable, "-m", "sgtui", "labels", "export", str(path), str(out)],
                       capture_output=True, text=True, env=ENV, timeout=300, preexec_fn=limit_files)
    _err(r, "free some space")
    assert not out.exists() and not Path(f"{out}.part").exists()


def test_a_damaged_file_is_reported_on_one_line(cli, tmp_path):
    """SQLite's integrity report runs over several lines; the user gets one."""
    path = tmp_path / "ep.sgproj"
    _named(path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=DELETE")
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    with open(path, "r+b") as fh:  # two pages nobody points at: "Page N is never used", twice
        fh.seek(pages * page)
        fh.write(b"\0" * (2 * page))
        fh.seek(28)
        fh.write((pages + 2).to_bytes(4, "big"))  # the header's page count
    before = path.read_bytes()
    _err(cli("info", path), "is damaged", "never used;", "restore it from a backup copy")
    assert path.read_bytes() == before
