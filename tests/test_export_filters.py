"""What `sgtui export` takes and says (issue 24): filters that select nothing are refused
with what was asked and what there is (B.12); --rate/--pad-ms are never dropped silently
(B.10); --include-unnamed never overwrites a subtitle's own speaker name in ASS (B.11);
dataset WAVs carry the line number the app shows (B.17)."""

from __future__ import annotations

import json
import re
import shutil
import wave
from pathlib import Path

import pytest
from conftest import refusal as _refused
from conftest import run_cli
from conftest import succeeded as _ok

from sgtui.project import Project


@pytest.fixture(scope="session")
def made(tmp_path_factory) -> dict[str, Path]:
    """One sample episode ingested from its ASS: raw (no clusters) and labelled."""
    d = tmp_path_factory.mktemp("filters")
    _ok(run_cli("sample", "-o", d, "--lines", "16", "--episodes", "1"))
    raw = d / "raw.sgproj"
    _ok(run_cli("ingest", d / "sample01.mp4", "--subs", d / "sample01.ass", "-o", raw))
    labelled = d / "sample01.sgproj"
    shutil.copy(raw, labelled)
    with Project.open(labelled) as p:
        p.meta_set("title", "sample01")
    _ok(run_cli("labels", "import", labelled, d / "sample01.truth.csv"))
    return {"dir": d, "raw": raw, "labelled": labelled}


@pytest.fixture
def ep(made, tmp_path) -> Path:
    dst = tmp_path / "sample01.sgproj"
    shutil.copy(made["labelled"], dst)
    return dst


# ---------------------------------------------------------------- B.12

@pytest.mark.parametrize("filters, words", [
    (["--speakers", "Nobody"], ["'Nobody'", "Dora (3)", "Chiyo (6)"]),
    (["--max-dur", "0"], ["--max-dur 0", "none of the 16 lines", "lasting 0."]),
    (["--min-dur", "5", "--max-dur", "1"], ["--min-dur 5 --max-dur 1", "lasting"]),
    (["--speakers", "Dora", "--min-dur", "30"], ["--speakers Dora --min-dur 30", "Dora (3)"]),
])
@pytest.mark.parametrize("fmt", ["srt", "gpt-sovits"])  # a text file, a dataset folder
def test_filters_that_select_nothing_are_refused_and_write_nothing(ep, tmp_path, filters, words,
                                                                    fmt) -> None:
    out = tmp_path / ("out" if fmt in ("gpt-sovits", "folders") else f"out.{fmt}")
    _refused(run_cli("export", ep, "-f", fmt, "-o", out, *filters), *words)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sample01.sgproj"]


def test_a_season_filter_says_what_each_speaker_has(ep, tmp_path) -> None:
    second = tmp_path / "second.sgproj"
    shutil.copy(ep, second)
    err = _refused(run_cli("export", ep, second, "-f", "chat-haruhi", "-o", "-",
                           "--speakers", "Dora,Doris"), "'Doris'")
    assert "Dora (6)" in err  # three lines in each episode
    err = _ok(run_cli("export", ep, second, "-f", "chat-haruhi", "-o", tmp_path / "d.txt",
                      "--speakers", "Dora"))
    assert "wrote 6 lines" in err


def test_nothing_named_is_refused_with_what_to_do(made, tmp_path) -> None:
    raw = tmp_path / "raw.sgproj"
    shutil.copy(made["raw"], raw)
    with Project.open(raw) as p:
        ids = [ln.id for ln in p.lines()]
        p.add(ids[:5], None, "tester")
    _refused(run_cli("export", raw, "-f", "srt", "-o", tmp_path / "x.srt"),
             "no line is in a named cluster", "unnamed cluster 5", "unassigned 11",
             "--include-unnamed")
    assert not (tmp_path / "x.srt").exists()
    _refused(run_cli("export", raw, "-f", "srt", "-o", "-", "--reviewed-only",
                     "--include-unnamed"), "--reviewed-only", "0 reviewed")


# ---------------------------------------------------------------- B.10

def test_rate_and_padding_without_the_video_are_refused_unless_allowed(ep, made, tmp_path) -> None:
    with Project.open(ep) as p:
        p.meta_set("source_path", str(tmp_path / "gone.mp4"))
        p.meta_set("source_name", "gone.mp4")
    out = tmp_path / "bv"
    for extra in (["--rate", "22050"], ["--pad-ms", "200"]):
        _refused(run_cli("export", ep, "-f", "bert-vits2", "--lang", "en", "-o", out, *extra),
                 extra[0], "--source", "--allow-stored")
        assert not out.exists()
    err = _ok(run_cli("export", ep, "-f", "bert-vits2", "--lang", "en", "-o", out,
                      "--rate", "22050", "--pad-ms", "200", "--allow-stored"))
    assert "--rate 22050 and --pad-ms 200 NOT applied" in err
    manifest = json.loads((out / "sgtui-export.json").read_text(encoding="utf-8"))
    episode = manifest["episodes"][0]
    assert episode["audio"] == "clips" and episode["rate"] == 16000 and episode["pad_ms"] == 0
    assert episode["not_applied"] == ["--rate 22050", "--pad-ms 200"]
    assert "NOT applied" in manifest["notes"][0]
    with wave.open(str(next((out / "raw").glob("*.wav")))) as w:
        assert w.getframerate() == 16000
    # with the video found again, the same command honours both
    out2 = tmp_path / "bv2"
    err = _ok(run_cli("export", ep, "-f", "bert-vits2", "--lang", "en", "-o", out2,
                      "--rate", "22050", "--pad-ms", "200", "--source", made["dir"]))
    assert "NOT applied" not in err
    with wave.open(str(next((out2 / "raw").glob("*.wav")))) as w:
        assert w.getframerate() == 22050
    _refused(run_cli("export", ep, "-f", "srt", "-o", "-", "--pad-ms", "200"), "voice datasets")


# ---------------------------------------------------------------- B.11

def test_ass_include_unnamed_keeps_the_subtitles_own_names(made, tmp_path) -> None:
    raw = tmp_path / "raw.sgproj"
    shutil.copy(made["raw"], raw)
    with Project.open(raw) as p:
        lines = p.lines()
        p.add([ln.id for ln in lines[:8]], None, "tester")  # one unnamed cluster
        named = p.add([ln.id for ln in lines[8:12]], None, "tester")
        p.rename(named, "Zed", "tester")
    out = tmp_path / "out.ass"
    _ok(run_cli("export", raw, "-f", "ass", "-o", out, "--include-unnamed"))
    original = (made["dir"] / "sample01.ass").read_text(encoding="utf-8").splitlines()
    exported = out.read_text(encoding="utf-8").splitlines()
    assert len(exported) == len(original)
    changed = [(a.split(",")[4], b.split(",")[4])
               for a, b in zip(original, exported, strict=True) if a != b]
    # only the cluster a person named changed; the unnamed one kept Akira, Dora, ...
    assert [new for _, new in changed] == ["Zed"] * 4
    actors = [ln.actor for ln in lines[:8]]
    assert all(actors)
    names = [b.split(",")[4] for b in exported if b.startswith("Dialogue:")]
    assert [n for n in names if re.fullmatch(r"raw-c\d+", n)] == []


# ---------------------------------------------------------------- B.17

def test_dataset_wavs_carry_the_line_number_the_app_shows(ep, tmp_path) -> None:
    out = tmp_path / "hf"
    _ok(run_cli("export", ep, "-f", "audiofolder", "-o", out))
    rows = [json.loads(x) for x in (out / "metadata.jsonl").read_text().splitlines()]
    with Project.open(ep, readonly=True) as p:
        by_time = {(ln.start_ms, ln.end_ms): ln for ln in p.lines()}
    numbers = []
    for r in rows:
        ln = by_time[(round(r["start"] * 1000), round(r["end"] * 1000))]
        number = int(Path(r["file_name"]).stem.rsplit("_", 1)[1])
        assert number == ln.id  # the app's "line N", and what `sgtui clip EP N` takes
        numbers.append(number)
    assert min(numbers) == 1
    # `sgtui clip EP 1` is the same line as the dataset's ..._00001.wav (same length)
    _ok(run_cli("clip", ep, "1", "-o", tmp_path / "one.wav"))
    with wave.open(str(tmp_path / "one.wav")) as a, \
            wave.open(str(out / "audio" / "sample01_00001.wav")) as b:
        assert abs(a.getnframes() / a.getframerate() - b.getnframes() / b.getframerate()) < 0.05
