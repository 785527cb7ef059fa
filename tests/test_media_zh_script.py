"""Chinese script (issue 24, C.19): Mandarin recognised by `ingest --asr` is written in
simplified characters (Whisper writes much of it in traditional ones), Cantonese keeps
its traditional script, `--zh-script` chooses; `export --zh-script` converts any
project's text, ASS files included. OpenCC does the converting; the ASR test runs the
shipped Whisper base on a real AISHELL-1 recording."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import run_cli
from conftest import succeeded as _ok
from devspeech_helpers import make_speech_episode, manifest

from sgtui.media import asr
from sgtui.media.asr_script import convert, default_script
from sgtui.media.decode import decode_audio
from sgtui.project import Project

CJK = re.compile(r"[\u4e00-\u9fff]")
# 日本IDC統計顯示 (3.5 s): Whisper base writes it in traditional characters
CLIP = "BAC009S0150W0273.flac"


def test_opencc_converts_both_ways_and_keep_keeps() -> None:
    assert convert(["日本IDC統計顯示", "", "hello"], "hans") == ["日本IDC统计显示", "", "hello"]
    assert convert(["日本IDC统计显示"], "hant") == ["日本IDC統計顯示"]
    assert convert(["統計 统计"], "keep") == ["統計 统计"]
    assert default_script("zh") == "hans"
    assert default_script("yue") == "keep"  # Cantonese is written in traditional characters
    assert default_script("ja") == default_script(None) == "keep"  # kanji are not Chinese


@pytest.mark.slow
def test_asr_writes_recognised_mandarin_in_simplified(shared_data, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    clip = next(u for u in manifest(shared_data) if u.file.name == CLIP)
    assert clip.language == "zh" and clip.source == "aishell1"
    episode = make_speech_episode(tmp_path / "video", [clip], seed=1)
    out = tmp_path / "ep.sgproj"
    err = _ok(run_cli("ingest", episode.video, "--asr", "-o", out))
    assert "Chinese script hans" in err
    with Project.open(out, readonly=True) as p:
        texts = [ln.text for ln in p.lines()]
        assert p.meta_get("language") == "zh" and p.meta_get("zh_script") == "hans"
    assert texts and all(CJK.search(t) for t in texts), texts
    assert convert(texts, "hans") == texts  # nothing traditional left
    # the same recognition of the same sound, kept as Whisper wrote it, is traditional
    audio = decode_audio(episode.video)
    model = asr.load_model("base", device="cpu", threads=2)
    kept, lang = asr.transcribe(audio, language="zh", loaded=model, zh_script="keep")
    raw = "".join(c.text for c in kept)
    assert lang == "zh" and convert([raw], "hans") != [raw], raw
    assert convert([raw], "hans") == ["".join(texts)]


def test_zh_script_on_ingest_needs_asr(tmp_path) -> None:
    video = tmp_path / "x.mp4"
    video.write_bytes(b"not looked at: the options are checked first")
    r = run_cli("ingest", video, "--vad", "--zh-script", "hans", "-o", tmp_path / "x.sgproj")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--zh-script is for --asr" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.mp4"]


@pytest.fixture(scope="module")
def traditional(tmp_path_factory) -> dict[str, Path]:
    """A short sample episode whose ASS lines are in traditional Chinese, labelled."""
    d = tmp_path_factory.mktemp("zh")
    _ok(run_cli("sample", "-o", d, "--lines", "4", "--episodes", "1", "--size", "160x120"))
    text = (d / "sample01.ass").read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    k = 0
    for i, row in enumerate(lines):
        fields = row.split(",", 9)  # Layer, Start, End, Style, Name, 3 margins, Effect, Text
        if row.startswith("Dialogue:") and fields[3] in ("Default", "Thoughts"):
            lines[i] = ",".join(fields[:9]) + f",這是第{k}個問題，對嗎？\n"
            k += 1
    assert k == 4
    ass = d / "zh.ass"
    ass.write_text("".join(lines), encoding="utf-8")
    p = d / "zh.sgproj"
    _ok(run_cli("ingest", d / "sample01.mp4", "--subs", ass, "-o", p))
    _ok(run_cli("labels", "import", p, d / "sample01.truth.csv"))
    return {"ass": ass, "project": p}


def test_export_converts_text_of_any_source(traditional, tmp_path) -> None:
    p = tmp_path / "zh.sgproj"
    shutil.copy(traditional["project"], p)
    r = run_cli("export", p, "-f", "chat-haruhi", "-o", "-", "--zh-script", "hans")
    _ok(r)
    rows = r.stdout.splitlines()
    assert rows and all("这是第" in row and "个问题，对吗？" in row for row in rows), rows
    r = run_cli("export", p, "-f", "chat-haruhi", "-o", "-")
    assert all("這是第" in row for row in r.stdout.splitlines())  # keep is the default
    out = tmp_path / "gs"
    _ok(run_cli("export", p, "-f", "gpt-sovits", "-o", out, "--zh-script", "hans"))
    listed = (out / "gpt-sovits.list").read_text(encoding="utf-8").splitlines()
    assert listed and all(row.split("|")[2] == "zh" and "问题" in row for row in listed)
    # ASS: the events' text converted, every other byte of the file kept
    ass = tmp_path / "out.ass"
    _ok(run_cli("export", p, "-f", "ass", "-o", ass, "--zh-script", "hans"))
    before = traditional["ass"].read_text(encoding="utf-8").splitlines()
    after = ass.read_text(encoding="utf-8").splitlines()
    assert len(before) == len(after)
    for a, b in zip(before, after, strict=True):
        if a.startswith("Dialogue:") and "這是" in a:
            assert b.split(",", 9)[:9] == a.split(",", 9)[:9]
            assert b.split(",", 9)[9] == convert([a.split(",", 9)[9]], "hans")[0]
        else:
            assert a == b
    info = json.loads(run_cli("info", p, "--json").stdout)
    assert info["lines"] == len(rows)
