"""Benchmark: clustering quality on haruhi03 for every method, and engine speed/memory.

    .venv/bin/python bench/engine.py [--sizes 600,10000,100000] [--repeats 3] [--quick] [--defaults]

Quality (one table): every method on haruhi03 with defaults that never saw haruhi03's
labels (gated also with refinement off: before/after in the same run), plus rows that are declared as using them (hindsight threshold, within-episode
cross-validation by time blocks, the old workflow's 10% hand labels). Speed (one table):
k-NN graph build and gated re-cluster on the cached graph at each size of synthetic
clustered 192-d vectors, against scipy's average linkage in the same run where it fits
in memory; peak traced memory (numpy allocations) per step. Takes ~3–5 minutes here.
--defaults prints how the defaults were chosen: gamma, threshold position and refinement on
generated episodes calibrated to haruhi16's unlabelled vectors, LibriSpeech as a guard.
"""

from __future__ import annotations

import argparse
import csv
import gc
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sgtui.engine import baselines  # noqa: E402
from sgtui.engine.gated import GatedParams, estimate_threshold, gated_cluster  # noqa: E402
from sgtui.engine.knn import build_knn, normalise  # noqa: E402
from sgtui.engine.methods import cluster  # noqa: E402
from sgtui.engine.metrics import evaluate  # noqa: E402
from sgtui.engine.training import Episode, fit_engine_model  # noqa: E402

SHARED = Path(os.environ.get("SGTUI_SHARED", ROOT.parent / "shared"))


def load_episode(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unit vectors, speaker index or -1, duration ms) of a shared episode (rows in time
    order: lines.csv is sorted by start)."""
    root = SHARED / "data" / name
    x = normalise(np.load(root / "voice_ecapa192.npy"))
    with open(root / "lines.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    speakers = [r.get("speaker") or "" for r in rows]
    names = sorted({s for s in speakers if s})
    truth = np.array([names.index(s) if s else -1 for s in speakers], dtype=np.int64)
    dur = np.array([(float(r["end"]) - float(r["start"])) * 1000 for r in rows])
    return x, truth, dur


def synthetic_episode(seed: int, dim: int = 192) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A generated episode: 4–9 speakers of Zipf-like sizes, lines whose noise grows as they
    get shorter (a short line carries less voice), so confidence has something to learn."""
    rng = np.random.default_rng(seed)
    k = int(rng.integers(4, 10))
    n = int(rng.integers(300, 700))
    weights = 1.0 / np.arange(1, k + 1) ** 0.8
    labels = rng.choice(k, size=n, p=weights / weights.sum())
    centres = normalise(rng.standard_normal((k, dim)))
    # speakers of one episode share a common direction (same show, same mixing)
    common = normalise(rng.standard_normal((1, dim)))
    centres = normalise(centres + rng.uniform(0.3, 0.8) * common)
    dur = np.exp(rng.normal(np.log(1800), 0.6, n)).clip(300, 12000)
    noise = rng.uniform(0.7, 1.0) * (1.6 / np.sqrt(dur / 1000)) ** 0.5
    x = centres[labels] + noise[:, None] * rng.standard_normal((n, dim)) / np.sqrt(dim)
    return normalise(x), labels.astype(np.int64), dur


_H16: dict = {}


def haruhi16_generated(seed: int, noise: float = 1.0, spread: float = 1.6, five: bool = False
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A generated episode calibrated to haruhi16's *unlabelled* ECAPA vectors (no labels
    of any Haruhi episode are read): haruhi16 is clustered once (gated with the settings of
    the first engine version, fixed here so the episodes never change with the defaults);
    lines are new speaker means plus real residuals around those clusters (each residual
    used at most once, in either sign, scaled by `noise`); speaker means are haruhi16's
    mean direction plus `spread` × a draw from its total covariance, scaled to the norm of
    its cluster means. spread 1.6 gives a mean centroid cosine ≈ 0.3, as haruhi16's own
    clusters have. 4–8 speakers of Zipf-like sizes, 300–700 lines; with `five`, haruhi16's
    own sequence of its five clusters (sizes 14–160, dialogue order), rotated by the seed.
    Returns (vectors, speaker, duration ms): each line keeps the duration of the haruhi16
    line its residual came from (short lines there carry noisier vectors)."""
    if not _H16:
        x = normalise(np.load(SHARED / "data" / "haruhi16" / "voice_ecapa192.npy")).astype(np.float64)
        first = GatedParams(gamma=0.5, threshold_position=0.5, refine_iters=0)
        lab = gated_cluster(x, build_knn(x), params=first)[0]
        roots = np.unique(lab[lab >= 0])
        seq = np.searchsorted(roots, np.maximum(lab, 0))
        seq[lab < 0] = np.random.default_rng(0).integers(0, roots.size, int((lab < 0).sum()))
        means = np.stack([x[lab == r].mean(axis=0) for r in roots])
        res = np.vstack([x[lab == r] - m for r, m in zip(roots, means, strict=True)])
        with open(SHARED / "data" / "haruhi16" / "lines.csv", encoding="utf-8-sig", newline="") as f:
            dur = np.array([(float(r["end"]) - float(r["start"])) * 1000 for r in csv.DictReader(f)])
        dur = np.concatenate([dur[lab == r] for r in roots])
        g = x.mean(axis=0)
        w, v = np.linalg.eigh(np.cov((x - g).T))
        _H16.update(pool=np.vstack([res, -res]), dur=np.concatenate([dur, dur]), g=g / np.linalg.norm(g), seq=seq,
                    covsqrt=v * np.sqrt(np.maximum(w, 0)), norm=float(np.linalg.norm(means, axis=1).mean()))
    h = _H16
    rng = np.random.default_rng(seed)
    if five:
        labels = np.roll(h["seq"], int(rng.integers(0, h["seq"].size)))
        k, n = int(labels.max()) + 1, labels.size
    else:
        k = int(rng.integers(4, 9))
        n = int(rng.integers(300, 700))
        weights = 1.0 / np.arange(1, k + 1) ** 0.8
        labels = rng.choice(k, size=n, p=weights / weights.sum())
    mu = h["g"] + spread * rng.standard_normal((k, 192)) @ h["covsqrt"].T
    mu *= h["norm"] / np.linalg.norm(mu, axis=1, keepdims=True)
    pool = h["pool"]
    pick = rng.choice(pool.shape[0], size=n, replace=n > pool.shape[0])
    return normalise(mu[labels] + noise * pool[pick]), labels.astype(np.int64), h["dur"][pick]


def dev_suite() -> dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """The episodes defaults are chosen on: G = haruhi16-calibrated generated episodes (noise
    1.0/1.1/1.2, 12 seeds each; five speakers in haruhi16's sizes at noise 1.3/1.4, 12
    each); L = LibriSpeech-built episodes (each cutting's halves and six 5-speaker subsets
    per cutting), a guard with another encoder."""
    out: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    for j, noise in enumerate((1.0, 1.1, 1.2)):
        out[f"G noise {noise}"] = [haruhi16_generated(1000 * j + s, noise) for s in range(12)]
    for j, noise in enumerate((1.3, 1.4)):
        out[f"G5 noise {noise}"] = [haruhi16_generated(100 * j + s, noise, five=True) for s in range(12)]
    rng = np.random.default_rng(0)
    halves, subsets = [], []
    for seed in (0, 1, 2):
        lx, lspk, ldur, lutt = librispeech_lines(seed)
        halves += [(lx[m], lspk[m], ldur[m]) for m in (lutt < 5, lutt >= 5)]
        for _ in range(6):
            m = np.isin(lspk, rng.choice(10, 5, replace=False))
            subsets.append((lx[m], lspk[m], ldur[m]))
    out["L halves"] = halves
    out["L 5 speakers"] = subsets
    return out


def train_on_synthetic(episodes: int = 8):
    """Confidence regressor + merge MLP fit on generated episodes only."""
    eps = []
    for s in range(episodes):
        x, y, dur = synthetic_episode(1000 + s)
        eps.append(Episode(x, y, dur))
    return fit_engine_model(eps)[0]


def cv_rows(x, truth, dur, graph, folds: int = 5) -> list:
    """Within-episode CV by time blocks: for each block, train on the other blocks' labels,
    cluster the whole episode, score only that block's lines. Ops are summed over blocks,
    P/R/F1 averaged, clusters = median."""
    n = x.shape[0]
    block = np.arange(n) * folds // n
    evals, secs = [], 0.0
    for b in range(folds):
        train = np.where(block != b, truth, -1)
        model, _ = fit_engine_model([Episode(x, train, dur, graph)])
        res, t = timed(cluster, "gated", x, graph=graph, model=model, durations_ms=dur)
        secs += t
        evals.append(evaluate(res.labels, np.where(block == b, truth, -1)))
    add = sum(e.ops.add for e in evals)
    rem = sum(e.ops.remove for e in evals)
    mer = sum(e.ops.merge for e in evals)
    tot = add + rem + mer
    return ["gated + model, 5-fold CV by time blocks [labels]",
            int(np.median([e.clusters for e in evals])), sum(e.unassigned for e in evals),
            f"{np.mean([e.edge_precision for e in evals]):.3f}",
            f"{np.mean([e.edge_recall for e in evals]):.3f}",
            f"{np.mean([e.edge_f1 for e in evals]):.3f}", add, rem, mer, tot,
            f"{100 * tot / n:.1f}", f"{secs / folds * 1000:.0f}",
            "per block: model trained on the other blocks; ops summed, P/R/F1 block means"]


CACHE = Path(os.environ.get("SGTUI_BENCH_CACHE", Path.home() / ".cache" / "sgtui-bench"))


def librispeech_lines(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every LibriSpeech test-other utterance cut into consecutive 1–4 s lines, embedded with
    the default voice encoder (resemblyzer). Returns (vectors, speaker, duration ms, utterance
    number 0–9 within its speaker). Cached under CACHE: embedding takes a minute."""
    cache = CACHE / f"librispeech_lines_resemblyzer_{seed}.npz"
    if cache.exists():
        with np.load(cache, allow_pickle=False) as d:
            return d["x"], d["speaker"], d["dur"], d["utt"]
    import torch

    from sgtui.features.registry import create_encoder
    from sgtui.media.decode import decode_audio

    torch.set_num_threads(1)
    root = SHARED / "data" / "librispeech-test-other"
    rng = np.random.default_rng(seed)
    clips, spk, dur, utt = [], [], [], []
    speakers = sorted(p.name for p in root.iterdir() if p.is_dir())
    for si, name in enumerate(speakers):
        for ui, flac in enumerate(sorted((root / name).glob("*.flac"))):
            wav = decode_audio(flac).samples
            pos = 0
            while True:
                length = int(rng.uniform(1.0, 4.0) * 16000)
                if pos + length > wav.size:
                    break
                clips.append(wav[pos:pos + length])
                spk.append(si)
                dur.append(length / 16)
                utt.append(ui)
                pos += length
    enc = create_encoder("resemblyzer", "voice", device="cpu")
    x = np.vstack([enc.embed(clips[i:i + 32]) for i in range(0, len(clips), 32)])
    out = (normalise(x), np.array(spk), np.array(dur), np.array(utt))
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(cache, x=out[0], speaker=out[1], dur=out[2], utt=out[3])
    return out


def row(name: str, labels: np.ndarray, truth: np.ndarray, seconds: float, note: str = "") -> list:
    e = evaluate(labels, truth)
    o = e.ops
    return [name, e.clusters, e.unassigned, f"{e.edge_precision:.3f}", f"{e.edge_recall:.3f}",
            f"{e.edge_f1:.3f}", o.add, o.remove, o.merge, f"{o.total:g}", f"{o.per_100_lines:.1f}",
            f"{seconds * 1000:.0f}", note]


def print_table(title: str, header: list[str], rows: list[list]) -> None:
    print(f"\n{title}")
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for i, r in enumerate(cells):
        print("  ".join(c.rjust(w) if j else c.ljust(w) for j, (c, w) in enumerate(zip(r, widths, strict=True))))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    sys.stdout.flush()


def timed(fn, *args, **kw):
    t = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t


def quality(name: str, x: np.ndarray, truth: np.ndarray, dur: np.ndarray, models: dict,
            declared: bool = True, in_order: bool = False) -> None:
    """One quality table: every method on one episode; `models` = extra gated rows;
    `in_order`: rows are the lines in time order (gated then uses temporal context)."""
    graph, _ = timed(build_knn, x)
    rows = []
    starts = np.arange(x.shape[0], dtype=np.float64) if in_order else None
    first = GatedParams(gamma=0.5, threshold_position=0.5, refine_iters=0)
    res, t = timed(cluster, "gated", x, graph=graph, durations_ms=dur, params=first)
    rows.append(row("gated, first version's defaults", res.labels, truth, t,
                    "gamma 0.5, threshold position 0.5, no refinement"))
    res, t = timed(cluster, "gated", x, graph=graph, durations_ms=dur, params=GatedParams(refine_iters=0))
    rows.append(row("gated, refinement off (before)", res.labels, truth, t,
                    f"threshold {res.info['threshold']:.3f} from the episode"))
    if in_order:
        res, t = timed(cluster, "gated", x, graph=graph, durations_ms=dur)
        rows.append(row("gated, refinement without time order", res.labels, truth, t,
                        "+ whitened centroid refinement"))
    res, t = timed(cluster, "gated", x, graph=graph, durations_ms=dur, starts_ms=starts,
                   params=GatedParams(final_min_size=False))
    rows.append(row("gated, no min_size after refinement (before)", res.labels, truth, t,
                    "a cluster refinement emptied to 1 line may stay"))
    res, t = timed(cluster, "gated", x, graph=graph, durations_ms=dur, starts_ms=starts)
    rows.append(row("gated (defaults, heuristic confidence)", res.labels, truth, t,
                    "+ refinement" + (" + temporal context" if in_order else "")))
    for label, model in models.items():
        res, t = timed(cluster, "gated", x, graph=graph, model=model, durations_ms=dur)
        rows.append(row(f"gated + model fit on {label}", res.labels, truth, t, "confidence + merge MLP"))
    for method in ("ahc", "hdbscan", "spectral"):
        res, t = timed(cluster, method, x, graph=graph)
        note = {"ahc": "average linkage, similarity 0.3", "hdbscan": "min cluster size 5",
                "spectral": f"eigengap: {res.info.get('speakers')} speakers"}[method]
        rows.append(row(method, res.labels, truth, t, note))
    # declared uses of this episode's labels
    if declared:
        rows.append(cv_rows(x, truth, dur, graph))
    best = None
    for sim in np.round(np.arange(0.20, 0.60, 0.005), 3):
        lab = baselines.ahc(x, float(sim))
        tot = evaluate(lab, truth).ops.total
        if best is None or tot < best[0]:
            best = (tot, sim, lab)
    assert best is not None
    rows.append(row("ahc, best threshold in hindsight [labels]", best[2], truth, 0.0,
                    f"similarity {best[1]}"))
    seeds = baselines.sample_seeds(truth, 0.1, seed=0)
    (lab, _), t = timed(baselines.old_knn, x, seeds)
    rows.append(row("old knn workflow: 10% hand labels → 3-NN [labels]", lab, truth, t,
                    f"+{len(seeds)} hand-labelling adds not counted"))
    print_table(
        f"Quality on {name} ({x.shape[0]} lines, {len(set(truth[truth >= 0].tolist()))} speakers); "
        "[labels] = uses this episode's labels",
        ["method", "clusters", "unassigned", "P", "R", "F1", "add", "remove", "merge", "ops",
         "ops/100", "ms", "note"], rows)


def peak_of(fn, *args, **kw):
    gc.collect()
    tracemalloc.start()
    t = time.perf_counter()
    out = fn(*args, **kw)
    sec = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, sec, peak


def speed(sizes: list[int], repeats: int) -> None:
    from scipy.cluster.hierarchy import fcluster, linkage

    rows = []
    for n in sizes:
        rng = np.random.default_rng(n)
        speakers = max(5, n // 500)
        centres = normalise(rng.standard_normal((speakers, 192)))
        lab = rng.integers(0, speakers, n)
        x = normalise(centres[lab] + 0.8 * rng.standard_normal((n, 192)).astype(np.float32) / np.sqrt(192))
        reps = repeats if n <= 20_000 else 1
        builds, reclusters = [], []
        graph = None
        for _ in range(reps):
            graph, sec = timed(build_knn, x)
            builds.append(sec)
        _, _, peak_graph = peak_of(build_knn, x)  # traced once, untimed (tracing slows it)
        recall = graph_recall(x, graph)
        theta, sec_cal = timed(estimate_threshold, x, graph)  # once per episode, cached with the graph
        params = GatedParams(threshold=theta)
        res = None
        plain, off = [], GatedParams(threshold=theta, refine_iters=0)
        order = np.arange(n)  # as the CLI and TUI run it: lines in time order
        for _ in range(21 if n <= 1000 else max(reps, 3)):
            res, sec = timed(gated_cluster, x, graph, params=params, order=order)
            reclusters.append(sec)
            plain.append(timed(gated_cluster, x, graph, params=off)[1])
        _, _, peak_rc = peak_of(gated_cluster, x, graph, params=params, order=order)
        f1 = evaluate(res[0], lab).edge_f1
        if n <= 12_000:
            (z, sec_l, peak_l) = peak_of(linkage, x.astype(np.float64), "average", "cosine")
            f1_l = evaluate(fcluster(z, 0.7, "distance"), lab).edge_f1
            scipy_cell = f"{sec_l:.2f} s, {peak_l / 2**20:.0f} MiB, F1 {f1_l:.3f}"
            ratio = f"{sec_l / statistics.median(reclusters):.0f}x"
        else:
            scipy_cell = f"not run: needs {n * (n - 1) / 2 * 8 / 2**30:.0f} GiB for distances"
            ratio = "-"
        rows.append([n, speakers, f"{statistics.median(builds):.2f} s + {sec_cal * 1000:.0f} ms",
                     f"{peak_graph / 2**20:.0f} MiB",
                     f"{recall:.4f}", f"{statistics.median(reclusters) * 1000:.0f} ms",
                     f"{statistics.median(plain) * 1000:.0f} ms",
                     f"{peak_rc / 2**20:.0f} MiB", f"{f1:.3f}", scipy_cell, ratio])
        print(f"  done {n} lines", file=sys.stderr, flush=True)
    print_table(
        f"Speed (synthetic clustered 192-d vectors; medians of {repeats} runs (re-cluster: 21 at ≤ 1000 "
        "lines), 1 graph build above 20k lines)",
        ["lines", "speakers", "graph build + calibration", "graph peak", "graph recall", "re-cluster",
         "without refinement",
         "re-cluster peak", "F1", "scipy average linkage (same run)", "linkage/re-cluster"], rows)
    print(f"process peak RSS: {peak_rss_mib():.0f} MiB")


def graph_recall(x: np.ndarray, graph, sample: int = 500) -> float:
    """Share of the exact 10 nearest neighbours the graph holds, on sampled lines."""
    rng = np.random.default_rng(0)
    q = rng.choice(x.shape[0], size=min(sample, x.shape[0]), replace=False)
    s = x[q] @ x.T
    s[np.arange(q.size), q] = -np.inf
    k = graph.k
    exact = np.argpartition(s, s.shape[1] - k, axis=1)[:, -k:]
    hits = [len(set(exact[i].tolist()) & set(graph.indices[qi].tolist())) for i, qi in enumerate(q)]
    return float(np.mean(hits)) / k


def peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def suite_scores(suite: dict, graphs: dict, params: GatedParams) -> tuple[dict[str, float], float, float]:
    """(mean ops/100 per suite, mean over G episodes, mean over L episodes) for one setting,
    the lines in each episode's given order (G: random, G5: dialogue, L: each speaker's in a
    row), as the CLI runs them."""
    per = {}
    for name, eps in suite.items():
        per[name] = [evaluate(gated_cluster(x, g, params=params, order=np.arange(len(y)))[0], y).ops.per_100_lines
                     for (x, y, _), g in zip(eps, graphs[name], strict=True)]
    g_mean = float(np.mean([v for k, vs in per.items() if k.startswith("G") for v in vs]))
    l_mean = float(np.mean([v for k, vs in per.items() if k.startswith("L") for v in vs]))
    return {k: float(np.mean(v)) for k, v in per.items()}, g_mean, l_mean


def select_defaults(suite: dict, graphs: dict) -> None:
    """How gamma and the threshold position were chosen (rule fixed before haruhi03 was
    looked at): on the grid below, the lowest mean ops/100 over the G episodes among the
    settings whose LibriSpeech mean (L) is no worse than the first version's (0.5, 0.5)."""
    rows, score = [], {}
    for gamma in (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1):
        for pos in (0.5, 0.55, 0.6, 0.65, 0.7):
            per, g_mean, l_mean = suite_scores(suite, graphs, GatedParams(gamma=gamma, threshold_position=pos))
            score[(gamma, pos)] = (g_mean, l_mean)
            rows.append([gamma, pos, *(f"{v:.2f}" for v in per.values()), f"{g_mean:.2f}", f"{l_mean:.2f}"])
    first = score[(0.5, 0.5)][1]
    pick = min((k for k in score if score[k][1] <= first), key=lambda k: score[k][0])
    print_table(f"Default gamma and threshold position: mean ops/100 (chosen: gamma {pick[0]}, position "
                f"{pick[1]}; haruhi03 not used)", ["gamma", "position", *suite, "G mean", "L mean"], rows)


def select_refinement(suite: dict, graphs: dict) -> None:
    """How the refinement defaults were chosen (rule fixed before haruhi03 was looked at):
    among the settings whose mean ops/100 on the LibriSpeech guard (L) is at most 1% above
    refinement off, the lowest mean ops/100 over the G episodes; ties → smaller shrinkage."""
    settings: list[tuple[str, GatedParams]] = [("off", GatedParams(refine_iters=0))]
    for a in (0.2, 0.35, 0.5, 0.65, 0.8, 1.0):
        settings.append((f"shrinkage {a}", GatedParams(refine_shrinkage=a)))
    settings.append(("shrinkage 0.5, no fill", GatedParams(refine_fill=False)))
    rows, score = [], {}
    for label, params in settings:
        per, g_mean, l_mean = suite_scores(suite, graphs, params)
        score[label] = (g_mean, l_mean)
        rows.append([label, *(f"{v:.2f}" for v in per.values()), f"{g_mean:.2f}", f"{l_mean:.2f}"])
    off_l = score["off"][1]
    ok = [lb for lb in score if lb != "off" and score[lb][1] <= 1.01 * off_l]
    pick = min(ok, key=lambda lb: score[lb][0]) if ok else "off"
    print_table(f"Refinement defaults: mean ops/100 per suite (chosen: {pick}; haruhi03 not used)",
                ["setting", *suite, "G mean", "L mean"], rows)


def calibrate_kappa(suite: dict, graphs: dict) -> float:
    """The temporal step's score scale: maximum likelihood of softmax(kappa · whitened centroid
    scores) for each line's true speaker's cluster, over the random-order G episodes (refined
    partitions, temporal step off; lines whose speaker has no cluster are left out)."""
    from scipy.optimize import minimize_scalar

    from sgtui.engine.refine import centroid_scores, whitened

    params = GatedParams(temporal_kappa=0.0)
    scores, targets = [], []
    for name, eps in suite.items():
        if not name.startswith("G "):
            continue
        for (x, y, _), g in zip(eps, graphs[name], strict=True):
            lab = gated_cluster(x, g, params=params)[0]
            uniq = np.unique(lab[lab >= 0])
            grp = np.where(lab >= 0, np.searchsorted(uniq, np.maximum(lab, 0)), -1)
            s = centroid_scores(whitened(x, grp, params.refine_shrinkage), grp, uniq.size).astype(np.float64)
            home: dict[int, int] = {}
            for c in range(uniq.size):
                home.setdefault(int(np.bincount(y[grp == c]).argmax()), c)
            t = np.array([home.get(int(v), -1) for v in y])
            scores.append(s[t >= 0])
            targets.append(t[t >= 0])

    def nll(kappa: float) -> float:
        tot = 0.0
        for s, t in zip(scores, targets, strict=True):
            z = kappa * s
            z -= z.max(axis=1, keepdims=True)
            tot -= float((z[np.arange(t.size), t] - np.log(np.exp(z).sum(axis=1))).sum())
        return tot

    return float(minimize_scalar(nll, bounds=(0.01, 100.0), method="bounded").x)


def select_temporal(suite: dict, graphs: dict) -> None:
    """Temporal context: kappa from calibrate_kappa (rounded to 2 digits), adopted only if it
    lowers the G mean with the lines in their given order (G: random, G5: haruhi16's dialogue
    order) while LibriSpeech stays within 1% in a random order (no time information) and no
    worse in its natural order (each speaker's lines in a row)."""
    kappa = calibrate_kappa(suite, graphs)
    rng = np.random.default_rng(0)
    shuffled = {name: [rng.permutation(len(y)) for _, y, _ in eps] for name, eps in suite.items()
                if name.startswith("L")}
    rows = []
    for label, k in (("off", 0.0), (f"kappa {kappa:.2g} (calibrated)", float(f"{kappa:.2g}")),
                     ("kappa x 0.5 (not used)", kappa / 2), ("kappa x 2 (not used)", kappa * 2)):
        params = GatedParams(temporal_kappa=k)
        per = {}
        for name, eps in suite.items():
            per[name] = [evaluate(gated_cluster(x, g, params=params, order=np.arange(len(y)))[0], y).ops.per_100_lines
                         for (x, y, _), g in zip(eps, graphs[name], strict=True)]
        rand = []
        for name, perms in shuffled.items():
            for (x, y, _), p in zip(suite[name], perms, strict=True):
                xs, ys = x[p], y[p]
                rand.append(evaluate(gated_cluster(xs, build_knn(xs), params=params, order=np.arange(len(y)))[0],
                                     ys).ops.per_100_lines)
        g_mean = np.mean([v for n, vs in per.items() if n.startswith("G") for v in vs])
        l_mean = np.mean([v for n, vs in per.items() if n.startswith("L") for v in vs])
        rows.append([label, *(f"{np.mean(v):.2f}" for v in per.values()), f"{g_mean:.2f}", f"{l_mean:.2f}",
                     f"{np.mean(rand):.2f}"])
    print_table(f"Temporal context (kappa calibrated on G: {kappa:.3f}; haruhi03 not used)",
                ["setting", *suite, "G mean", "L mean", "L random order"], rows)


def select_rounds(suite: dict, graphs: dict) -> None:
    """Rounds of refinement: the lowest G mean among 1-3 rounds whose LibriSpeech mean is no
    worse than one round's, in its natural order and within 1% in a random order."""
    rng = np.random.default_rng(0)
    rows, score = [], {}
    for rounds in (1, 2, 3):
        params = GatedParams(refine_rounds=rounds)
        per, g_mean, l_mean = suite_scores(suite, graphs, params)
        rand = []
        for name, eps in suite.items():
            if name.startswith("L"):
                for x, y, _ in eps:
                    p = rng.permutation(len(y))
                    xs, ys = x[p], y[p]
                    rand.append(evaluate(gated_cluster(xs, build_knn(xs), params=params, order=np.arange(len(y)))[0],
                                         ys).ops.per_100_lines)
        rng = np.random.default_rng(0)  # the same shuffles for every setting
        score[rounds] = (g_mean, l_mean, float(np.mean(rand)))
        rows.append([rounds, *(f"{v:.2f}" for v in per.values()), f"{g_mean:.2f}", f"{l_mean:.2f}",
                     f"{np.mean(rand):.2f}"])
    one = score[1]
    ok = [r for r in score if score[r][1] <= one[1] and score[r][2] <= 1.01 * one[2]]
    pick = min(ok, key=lambda r: score[r][0])
    print_table(f"Refinement rounds (chosen: {pick}; haruhi03 not used)",
                ["rounds", *suite, "G mean", "L mean", "L random order"], rows)


def select_final_min_size(suite: dict, graphs: dict) -> None:
    """min_size after refinement too. Not a tuned knob but an invariant (no cluster without a
    human key below min_size), found when haruhi03's output held a 1-line cluster (visible
    without its labels); the rule: keep it on unless it makes the G or L mean worse."""
    rows, score = [], {}
    for on in (False, True):
        per, g_mean, l_mean = suite_scores(suite, graphs, GatedParams(final_min_size=on))
        score[on] = (g_mean, l_mean)
        rows.append(["on" if on else "off", *(f"{v:.2f}" for v in per.values()), f"{g_mean:.2f}", f"{l_mean:.2f}"])
    pick = score[True][0] <= score[False][0] and score[True][1] <= score[False][1]
    print_table(f"min_size after refinement (kept: {'on' if pick else 'off'}; haruhi03's labels not used)",
                ["setting", *suite, "G mean", "L mean"], rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="600,10000,100000")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="quality table only")
    ap.add_argument("--defaults", action="store_true",
                    help="only show how the defaults (gamma, refinement) were chosen")
    args = ap.parse_args()
    t0 = time.time()
    if args.defaults:
        suite = dev_suite()
        graphs = {name: [build_knn(x) for x, _, _ in eps] for name, eps in suite.items()}
        select_defaults(suite, graphs)
        select_refinement(suite, graphs)
        select_temporal(suite, graphs)
        select_rounds(suite, graphs)
        select_final_min_size(suite, graphs)
        return 0
    models = {"synthetic": train_on_synthetic()}
    try:
        lx, lspk, ldur, lutt = librispeech_lines()
    except Exception as exc:  # a benchmark reports what it could not run, and goes on
        print(f"LibriSpeech episodes skipped: {type(exc).__name__}: {exc}")
        lx = None
    if lx is not None:
        a, b = lutt < 5, lutt >= 5  # two episodes: utterances 0-4 and 5-9 of every speaker
        models["LibriSpeech A"] = fit_engine_model([Episode(lx[a], lspk[a], ldur[a])])[0]
    x, truth, dur = load_episode("haruhi03")
    quality("haruhi03", x, truth, dur, models, in_order=True)
    if lx is not None:
        quality("LibriSpeech episode B (resemblyzer, 1-4 s lines; utterances 5-9)",
                lx[b], lspk[b], ldur[b], models)
    if not args.quick:
        speed([int(s) for s in args.sizes.split(",")], args.repeats)
    print(f"\nbenchmark wall time: {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
