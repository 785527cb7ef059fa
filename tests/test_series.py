"""`sgtui series run` on real Dask clusters (issue 23): a LocalCluster of 2 worker processes
started by the command itself, and a `dask scheduler` with `dask worker` processes that see
neither the videos nor the output folder.

What is checked, on generated episodes (`sgtui sample`): the files equal a serial
`sgtui ingest DIR --jobs 1 --embed` run's (lines, clips, keyframes, vectors); a worker
SIGKILLed while it writes an episode costs nothing but time, and OUTDIR never shows a file
that is not whole; a broken video fails alone; a re-run skips everything at once; Ctrl-C
leaves finished files only; every refusal is one line and writes nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import psutil
import pytest
from conftest import refusal, run_cli, succeeded

from sgtui import season as season_mod
from sgtui.media.clipcodec import decode_clip
from sgtui.project import Project
from sgtui.series.tasks import TEMP_SUFFIX

EPISODES = ["sample01", "sample02", "sample03", "sample04"]
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def season(tmp_path_factory) -> Path:
    """Four short generated episodes (video + subtitles), made once for the module."""
    folder = tmp_path_factory.mktemp("series") / "season"
    succeeded(run_cli("sample", "-o", folder, "--episodes", "4", "--lines", "8",
                      "--size", "320x180"))
    return folder


@pytest.fixture(scope="module")
def serial(season: Path, tmp_path_factory) -> Path:
    """The reference: the same season ingested and embedded one episode at a time."""
    out = tmp_path_factory.mktemp("serial") / "out"
    succeeded(run_cli("ingest", season, "-o", out, "--jobs", "1", "--embed"))
    return out


def _copy_season(season: Path, to: Path) -> Path:
    shutil.copytree(season, to)
    return to


def _default_embed() -> season_mod.EmbedChoice:
    from sgtui.features import DEFAULTS

    return season_mod.EmbedChoice(DEFAULTS["voice"], DEFAULTS["image"])


def _assert_same_episode(got: Path, want: Path, folder: Path) -> None:
    """Lines, clips, keyframes and vectors of two .sgproj files agree (vectors within float
    rounding), and so do the title and the source; `got` names its video in `folder` (the
    client's path, wherever the work was done)."""
    with Project.open(got, readonly=True) as a, Project.open(want, readonly=True) as b:
        la, lb = a.lines(), b.lines()
        assert [(x.start_ms, x.end_ms, x.text, x.actor, x.style) for x in la] == \
               [(x.start_ms, x.end_ms, x.text, x.actor, x.style) for x in lb]
        assert len(la) == 8
        for x, y in zip(la, lb, strict=True):
            ca, cb = a.clip(x.id), b.clip(y.id)  # Ogg gives every stream a random serial
            assert (ca.codec, ca.sample_rate) == (cb.codec, cb.sample_rate)  # number: the
            np.testing.assert_array_equal(decode_clip(ca.codec, ca.sample_rate, ca.data),
                                          decode_clip(cb.codec, cb.sample_rate, cb.data))
            assert a.keyframe(x.id) == b.keyframe(y.id)  # sound is compared, not the bytes
        assert a.meta_get("source_path") == str((folder / f"{got.stem}.mp4").resolve())
        for key in ("title", "ingest_state", "source_name", "source_size",
                    "source_sha256_ends", "model.voice", "model.image", "subs_text"):
            assert a.meta_get(key) == b.meta_get(key), key
        assert a.meta_get("ingest_state") == "complete"
        for modality in ("voice", "image"):
            ia, va = a.embeddings(modality)
            ib, vb = b.embeddings(modality)
            assert len(ia) == len(la) and va.shape == vb.shape
            np.testing.assert_allclose(va, vb, atol=1e-5)


def _outdir_is_clean(out: Path, names: list[str]) -> None:
    """OUTDIR holds the finished files and the run report, nothing else (no temporary
    folder, no -wal/-journal beside a file)."""
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{n}.sgproj" for n in names] + ["series-run.json"])


def _report(out: Path) -> dict:
    return json.loads((out / "series-run.json").read_text())


class Watcher(threading.Thread):
    """Looks at OUTDIR every few milliseconds while a run goes on: every `*.sgproj` there
    must open and be whole (ingested and embedded), from the moment it appears."""

    def __init__(self, out: Path, season: Path) -> None:
        super().__init__(daemon=True)
        self.out, self.season = out, season
        self.stop = threading.Event()
        self.bad: list[tuple[str, str]] = []
        self.looks = 0
        self.seen: set[str] = set()

    def run(self) -> None:
        embed = _default_embed()
        while not self.stop.is_set():
            for f in sorted(self.out.glob("*.sgproj")) if self.out.is_dir() else []:
                state = season_mod.episode_state(f, self.season / f"{f.stem}.mp4", embed)
                self.seen.add(f.name)
                if state != "complete":
                    self.bad.append((f.name, state))
            self.looks += 1
            time.sleep(0.005)


def _popen(*args: object) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "sgtui", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)


def _writer_of_temp(root: psutil.Process, out: Path) -> tuple[psutil.Process, str] | None:
    """A descendant process that has a file open inside one of OUTDIR's temporary folders
    (a worker in the middle of an episode), and that episode's name."""
    try:
        children = root.children(recursive=True)
    except psutil.NoSuchProcess:
        return None
    for proc in children:
        try:
            files = proc.open_files()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        for f in files:
            path = Path(f.path)
            if path.parent.parent == out and path.parent.name.endswith(TEMP_SUFFIX):
                return proc, path.parent.name[1:].split(".sgproj.")[0]
    return None


# ---------------------------------------------------------------- a run, and a re-run


@pytest.fixture(scope="module")
def distributed_run(season: Path, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("dist") / "out"
    r = run_cli("series", "run", season, "-o", out, "--workers", "2", "--embed",
                "--resources", "GPU=1")
    return out, r


@pytest.mark.slow
def test_two_workers_give_the_files_a_serial_run_gives(distributed_run, serial: Path,
                                                      season: Path) -> None:
    out, r = distributed_run
    succeeded(r)
    assert "series: 4 episodes on 2 workers" in r.stderr
    for name in EPISODES:
        _assert_same_episode(out / f"{name}.sgproj", serial / f"{name}.sgproj", season)
        assert f"{out / name}.sgproj: 8 lines from ass" in r.stdout
    _outdir_is_clean(out, EPISODES)
    report = _report(out)
    assert report["status"] == "ok" and report["workers"] == 2
    assert report["counts"] == {"done": 4, "failed": 0, "skipped": 0, "cancelled": 0}
    assert report["resources"] == {"GPU": 1.0}
    done = {e["name"]: e for e in report["episodes"]}
    assert set(done) == set(EPISODES)
    assert all(e["video_seconds"] > 20 and set(e["steps"]) == {"ingest", "embed"}
               and e["retried"] == 0 for e in done.values())
    assert "retried" not in r.stdout
    assert report["video_minutes_per_second"] > 0


@pytest.mark.slow
def test_a_second_run_skips_every_finished_episode_at_once(distributed_run, season) -> None:
    out, first = distributed_run
    succeeded(first)
    before = {p.name: p.read_bytes() for p in out.glob("*.sgproj")}
    start = time.perf_counter()
    r = run_cli("series", "run", season, "-o", out, "--workers", "2", "--embed")
    elapsed = time.perf_counter() - start
    err = succeeded(r)
    assert elapsed < 2.0, elapsed
    for name in EPISODES:
        assert f"note: skipped {name}.mp4: already complete in {name}.sgproj" in err
    assert "0 episodes done, 4 skipped" in r.stdout
    assert {p.name: p.read_bytes() for p in out.glob("*.sgproj")} == before
    assert _report(out)["counts"]["skipped"] == 4
    _outdir_is_clean(out, EPISODES)


@pytest.mark.slow
def test_an_ingested_series_is_embedded_in_place_by_a_later_run(season, serial,
                                                                 tmp_path) -> None:
    out = tmp_path / "out"
    succeeded(run_cli("series", "run", season, "-o", out, "--workers", "2"))
    inodes = {p.name: p.stat().st_ino for p in out.glob("*.sgproj")}
    with Project.open(out / "sample01.sgproj", readonly=True) as p:
        assert p.encoders() == []
    r = run_cli("series", "run", season, "-o", out, "--workers", "2", "--embed")
    succeeded(r)
    assert r.stdout.count(": embedded") == 4
    for name in EPISODES:
        _assert_same_episode(out / f"{name}.sgproj", serial / f"{name}.sgproj", season)
    assert {p.name: p.stat().st_ino for p in out.glob("*.sgproj")} == inodes  # the same files
    _outdir_is_clean(out, EPISODES)


@pytest.mark.slow
def test_subtitles_found_by_a_pattern_travel_with_their_video(season, tmp_path) -> None:
    """--subs-pattern names each video's subtitles; with --no-shared-fs they go to the
    worker with the video. A video whose subtitles are missing is skipped and said so."""
    folder = tmp_path / "season"
    (folder / "subs").mkdir(parents=True)
    for name in EPISODES:
        shutil.copy(season / f"{name}.mp4", folder)
        if name != "sample04":
            shutil.copy(season / f"{name}.srt", folder / "subs" / f"{name}.en.srt")
    out = tmp_path / "out"
    r = run_cli("series", "run", folder, "-o", out, "--workers", "1", "--no-shared-fs",
                "--subs-pattern", "subs/{stem}.en.srt")
    err = succeeded(r)
    assert "note: skipped sample04.mp4: no subtitles sample04.en.srt (--subs-pattern)" in err
    assert "3 episodes done, 1 skipped" in r.stdout
    for name in ("sample01", "sample02", "sample03"):
        assert f"{out / name}.sgproj: 8 lines from srt" in r.stdout
        with Project.open(out / f"{name}.sgproj", readonly=True) as p:
            assert p.meta_get("subs_text") == (season / f"{name}.srt").read_text()
            assert p.meta_get("source_path") == str((folder / f"{name}.mp4").resolve())
    _outdir_is_clean(out, ["sample01", "sample02", "sample03"])


# ---------------------------------------------------------------- faults


@pytest.mark.slow
def test_a_worker_killed_in_the_middle_of_an_episode_costs_nothing(season, serial,
                                                                   tmp_path) -> None:
    folder = _copy_season(season, tmp_path / "season")
    out = tmp_path / "out"
    watcher = Watcher(out, folder)
    watcher.start()
    proc = _popen("series", "run", folder, "-o", out, "--workers", "2", "--embed")
    root = psutil.Process(proc.pid)
    killed: tuple[int, str] | None = None
    deadline = time.monotonic() + 120
    while killed is None and proc.poll() is None and time.monotonic() < deadline:
        found = _writer_of_temp(root, out)
        if found is not None:
            victim, episode = found
            victim.send_signal(signal.SIGKILL)  # a real worker process, mid-episode
            killed = (victim.pid, episode)
        time.sleep(0.005)
    stdout, stderr = proc.communicate(timeout=180)
    watcher.stop.set()
    watcher.join()
    assert killed is not None, "no worker was seen writing an episode"
    assert not psutil.pid_exists(killed[0]) or psutil.Process(killed[0]).status() == "zombie"
    assert proc.returncode == 0, stderr
    assert watcher.bad == [] and watcher.looks > 10, watcher.bad
    assert watcher.seen == {f"{n}.sgproj" for n in EPISODES}
    for name in EPISODES:  # the killed episode too, as if nothing had happened
        _assert_same_episode(out / f"{name}.sgproj", serial / f"{name}.sgproj", folder)
    _outdir_is_clean(out, EPISODES)
    report = _report(out)
    assert report["counts"]["done"] == 4
    # the report says which episode ran again because its worker died
    retried = {e["name"]: e["retried"] for e in report["episodes"]}
    assert retried[killed[1]] >= 1, retried
    assert "retried after a worker died" in stdout


@pytest.mark.slow
def test_a_broken_video_fails_alone_and_is_named(season, serial, tmp_path) -> None:
    folder = _copy_season(season, tmp_path / "season")
    video = folder / "sample03.mp4"
    video.write_bytes(video.read_bytes()[: video.stat().st_size // 2])  # cut in the middle
    out = tmp_path / "out"
    r = run_cli("series", "run", folder, "-o", out, "--workers", "2", "--embed")
    assert r.returncode == 2, r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("sgtui: error: ")]
    assert len(errors) == 1 and "Traceback" not in r.stderr, r.stderr
    assert errors[0].startswith("sgtui: error: sample03.mp4: ")
    assert "not a readable video" in errors[0]
    assert "3 episodes done, 1 failed (sample03)" in r.stdout
    for name in ("sample01", "sample02", "sample04"):
        _assert_same_episode(out / f"{name}.sgproj", serial / f"{name}.sgproj", folder)
    _outdir_is_clean(out, ["sample01", "sample02", "sample04"])
    report = _report(out)
    assert report["status"] == "failed"
    failed = [e for e in report["episodes"] if e["status"] == "failed"]
    assert [e["name"] for e in failed] == ["sample03"]
    assert "not a readable video" in failed[0]["error"] and not failed[0]["internal"]


@pytest.mark.slow
def test_ctrl_c_cancels_and_leaves_only_finished_files(season, tmp_path) -> None:
    folder = _copy_season(season, tmp_path / "season")
    out = tmp_path / "out"
    proc = _popen("series", "run", folder, "-o", out, "--workers", "2", "--embed")
    root = psutil.Process(proc.pid)
    deadline = time.monotonic() + 120
    family: list[psutil.Process] = []
    while proc.poll() is None and time.monotonic() < deadline:
        if _writer_of_temp(root, out) is not None:
            family = root.children(recursive=True)
            os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole group
            break
        time.sleep(0.005)
    stdout, stderr = proc.communicate(timeout=120)
    assert family, "the run ended before any worker wrote an episode"
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "sgtui: interrupted"
    finished = sorted(p.stem for p in out.glob("*.sgproj"))
    assert len(finished) < 4
    embed = _default_embed()
    for name in finished:
        assert season_mod.episode_state(out / f"{name}.sgproj", folder / f"{name}.mp4",
                                       embed) == "complete"
    _outdir_is_clean(out, finished)
    assert _report(out)["status"] == "interrupted"
    time.sleep(1)
    alive = [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], alive
    # and a run after it does the rest, and only the rest
    r = run_cli("series", "run", folder, "-o", out, "--workers", "2", "--embed")
    succeeded(r)
    rest = 4 - len(finished)
    assert f"{rest} episode{'s' if rest != 1 else ''} done" in r.stdout
    _outdir_is_clean(out, EPISODES)


@pytest.mark.slow
def test_a_terminal_shows_the_series_progress(season, tmp_path) -> None:
    """On a terminal: one bar for the series with episodes done, running and failed and
    minutes of video per second (stderr is a pseudo-terminal here)."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "sgtui", "series", "run", str(season), "-o",
                             str(tmp_path / "out"), "--workers", "2"],
                            stdin=slave, stdout=subprocess.PIPE, stderr=slave, text=False,
                            env={**os.environ, "TERM": "xterm", "COLUMNS": "120"})
    os.close(slave)
    screen = bytearray()
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the terminal's other end closed
            break
        if not data:
            break
        screen += data
    os.close(master)
    stdout = proc.stdout.read().decode() if proc.stdout else ""
    assert proc.wait(timeout=120) == 0, screen.decode(errors="replace")
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.decode(errors="replace"))
    assert "series: 4 episodes on 2 workers" in text
    assert "episodes" in text and "4/4" in text and "running" in text and "0 failed" in text
    assert "min of video/s" in text
    assert "4 episodes done" in stdout


# ---------------------------------------------------------------- no shared filesystem


def _can_hide_folders() -> bool:
    """Whether worker processes can be given a private view of the filesystem here
    (`unshare -m`, root or a user namespace): then they truly cannot see the client's files."""
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs tmpfs /mnt"],
                          capture_output=True).returncode == 0


@pytest.fixture
def blind_cluster(tmp_path):
    """A `dask scheduler` and two `dask worker` processes, each worker in its own working
    folder; where the system allows, each also in its own mount namespace with an empty
    tmpfs over the test's folder, so DIR and OUTDIR do not exist for it."""
    sched_file = tmp_path / "scheduler.json"
    started: list[subprocess.Popen] = []
    dask = VENV_BIN / "dask"
    started.append(subprocess.Popen(
        [dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
         "--scheduler-file", sched_file], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True))
    hidden = _can_hide_folders()
    if not hidden:
        warnings.warn("unshare -m is not allowed here: the workers of the --no-shared-fs test "
                      "see the client's folders (they only work elsewhere)", stacklevel=1)
    try:
        deadline = time.monotonic() + 60
        while not sched_file.is_file() or not sched_file.read_text().strip():
            assert time.monotonic() < deadline, "dask scheduler did not start"
            time.sleep(0.1)
        time.sleep(0.2)
        address = json.loads(sched_file.read_text())["address"]
        for i in range(2):
            home = tmp_path / f"worker{i}"
            script = ('set -e; {mount} mkdir -p "$1"; cd "$1"; '
                      'exec "$2" worker "$3" --nthreads 1 --no-dashboard '
                      '--local-directory "$1/scratch"').format(
                mount='mount -t tmpfs tmpfs "$4";' if hidden else "")
            cmd = ["sh", "-c", script, "sh", str(home), str(dask), address, str(tmp_path)]
            started.append(subprocess.Popen(["unshare", "-m", *cmd] if hidden else cmd,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                            start_new_session=True))
        from distributed import Client

        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        yield address, hidden
    finally:
        for p in reversed(started):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in started:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


@pytest.mark.slow
def test_without_a_shared_filesystem_the_files_travel_through_the_client(
        season, serial, tmp_path, blind_cluster) -> None:
    address, hidden = blind_cluster
    folder = _copy_season(season, tmp_path / "season")
    if hidden:  # first the proof that the workers cannot see DIR and OUTDIR
        out = tmp_path / "shared"
        r = run_cli("series", "run", folder, "-o", out, "--scheduler", address)
        assert r.returncode == 2
        assert f"cannot see {out}" in r.stderr and "--no-shared-fs" in r.stderr
        assert "0 episodes done, 4 failed" in r.stdout
    out = tmp_path / "out"
    r = run_cli("series", "run", folder, "-o", out, "--scheduler", address, "--embed",
                "--no-shared-fs")
    succeeded(r)
    assert "series: 4 episodes on 2 workers" in r.stderr
    for name in EPISODES:  # source_path included: the client's path, not a worker's
        _assert_same_episode(out / f"{name}.sgproj", serial / f"{name}.sgproj", folder)
    _outdir_is_clean(out, EPISODES)
    report = _report(out)
    assert report["shared_fs"] is False and report["scheduler"] == address
    assert report["counts"]["done"] == 4
    # ingested first, embedded by a later run: the file goes to a worker and comes back
    later = tmp_path / "later"
    succeeded(run_cli("series", "run", folder, "-o", later, "--scheduler", address,
                      "--no-shared-fs"))
    r = run_cli("series", "run", folder, "-o", later, "--scheduler", address, "--embed",
                "--no-shared-fs")
    succeeded(r)
    assert r.stdout.count(": embedded") == 4
    for name in EPISODES:
        _assert_same_episode(later / f"{name}.sgproj", serial / f"{name}.sgproj", folder)
    _outdir_is_clean(later, EPISODES)
    for i in range(2):  # the workers' scratch folders are left empty
        scratch = tmp_path / f"worker{i}" / "scratch"
        assert not list(scratch.glob("**/sgtui-series-*")) if scratch.exists() else True
    # a cluster that cannot give the declared resource is refused before any work
    out2 = tmp_path / "gpu"
    err = refusal(run_cli("series", "run", folder, "-o", out2, "--scheduler", address,
                          "--embed", "--resources", "GPU=1"), "no worker", "GPU=1",
                  "--resources GPU=1")
    assert "dask worker" in err and not out2.exists()


# ---------------------------------------------------------------- refusals


def test_bad_input_is_one_line_and_writes_nothing(season, tmp_path) -> None:
    out = tmp_path / "out"
    refusal(run_cli("series", "run", tmp_path / "nope", "-o", out), "does not exist")
    refusal(run_cli("series", "run", season / "sample01.mp4", "-o", out), "is a file",
            "sgtui ingest")
    a_file = tmp_path / "file"
    a_file.write_text("x")
    refusal(run_cli("series", "run", season, "-o", a_file), str(a_file))
    assert a_file.read_text() == "x"
    refusal(run_cli("series", "run", season, "-o", out, "--embed", "--resources", "GPU=x"),
            "--resources", "GPU=1")
    refusal(run_cli("series", "run", season, "-o", out, "--resources", "GPU=1"),
            "--embed", "--asr")
    refusal(run_cli("series", "run", season, "-o", out, "--workers", "2", "--scheduler",
                    "tcp://127.0.0.1:1"), "--scheduler")
    refusal(run_cli("series", "run", season, "-o", out, "--subs-pattern", "subs/x.srt"),
            "{stem}")
    refusal(run_cli("series", "run", season, "-o", out, "--voice", "resemblyzer"), "--embed")
    env_timeout = {"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"}
    r = subprocess.run([sys.executable, "-m", "sgtui", "series", "run", str(season), "-o",
                        str(out), "--scheduler", "tcp://127.0.0.1:1"], capture_output=True,
                       text=True, env={**os.environ, **env_timeout}, timeout=60)
    refusal(r, "cannot reach the Dask scheduler at tcp://127.0.0.1:1", "dask scheduler")
    assert not out.exists()


def test_an_existing_file_that_is_not_the_episode_is_refused_untouched(season, tmp_path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    stranger = out / "sample02.sgproj"
    stranger.write_bytes(b"notes of a person")
    refusal(run_cli("series", "run", season, "-o", out), str(stranger), "--force")
    assert stranger.read_bytes() == b"notes of a person"
    assert sorted(p.name for p in out.iterdir()) == ["sample02.sgproj"]


@pytest.mark.slow
def test_a_second_run_into_the_same_folder_at_once_is_refused(season, tmp_path) -> None:
    import fcntl

    out = tmp_path / "out"
    out.mkdir()
    fd = os.open(out, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a run in progress holds it
        refusal(run_cli("series", "run", season, "-o", out, "--workers", "1"),
                "another `sgtui series run` is writing", str(out))
    finally:
        os.close(fd)
    assert list(out.iterdir()) == []


def test_help_says_how_to_run_it(cli) -> None:
    r = cli("series", "run", "--help")
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    for words in ("--scheduler ADDRESS", "--workers N", "--resources GPU=1", "--no-shared-fs",
                  "--subs-pattern", "dask worker --resources", "series-run.json"):
        assert words in text, words
    assert "{stem}" in text
