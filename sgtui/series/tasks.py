"""What a Dask worker runs for one episode: ingest (with or without ASR), then embed.

The functions are sent by reference (`sgtui.series.tasks.ingest_task`), so every worker
needs the same sgtui installed. A step never leaves a half-written `.sgproj` under its
final name: it builds the file under a hidden temporary name and renames it into place
only once it is whole (`commit`); where workers share no filesystem with the client, it
works in its own scratch folder and hands the finished file's bytes back.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

from sgtui import season
from sgtui.errors import SgtuiError, one_line

TEMP_SUFFIX = ".partial"


@dataclass(frozen=True)
class Episode:
    """One episode to do: its output name, the client's absolute paths, what to do
    ("ingest": from the video; "embed": a finished ingest in OUTDIR still to embed)."""

    name: str
    video: str
    subs: str | None = None  # --subs-pattern's file (given to ingest as --subs)
    sidecar: str | None = None  # else the subtitles ingest finds beside the video, if any
    todo: str = "ingest"

    @property
    def output(self) -> str:
        return f"{self.name}.sgproj"


@dataclass(frozen=True)
class Job:
    """What every task of one run shares."""

    outdir: str
    run_id: str
    opts: object  # sgtui.ingest.IngestOptions
    embed: season.EmbedChoice | None = None
    shared_fs: bool = True


@dataclass
class Media:
    """An episode's input files' bytes, for workers that cannot read the client's folder."""

    files: dict[str, bytes]  # file name -> bytes (the video first, then its subtitles)


@dataclass
class Outcome:
    """One step's result, handed to the next step and finally to the client."""

    name: str
    ok: bool = True
    error: str | None = None
    internal: bool = False  # a bug rather than the episode's own fault
    path: str | None = None  # shared filesystem: where the file is now
    data: bytes | None = None  # no shared filesystem: the file's bytes
    lines: int = 0
    video_seconds: float = 0.0
    summary: str = ""
    notes: list[str] = field(default_factory=list)
    steps: dict[str, float] = field(default_factory=dict)  # step -> seconds of work
    workers: list[str] = field(default_factory=list)
    retried: int = 0  # times a step was run again because its worker died (the scheduler's count)


def temp_path(outdir: Path, name: str, run_id: str) -> Path:
    """Where a step builds NAME.sgproj: a hidden folder of its own in OUTDIR (no `*.sgproj`
    glob of OUTDIR sees into it; the file keeps its own name, which ingest makes its title),
    new for every attempt, so a retried step never meets what a dead worker left."""
    folder = outdir / f".{name}.sgproj.{run_id}.{uuid.uuid4().hex[:8]}{TEMP_SUFFIX}"
    folder.mkdir()
    return folder / f"{name}.sgproj"


def temp_pattern(run_id: str = "*") -> str:
    """The glob of this run's temporary folders in OUTDIR."""
    return f".*.sgproj.{run_id}.*{TEMP_SUFFIX}"


def remove_temp(path: Path) -> None:
    """A temporary file's folder, with whatever SQLite or ingest made beside the file (only
    a folder `temp_path` made: never OUTDIR itself)."""
    if fnmatch.fnmatchcase(path.parent.name, temp_pattern()):
        shutil.rmtree(path.parent, ignore_errors=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit(tmp: Path, final: Path) -> None:
    """Rename a whole file into place (atomic on POSIX and on NFS, in one folder): first its
    bytes reach the disk, and SQLite files left beside the name it replaces (an unfinished
    ingest's -wal or -journal) go, so they are never read as the new file's."""
    _fsync(tmp)
    for suffix in ("-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            final.with_name(final.name + suffix).unlink()
    os.replace(tmp, final)
    with contextlib.suppress(OSError):  # the folder entry too, where the filesystem allows
        _fsync(final.parent)


def _worker_threads() -> int:
    """CPU threads one task may use on this worker: its cores shared by its task slots."""
    try:
        from distributed import get_worker

        slots = max(1, get_worker().state.nthreads)
    except (ImportError, ValueError):  # not on a Dask worker (called directly)
        slots = 1
    return max(1, (os.cpu_count() or 1) // slots)


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return "local"


def _scratch() -> Path:
    """A private folder on the worker's own disk (its Dask local directory)."""
    try:
        from distributed import get_worker

        base = get_worker().local_directory
    except (ImportError, ValueError):
        base = tempfile.gettempdir()
    return Path(tempfile.mkdtemp(prefix="sgtui-series-", dir=base))


def ingest_task(ep: Episode, job: Job, media: Media | None = None) -> Outcome:
    """Ingest one episode (lines, clips, keyframes; ASR when asked). Without embedding to
    follow, the file goes straight into OUTDIR; else the temporary file (or its bytes)
    goes to `embed_task`. An episode's own error comes back as a failed Outcome, once:
    retrying a broken video would only fail again."""
    start = time.perf_counter()
    out = Outcome(ep.name, workers=[_worker_name()])
    opts = job.opts
    if getattr(opts, "asr", False):
        opts = replace(opts, asr_threads=_worker_threads())  # type: ignore[type-var]
    final = job.embed is None
    outdir = Path(job.outdir)
    work: Path | None = None
    tmp: Path | None = None
    try:
        if job.shared_fs:
            video = Path(ep.video)
            for needed in (outdir, video):
                if not needed.exists():
                    raise SgtuiError(f"worker {_worker_name()} cannot see {needed}; give every "
                                     "worker the same paths to DIR and OUTDIR, or pass "
                                     "--no-shared-fs")
            if ep.subs is not None:
                opts = replace(opts, subs=Path(ep.subs))  # type: ignore[type-var]
            tmp = temp_path(outdir, ep.name, job.run_id)
            target = tmp
        else:
            assert media is not None
            work = _scratch()
            names = list(media.files)
            for file_name, data in media.files.items():
                (work / file_name).write_bytes(data)
            video = work / names[0]
            if ep.subs is not None:
                opts = replace(opts, subs=work / Path(ep.subs).name)  # type: ignore[type-var]
            target = work / ep.output
        report = season.ingest_episode(video, target, opts)
        out.video_seconds = season.video_seconds(video)
        out.lines = report.lines
        out.notes = list(report.notes)
        out.summary = (f"{report.lines} line{'s' if report.lines != 1 else ''} from "
                       f"{report.source}, {report.actors} with speaker names")
        if job.shared_fs:
            assert tmp is not None
            if final:
                commit(tmp, outdir / ep.output)
                out.path = str(outdir / ep.output)
            else:
                out.path = str(tmp)
                tmp = None  # it is the next step's now
        else:
            out.data = target.read_bytes()
    except SgtuiError as exc:
        out.ok, out.error = False, one_line(exc)
    finally:
        if tmp is not None:
            remove_temp(tmp)
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
    out.steps["ingest"] = time.perf_counter() - start
    return out


def embed_task(prev: Outcome, ep: Episode, job: Job) -> Outcome:
    """Embed the episode `prev` made (or a finished ingest in OUTDIR) and put the whole file
    in place. A retry after a worker died resumes the same temporary file: the lines
    embedded before the death keep their vectors, the rest are embedded now."""
    if not prev.ok:
        return prev
    assert job.embed is not None
    start = time.perf_counter()
    out = replace(prev, workers=[*prev.workers, _worker_name()], steps=dict(prev.steps))
    outdir = Path(job.outdir)
    work: Path | None = None
    try:
        if job.shared_fs:
            assert prev.path is not None
            path = Path(prev.path)
            season.embed_episode(path, job.embed)  # a file in OUTDIR is embedded in place
            final = outdir / ep.output
            if path != final:
                commit(path, final)
                remove_temp(path)
            out.path = str(final)
        else:
            assert prev.data is not None
            work = _scratch()
            path = work / ep.output
            path.write_bytes(prev.data)
            season.embed_episode(path, job.embed)
            out.data = path.read_bytes()
    except SgtuiError as exc:
        out.ok, out.error = False, one_line(exc)
        if job.shared_fs and prev.path is not None:
            remove_temp(Path(prev.path))
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
    out.steps["embed"] = time.perf_counter() - start
    return out
