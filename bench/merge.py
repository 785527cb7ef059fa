"""Merging two copies of a 5,000-line episode with 2,000 actions on each side (budget: ≤ 5 s).

Builds a base episode (5,000 lines with clips and keyframes of a real episode's sizes and a
first clustering), copies it twice, makes 2,000 random actions on each copy (moves, renames,
confirms, flags, merges, undos) as two annotators would, then times the command a user runs,
`sgtui merge A B -o OUT`, end to end (median of 3), beside the floor any merge that writes a
new file pays: copying the file (`cp`), in the same run. Prints the load average (shared
machine). Usage: python bench/merge.py [--lines 5000] [--actions 2000]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sgtui.errors import SgtuiError
from sgtui.project import LineIn, Project

CLIP_BYTES = 12_000  # sample02: ~17 KB of clip + keyframe per line
FRAME_BYTES = 5_000


def build_base(path: Path, n_lines: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with Project.create(path, title="bench") as p:
        ids = p.add_lines([LineIn(i * 2000, i * 2000 + 1500, f"line {i}") for i in range(n_lines)])
        with p.transaction() as c:
            c.executemany("INSERT INTO clips(line_id, codec, sample_rate, data) VALUES (?,?,?,?)",
                          [(i, "opus", 16000, rng.randbytes(CLIP_BYTES)) for i in ids])
            c.executemany("INSERT INTO keyframes(line_id, mime, width, height, data) VALUES (?,?,?,?,?)",
                          [(i, "image/jpeg", 320, 180, rng.randbytes(FRAME_BYTES)) for i in ids])
        k = max(2, n_lines // 100)
        p.apply_clustering([(None, ids[g::k]) for g in range(k)])


def work(path: Path, n_actions: int, who: str, seed: int) -> None:
    rng = random.Random(seed)
    names = [f"{who}-{i}" for i in range(200)]
    with Project.open(path) as p:
        lines = [ln.id for ln in p.lines()]
        done = 0
        while done < n_actions:
            clusters = [c.id for c in p.clusters()]
            r = rng.random()
            try:
                if r < 0.55:
                    p.move([rng.choice(lines)], rng.choice(clusters), who)
                elif r < 0.70:
                    p.rename(rng.choice(clusters), names.pop() if names else None, who)
                elif r < 0.80:
                    p.confirm(rng.choice(clusters), who)
                elif r < 0.90:
                    p.flag([rng.choice(lines)], "noise", who)
                elif r < 0.95 and len(clusters) > 10:
                    a, b = rng.sample(clusters, 2)
                    p.merge(a, b, who)
                else:
                    p.undo(who)
            except SgtuiError:
                continue
            done += 1


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stderr}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=5000)
    ap.add_argument("--actions", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    d = Path(tempfile.mkdtemp(prefix="sgtui-merge-bench-"))
    try:
        base = d / "base.sgproj"
        t0 = time.perf_counter()
        build_base(base, args.lines)
        a, b = d / "a.sgproj", d / "b.sgproj"
        shutil.copyfile(base, a)
        shutil.copyfile(base, b)
        work(a, args.actions, "alice", 1)
        work(b, args.actions, "bob", 2)
        print(f"built: {args.lines} lines, {args.actions} actions per side, "
              f"{a.stat().st_size / 1e6:.0f} MB per copy, in {time.perf_counter() - t0:.0f} s")
        sgtui = [sys.executable, "-m", "sgtui"]
        merge_s, cp_s = [], []
        for i in range(args.repeat):
            out = d / f"out{i}.sgproj"
            merge_s.append(timed([*sgtui, "merge", str(a), str(b), "-o", str(out), "--json"]))
            cp_s.append(timed(["cp", str(a), str(d / f"copy{i}.sgproj")]))
        r = subprocess.run([*sgtui, "diff", str(a), str(b), "--json"], capture_output=True, text=True)
        import json

        rep = json.loads(r.stdout)
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (2 cores, shared)")
        print(f"conflicts found: {len(rep['conflicts'])}; actions replayed: {rep['replayed']}")
        print(f"sgtui merge, end to end: median {statistics.median(merge_s):.2f} s "
              f"(runs {', '.join(f'{x:.2f}' for x in merge_s)}) — budget 5 s")
        print(f"cp of one copy (the floor of writing a new file): median {statistics.median(cp_s):.2f} s; "
              f"merge / cp = {statistics.median(merge_s) / statistics.median(cp_s):.1f}×")
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
