"""The development suite: real-speech episodes built through the product's own path.

    .venv/bin/python bench/devsuite.py --build [--only NAME] [--jobs 1]
    .venv/bin/python bench/devsuite.py            # list the episodes and their cache state

Each episode is a recipe (speakers, line counts, keyframe kind, seed). Building one lays
real utterances (LibriSpeech test-other and the devspeech corpus: read English, non-native
English of children and adults, acted German emotions, Mandarin) on a timeline, cut into
lines of 0.5–6 s, draws a video whose frame at each line shows the speaker, someone else
half of the time, or nothing informative, writes an SRT, and runs `sgtui ingest --subs
--embed` on it: the vectors the engine sees are exactly what a user's episode would give.
Built episodes are cached in bench/out/devsuite/ under a hash of their recipe; `load()`
reads the stored embeddings (Project.embeddings) and the truth, matched to the ingested
lines by time as `sgtui eval` does.

Regimes: many speakers with few lines each, few speakers with many lines, acted emotional
speech (unbalanced), long-tailed casts of 2–40 (a few main characters with 40–100 lines,
many with 1–5), and anime-like episodes: what `sgtui sample` generates (espeak-ng voices,
3–8 characters with 60–150 lines between them, drawn keyframes that show the speaker in
most shots), made by `sgtui/media/synth.py` itself — clean, distinct voices, where a
threshold tuned for hard real speech must not split characters apart. The held-out
haruhi03 episode is not part of it.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import random
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHARED = Path(os.environ.get("SGTUI_SHARED", ROOT.parent / "shared"))
OUT = ROOT / "bench" / "out" / "devsuite"
BUILDER_VERSION = 1  # bump when the way episodes are made changes (invalidates the cache)
KEYFRAMES = ("speaker", "half", "same", "random")  # same/random = uninformative


@dataclass(frozen=True)
class Recipe:
    """One episode: `cast` = (speaker id, lines) pairs; `pieces` = (min, max) seconds of a
    line (log-uniform), `short_p` = share of lines cut to 0.5–1 s."""

    name: str
    regime: str
    keyframes: str
    cast: tuple[tuple[str, int], ...]
    seed: int
    pieces: tuple[float, float] = (0.8, 6.0)
    short_p: float = 0.15

    def key(self) -> str:
        blob = json.dumps({**asdict(self), "v": BUILDER_VERSION}, sort_keys=True).encode()
        return hashlib.blake2b(blob, digest_size=6).hexdigest()

    @property
    def uninformative(self) -> bool:
        return self.keyframes in ("same", "random")


# espeak-ng voices for generated casts: the sample's six first, then further variants
# (en+m3 was tried and dropped: ECAPA scores it as en+m1, 0.82 across vs 0.85 within)
SYNTH_VOICES = ("en+m1", "en+m7", "en+f3", "en+grandma", "en+edward", "en-gb-scotland+m2",
                "en-us+f5", "en-gb-x-rp+f1", "en-us+m5")


@dataclass(frozen=True)
class SynthRecipe:
    """An anime-like generated episode: `synth.make_episode` with a cast of `characters`
    espeak-ng voices (from SYNTH_VOICES, shuffled by the seed) and `n_lines` lines, its own
    shots (the speaker on screen in most), one-word lines 15% as `sgtui sample` makes them."""

    name: str
    characters: int
    n_lines: int
    seed: int
    regime: str = "anime-like (generated)"
    keyframes: str = "generator"

    def key(self) -> str:
        blob = json.dumps({**asdict(self), "v": BUILDER_VERSION, "kind": "synth", "voices": SYNTH_VOICES}, sort_keys=True).encode()
        return hashlib.blake2b(blob, digest_size=6).hexdigest()

    @property
    def uninformative(self) -> bool:
        return False

    def cast(self) -> tuple:
        from sgtui.media.synth import Character

        voices = list(SYNTH_VOICES)
        rng = random.Random(self.seed)
        rng.shuffle(voices)
        looks = _looks([f"char{i + 1}" for i in range(self.characters)], self.seed)
        return tuple(Character(c.name, v, c.body, c.head, c.hat)
                     for c, v in zip(looks, voices[:self.characters], strict=True))


def synth_recipes() -> list[SynthRecipe]:
    """The anime-like regime (fixed; changing it changes the cache keys)."""
    return [SynthRecipe("anime3", 3, 60, 21), SynthRecipe("anime4", 4, 90, 22), SynthRecipe("anime5", 5, 120, 23),
            SynthRecipe("anime6", 6, 150, 24), SynthRecipe("anime8", 8, 110, 25)]


def _tail(rng: random.Random, n: int) -> list[int]:
    """n minor characters with 1–5 lines, most of them with 1–2."""
    return [rng.choice((1, 1, 1, 2, 2, 3, 4, 5)) for _ in range(n)]


def recipes() -> list[Recipe]:
    """The suite (fixed; changing it changes the cache keys)."""
    libri = [f"libri-{s}" for s in _libri_speakers()]
    so = sorted({s for s, _ in _devspeech_index() if s.startswith("so762")})
    emo = sorted({s for s, _ in _devspeech_index() if s.startswith("emodb")})
    aishell = sorted({s for s, _ in _devspeech_index() if s.startswith("aishell")})
    vctk = sorted({s for s, _ in _devspeech_index() if s.startswith("vctk")})
    rng = random.Random(10)
    so_shuf = so[:]
    rng.shuffle(so_shuf)
    counts20 = [14, 10, 8, 6, 5, 5, 4, 4, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 1]
    out = [
        Recipe("many20a", "many speakers, few lines", "speaker", tuple(zip(so_shuf[:20], counts20, strict=True)), 1),
        Recipe("many20b", "many speakers, few lines", "same", tuple(zip(so_shuf[20:40], counts20, strict=True)), 2),
        Recipe("many30", "many speakers, few lines", "half",
               tuple(zip(so_shuf[40:66] + vctk, [12, 10, 8, 6] + _tail(rng, 22) + [6, 5, 4, 3], strict=True)), 3),
        Recipe("few4a", "few speakers, many lines", "speaker", tuple(zip(libri[:4], (60, 45, 35, 25), strict=True)),
               4, pieces=(0.6, 4.0)),
        Recipe("few4b", "few speakers, many lines", "same", tuple(zip(libri[4:8], (60, 45, 35, 25), strict=True)),
               5, pieces=(0.6, 4.0)),
        Recipe("emodb10", "acted emotional", "half",
               tuple(zip(emo, (26, 24, 20, 18, 16, 14, 12, 10, 8, 6), strict=True)), 6, pieces=(0.5, 2.0)),
        Recipe("mandarin4", "acted emotional", "random",
               tuple(zip(aishell + emo[:2], (70, 50, 30, 20), strict=True)), 7, pieces=(0.5, 3.0)),
        Recipe("cast2", "long-tail cast", "speaker", tuple(zip(libri[8:10], (70, 40), strict=True)), 8,
               pieces=(0.5, 3.5)),
        Recipe("cast8", "long-tail cast", "half",
               tuple(zip(libri[:2] + vctk + so_shuf[66:68], (80, 45, 12, 8, 5, 3, 2, 1), strict=True)), 9,
               pieces=(0.5, 3.0)),
        Recipe("cast20", "long-tail cast", "random",
               tuple(zip(libri[2:5] + so_shuf[68:85], [70, 45, 40] + _tail(rng, 17), strict=True)), 10,
               pieces=(0.5, 3.0)),
        Recipe("cast40", "long-tail cast", "speaker",
               tuple(zip(libri[5:8] + aishell[:1] + vctk[:1] + so_shuf[85:120],
                         [90, 50, 40, 45, 15] + _tail(rng, 35), strict=True)), 11, pieces=(0.5, 3.0)),
    ]
    return out


def all_recipes() -> list:
    """The real-speech recipes, then the anime-like generated ones."""
    return [*recipes(), *synth_recipes()]


# ---------------------------------------------------------------- sources


def _libri_speakers() -> list[str]:
    root = SHARED / "data" / "librispeech-test-other"
    return sorted(p.name for p in root.iterdir() if p.is_dir())


_DEV: list[tuple[str, Path]] = []


def _devspeech_index() -> list[tuple[str, Path]]:
    if not _DEV:
        root = SHARED / "data" / "devspeech"
        with open(root / "manifest.csv", encoding="utf-8", newline="") as f:
            _DEV.extend((r["speaker"], root / r["file"]) for r in csv.DictReader(f))
    return _DEV


def utterances(speaker: str) -> list[Path]:
    """The speaker's audio files, in a fixed order."""
    if speaker.startswith("libri-"):
        return sorted((SHARED / "data" / "librispeech-test-other" / speaker[6:]).glob("*.flac"))
    return sorted(p for s, p in _devspeech_index() if s == speaker)


def _pieces(speaker: str, want: int, rng: random.Random, recipe: Recipe) -> list[np.ndarray]:
    """Up to `want` consecutive pieces (16 kHz float32) cut from the speaker's utterances,
    taken in a shuffled order; lengths log-uniform in recipe.pieces, short_p of them 0.5–1 s."""
    from sgtui.media.decode import decode_audio

    files = utterances(speaker)
    rng.shuffle(files)
    out: list[np.ndarray] = []
    lo, hi = recipe.pieces
    for f in files:
        wav = decode_audio(f).samples.astype(np.float32) / 32768.0
        pos = 0
        while len(out) < want:
            sec = rng.uniform(0.5, 1.0) if rng.random() < recipe.short_p else float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
            n = int(sec * 16000)
            if pos + n > wav.size:
                rest = wav.size - pos
                if rest >= 8000 and rest < n:  # a last piece of ≥ 0.5 s
                    out.append(wav[pos:])
                break
            out.append(wav[pos:pos + n])
            pos += n
        if len(out) >= want:
            break
    return out


# ---------------------------------------------------------------- building


def _looks(names: list[str], seed: int) -> list:
    """n distinct drawn characters (body colour × head shape × hat)."""
    from sgtui.media.synth import Character

    colours = [(81, 90, 240), (145, 54, 34), (210, 16, 146), (106, 202, 222), (41, 240, 110),
               (170, 166, 16), (60, 110, 140), (180, 100, 170), (120, 170, 90), (230, 128, 128)]
    heads = ["round", "square", "tall", "wide", "diamond", "tri"]
    hats = [None, (41, 240, 110), (81, 90, 240), (210, 16, 146)]
    combos = [(c, h, t) for c in colours for h in heads for t in hats if t != c]
    random.Random(seed).shuffle(combos)
    return [Character(nm, "", c, h, t) for nm, (c, h, t) in zip(names, combos, strict=False)]


@dataclass
class Built:
    recipe: Recipe
    path: Path
    truth: Path
    lines: int = 0
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def paths(r: Recipe, out: Path | None = None) -> tuple[Path, Path]:
    stem = (out or OUT) / f"{r.name}-{r.key()}"
    return stem.with_suffix(".sgproj"), stem.with_suffix(".truth.csv")


def build_synth(r: SynthRecipe, out: Path | None = None) -> Built:
    """Generate the episode with the product's generator, then `sgtui ingest --subs --embed`."""
    from sgtui.media.synth import make_episode

    sg, truth = paths(r, out)
    if sg.exists() and truth.exists():
        return Built(r, sg, truth)
    sg.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    ep = make_episode(r.seed, r.n_lines, r.cast(), signs=False, short_p=0.15)
    _ingest(ep, sg, truth)
    return Built(r, sg, truth, len(ep.lines), time.time() - t0)


def _ingest(ep, sg: Path, truth: Path) -> None:  # ep: sgtui.media.synth.Episode
    """The product's own path: a video and an SRT of the episode, `sgtui ingest --subs
    --embed` into `sg`, the truth CSV written last (its presence marks a finished build)."""
    from sgtui.media.synth import write_srt, write_truth, write_video

    video, srt = sg.with_suffix(".mp4"), sg.with_suffix(".srt")
    write_video(video, ep, width=320, height=180, fps=Fraction(5), keyint=50)
    write_srt(srt, ep.lines)
    tmp_truth = truth.with_suffix(".tmp")
    write_truth(tmp_truth, ep.lines)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "sgtui", "ingest", str(video), "--subs", str(srt), "--embed",
                    "--device", "cpu", "-o", str(sg), "--force"], check=True, env=env)
    tmp_truth.replace(truth)
    video.unlink()


def build(r: Recipe, out: Path | None = None) -> Built:
    """Make the episode's video and subtitles, then `sgtui ingest --subs --embed` them
    (into `out`, default the suite's cache folder)."""
    from scipy.signal import resample_poly

    from sgtui.media.synth import (
        AUDIO_RATE,
        Episode,
        ScriptLine,
        Shot,
    )

    if isinstance(r, SynthRecipe):
        return build_synth(r, out)
    sg, truth = paths(r, out)
    if sg.exists() and truth.exists():
        return Built(r, sg, truth)
    sg.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    rng = random.Random(r.seed)
    names = [s for s, _ in r.cast]
    left = {s: _pieces(s, n, rng, r) for s, n in r.cast}
    # dialogue order: a speaker goes on with p 0.35, else the next speaker is drawn by lines left
    seq: list[tuple[int, np.ndarray]] = []
    prev = -1
    while any(left.values()):
        if prev >= 0 and left[names[prev]] and rng.random() < 0.35:
            who = prev
        else:
            weights = [len(left[s]) for s in names]
            who = rng.choices(range(len(names)), weights=weights)[0]
        seq.append((who, left[names[who]].pop(0)))
        prev = who
    cast = tuple(_looks(names, r.seed))
    lines, shots = [], []
    t = 1000
    chunks = []
    frame_rng = np.random.default_rng(r.seed)
    for i, (who, wav) in enumerate(seq):
        dur = int(len(wav) / 16)
        lines.append(ScriptLine(t, t + dur, names[who], f"line {i + 1}"))
        if r.keyframes == "speaker":
            shown = (who,)
        elif r.keyframes == "half":
            shown = (who,) if rng.random() < 0.5 else (rng.choice([j for j in range(len(names)) if j != who]),)
        elif r.keyframes == "random":
            shown = (rng.randrange(len(names)),)
        else:
            shown = ()
        bg = (140, 128, 128) if r.keyframes == "same" else (rng.randint(120, 200), rng.randint(100, 156),
                                                           rng.randint(100, 156))
        shots.append(Shot(max(0, t - 150), bg, shown))
        chunks.append((t, wav))
        t += dur + rng.randint(250, 1200)
    duration = t + 1000
    audio = frame_rng.normal(0, 0.002, duration * 16).astype(np.float32)
    for start, wav in chunks:
        audio[start * 16:start * 16 + wav.size] += wav
    audio24 = resample_poly(audio, 3, 2)
    audio16 = np.clip(audio24 * 32767, -32768, 32767).astype(np.int16)
    assert AUDIO_RATE == 24000
    ep = Episode(tuple(lines), tuple(shots), cast, duration, audio16)
    _ingest(ep, sg, truth)
    return Built(r, sg, truth, len(lines), time.time() - t0)


@dataclass
class DevEpisode:
    name: str
    regime: str
    keyframes: str
    voice: np.ndarray  # unit rows, embedded lines in time order
    image: np.ndarray | None
    truth: np.ndarray  # speaker index, -1 unmatched
    durations_ms: np.ndarray
    starts_ms: np.ndarray
    model: str = ""  # the voice model id of `voice`

    @property
    def uninformative(self) -> bool:
        return self.keyframes in ("same", "random")


def load(r: Recipe, out: Path | None = None, voice: str | None = None) -> DevEpisode:
    """A built episode's stored vectors (voice, image) and truth, lines in time order."""
    sg, truth_csv = paths(r, out)
    return load_project(sg, truth_csv, r.name, r.regime, r.keyframes, voice)


def load_project(sg: Path, truth_csv: Path, name: str, regime: str, keyframes: str,
                 voice: str | None = None) -> DevEpisode:
    """Any embedded project and its truth CSV (matched to the lines by time as `sgtui eval`
    does), lines in time order. `voice`: an encoder name (`campp`, `resemblyzer`) whose
    vectors to load; None = the project's chosen voice model."""
    from sgtui.project import Project
    from sgtui.project.labels_csv import match_rows, read_label_csv
    from sgtui.workflows import episode_modalities

    p = Project.open(sg, readonly=True)
    try:
        model = None
        if voice is not None:
            model = next((e["model"] for e in p.encoders() if e["modality"] == "voice"
                          and e["model"].split("/")[0] == voice), None)
            if model is None:
                raise SystemExit(f"{sg.name} has no {voice} vectors; run .venv/bin/python "
                                 f"bench/devsuite.py --build --voice {voice}")
        ids, vecs, image, model = episode_modalities(p, model)
        lines = {ln.id: ln for ln in p.lines()}
        _, rows = read_label_csv(truth_csv)
        m = match_rows(list(lines.values()), rows)
    finally:
        p.close()
    names = sorted(set(m.line_to_speaker.values()))
    truth = np.array([names.index(m.line_to_speaker[int(i)]) if int(i) in m.line_to_speaker else -1
                      for i in ids.tolist()], dtype=np.int64)
    starts = np.array([lines[int(i)].start_ms for i in ids.tolist()], dtype=np.float64)
    durs = np.array([lines[int(i)].duration_ms for i in ids.tolist()], dtype=np.float64)
    order = np.argsort(starts, kind="stable")
    img = None if image is None else image[order]
    return DevEpisode(name, regime, keyframes, vecs[order], img, truth[order], durs[order],
                      starts[order], model)


def load_suite(build_missing: bool = False, voice: str | None = None) -> list[DevEpisode]:
    """Every episode of the suite; missing ones are built when asked, else an error says how.
    `voice`: which encoder's vectors (default: each project's chosen one, CAM++)."""
    out = []
    for r in all_recipes():
        sg, truth = paths(r)
        if not (sg.exists() and truth.exists()):
            if not build_missing:
                raise SystemExit(f"dev suite episode {r.name} is not built; run "
                                 f".venv/bin/python bench/devsuite.py --build")
            build(r)
        out.append(load(r, voice=voice))
    return out


def also_embed(sg: Path, voice: str) -> None:
    """`sgtui embed SG --voice VOICE --image none`, then `sgtui embed SG --image none` again
    (nothing to embed: CAM++ becomes the chosen model again)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for spec in (voice, "campp"):
        subprocess.run([sys.executable, "-m", "sgtui", "embed", str(sg), "--voice", spec, "--image",
                        "none", "--device", "cpu"], check=True, env=env, capture_output=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", action="store_true", help="build every missing episode")
    ap.add_argument("--only", nargs="*", help="episode names to build")
    ap.add_argument("--voice", metavar="ENCODER",
                    help="also embed the built episodes with this voice encoder (`sgtui embed "
                    "--voice ENCODER`; e.g. resemblyzer, to compare encoders on one suite); "
                    "the episodes keep clustering on CAM++ (their chosen model is restored)")
    args = ap.parse_args()
    total = 0
    for r in all_recipes():
        sg, truth = paths(r)
        if args.build and (not args.only or r.name in args.only):
            b = build(r)
            if b.lines:
                print(f"built {r.name}: {b.lines} lines in {b.seconds:.0f} s", flush=True)
            if args.voice:
                also_embed(sg, args.voice)
        n = r.n_lines if isinstance(r, SynthRecipe) else sum(c for _, c in r.cast)
        speakers = r.characters if isinstance(r, SynthRecipe) else len(r.cast)
        total += n
        state = "cached" if sg.exists() and truth.exists() else "missing"
        print(f"{r.name:10s} {r.regime:26s} keyframes {r.keyframes:9s} {speakers:3d} speakers "
              f"≤{n:4d} lines  {state}  {sg.name}")
    print(f"total ≤ {total} lines")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
