"""The client side of `sgtui series run`: plan the episodes, send their tasks to a Dask
cluster, follow them, put the finished files in OUTDIR and write the run report.

Where things are decided, and why:
- skipping is decided here, before any cluster starts (a re-run of a finished series costs
  the checks alone), with the same test as a season re-run (`season.episode_state`);
- a dead worker's task is run again by Dask's scheduler (a worker that dies while running a
  task makes the scheduler hand it to another, up to `distributed.scheduler.allowed-failures`
  times); `retries=` adds a second chance for an unexpected exception (a network filesystem's
  hiccup). An episode's own error (a broken video) is not retried: it is reported once;
- a temporary file of this run is hidden (`.NAME.sgproj.RUN.*`), and all of them are removed
  when the run ends, however it ends, so OUTDIR then holds finished `.sgproj` files and this
  run's report only.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sgtui import season
from sgtui.errors import SgtuiError, one_line, plural
from sgtui.paths import refuse_input_as_output
from sgtui.series.tasks import (
    Episode,
    Job,
    Media,
    Outcome,
    commit,
    embed_task,
    ingest_task,
    remove_temp,
    temp_path,
    temp_pattern,
)

REPORT_NAME = "series-run.json"
RETRIES = 1  # an unexpected exception gets one more try (a dead worker: the scheduler's rule)
WORKER_WAIT_S = 60  # a running cluster with no worker yet (a batch job still queued)
# A worker's event loop wakes every 20 ms by default to time itself (the "tick"), and checks
# memory every 100 ms; each wake-up takes the GIL from the episode's decoding. Measured on
# one 4.7-minute episode on this 2-core machine: an ingest in a default worker took 6-14 %
# longer than in a plain process, 0-2 % with these (README says how to give them to
# workers started by hand).
QUIET_WORKERS = {
    "distributed.admin.tick.interval": "1s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
}


@dataclass
class SeriesPlan:
    """What a run will do: the episodes to send, and the ones left alone (with why)."""

    folder: Path
    outdir: Path
    episodes: list[Episode]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (video name, why)
    notes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> list[str]:
        return [name for name, why in self.skipped if why.startswith("already complete")]


@dataclass
class SeriesProgress:
    total: int
    done: int = 0
    running: int = 0
    failed: int = 0
    video_seconds: float = 0.0  # of the episodes done
    elapsed: float = 0.0

    @property
    def video_minutes_per_second(self) -> float:
        return self.video_seconds / 60 / self.elapsed if self.elapsed > 0 else 0.0


@dataclass
class RunSummary:
    done: list[Outcome]
    failed: list[Outcome]
    skipped: list[tuple[str, str]]
    report: Path
    seconds: float
    workers: int
    dashboard: str | None = None

    @property
    def internal_failure(self) -> bool:
        return any(o.internal for o in self.failed)


# ---------------------------------------------------------------- plan


def plan(folder: Path, outdir: Path, opts, embed: season.EmbedChoice | None = None,
         subs_pattern: str | None = None, force: bool = False) -> SeriesPlan:
    """Pair each video with its lines' source and decide what it needs; every refusal is
    raised here, before anything is written or any worker starts."""
    pairs, orphans = season.pair_season(folder)
    if not pairs:
        raise SgtuiError(f"{folder} holds no videos ({', '.join(season.VIDEO_SUFFIXES)}); "
                         "give the folder that holds the series' episodes")
    stems: dict[str, Path] = {}
    for video, _ in pairs:
        if video.stem in stems:
            raise SgtuiError(f"{stems[video.stem].name} and {video.name} would both become "
                             f"{video.stem}.sgproj; move one of them out of {folder}")
        stems[video.stem] = video
    by_lines = opts.asr or opts.vad or opts.track is not None
    result = SeriesPlan(folder, outdir, [])
    if subs_pattern is None:
        result.notes += [f"{o.name} matches no video by name; skipped" for o in orphans]
    for video, side in pairs:
        subs: Path | None = None
        if subs_pattern is not None:
            subs = folder / subs_pattern.replace("{stem}", video.stem)
            if not subs.is_file():
                result.skipped.append((video.name, f"no subtitles {subs.name} (--subs-pattern)"))
                continue
        elif side is None and not by_lines:
            try:
                has_track = season.has_text_track(video)
            except SgtuiError as exc:
                result.skipped.append((video.name, str(exc)))
                continue
            if not has_track:
                result.skipped.append((video.name, f"no subtitles named {video.stem}.* and no "
                                                   "text track"))
                continue
        out = outdir / f"{video.stem}.sgproj"
        state = season.episode_state(out, video, embed)
        if state == "complete" and not force:
            result.skipped.append((video.name, f"already complete in {out.name} (--force redoes it)"))
            continue
        if state == "other" and not force:
            raise SgtuiError(f"{out} exists and is not an ingest of {video.name}; pass --force "
                             "to overwrite it, or choose another output folder")
        refuse_input_as_output(out, [video, side, subs])
        todo = "embed" if state == "embed" and not force else "ingest"
        result.episodes.append(Episode(
            video.stem, str(video.resolve()), None if subs is None else str(subs.resolve()),
            None if side is None or subs is not None else str(side.resolve()), todo))
    if not result.episodes and not result.complete:
        raise SgtuiError(f"no video in {folder} could be paired with subtitles; name them alike "
                         "(EP01.mkv + EP01.ass), give --subs-pattern, or pass --asr")
    return result


# ---------------------------------------------------------------- run


@contextlib.contextmanager
def _outdir_lock(outdir: Path) -> Iterator[None]:
    """One run at a time writes OUTDIR (its temporary files are then all its own or a dead
    run's, and may be cleared). An advisory lock on the folder; where the filesystem has no
    locks (some network mounts), the run goes on without it."""
    import fcntl

    fd = os.open(outdir, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SgtuiError(f"another `sgtui series run` is writing {outdir}; wait for it to "
                             "end, or give another output folder") from None
        except OSError:
            pass
        yield
    finally:
        os.close(fd)


def _clear_temps(outdir: Path, run_id: str = "*") -> int:
    """Remove temporary files of this run (or, before it starts, of runs that died)."""
    found = list(outdir.glob(temp_pattern(run_id)))
    for p in found:
        shutil.rmtree(p, ignore_errors=True)
    return len(found)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        tmp.write_bytes(data)
        commit(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _connect(scheduler: str | None, workers: int | None, resources: dict[str, float]):
    """(client, cluster or None): a running cluster at `scheduler`, else a LocalCluster of
    `workers` processes. On a LocalCluster every worker declares `resources` (one machine,
    one GPU or none: the declaration then only keeps one heavy step per worker)."""
    import distributed

    if scheduler is None:
        n = workers or os.cpu_count() or 1
        import dask

        dashboard = "127.0.0.1:0" if _has_bokeh() else None
        with dask.config.set(QUIET_WORKERS):  # the nannies hand this config to their workers
            cluster = distributed.LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=dashboard,
                resources=resources or None, silence_logs=logging.CRITICAL)
        try:
            client = distributed.Client(cluster)
        except BaseException:
            cluster.close()
            raise
        return client, cluster
    try:  # how long to try: Dask's own setting (distributed.comm.timeouts.connect)
        client = distributed.Client(scheduler)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        raise SgtuiError(f"cannot reach the Dask scheduler at {scheduler} ({one_line(exc)}); "
                         "start one with `dask scheduler` (README: \"A whole series on many "
                         "machines\"), or leave out --scheduler to run on this machine") from None
    try:
        _check_workers(client, scheduler, resources)
    except BaseException:
        client.close()
        raise
    return client, None


def _check_workers(client, scheduler: str, resources: dict[str, float]) -> None:
    """A cluster with no worker waits a while for one (a batch job still queued); a cluster
    where no worker offers the declared resources is refused: its tasks would wait forever."""
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT_S)
    except TimeoutError:
        raise SgtuiError(f"no worker joined the scheduler at {scheduler} in {WORKER_WAIT_S} s; "
                         f"start workers with `dask worker {scheduler}`") from None
    infos = client.scheduler_info(n_workers=-1)["workers"].values()
    for name, amount in resources.items():
        if not any((w.get("resources") or {}).get(name, 0) >= amount for w in infos):
            raise SgtuiError(f"no worker of the scheduler at {scheduler} offers {name}={amount:g}; "
                             f"start GPU workers with `dask worker {scheduler} --resources "
                             f"{name}={amount:g}`, or leave out --resources")


def _media(ep: Episode) -> Media:
    """The episode's input files, read on the client for workers that cannot see them."""
    files = {Path(ep.video).name: Path(ep.video).read_bytes()}
    for extra in (ep.subs, ep.sidecar):
        if extra is not None:
            files[Path(extra).name] = Path(extra).read_bytes()
    return Media(files)


def run(the_plan: SeriesPlan, opts, embed: season.EmbedChoice | None = None, *,
        scheduler: str | None = None, workers: int | None = None,
        resources: dict[str, float] | None = None, shared_fs: bool = True,
        progress: Callable[[SeriesProgress], None] | None = None,
        connected: Callable[[int, str | None], None] | None = None,
        argv: list[str] | None = None) -> RunSummary:
    """Run the plan's episodes on the cluster; returns what was done and what failed.

    `connected(workers, dashboard link)` is called once the cluster is there; `progress`
    about twice a second. Ctrl-C cancels every task, and the KeyboardInterrupt goes on up
    once OUTDIR holds only finished files.
    """
    outdir = the_plan.outdir
    resources = dict(resources or {})
    started = time.time()
    run_id = uuid.uuid4().hex[:10]
    status = "interrupted"
    done: list[Outcome] = []
    failed: list[Outcome] = []
    info: dict[str, object] = {"workers": 0, "dashboard": None, "scheduler": scheduler or "local"}
    client = cluster = None
    if the_plan.episodes:  # refused (an unreachable scheduler...) before OUTDIR is touched
        logging.getLogger("distributed").setLevel(logging.CRITICAL)  # its words are not the user's
        client, cluster = _connect(scheduler, workers, resources)
    try:
        if not outdir.exists():
            outdir.mkdir()
        with _outdir_lock(outdir):
            _clear_temps(outdir)  # a run that died before clearing its own
            try:
                if client is not None:
                    _introduce(client, cluster, info, connected)
                    _follow(client, the_plan, Job(str(outdir), run_id, opts, embed, shared_fs),
                            resources, done, failed, progress)
                status = "failed" if failed else "ok"
            finally:
                # local workers stop first (a cancelled task still running in one could
                # otherwise write on), then this run's temporary folders go
                _close(client, cluster)
                client = cluster = None
                _clear_temps(outdir, run_id)
                seconds = time.time() - started
                report = outdir / REPORT_NAME
                _write_atomic(report, _report_json(the_plan, done, failed, status, started,
                                                   seconds, info, resources, shared_fs, argv))
    finally:
        _close(client, cluster)
    return RunSummary(done, failed, the_plan.skipped, report, seconds,
                      int(info["workers"]), info["dashboard"])  # type: ignore[arg-type]


def _introduce(client, cluster, info: dict[str, object],
               connected: Callable[[int, str | None], None] | None) -> None:
    """How many workers there are and the dashboard's address (a LocalCluster serves the
    dashboard's pages only where bokeh is installed)."""
    n_workers = len(client.scheduler_info(n_workers=-1)["workers"])
    services = client.scheduler_info().get("services", {})
    dashboard = (client.dashboard_link if "dashboard" in services
                 and (cluster is None or _has_bokeh()) else None)
    info.update(workers=n_workers, dashboard=dashboard)
    if connected is not None:
        connected(n_workers, dashboard)


def _close(client, cluster) -> None:
    if client is not None:
        with contextlib.suppress(Exception):
            client.close(timeout=10)
    if cluster is not None:
        with contextlib.suppress(Exception):
            cluster.close(timeout=20)


def _has_bokeh() -> bool:
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return False
    return True


def _follow(client, the_plan: SeriesPlan, job: Job, resources: dict[str, float],
            done: list[Outcome], failed: list[Outcome],
            progress: Callable[[SeriesProgress], None] | None) -> None:
    """Submit the episodes' tasks and collect what finishes. With a shared filesystem the
    whole graph goes at once (the scheduler sees all of it); without one, a window of
    episodes, so the client never holds more than a few videos' bytes."""
    import distributed

    heavy = resources or None
    opts = job.opts
    todo = list(the_plan.episodes)
    window = len(todo) if job.shared_fs else max(2, 2 * _slots(client))
    # final future -> (episode, its task keys, mtime, its ingest future: held, so the scheduler
    # keeps that task's record, retries included, until the episode is collected)
    running: dict[object, tuple[Episode, list[str], float | None, object]] = {}
    start = time.perf_counter()
    state = SeriesProgress(total=len(todo))
    try:
        while todo or running:
            while todo and len(running) < window:
                ep = todo.pop(0)
                mtime = None  # taken before the bytes are read: a later change is then seen
                if ep.todo == "embed" and not job.shared_fs:
                    mtime = Path(job.outdir, ep.output).stat().st_mtime_ns
                final, keys, first = _submit(client, ep, job, heavy, getattr(opts, "asr", False))
                running[final] = (ep, keys, mtime, first)
            with contextlib.suppress(TimeoutError):
                distributed.wait(list(running), timeout=0.5, return_when="FIRST_COMPLETED")
            for fut in [f for f in running if f.done()]:
                ep, keys, mtime, first = running.pop(fut)
                outcome = _outcome(fut, ep)
                outcome.retried = _retried(client, keys)
                if outcome.ok and not job.shared_fs:
                    _receive(outcome, ep, job, mtime)
                outcome.data = None
                (done if outcome.ok else failed).append(outcome)
                fut.release()
                if first is not fut:
                    first.release()
            if progress is not None:
                state.running = _running(client, running)
                state.done, state.failed = len(done), len(failed)
                state.video_seconds = sum(o.video_seconds for o in done)
                state.elapsed = time.perf_counter() - start
                progress(state)
    except BaseException:
        client.cancel(list(running), force=True)
        raise


def _running(client, running: dict) -> int:
    """Episodes being worked on: the scheduler's tasks assigned to each worker, counted up
    to the worker's threads (it hands a worker a little more than it can run at once)."""
    ours = {k for _, keys, _, _ in running.values() for k in keys}
    threads = client.nthreads()
    return sum(min(sum(1 for k in keys if k in ours), threads.get(worker, 1))
               for worker, keys in client.processing().items())


def _slots(client) -> int:
    return sum(w.get("nthreads", 1) for w in client.scheduler_info(n_workers=-1)["workers"].values())


def _retried(client, keys: list[str]) -> int:
    """How many times the scheduler ran these tasks again because their worker died (its
    `suspicious` count); 0 where the scheduler will not say (one that refuses to run a
    client's function)."""

    def count(dask_scheduler, keys: list[str]) -> int:  # runs on the scheduler (pickled by value)
        return sum(dask_scheduler.tasks[k].suspicious for k in keys if k in dask_scheduler.tasks)

    try:
        return int(client.run_on_scheduler(count, keys=keys))
    except Exception:  # noqa: BLE001 - a figure for the report, never a reason to fail the run
        return 0


def _submit(client, ep: Episode, job: Job, heavy: dict[str, float] | None,
            asr: bool) -> tuple[object, list[str], object]:
    """One episode's graph: ingest (the heavy resources too when it runs ASR) → embed;
    returns (the last step's future, the task keys, the first step's future)."""
    import distributed

    tag = f"{ep.name}-{job.run_id}"
    keys: list[str] = []
    if ep.todo == "embed":
        prev: object
        if job.shared_fs:
            prev = Outcome(ep.name, path=str(Path(job.outdir, ep.output)))
        else:
            prev = client.scatter(Outcome(ep.name, data=Path(job.outdir, ep.output).read_bytes()),
                                  hash=False)
    else:
        media = None if job.shared_fs else client.scatter(_media(ep), hash=False)
        keys.append(f"ingest-{tag}")
        prev = client.submit(ingest_task, ep, job, media, key=keys[-1], pure=False,
                             retries=RETRIES, resources=heavy if asr else None)
        if job.embed is None:
            return prev, keys, prev
    keys.append(f"embed-{tag}")
    final = client.submit(embed_task, prev, ep, job, key=keys[-1], pure=False, retries=RETRIES,
                          resources=heavy)
    return final, keys, prev if isinstance(prev, distributed.Future) else final


def _outcome(fut, ep: Episode) -> Outcome:
    """The task's Outcome, or a failed one saying why the task itself failed."""
    from distributed import KilledWorker

    if fut.status == "finished":
        return fut.result()
    exc = fut.exception()
    if isinstance(exc, KilledWorker):
        return Outcome(ep.name, ok=False,
                       error="its worker died each time it ran it (out of memory? killed?); "
                       "see the workers' logs, then run again")
    return Outcome(ep.name, ok=False, internal=True,
                   error=f"{type(exc).__name__}: {one_line(exc)} (a bug: please report it)")


def _receive(outcome: Outcome, ep: Episode, job: Job, mtime: int | None) -> None:
    """No shared filesystem: write the bytes a worker sent under a temporary name, make the
    file name its source as the client sees it, then rename it into place."""
    from sgtui.project import Project

    assert outcome.data is not None
    outdir = Path(job.outdir)
    final = outdir / ep.output
    tmp = temp_path(outdir, ep.name, job.run_id)
    try:
        tmp.write_bytes(outcome.data)
        with Project.open(tmp) as p:
            if ep.todo == "ingest":
                p.meta_set("source_path", ep.video)
            outcome.lines = outcome.lines or len(p.lines())
        if mtime is not None and final.stat().st_mtime_ns != mtime:
            outcome.ok = False
            outcome.error = (f"{final.name} changed while it was being embedded elsewhere; its "
                             "vectors were not stored — run again")
            return
        commit(tmp, final)
        outcome.path = str(final)
    finally:
        remove_temp(tmp)


def _report_json(the_plan: SeriesPlan, done: list[Outcome], failed: list[Outcome], status: str,
                 started: float, seconds: float, info: dict[str, object],
                 resources: dict[str, float], shared_fs: bool, argv: list[str] | None) -> bytes:
    """The run report: what was done, skipped and failed, where and how long it took."""
    def entry(o: Outcome, state: str) -> dict:
        d = asdict(o)
        d.pop("data", None)
        d.pop("ok", None)
        d["status"] = state
        return d

    finished = {o.name for o in done} | {o.name for o in failed}
    cancelled = [ep.name for ep in the_plan.episodes if ep.name not in finished]
    video = sum(o.video_seconds for o in done)
    report = {
        "sgtui_series_run": 1,
        "status": status,
        "command": argv,
        "folder": str(the_plan.folder.resolve()),
        "output": str(the_plan.outdir.resolve()),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(seconds, 3),
        "scheduler": info["scheduler"],
        "workers": info["workers"],
        "dashboard": info["dashboard"],
        "resources": resources,
        "shared_fs": shared_fs,
        "counts": {"done": len(done), "failed": len(failed), "skipped": len(the_plan.skipped),
                   "cancelled": len(cancelled)},
        "video_minutes_per_second": round(video / 60 / seconds, 4) if seconds > 0 else 0.0,
        "episodes": ([entry(o, "done") for o in done] + [entry(o, "failed") for o in failed]
                     + [{"name": Path(v).stem, "status": "skipped", "why": why}
                        for v, why in the_plan.skipped]
                     + [{"name": n, "status": "cancelled"} for n in cancelled]),
    }
    return (json.dumps(report, ensure_ascii=False, indent=2) + "\n").encode()


def describe(summary: RunSummary) -> str:
    """The last line a run prints."""
    parts = [f"{plural(len(summary.done), 'episode')} done"]
    retried = sum(o.retried > 0 for o in summary.done)
    if retried:
        parts[0] += f" ({retried} retried after a worker died)"
    if summary.skipped:
        parts.append(f"{len(summary.skipped)} skipped")
    if summary.failed:
        parts.append(f"{len(summary.failed)} failed ({', '.join(o.name for o in summary.failed)})")
    return f"{', '.join(parts)} in {summary.seconds:.1f} s; report: {summary.report}"
