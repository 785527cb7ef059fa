"""`sgtui ingest` and `sgtui sample` end to end on real media the tests make."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from media_helpers import (
    EpisodeFiles,
    make_episode_files,
    remux_shifted,
    remux_with_subtitles,
    video_without_audio,
    with_second_audio_track,
)

from sgtui import ingest as ingest_mod
from sgtui.cli import main
from sgtui.errors import SgtuiError
from sgtui.project import Project


@pytest.fixture(scope="module")
def ep(tmp_path_factory) -> EpisodeFiles:
    return make_episode_files(tmp_path_factory.mktemp("ing"), seed=21, lines=6)


def _run(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _info(capsys, path: Path) -> dict:
    code, out, err = _run(capsys, "info", path, "--json")
    assert code == 0, err
    return json.loads(out)


def _one_line_error(code: int, err: str, *words: str) -> None:
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("sgtui: error:"), err
    assert "Traceback" not in err
    for w in words:
        assert w in err, err


@pytest.mark.slow
def test_sample_then_ingest_reports_every_dialogue_line(tmp_path: Path, capsys) -> None:
    d = tmp_path / "s"
    code, out, err = _run(capsys, "sample", "-o", d, "--episodes", "1", "--lines", "10")
    assert code == 0, err
    for suffix in (".mp4", ".srt", ".ass", ".truth.csv"):
        assert (d / f"sample01{suffix}").exists()
    with open(d / "sample01.truth.csv", encoding="utf-8") as fh:
        truth = list(csv.DictReader(fh))
    assert list(truth[0]) == ["start", "end", "speaker", "text"] and len(truth) == 10
    assert len({r["speaker"] for r in truth}) >= 3
    out_p = tmp_path / "ep.sgproj"
    code, out, err = _run(capsys, "ingest", d / "sample01.mp4", "--subs", d / "sample01.ass",
                          "-o", out_p)
    assert code == 0, err
    assert "left out styles: OP" in err
    info = _info(capsys, out_p)
    assert info["lines"] == info["clips"] == info["keyframes"] == info["actors"] == 10
    assert info["ingest_state"] == "complete"
    with Project.open(out_p, readonly=True) as p:
        assert [ln.actor for ln in p.lines()] == [r["speaker"] for r in truth]
        assert [ln.text for ln in p.lines()] == [r["text"] for r in truth]


def test_srt_gives_lines_without_names(ep: EpisodeFiles, tmp_path: Path, capsys) -> None:
    out_p = tmp_path / "a.sgproj"
    code, _, err = _run(capsys, "ingest", ep.video, "--subs", ep.srt, "-o", out_p)
    assert code == 0, err
    info = _info(capsys, out_p)
    assert (info["lines"], info["clips"], info["keyframes"], info["actors"]) == (6, 6, 6, 0)


def test_subtitles_beside_the_video_are_found_by_name(ep: EpisodeFiles, tmp_path: Path,
                                                      capsys) -> None:
    out_p = tmp_path / "a.sgproj"
    code, _, err = _run(capsys, "ingest", ep.video, "-o", out_p)
    assert code == 0, err
    assert "ep.ass" in err  # the sidecar ASS (preferred over the SRT) was named
    assert _info(capsys, out_p)["actors"] == 6


def test_mkv_embedded_tracks(ep: EpisodeFiles, tmp_path: Path, capsys) -> None:
    mkv = remux_with_subtitles(ep.video, [ep.srt, ep.ass], tmp_path / "ep.mkv",
                               languages=["fre", "eng"], titles=[None, None])
    out_p = tmp_path / "a.sgproj"
    # default: the first dialogue track (the French SRT)...
    code, _, err = _run(capsys, "ingest", mkv, "-o", out_p)
    assert code == 0, err
    assert _info(capsys, out_p)["actors"] == 0
    # ...unless --lang prefers the English ASS track, which carries names
    code, _, err = _run(capsys, "ingest", mkv, "--lang", "en", "-o", out_p, "--force")
    assert code == 0, err
    info = _info(capsys, out_p)
    assert (info["lines"], info["actors"], info["keyframes"]) == (6, 6, 6)
    code, _, err = _run(capsys, "ingest", mkv, "--track", "1", "-o", out_p, "--force")
    assert code == 0 and _info(capsys, out_p)["actors"] == 6
    code, _, err = _run(capsys, "ingest", mkv, "--track", "5", "-o", tmp_path / "b.sgproj")
    _one_line_error(code, err, "no subtitle track 5", "0: srt fre")
    assert not (tmp_path / "b.sgproj").exists()


def test_existing_output_is_refused_unless_force(ep: EpisodeFiles, tmp_path: Path, capsys) -> None:
    out_p = tmp_path / "a.sgproj"
    assert _run(capsys, "ingest", ep.video, "--subs", ep.ass, "-o", out_p)[0] == 0
    before = out_p.read_bytes()
    code, _, err = _run(capsys, "ingest", ep.video, "--subs", ep.ass, "-o", out_p)
    _one_line_error(code, err, "already exists", "--force")
    assert out_p.read_bytes() == before
    code, _, err = _run(capsys, "ingest", ep.video, "--subs", ep.srt, "-o", out_p, "--force")
    assert code == 0, err
    assert _info(capsys, out_p)["actors"] == 0


def test_interrupted_ingest_looks_incomplete_and_resumes(ep: EpisodeFiles, tmp_path: Path,
                                                         capsys, monkeypatch) -> None:
    out_p = tmp_path / "a.sgproj"
    real = ingest_mod.keyframe_rows

    def dies_half_way(*a, **k):
        for i, row in enumerate(real(*a, **k)):
            if i == 3:
                raise KeyboardInterrupt
            yield row

    monkeypatch.setattr(ingest_mod, "keyframe_rows", dies_half_way)
    monkeypatch.setattr(ingest_mod, "BATCH", 1)
    code, _, _ = _run(capsys, "ingest", ep.video, "--subs", ep.ass, "-o", out_p)
    assert code == 130
    info = _info(capsys, out_p)
    assert info["ingest_state"] == "running"
    assert info["keyframes"] == 3 and info["clips"] <= 6  # clips are made alongside
    stored_clips = info["clips"]
    code, out, err = _run(capsys, "info", out_p)
    assert "INCOMPLETE" in out
    monkeypatch.setattr(ingest_mod, "keyframe_rows", real)
    code, out, err = _run(capsys, "ingest", ep.video, "--subs", ep.ass, "-o", out_p)
    assert code == 0, err
    made = 6 - stored_clips
    assert "(resumed)" in out and f"made {made} clip{'' if made == 1 else 's'} and 3 keyframes" in out
    info = _info(capsys, out_p)
    assert (info["ingest_state"], info["clips"], info["keyframes"]) == ("complete", 6, 6)


def test_unfinished_ingest_of_other_subtitles_is_not_resumed(ep: EpisodeFiles, tmp_path: Path,
                                                             capsys) -> None:
    out_p = tmp_path / "a.sgproj"
    assert _run(capsys, "ingest", ep.video, "--subs", ep.ass, "-o", out_p)[0] == 0
    with Project.open(out_p) as p:
        p.meta_set("ingest_state", "running")
    code, _, err = _run(capsys, "ingest", ep.video, "--subs", ep.srt, "--style", "x", "-o", out_p)
    _one_line_error(code, err, "style 'x'")
    short = tmp_path / "short.srt"
    short.write_text("1\n00:00:01,000 --> 00:00:02,000\nother\n", encoding="utf-8")
    code, _, err = _run(capsys, "ingest", ep.video, "--subs", short, "-o", out_p)
    _one_line_error(code, err, "other subtitles", "--force")


def test_user_error_half_way_leaves_no_file(ep: EpisodeFiles, tmp_path: Path, capsys,
                                            monkeypatch) -> None:
    def broken(*a, **k):
        raise SgtuiError("video breaks at 3.0 s; the file is damaged")
        yield

    monkeypatch.setattr(ingest_mod, "keyframe_rows", broken)
    out_p = tmp_path / "a.sgproj"
    code, _, err = _run(capsys, "ingest", ep.video, "--subs", ep.ass, "-o", out_p)
    _one_line_error(code, err, "damaged")
    assert list(tmp_path.iterdir()) == []


def test_truncated_streamable_video_keeps_the_lines_it_has(ep: EpisodeFiles, tmp_path: Path,
                                                           capsys) -> None:
    mkv = remux_with_subtitles(ep.video, [], tmp_path / "whole.mkv")
    data = mkv.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 2])
    out_p = tmp_path / "a.sgproj"
    code, out, err = _run(capsys, "ingest", cut, "--subs", ep.ass, "-o", out_p)
    assert code == 0, err
    assert "starting after the video ends" in err
    info = _info(capsys, out_p)
    assert 0 < info["lines"] < 6 and info["lines"] == info["clips"] == info["keyframes"]


def test_subtitles_longer_than_the_video(ep: EpisodeFiles, tmp_path: Path, capsys) -> None:
    late = tmp_path / "late.srt"
    late.write_text(ep.srt.read_text(encoding="utf-8")
                    + "\n99\n01:00:00,000 --> 01:00:02,000\nlong after the end\n",
                    encoding="utf-8")
    out_p = tmp_path / "a.sgproj"
    code, _, err = _run(capsys, "ingest", ep.video, "--subs", late, "-o", out_p)
    assert code == 0 and "skipped 1 line starting after the video ends" in err
    assert _info(capsys, out_p)["lines"] == 6
    only_late = tmp_path / "only_late.srt"
    only_late.write_text("1\n01:00:00,000 --> 01:00:02,000\nlate\n", encoding="utf-8")
    code, _, err = _run(capsys, "ingest", ep.video, "--subs", only_late, "-o", tmp_path / "b.sgproj")
    _one_line_error(code, err, "after the video ends")
    assert not (tmp_path / "b.sgproj").exists()


@pytest.mark.parametrize("kind", ["no-audio", "corrupt", "truncated-mp4", "empty-subs",
                                  "unknown-encoding", "missing-subs", "folder-output",
                                  "missing-output-folder"])
def test_bad_inputs_are_one_line_errors_with_nothing_written(kind: str, ep: EpisodeFiles,
                                                             tmp_path: Path, capsys) -> None:
    video, subs, out_p = ep.video, ep.ass, tmp_path / "out.sgproj"
    expect = {"no-audio": "no audio track", "corrupt": "not a readable video",
              "truncated-mp4": "not a readable video", "empty-subs": "empty",
              "unknown-encoding": "encoding", "missing-subs": "does not exist",
              "folder-output": "is a folder",
              "missing-output-folder": "does not exist; create it first"}[kind]
    if kind == "no-audio":
        video = video_without_audio(ep.video, tmp_path / "silent.mp4")
    elif kind == "corrupt":
        video = tmp_path / "junk.mp4"
        video.write_bytes(b"not a video at all " * 500)
    elif kind == "truncated-mp4":
        video = tmp_path / "cut.mp4"
        video.write_bytes(ep.video.read_bytes()[:20000])
    elif kind == "empty-subs":
        subs = tmp_path / "empty.srt"
        subs.write_bytes(b"")
    elif kind == "unknown-encoding":
        subs = tmp_path / "odd.srt"
        subs.write_bytes(b"1\n00:00:01,000 --> 00:00:02,000\n"
                         + bytes((i * 97 + 13) % 256 or 1 for i in range(500)))
    elif kind == "missing-subs":
        subs = tmp_path / "nope.srt"
    elif kind == "folder-output":
        out_p = tmp_path / "dir"
        out_p.mkdir()
    elif kind == "missing-output-folder":
        out_p = tmp_path / "nowhere" / "out.sgproj"
    before = sorted(tmp_path.iterdir())
    code, _, err = _run(capsys, "ingest", video, "--subs", subs, "-o", out_p)
    _one_line_error(code, err, expect)
    assert sorted(tmp_path.iterdir()) == before


@pytest.mark.slow
def test_season_folder_pairs_by_name_and_reports_the_rest(ep: EpisodeFiles, tmp_path: Path,
                                                          capsys) -> None:
    season = tmp_path / "season"
    season.mkdir()
    shutil.copy(ep.video, season / "ep01.mp4")
    shutil.copy(ep.ass, season / "ep01.ass")
    shutil.copy(ep.video, season / "ep02.mp4")
    shutil.copy(ep.srt, season / "ep02.en.srt")
    shutil.copy(ep.video, season / "ep03.mp4")  # no subtitles: skipped and reported
    shutil.copy(ep.srt, season / "extra.srt")  # no video: reported
    outdir = tmp_path / "out"
    code, out, err = _run(capsys, "ingest", season, "-o", outdir, "--jobs", "2")
    assert code == 0, err
    assert "ep03.mp4" in err and "extra.srt" in err
    assert sorted(p.name for p in outdir.iterdir()) == ["ep01.sgproj", "ep02.sgproj"]
    assert _info(capsys, outdir / "ep01.sgproj")["actors"] == 6
    info2 = _info(capsys, outdir / "ep02.sgproj")
    assert (info2["lines"], info2["actors"], info2["ingest_state"]) == (6, 0, "complete")
    # a re-run skips the finished episodes (and says so); --force redoes them
    before = (outdir / "ep01.sgproj").stat().st_mtime_ns
    code, out, err = _run(capsys, "ingest", season, "-o", outdir)
    assert code == 0 and err.count("already complete") == 2
    assert (outdir / "ep01.sgproj").stat().st_mtime_ns == before
    code, out, err = _run(capsys, "ingest", season, "-o", outdir, "--force", "--jobs", "1")
    assert code == 0 and out.count("6 lines") == 2


def test_season_folder_with_no_matching_names_is_refused(ep: EpisodeFiles, tmp_path: Path,
                                                         capsys) -> None:
    season = tmp_path / "season"
    season.mkdir()
    shutil.copy(ep.video, season / "a.mp4")
    shutil.copy(ep.srt, season / "b.srt")
    code, _, err = capsys_run = _run(capsys, "ingest", season, "-o", tmp_path / "out")
    assert code == 2 and "no video" in err and "could be paired" in err
    assert not (tmp_path / "out").exists()
    del capsys_run


def test_list_styles_shows_the_rule(ep: EpisodeFiles, capsys) -> None:
    code, out, err = _run(capsys, "ingest", ep.video, "--subs", ep.ass, "--list-styles")
    assert code == 0, err
    rows = {ln.split()[0]: ln.split()[2] for ln in out.splitlines()[1:] if ln.strip()
            and not ln.startswith("rule")}
    assert rows["Default"] == "yes" and rows["OP"] == "no" and rows["Sign"] == "no"
    assert "most common style" in out


def test_ingest_embed_gives_the_vectors_sgtui_embed_gives(ep: EpisodeFiles, tmp_path: Path,
                                                            capsys) -> None:
    """One definition of a line's vector (its stored clip), whichever command computed it."""
    with_flag, later = tmp_path / "a.sgproj", tmp_path / "b.sgproj"
    code, _, err = _run(capsys, "ingest", ep.video, "--subs", ep.ass, "--embed", "-o", with_flag)
    assert code == 0, err
    code, _, err = _run(capsys, "ingest", ep.video, "--subs", ep.ass, "-o", later)
    assert code == 0, err
    assert not _info(capsys, later)["encoders"]
    code, _, err = _run(capsys, "embed", later)
    assert code == 0, err
    with Project.open(with_flag, readonly=True) as a, Project.open(later, readonly=True) as b:
        assert a.encoders() == b.encoders() and len(a.encoders()) == 2
        for modality in ("voice", "image"):
            ids_a, vec_a = a.embeddings(modality)
            ids_b, vec_b = b.embeddings(modality)
            assert ids_a.tolist() == ids_b.tolist() and len(ids_a) == len(a.lines())
            np.testing.assert_allclose(vec_a, vec_b, atol=1e-6)


def test_sample_refuses_existing_files_and_bad_sizes(tmp_path: Path, capsys) -> None:
    (tmp_path / "sample01.srt").write_text("keep me", encoding="utf-8")
    code, _, err = _run(capsys, "sample", "-o", tmp_path, "--episodes", "1")
    _one_line_error(code, err, "sample01.srt already exists", "--force")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sample01.srt"]
    code, _, err = _run(capsys, "sample", "-o", tmp_path / "x", "--size", "641x360")
    _one_line_error(code, err, "divisible by 4")
    assert not (tmp_path / "x").exists()


def test_audio_track_chooses_the_voices(ep: EpisodeFiles, tmp_path: Path, capsys) -> None:
    two = with_second_audio_track(ep.video, tmp_path / "two.mkv")
    out_p = tmp_path / "a.sgproj"
    code, _, err = _run(capsys, "ingest", two, "--subs", ep.ass, "--audio-track", "1", "-o", out_p)
    assert code == 0, err
    assert _info(capsys, out_p)["clips"] == 6
    code, _, err = _run(capsys, "ingest", two, "--subs", ep.ass, "--audio-track", "2",
                        "-o", tmp_path / "b.sgproj")
    _one_line_error(code, err, "no audio track 2", "1: eng")
    assert not (tmp_path / "b.sgproj").exists()


def test_a_capture_starting_at_a_late_timestamp_lines_up_with_its_subtitles(
        ep: EpisodeFiles, tmp_path: Path, capsys) -> None:
    from sgtui.media.clipcodec import decode_clip

    ts = remux_shifted(ep.video, tmp_path / "cap.ts", shift_s=10.0)
    a, b = tmp_path / "mp4.sgproj", tmp_path / "ts.sgproj"
    assert _run(capsys, "ingest", ep.video, "--subs", ep.srt, "-o", a)[0] == 0
    code, _, err = _run(capsys, "ingest", ts, "--subs", ep.srt, "-o", b)
    assert code == 0, err
    with Project.open(a, readonly=True) as pa, Project.open(b, readonly=True) as pb:
        ids = [ln.id for ln in pa.lines()]
        assert ids == [ln.id for ln in pb.lines()] and len(ids) == 6
        for i in ids:
            assert pa.keyframe(i).data == pb.keyframe(i).data
            ca, cb = pa.clip(i), pb.clip(i)
            xa = decode_clip(ca.codec, ca.sample_rate, ca.data)
            xb = decode_clip(cb.codec, cb.sample_rate, cb.data)
            n = min(len(xa), len(xb))
            assert abs(len(xa) - len(xb)) <= 16 * 25  # the TS keeps AAC priming: <= 25 ms
            lag = max(range(-400, 401, 8), key=lambda k: float(np.dot(
                xa[max(0, k):n + min(0, k)], xb[max(0, -k):n - max(0, k)])))
            assert abs(lag) <= 16 * 25
