"""Issue 24 A.7: every option is checked before any work (sgtui/cli/validate.py, argparse
`type=` checkers shared by every command). A bad value is exit 2 and one line that names the
option and what is allowed; nothing is cut, written or begun.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import pytest
from conftest import refusal as _err
from media_helpers import EpisodeFiles, make_episode_files

from sgtui.cli import validate

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_projects" / "sample01.sgproj"


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> EpisodeFiles:
    return make_episode_files(tmp_path_factory.mktemp("val"), seed=24, lines=6)


@pytest.fixture
def ep(tmp_path: Path) -> Path:
    dst = tmp_path / "ep.sgproj"
    shutil.copy(SAMPLE, dst)
    return dst


@pytest.mark.parametrize("bad,words", [
    (["--batch", "-5"], ["--batch", "at least 1", "-5"]),
    (["--batch", "0"], ["--batch", "at least 1"]),
    (["--voice", "bogus"], ["--voice", "unknown encoder 'bogus'"]),
    (["--voice", "grid"], ["--voice", "image encoder"]),
    (["--image", "resemblyzer"], ["--image", "voice encoder"]),
])
def test_ingest_embed_refuses_before_cutting_a_clip(cli, video, tmp_path, bad, words):
    """It used to cut every clip, then refuse, leaving the .sgproj (the re-run needed --force)."""
    out = tmp_path / "ep.sgproj"
    t0 = time.perf_counter()
    r = cli("ingest", video.video, "--subs", video.ass, "--embed", *bad, "-o", out)
    _err(r, *words)
    assert time.perf_counter() - t0 < 20
    assert list(tmp_path.iterdir()) == []  # no .sgproj, no .part, no -wal
    r = cli("ingest", video.video, "--subs", video.ass, "-o", out)  # the corrected run, no --force
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("jobs", ["0", "-2", "two"])
def test_ingest_jobs_must_be_a_positive_count(cli, video, tmp_path, jobs):
    _err(cli("ingest", video.video.parent, "--jobs", jobs, "-o", tmp_path / "season"), "--jobs")
    assert not (tmp_path / "season").exists()


@pytest.mark.parametrize("bad,words", [
    (["--min-dur", "nan"], ["--min-dur", "'nan' is not a number", "finite"]),
    (["--max-dur", "inf"], ["--max-dur", "finite"]),
    (["--min-dur", "-1"], ["--min-dur", "at least 0"]),
    (["--min-confidence", "nan"], ["--min-confidence", "finite"]),
    (["--min-confidence", "1.5"], ["--min-confidence", "from 0 to 1"]),
    (["--pad-ms", "1000000000"], ["--pad-ms", f"from 0 to {validate.MAX_PAD_MS}"]),
    (["--pad-ms", "-3"], ["--pad-ms", "from 0"]),
    (["--rate", "0"], ["--rate", "from 8000 to 192000"]),
])
def test_export_numbers_are_finite_and_bounded(cli, ep, tmp_path, bad, words):
    """NaN used to be accepted and filter nothing; --pad-ms 1e9 made every WAV the episode."""
    fmt = "ljspeech" if bad[0] in ("--pad-ms", "--rate") else "srt"
    out = tmp_path / "out"
    _err(cli("export", ep, "-f", fmt, "--include-unnamed", *bad, "-o", out), *words)
    assert not out.exists()


@pytest.mark.parametrize("bad,words", [
    (["--size", "100000x100000"], ["--size", "3840x2160"]),
    (["--size", "641x360"], ["--size", "divisible by 4"]),
    (["--size", "wide"], ["--size", "WxH"]),
    (["--lines", "1000000000"], ["--lines", f"from 2 to {validate.MAX_SAMPLE_LINES}"]),
    (["--lines", "1"], ["--lines", "from 2"]),
    (["--episodes", "0"], ["--episodes", "from 1"]),
])
def test_sample_sizes_are_bounded(cli, tmp_path, bad, words):
    """--size 100000x100000 was killed by memory; --lines 1e9 had no bound."""
    out = tmp_path / "samples"
    t0 = time.perf_counter()
    _err(cli("sample", "-o", out, *bad), *words)
    assert time.perf_counter() - t0 < 20 and not out.exists()


@pytest.mark.parametrize("args,words", [
    (["embed", "EP", "--batch", "0"], ["--batch", "at least 1"]),
    (["embed", "EP", "--voice", "bogus"], ["--voice", "unknown encoder"]),
    (["cluster", "EP", "--method", "ahc", "--threshold", "nan"], ["--threshold", "finite"]),
    (["cluster", "EP", "--method", "ahc", "--threshold", "2"], ["--threshold", "from -1 to 1"]),
    (["train", "EP", "-o", "OUT", "--folds", "1"], ["--folds", "at least 2"]),
    (["train", "EP", "-o", "OUT", "--q", "nan"], ["--q", "finite"]),
    (["open", "EP", "--audio-port", "80"], ["--audio-port", "from 1024 to 65535"]),
])
def test_other_commands_check_their_numbers_first(cli, ep, tmp_path, args, words):
    before = ep.read_bytes()
    argv = [str(ep) if a == "EP" else str(tmp_path / "m.npz") if a == "OUT" else a for a in args]
    _err(cli(*argv), *words)
    assert ep.read_bytes() == before and not (tmp_path / "m.npz").exists()


def test_the_encoder_checker_asks_the_registry():
    """Encoder names come from sgtui.features.registry (a new encoder is known at once)."""
    from sgtui.features.registry import DEFAULTS, ENCODERS

    for name, info in ENCODERS.items():
        assert validate.encoder(info.modality)(name) == name
        other = "image" if info.modality == "voice" else "voice"
        with pytest.raises(argparse.ArgumentTypeError, match=f"not an? {other}"):
            validate.encoder(other)(name)
    for modality, spec in DEFAULTS.items():
        assert validate.encoder(modality)(spec) == spec
    assert validate.encoder("voice")("None") == "none"


def test_the_number_checkers():
    assert validate.positive_int("3") == 3
    assert validate.float_in(0, 1)("0.25") == 0.25
    for bad in ("nan", "inf", "-inf", "x", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            validate.float_in(0)(bad)
    with pytest.raises(argparse.ArgumentTypeError, match="at least 1, not 0"):
        validate.positive_int("0")
    assert validate.frame_size("640x360") == (640, 360)


def test_ingest_with_a_bank_of_another_encoder_refuses_before_cutting(cli, video, tmp_path):
    """The bank's encoder was checked only after every clip was cut and embedded."""
    import json

    ep = tmp_path / "labelled.sgproj"
    shutil.copy(SAMPLE, ep)
    assert cli("labels", "import", ep, SAMPLE.with_name("sample01.truth.csv")).returncode == 0
    bank = tmp_path / "s.sgbank"
    assert cli("bank", "add", bank, ep).returncode == 0
    held = json.loads(cli("bank", "list", bank, "--json").stdout)["voice_model"]
    other = "campp" if held.split("/")[0] != "campp" else "resemblyzer"
    out = tmp_path / "new.sgproj"
    err = _err(cli("ingest", video.video, "--subs", video.ass, "--embed", "--voice", other,
                   "--bank", bank, "-o", out), repr(held), "use a bank of that encoder")
    assert not out.exists() and not list(tmp_path.glob("new.sgproj*"))
    hint = err.split("pass ", 1)[1].split(",", 1)[0]  # "--voice NAME": an option that parses
    assert validate.encoder("voice")(hint.split()[1]) == held.split("/")[0]


@pytest.mark.skipif(sys.platform == "darwin", reason="a Mac may have MPS; elsewhere it never exists")
def test_ingest_embed_on_a_device_that_is_not_there_refuses_before_cutting(cli, video, tmp_path):
    out = tmp_path / "ep.sgproj"
    _err(cli("ingest", video.video, "--subs", video.ass, "--embed", "--device", "mps", "-o", out),
         "--device mps", "--device cpu")
    assert list(tmp_path.iterdir()) == []
