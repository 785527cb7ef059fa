"""Atomicity under SIGKILL and two writers at once, with real processes on a real file."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from project_helpers import make_project

from sgtui.project import Project

WORKER = Path(__file__).with_name("project_worker.py")
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}


def _named_clusters(path: Path) -> None:
    with make_project(path) as p:
        for i in range(3):
            p.add([i + 1], None, "setup", name=f"c{i}")


def _replay(k_done: int) -> dict[int, str]:
    state = {i + 1: f"c{i}" for i in range(3)}
    for k in range(k_done):
        state[(k % 12) + 1] = f"c{k % 3}"
    return state


def test_sigkill_at_random_points_never_half_applies_an_action(tmp_path):
    rng = random.Random(7)
    for trial in range(6):
        path = tmp_path / f"crash{trial}.sgproj"
        _named_clusters(path)
        proc = subprocess.Popen([sys.executable, str(WORKER), str(path), "w", "0", "100000"],
                                stdout=subprocess.PIPE, text=True, env=ENV)
        time.sleep(rng.uniform(0.5, 1.5))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        reported = [int(x.split()[1]) for x in out.splitlines() if x.startswith("committed")]
        raw = sqlite3.connect(path)
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        raw.close()
        with Project.open(path) as p:
            worker_actions = {}
            for r in p.ops():
                if r.annotator == "w":
                    worker_actions.setdefault(r.action_id, []).append(r.kind)
            assert len(worker_actions) >= len(reported) > 0, "every reported commit is in the file"
            for kinds in worker_actions.values():
                assert kinds in (["remove", "add"], ["add"], ["confirm"]), f"half-applied action: {kinds}"
            names = {c.id: c.name for c in p.clusters()}
            state = {lid: names[a.cluster_id] for lid, a in p.assignments().items()}
            assert state == _replay(len(worker_actions)), "state equals the committed actions replayed"


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    path = tmp_path / "shared.sgproj"
    _named_clusters(path)
    n = 60
    procs = [subprocess.Popen([sys.executable, str(WORKER), str(path), who, "0", str(n)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
             for who in ("alice", "bob")]
    results = [p.communicate(timeout=240) for p in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert "locked" not in err
        assert out.count("committed") == n
    with Project.open(path) as p:
        counts = p.op_counts()["by_annotator"]
        for who in ("alice", "bob"):
            acts = {r.action_id for r in p.ops() if r.annotator == who}
            assert len(acts) == n
        assert set(counts) == {"setup", "alice", "bob"}
