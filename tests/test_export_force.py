"""`sgtui export --force` into an earlier export folder: the old export is replaced whole,
never mixed with the new one; a folder that is not an sgtui export is refused untouched;
a killed export never leaves a half export under the output's name (issue 24, A.6)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import refusal as _refused
from conftest import run_cli
from conftest import succeeded as _ok

MANIFEST = "sgtui-export.json"
DATASETS = ("gpt-sovits", "bert-vits2", "ljspeech", "audiofolder", "folders")


@pytest.fixture(scope="session")
def episode(tmp_path_factory) -> Path:
    """One sample episode (16 lines, 5 speakers) ingested from its ASS and labelled."""
    d = tmp_path_factory.mktemp("force")
    _ok(run_cli("sample", "-o", d, "--lines", "16", "--episodes", "1"))
    p = d / "sample01.sgproj"
    _ok(run_cli("ingest", d / "sample01.mp4", "--subs", d / "sample01.ass", "-o", p))
    _ok(run_cli("labels", "import", p, d / "sample01.truth.csv"))
    return p


@pytest.fixture
def ep(episode, tmp_path) -> Path:
    dst = tmp_path / "sample01.sgproj"
    shutil.copy(episode, dst)
    return dst


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _hidden_siblings(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def _speakers_in_lists(fmt: str, out: Path) -> list[str]:
    """The speaker of every row of the dataset's own list (what a training tool reads)."""
    if fmt == "gpt-sovits":
        return [r.split("|")[1] for r in (out / "gpt-sovits.list").read_text().splitlines()]
    if fmt == "bert-vits2":
        return [r.split("|")[1] for r in (out / "esd.list").read_text().splitlines()]
    if fmt == "audiofolder":
        return [json.loads(r)["speaker"]
                for r in (out / "metadata.jsonl").read_text().splitlines()]
    if fmt == "ljspeech":
        return [d.name for d in out.iterdir() if d.is_dir()
                for _ in (d / "metadata.csv").read_text().splitlines()]
    return [d.name for d in out.iterdir() if d.is_dir() for _ in d.glob("*.wav")]


@pytest.mark.parametrize("fmt", DATASETS)
def test_force_replaces_an_earlier_dataset_whole(ep, tmp_path, fmt) -> None:
    out = tmp_path / "ds"
    _ok(run_cli("export", ep, "-f", fmt, "-o", out))
    assert len(list(out.rglob("*.wav"))) == 16
    _ok(run_cli("export", ep, "-f", fmt, "-o", out, "--speakers", "Dora", "--force"))
    wavs = sorted(out.rglob("*.wav"))
    speakers = _speakers_in_lists(fmt, out)
    assert speakers == ["Dora"] * 3
    assert len(wavs) == 3  # no WAV of the earlier export is left for a tool to pick up
    if fmt in ("folders", "ljspeech"):
        assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["Dora"]
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert sorted(manifest["files"]) == sorted(f for f in _tree(out) if f != MANIFEST)
    assert _hidden_siblings(out) == []


def test_force_refuses_a_folder_that_is_not_an_export_and_changes_nothing(ep, tmp_path) -> None:
    mine = tmp_path / "mine"
    (mine / "wavs").mkdir(parents=True)
    (mine / "notes.txt").write_text("my notes")
    (mine / "wavs" / "take1.wav").write_bytes(b"RIFF....")
    before = _tree(mine)
    _refused(run_cli("export", ep, "-f", "gpt-sovits", "-o", mine, "--force"),
             "not an earlier sgtui export", MANIFEST)
    assert _tree(mine) == before and _hidden_siblings(mine) == []
    # an earlier export someone added a file to is refused too, naming the file
    out = tmp_path / "ds"
    _ok(run_cli("export", ep, "-f", "folders", "-o", out))
    (out / "Dora" / "extra-take.wav").write_bytes(b"mine")
    before = _tree(out)
    _refused(run_cli("export", ep, "-f", "folders", "-o", out, "--force"), "Dora/extra-take.wav")
    assert _tree(out) == before
    # without --force, an earlier export is not replaced either
    (out / "Dora" / "extra-take.wav").unlink()
    before = _tree(out)
    _refused(run_cli("export", ep, "-f", "folders", "-o", out), "--force")
    assert _tree(out) == before


def test_a_refused_export_leaves_the_earlier_one_as_it_was(ep, tmp_path) -> None:
    out = tmp_path / "ds"
    _ok(run_cli("export", ep, "-f", "bert-vits2", "-o", out, "--lang", "en"))
    before = _tree(out)
    # refused after the lines are chosen: Bert-VITS2 has no Korean
    _refused(run_cli("export", ep, "-f", "bert-vits2", "-o", out, "--lang", "ko", "--force"), "ZH")
    assert _tree(out) == before and _hidden_siblings(out) == []


def test_text_folders_of_a_season_are_replaced_whole(ep, tmp_path) -> None:
    second = tmp_path / "sample01b.sgproj"
    shutil.copy(ep, second)
    third = tmp_path / "sample01c.sgproj"
    shutil.copy(ep, third)
    out = tmp_path / "subs"
    _ok(run_cli("export", ep, second, third, "-f", "srt", "-o", out))
    # the three copies share one title: their file names tell them apart
    assert sorted(_tree(out)) == sorted([MANIFEST, "sample01.srt", "sample01b.srt", "sample01c.srt"])
    _ok(run_cli("export", ep, second, "-f", "srt", "-o", out, "--force"))
    assert sorted(_tree(out)) == sorted([MANIFEST, "sample01.srt", "sample01b.srt"])
    # a folder of subtitles sgtui did not write is not replaced
    other = tmp_path / "others"
    other.mkdir()
    (other / "ep01.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nhi\n")
    _refused(run_cli("export", ep, second, "-f", "srt", "-o", other, "--force"),
             "not an earlier sgtui export")
    assert sorted(_tree(other)) == ["ep01.srt"]


def test_a_killed_export_never_leaves_a_half_export_under_the_name(ep, tmp_path) -> None:
    out = tmp_path / "ds"
    _ok(run_cli("export", ep, "-f", "folders", "-o", out))
    before = _tree(out)
    proc = subprocess.Popen(
        [sys.executable, "-m", "sgtui", "export", str(ep), "-f", "folders", "-o", str(out),
         "--speakers", "Dora", "--force"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    part = []
    while not part and proc.poll() is None and time.monotonic() < deadline:
        part = [p for p in tmp_path.iterdir() if p.name.startswith(".ds.sgtui-part-")]
        time.sleep(0.001)
    assert part, f"the export ended before it could be killed: {proc.communicate()[1]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # killed while writing: the earlier export is there, whole and unchanged
    assert _tree(out) == before
    # the next export replaces it and tidies what the killed one left
    _ok(run_cli("export", ep, "-f", "folders", "-o", out, "--speakers", "Dora", "--force"))
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["Dora"]
    assert _hidden_siblings(out) == []
