"""Lines without subtitles: --asr with the small English model (tiny.en) and --vad, on
espeak-ng speech. The default multilingual model is tested on real speech in
test_media_asr_base.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from media_helpers import EpisodeFiles, make_episode_files

from sgtui.cli import main
from sgtui.project import Project


@pytest.fixture(scope="module")
def ep(tmp_path_factory) -> EpisodeFiles:
    return make_episode_files(tmp_path_factory.mktemp("asr"), seed=41, lines=4)


def _iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    return inter / (max(a[1], b[1]) - min(a[0], b[0]))


def _lines(path: Path):
    with Project.open(path, readonly=True) as p:
        return p.lines()


@pytest.mark.slow
def test_asr_tiny_en_transcribes_each_spoken_line(ep: EpisodeFiles, tmp_path: Path,
                                                  capsys) -> None:
    out = tmp_path / "a.sgproj"
    assert main(["ingest", str(ep.video), "--asr", "--asr-model", "tiny.en", "-o", str(out)]) == 0
    lines = _lines(out)
    truth = ep.episode.lines
    assert len(lines) == len(truth)
    for ln, t in zip(lines, truth, strict=True):
        assert ln.source == "asr"
        assert _iou((ln.start_ms, ln.end_ms), (t.start_ms, t.end_ms)) > 0.5
        said = {w.strip(".,!?").lower() for w in t.text.split()}
        heard = {w.strip(".,!?").lower() for w in ln.text.split()}
        assert len(said & heard) >= len(said) // 2, (t.text, ln.text)
    capsys.readouterr()
    main(["info", str(out), "--json"])
    info = json.loads(capsys.readouterr().out)
    assert info["clips"] == info["keyframes"] == len(truth)
    assert info["language"] == "en"


def test_vad_cuts_one_line_per_utterance_with_empty_text(ep: EpisodeFiles, tmp_path: Path) -> None:
    out = tmp_path / "a.sgproj"
    assert main(["ingest", str(ep.video), "--vad", "-o", str(out)]) == 0
    lines = _lines(out)
    assert len(lines) == len(ep.episode.lines)
    for ln, t in zip(lines, ep.episode.lines, strict=True):
        assert (ln.text, ln.source) == ("", "vad")
        assert _iou((ln.start_ms, ln.end_ms), (t.start_ms, t.end_ms)) > 0.6


@pytest.mark.parametrize("args,words", [
    (["--asr", "--asr-model", "tiny.en", "--lang", "fr"], "English only"),
    (["--asr", "--asr-model", "./no/such/model"], "does not exist"),
    (["--asr", "--lang", "klingon"], "no such language"),
    (["--asr-model", "x"], "--asr-model needs --asr"),
])
def test_asr_option_mistakes_are_one_line_errors(ep: EpisodeFiles, tmp_path: Path, capsys,
                                                 args: list[str], words: str) -> None:
    out = tmp_path / "a.sgproj"
    assert main(["ingest", str(ep.video), *args, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err
    assert not out.exists()


def test_asr_on_cuda_runs_on_a_gpu_or_says_there_is_none(ep: EpisodeFiles, tmp_path: Path,
                                                         capsys) -> None:
    import ctranslate2

    out = tmp_path / "a.sgproj"
    rc = main(["ingest", str(ep.video), "--asr", "--asr-model", "tiny.en", "--device", "cuda",
               "-o", str(out)])
    err = capsys.readouterr().err
    if ctranslate2.get_cuda_device_count():
        assert rc == 0 and len(_lines(out)) == len(ep.episode.lines), err
    else:
        assert rc == 2 and err.count("\n") == 1 and "no CUDA GPU" in err
        assert not out.exists()
