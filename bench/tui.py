"""Benchmark: the annotator's first screen, key → screen latency per action, memory.

    .venv/bin/python bench/tui.py [--sizes 1000,5000] [--reps 30] [--no-tmux]

For each project size (lines, embedded, clustered, with a keyframe per line) a fresh
subprocess measures, headless (Textual's test driver renders every frame):
- first screen: Project.open → state → app mounted and painted;
- key → screen updated: press + the frame that follows, per key, median and p95
  (navigation, views, and every action with its op-log transaction);
- peak resident memory of that process.
Baseline, same process: the "rebuild the whole table" approach (a Textual DataTable
refilled with every row after each action, as Speaker-Grouping's Tk tool did).
With tmux present it also times the real command: `sgtui open` started in a 120×36 tmux
pane until the status bar is on screen (Python start-up and imports included).
Targets (docs/architecture.md): first screen ≤ 1 s at 1,000 lines; key latency ≤ 50 ms median.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

SIZE = (120, 36)
KEYFRAME_WAIT = 0.15  # > the keyframe delay: every measured key ends with its picture drawn


def build(path: Path, n: int) -> Path:
    from PIL import Image
    from tui_helpers import build_big_project

    from sgtui.project import Project

    build_big_project(path, n, speakers=12)
    buf = io.BytesIO()
    Image.new("RGB", (480, 270), (90, 120, 160)).save(buf, "JPEG", quality=80)
    with Project.open(path) as p:
        p.put_keyframes([(ln.id, "image/jpeg", 480, 270, buf.getvalue()) for ln in p.lines()])
    return path


def spy_display(app, painted: list[float]) -> None:
    """Record when each frame is ready, rendered to terminal bytes as a real driver would.

    Pilot's own waits (idle detection) take tens of ms, so timing press() would measure
    Pilot; the moment the frame's escape sequences exist is the moment the screen updates.
    """
    from textual._compositor import CompositorUpdate

    original = app._display

    def display(screen, renderable) -> None:
        original(screen, renderable)
        if isinstance(renderable, CompositorUpdate):
            renderable.render_segments(app.console)
            painted.append(time.perf_counter())

    app._display = display


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


async def measure(path: Path, reps: int) -> dict:
    from sgtui.project import Project
    from sgtui.tui.app import AnnotatorApp
    from sgtui.tui.config import Config
    from sgtui.tui.player import NullPlayer

    t0 = time.perf_counter()
    project = Project.open(path)
    app = AnnotatorApp(project, "bench", config=Config(image="halfcell"), player=NullPlayer(),
                       poll_seconds=0)
    lat: dict[str, list[float]] = {}  # key -> first frame that answers it
    done: dict[str, list[float]] = {}  # key -> last frame (keyframe drawn, nothing pending)
    painted: list[float] = []
    spy_display(app, painted)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        first = painted[-1] - t0

        async def key(name: str, *keys: str) -> None:
            painted.clear()
            start = time.perf_counter()
            await pilot.press(*keys)
            await pilot.pause(KEYFRAME_WAIT)
            if painted:
                lat.setdefault(name, []).append((painted[0] - start) * 1000)
                done.setdefault(name, []).append((painted[-1] - start) * 1000)

        async def quiet(*keys: str) -> None:
            await pilot.press(*keys)
            await pilot.pause()

        big = app.state.clusters[0].id
        other = app.state.clusters[1].id
        for i in range(reps):
            await key("line down/up (j/k)", "j" if i % 2 == 0 else "k")
        for i in range(reps):
            await key("next/prev cluster (]/[)", "right_square_bracket" if i % 2 == 0 else "left_square_bracket")
        for _ in range(reps // 2):
            await key("timeline on/off (t)", "t")
            await key("timeline on/off (t)", "t")
        for _ in range(reps // 2):
            await key("doubt sort (d)", "d")
            await key("doubt sort (d)", "d")
        app.state.select_cluster(big)
        app.main.redraw()
        for _ in range(reps):
            await key("remove (x)", "x")
            await key("undo (u)", "u")
            await key("redo (U)", "U")
            await quiet("u")
        for _ in range(reps):
            await quiet("m", *str(other))
            await key("move (m … enter)", "enter")
            await quiet("u")
        for _ in range(reps):
            await key("confirm (c)", "c")
        for _ in range(reps):
            app.state.select_cluster(other)
            app.main.redraw()
            await quiet("M", *str(big))
            await key("merge (M … enter)", "enter")
            await quiet("u")
        app.state.select_cluster(big)
        app.main.redraw()
        for i in range(reps):
            await quiet("n", *f"name{i}")
            await key("rename (n … enter)", "enter")
        await quiet("f")
        for _ in range(reps):
            await key("accept suggestion (1)", "1")
            await quiet("u")
    project.close()
    return {"first_screen_s": first,
            "latency_ms": {k: (statistics.median(v), pct(v, 0.95), len(v)) for k, v in lat.items()},
            "complete_ms": {k: (statistics.median(v), pct(v, 0.95), len(v)) for k, v in done.items()}}


async def baseline(path: Path, reps: int) -> dict:
    """A DataTable holding every line, refilled after each action (the naive design)."""
    from textual.app import App
    from textual.widgets import DataTable

    from sgtui.project import Project

    project = Project.open(path)

    class Naive(App):
        def compose(self):
            yield DataTable()

        def fill(self) -> None:
            table = self.query_one(DataTable)
            table.clear(columns=True)
            table.add_columns("time", "speaker", "text")
            assign = project.assignments()
            table.add_rows([(ln.start_ms, assign[ln.id].cluster_id if ln.id in assign else "",
                             ln.text) for ln in project.lines()])

        def on_mount(self) -> None:
            self.fill()

    t0 = time.perf_counter()
    app = Naive()
    times = []
    painted: list[float] = []
    spy_display(app, painted)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        first = painted[-1] - t0
        for _ in range(reps):
            painted.clear()
            start = time.perf_counter()
            app.fill()
            await pilot.pause()
            times.append((painted[-1] - start) * 1000)
    project.close()
    return {"first_screen_s": first, "refill_ms": (statistics.median(times), pct(times, 0.95))}


def one(path: Path, reps: int) -> dict:
    out = asyncio.run(measure(path, reps))
    out["baseline"] = asyncio.run(baseline(path, max(5, reps // 3)))
    out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["cpu_s"] = time.process_time()
    return out


def tmux_first_screen(path: Path, tmp: Path, runs: int = 3) -> float | None:
    """Seconds from starting `sgtui open` in tmux to the status bar on screen (median)."""
    if shutil.which("tmux") is None:
        return None
    times = []
    for i in range(runs):
        name = f"sgtui-bench-{i}-{path.stem}"
        cmd = (f"{sys.executable} -m sgtui open {path} --as bench --audio none; sleep 5")
        t0 = time.perf_counter()
        subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "36",
                        "-c", str(ROOT), f"XDG_CONFIG_HOME={tmp / 'cfg'} {cmd}"], check=True)
        try:
            while time.perf_counter() - t0 < 30:
                screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", name],
                                        capture_output=True, text=True).stdout
                if "named (" in screen:
                    times.append(time.perf_counter() - t0)
                    break
                time.sleep(0.01)
        finally:
            subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)
    return statistics.median(times) if times else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,5000")
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--no-tmux", action="store_true")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(Path(args.one), args.reps)))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        results = {}
        for n in sizes:
            path = build(tmp / f"bench{n}.sgproj", n)
            r = subprocess.run([sys.executable, __file__, "--one", str(path), "--reps", str(args.reps)],
                               capture_output=True, text=True, check=True)
            results[n] = json.loads(r.stdout.strip().splitlines()[-1])
            results[n]["tmux_s"] = None if args.no_tmux else tmux_first_screen(path, tmp)
    load = os.getloadavg()[0]
    print(f"\nsgtui TUI benchmark  (terminal {SIZE[0]}×{SIZE[1]}, {args.reps} presses per key, headless; "
          f"{os.cpu_count()} CPUs, load average {load:.1f} at the end)\n")
    print(f"{'lines':>6} | {'first screen':>12} | {'sgtui open in tmux':>18} | {'baseline first':>14} | "
          f"{'peak RSS':>8}")
    for n, r in results.items():
        tm = f"{r['tmux_s']:.2f} s" if r["tmux_s"] else "—"
        print(f"{n:>6} | {r['first_screen_s']:>10.2f} s | {tm:>18} | "
              f"{r['baseline']['first_screen_s']:>12.2f} s | {r['max_rss_mb']:>5.0f} MB")
    print("\nkey → screen updated, ms, median / p95: first frame answering the key "
          "(lists, details, status) │ complete (keyframe drawn too)")
    keys = list(next(iter(results.values()))["latency_ms"])
    print(f"{'action':<26}" + "".join(f" | {f'{n} lines: first':>17} | {'complete':>15}" for n in results))
    for k in keys:
        cells = "".join(f" | {r['latency_ms'][k][0]:>7.1f} / {r['latency_ms'][k][1]:>7.1f}"
                        f" | {r['complete_ms'][k][0]:>6.1f} / {r['complete_ms'][k][1]:>6.1f}"
                        for r in results.values())
        print(f"{k:<26}{cells}")
    cells = "".join(f" | {r['baseline']['refill_ms'][0]:>7.1f} / {r['baseline']['refill_ms'][1]:>7.1f}"
                    f" | {'':>15}" for r in results.values())
    print(f"{'baseline: refill table':<26}{cells}")
    print("\nratio baseline refill / sgtui remove (median):  "
          + ",  ".join(f"{n}: {r['baseline']['refill_ms'][0] / r['latency_ms']['remove (x)'][0]:.1f}×"
                       for n, r in results.items()))


if __name__ == "__main__":
    main()
