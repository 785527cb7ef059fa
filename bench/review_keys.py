"""Benchmark: keystrokes to correct an episode with the review queue, in tmux at 80×24.

    .venv/bin/python bench/review_keys.py [--project sample_projects/sample02.sgproj]
                                          [--truth sample_projects/sample02.truth.csv]

A copy of the project is opened with `sgtui open` in an 80×24 tmux pane and corrected as an
annotator who knows the truth would do it, with the review queue only: `r`, read the status
line, decide, `r` again. The decisions come from the truth CSV (rows matched to lines by
start time): a doubtful line of the wrong speaker is moved (`m`, the cluster's number, Enter);
an unassigned line goes to its suggestion 1 when right, else `a` NUMBER Enter; a cluster whose
speaker already has a bigger cluster is merged into it (`M` NUMBER Enter); any other is named
by typing the name (`n` NAME Enter: where subtitles carry names, a suggested name would make
that one key). Prints the keystroke log, the keys per kind, and `sgtui eval` of the result.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PANE = "sgtui-review-keys"
WAIT = 0.5  # seconds after each key: the app answers in milliseconds, tmux and load need more


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True).stdout


def truth_by_line(project, truth_csv: Path) -> dict[int, str]:
    with open(truth_csv, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    out = {}
    for ln in project.lines():
        best = min(rows, key=lambda r: abs(float(r["start"]) * 1000 - ln.start_ms))
        out[ln.id] = best["speaker"]
    return out


def home(members: dict[int, Counter], major: dict[int, str], speaker: str,
         besides: int | None = None) -> int | None:
    """The biggest cluster whose majority is `speaker` (other than `besides`)."""
    cands = [(members[c][speaker], c) for c in members if major[c] == speaker and c != besides]
    return max(cands)[1] if cands else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", default=str(ROOT / "sample_projects" / "sample02.sgproj"))
    ap.add_argument("--truth", default=str(ROOT / "sample_projects" / "sample02.truth.csv"))
    args = ap.parse_args()
    if shutil.which("tmux") is None:
        print("tmux is not installed")
        return 2
    from sgtui.project import Project

    tmp = Path(tempfile.mkdtemp())
    path = tmp / "ep.sgproj"
    shutil.copy(args.project, path)
    with Project.open(path, readonly=True) as p:
        truth = truth_by_line(p, Path(args.truth))
    log: list[tuple[str, list[str]]] = []

    def press(kind: str, *keys: str) -> None:
        for k in keys:
            tmux("send-keys", "-t", PANE, k)
            time.sleep(WAIT)
        log.append((kind, list(keys)))

    def status_line() -> str:
        lines = tmux("capture-pane", "-p", "-t", PANE).splitlines()
        return " ".join(lines[-3:-1])

    cmd = (f"cd {ROOT} && env -u COLUMNS -u LINES PYTHONPATH={ROOT} XDG_CONFIG_HOME={tmp} "
           f"{sys.executable} -m sgtui open {path} --as bench --audio none")
    tmux("kill-session", "-t", PANE)
    tmux("new-session", "-d", "-s", PANE, "-x", "80", "-y", "24", cmd)
    for _ in range(100):
        time.sleep(0.2)
        if "named (" in tmux("capture-pane", "-p", "-t", PANE):
            break
    try:
        for _ in range(500):
            press("queue", "r")
            said = status_line()
            with Project.open(path, readonly=True) as p:
                assign = {lid: a.cluster_id for lid, a in p.assignments().items()}
                clusters = {c.id: c for c in p.clusters()}
                suggest = p.suggestions()
            members: dict[int, Counter] = {}
            for lid, cid in assign.items():
                members.setdefault(cid, Counter())[truth[lid]] += 1
            major = {cid: cnt.most_common(1)[0][0] for cid, cnt in members.items()}

            if m := re.search(r"doubtful line (\d+)", said):
                lid = int(m.group(1))
                cid = assign[lid]
                if truth[lid] != major[cid] and (dst := home(members, major, truth[lid], cid)) is not None:
                    press("move", "m", *str(dst), "Enter")
            elif m := re.search(r"unassigned line (\d+)", said):
                lid = int(m.group(1))
                dst = home(members, major, truth[lid])
                first = suggest.get(lid, [None])[0]
                if dst is not None and first is not None and first.cluster_id == dst:
                    press("accept", "1")
                elif dst is not None:
                    press("add", "a", *str(dst), "Enter")
            elif m := re.search(r"unreviewed #(\d+)", said):
                cid = int(m.group(1))
                bigger = home(members, major, major[cid], cid)
                if bigger is not None and members[bigger][major[cid]] >= members[cid][major[cid]]:
                    press("merge", "M", *str(bigger), "Enter")
                elif clusters[cid].name != major[cid]:
                    press("name", "n", *major[cid], "Enter")
            elif "review queue empty" in said:
                break
        press("quit", "q")
    finally:
        time.sleep(1)
        tmux("kill-session", "-t", PANE)
    per = Counter()
    for kind, keys in log:
        per[kind] += len(keys)
        print(f"[{kind}] {' '.join(keys)}")
    print("keys per kind:", dict(per), "total without q:", sum(per.values()) - per["quit"])
    r = subprocess.run([sys.executable, "-m", "sgtui", "eval", str(path), "--truth", args.truth, "--json"],
                       capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    print("eval after the run:", json.loads(r.stdout)["ops"] if r.returncode == 0 else r.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
