"""Benchmark: ingest a 24-minute 1080p h264 episode (~400 lines) vs per-line ffmpeg.

    .venv/bin/python bench/ingest.py [--cache DIR] [--baseline-lines N|all] [--no-floor]

The episode is generated once (several minutes of x264) and cached outside the repository
(default ~/.cache/sgtui-bench). In the same run it measures:
- the floor: decoding every video frame with PyAV (what "one full decode pass" costs),
  with FFmpeg's threading and with one single-threaded decoder per core;
- `sgtui ingest` (subprocess): wall time, x real time, peak memory, .sgproj size;
- Speaker-Grouping's method as its cliptool/clip_tool.py runs it (Debian's ffmpeg CLI,
  three processes a line: stream-copy cut, WAV at the source rate, full-resolution JPEG),
  and a leaner two-process variant, on N lines spread over the episode and extrapolated
  to all lines (``--baseline-lines all`` runs every line).
Not part of CI: it needs minutes and a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import random
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

NAME = "ep24_1080p"


def generate(cache: Path, minutes: float, lines: int) -> Path:
    """Write the cached episode once: NAME.mp4, NAME.ass, NAME.truth.csv."""
    from sgtui.media import synth

    video = cache / f"{NAME}.mp4"
    if video.exists():
        return video
    cache.mkdir(parents=True, exist_ok=True)
    print(f"generating {video} ({minutes} min, 1080p, ~{lines} lines; takes a while)...",
          flush=True)
    t0 = time.time()
    ep = synth.make_episode(24, lines)
    print(f"  script + speech: {time.time() - t0:.0f} s, {ep.duration_ms / 60000:.1f} min",
          flush=True)
    tmp = cache / f"{NAME}.partial.mp4"
    done = [0]

    def tick(n: int) -> None:
        done[0] += n
        if done[0] % 2400 == 0:
            print(f"  {done[0]} frames, {time.time() - t0:.0f} s", flush=True)

    synth.write_video(tmp, ep, 1920, 1080, keyint=250, preset="veryfast", threads=2,
                      progress=tick)
    synth.write_ass(cache / f"{NAME}.ass", ep, width=1920, height=1080)
    synth.write_truth(cache / f"{NAME}.truth.csv", ep.lines)
    tmp.rename(video)
    print(f"  done in {time.time() - t0:.0f} s", flush=True)
    return video


def decode_floor(video: Path) -> tuple[float, int]:
    """Seconds to decode every video frame with PyAV (threads auto) and the frame count."""
    import av

    t0 = time.perf_counter()
    n = 0
    with av.open(str(video)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for _ in c.decode(s):
            n += 1
    return time.perf_counter() - t0, n


def decode_floor_parallel(video: Path, workers: int) -> tuple[float, int]:
    """Every frame decoded by `workers` single-threaded decoders, one contiguous share of
    the GOPs each (the scheme sgtui uses for its runs of GOPs); seconds and frames."""
    import threading

    import av

    from sgtui.media import decode

    idx = decode.index_video(video)
    keys = idx.gop_first_pts
    bounds = [keys[len(keys) * i // workers] for i in range(workers)] + [None]
    counts = [0] * workers

    def share(i: int) -> None:
        with av.open(str(video)) as c:
            s = c.streams.video[0]
            s.codec_context.thread_count = 1
            c.seek(bounds[i], stream=s, backward=True, any_frame=False)
            for packet in c.demux(s):
                if packet.size == 0:
                    continue
                if bounds[i + 1] is not None and packet.is_keyframe and packet.pts == bounds[i + 1]:
                    break
                counts[i] += len(s.codec_context.decode(packet))
            counts[i] += len(s.codec_context.decode(None))

    t0 = time.perf_counter()
    threads = [threading.Thread(target=share, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, sum(counts)


def run_sgtui(video: Path, subs: Path, out: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB, the largest child so far) of `sgtui ingest`."""
    cmd = [sys.executable, "-m", "sgtui", "ingest", str(video), "--subs", str(subs),
           "-o", str(out), "--force"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"sgtui ingest failed: {proc.stderr.strip()}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024


def _ff(*args: str) -> None:
    subprocess.run(["ffmpeg", "-loglevel", "quiet", *args], check=True)


def ffmpeg_per_line(video: Path, spans: list[tuple[int, int]], work: Path,
                    faithful: bool = True) -> list[float]:
    """Per-line ffmpeg CLI; seconds per line.

    faithful: Speaker-Grouping's cliptool/clip_tool.py, three processes a line -- cut the
    line's video with stream copy (`-i V -ss A -to B -c copy`, output seeking), convert that
    piece to a source-rate WAV, and grab a full-resolution JPEG (`-ss MID -i V -vframes 1
    -q:v 2`). Otherwise a leaner two-process variant: WAV straight from the video with input
    seeking, and the same JPEG.
    """
    if not shutil.which("ffmpeg"):
        raise SystemExit("Debian's ffmpeg is needed for the baseline: apt install ffmpeg")
    per_line = []
    for i, (a, b) in enumerate(spans):
        t0 = time.perf_counter()
        start, end, mid = f"{a / 1000:.3f}", f"{b / 1000:.3f}", f"{(a + b) / 2000:.3f}"
        wav, jpg = str(work / f"{i}.wav"), str(work / f"{i}.jpg")
        if faithful:
            piece = str(work / f"{i}.mp4")
            _ff("-i", str(video), "-ss", start, "-to", end, "-c", "copy",
                "-avoid_negative_ts", "1", "-y", piece)
            _ff("-i", piece, "-y", wav)
            Path(piece).unlink()
        else:
            _ff("-ss", start, "-to", end, "-i", str(video), "-vn", "-y", wav)
        _ff("-ss", mid, "-i", str(video), "-vframes", "1", "-q:v", "2", "-y", jpg)
        per_line.append(time.perf_counter() - t0)
    return per_line


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "sgtui-bench")
    ap.add_argument("--lines", type=int, default=400)
    ap.add_argument("--baseline-lines", default="60",
                    help="lines for the ffmpeg baseline, spread evenly ('all' for every line)")
    ap.add_argument("--no-floor", action="store_true", help="skip the full-decode floor")
    ap.add_argument("--repeat", type=int, default=3, help="sgtui ingest runs (median reported)")
    ap.add_argument("--generate-only", action="store_true")
    args = ap.parse_args()

    video = generate(args.cache, 24, args.lines)
    if args.generate_only:
        return 0
    subs = args.cache / f"{NAME}.ass"
    from sgtui.media import decode, subtitles

    info = decode.probe(video)
    idx = decode.index_video(video)
    cues, _ = subtitles.select_styles(subtitles.read_subtitles(subs))
    spans = [(c.start_ms, c.end_ms) for c in cues]
    real_s = info.duration_ms / 1000
    print(f"episode: {real_s / 60:.1f} min, {info.width}x{info.height} @ {info.fps:.3f} fps, "
          f"{len(idx.pts)} frames, {idx.keyframe_count} GOPs "
          f"(mean {len(idx.pts) / idx.keyframe_count:.0f} frames), {len(spans)} lines")

    rows = []
    if not args.no_floor:
        floor_s, n = decode_floor(video)
        rows.append(("floor: PyAV decode of every frame (FFmpeg threads)", floor_s,
                     f"{n / floor_s:.0f} fps", "", ""))
        cores = os.cpu_count() or 1
        par_s, n2 = decode_floor_parallel(video, min(4, cores))
        rows.append((f"floor: every frame, {min(4, cores)} single-thread decoders", par_s,
                     f"{n2 / par_s:.0f} fps", "", ""))
        floor_s = min(floor_s, par_s)

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ep.sgproj"
        walls = []
        for _ in range(args.repeat):
            w, peak = run_sgtui(video, subs, out)
            walls.append(w)
        wall = statistics.median(walls)
        size = out.stat().st_size / 1e6
        import sqlite3

        with sqlite3.connect(f"file:{out}?mode=ro", uri=True) as db:
            clip_b, speech_ms = db.execute(
                "SELECT SUM(LENGTH(c.data)), SUM(l.end_ms - l.start_ms) FROM clips c "
                "JOIN lines l ON l.id = c.line_id").fetchone()
            kf_b, n_kf = db.execute("SELECT SUM(LENGTH(data)), COUNT(*) FROM keyframes").fetchone()
        split = (f"clips {clip_b / 1e6:.1f} MB ({clip_b * 8 / speech_ms:.0f} kbit/s over "
                 f"{speech_ms / 1000:.0f} s of lines), keyframes {kf_b / 1e6:.1f} MB "
                 f"({kf_b / n_kf / 1e3:.1f} KB each)")
        rows.append((f"sgtui ingest (median of {args.repeat})", wall,
                     f"{real_s / wall:.1f}x real time", f"{peak:.0f} MiB", f"{size:.1f} MB"))

        n_base = len(spans) if args.baseline_lines == "all" else min(int(args.baseline_lines), len(spans))
        rng = random.Random(0)
        chosen = sorted(rng.sample(range(len(spans)), n_base))
        note = "" if n_base == len(spans) else f", extrapolated from {n_base} lines"
        base = {}
        for faithful, label in ((True, "Speaker-Grouping clip_tool.py: 3 ffmpeg/line"),
                                (False, "lean per-line ffmpeg: 2 ffmpeg/line")):
            work = Path(tmp) / f"ffmpeg-{faithful}"
            work.mkdir()
            per_line = ffmpeg_per_line(video, [spans[i] for i in chosen], work, faithful)
            total = statistics.mean(per_line) * len(spans)
            files_mb = sum(f.stat().st_size for f in work.iterdir()) / 1e6 * len(spans) / n_base
            base[faithful] = (total, per_line)
            rows.append((f"{label}{note}", total, f"{real_s / total:.1f}x real time", "",
                         f"{files_mb:.0f} MB files"))

    print(f"\n{'method':68s} {'wall s':>8s} {'speed':>18s} {'peak mem':>10s} {'size':>14s}")
    for name, secs, speed, mem, sz in rows:
        print(f"{name:68s} {secs:8.1f} {speed:>18s} {mem:>10s} {sz:>14s}")
    sg, lean = base[True][0], base[False][0]
    print(f"\nsgtui is {sg / wall:.1f}x faster than Speaker-Grouping's method and "
          f"{lean / wall:.1f}x faster than the lean 2-process variant; budget: >= 15x real time "
          f"(<= {real_s / 15:.0f} s), >= 5x faster, <= 20 MB")
    print(f".sgproj content: {split}")
    if not args.no_floor:
        print(f"sgtui wall / fastest full decode: {wall / floor_s:.2f}")
    print(f"sgtui runs: {', '.join(f'{w:.1f}' for w in walls)} s; baseline seconds per line "
          f"(median): {statistics.median(base[True][1]):.2f} and "
          f"{statistics.median(base[False][1]):.2f}; {os.cpu_count()} cores, load average at "
          f"the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
