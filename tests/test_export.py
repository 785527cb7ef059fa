"""`sgtui export` end to end: sample episodes made by `sgtui sample`, ingested from their ASS
files, labelled from their truth CSVs, exported, and read back by the tools' own readers
(pysubs2, pyannote, PyAV) or by the rules of the formats (GPT-SoVITS, Bert-VITS2 lists)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import refusal as _refused
from conftest import run_cli
from conftest import succeeded as _ok

from sgtui.project import Project

LINES = 16  # per sample episode: small enough to keep this file fast


@pytest.fixture(scope="session")
def samples(tmp_path_factory) -> Path:
    """`sgtui sample` once per session: two episodes of the same cast."""
    d = tmp_path_factory.mktemp("export_samples") / "d"
    _ok(run_cli("sample", "-o", d, "--lines", LINES))
    return d


@pytest.fixture(scope="session")
def labelled(samples, tmp_path_factory) -> dict[str, Path]:
    """Each sample episode ingested from its ASS file and labelled with its truth."""
    out = {}
    folder = tmp_path_factory.mktemp("export_projects")
    for name in ("sample01", "sample02"):
        p = folder / f"{name}.sgproj"
        _ok(run_cli("ingest", samples / f"{name}.mp4", "--subs", samples / f"{name}.ass", "-o", p))
        _ok(run_cli("labels", "import", p, samples / f"{name}.truth.csv"))
        out[name] = p
    return out


@pytest.fixture
def ep1(labelled, tmp_path) -> Path:
    dst = tmp_path / "sample01.sgproj"
    shutil.copy(labelled["sample01"], dst)
    return dst


def _truth(samples: Path, name: str = "sample01") -> list[dict]:
    with open(samples / f"{name}.truth.csv", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _lines(project: Path):
    with Project.open(project, readonly=True) as p:
        return p.lines()


def _source_audio(video: Path, rate: int | None = None) -> tuple[np.ndarray, int]:
    """The whole audio track decoded directly with PyAV (mono float), for comparisons."""
    with av.open(str(video)) as c:
        stream = c.streams.audio[0]
        rate = rate or stream.rate
        res = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks = []
        for frame in c.decode(stream):
            chunks += [f.to_ndarray().reshape(-1) for f in res.resample(frame)]
        chunks += [f.to_ndarray().reshape(-1) for f in res.resample(None)]
    return np.concatenate(chunks), rate


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        assert s.codec_context.name == "pcm_s16le" and s.channels == 1
        data = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(s)])
        return data.astype(np.float64) / 32768.0, s.rate


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    n = min(len(a), len(b))
    return float(np.corrcoef(a[:n], b[:n])[0, 1])


# ---------------------------------------------------------------- voice datasets

def test_gpt_sovits_entries_have_true_speakers_and_source_audio(ep1, samples, tmp_path) -> None:
    out = tmp_path / "out"
    err = _ok(run_cli("export", ep1, "--format", "gpt-sovits", "-o", out))
    assert "wrote 16 lines" in err and "nothing left out" in err
    rows = (out / "gpt-sovits.list").read_text(encoding="utf-8").splitlines()
    truth = _truth(samples)
    lines = _lines(ep1)
    assert len(rows) == len(truth) == len(lines) == LINES
    full, rate = _source_audio(samples / "sample01.mp4")
    for row, t, ln in zip(rows, truth, lines, strict=True):
        fields = row.split("|")  # GPT-SoVITS: wav_path|speaker|lang|text
        assert len(fields) == 4 and fields[2] in ("zh", "ja", "en", "ko", "yue")
        assert fields[1] == t["speaker"] and fields[3] == t["text"]
        wav = Path(fields[0])
        assert wav.is_absolute() and wav.exists()
        pcm, wav_rate = _read_wav(wav)
        assert wav_rate == rate  # the video's own rate, not the 16 kHz clips
        assert abs(len(pcm) - ln.duration_ms * rate / 1000) <= 1
        direct = full[round(ln.start_ms * rate / 1000):][: len(pcm)]
        assert _corr(pcm, direct) >= 0.99
    assert fields[2] == "en"  # guessed from the text's script
    manifest = json.loads((out / "sgtui-export.json").read_text(encoding="utf-8"))
    assert manifest["episodes"][0]["audio"] == "source" and manifest["episodes"][0]["rate"] == rate


def test_bert_vits2_list_with_rate_and_padding(ep1, samples, tmp_path) -> None:
    out = tmp_path / "bv"
    _ok(run_cli("export", ep1, "--format", "bert-vits2", "-o", out, "--rate", "22050",
                "--pad-ms", "200", "--lang", "en"))
    rows = (out / "esd.list").read_text(encoding="utf-8").splitlines()
    full, _ = _source_audio(samples / "sample01.mp4", 22050)
    lines = {f"{ln.id:05d}": ln for ln in _lines(ep1)}  # WAVs carry the app's "line N"
    assert len(rows) == LINES
    for row in rows:
        wav, speaker, lang, text = row.split("|")  # Bert-VITS2 esd.list: 4 fields
        assert lang in ("ZH", "JP", "EN") and lang == "EN" and speaker and text
        pcm, rate = _read_wav(out / "raw" / wav)
        ln = lines[Path(wav).stem.rsplit("_", 1)[1]]
        start = max(ln.start_ms - 200, 0)
        end = min(ln.end_ms + 200, len(full) * 1000 / 22050)
        assert rate == 22050
        assert abs(len(pcm) - (end - start) * 22050 / 1000) <= 1
        assert _corr(pcm, full[round(start * 22050 / 1000):][: len(pcm)]) >= 0.99


def test_stored_clips_are_used_when_the_source_is_gone_and_said_so(ep1, samples, tmp_path) -> None:
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    video = shutil.copy(samples / "sample01.mp4", moved / "renamed.mp4")
    with Project.open(ep1) as p:
        p.meta_set("source_path", str(tmp_path / "gone.mp4"))
    out = tmp_path / "lj"
    err = _ok(run_cli("export", ep1, "--format", "ljspeech", "-o", out))
    assert "note:" in err and "stored 16 kHz clips" in err
    manifest = json.loads((out / "sgtui-export.json").read_text(encoding="utf-8"))
    assert manifest["episodes"][0]["audio"] == "clips" and "clips" in manifest["notes"][0]
    meta = (out / "Dora" / "metadata.csv").read_text(encoding="utf-8").splitlines()
    ident, text, normalized = meta[0].split("|")  # LJSpeech: id|text|normalized_text
    pcm, rate = _read_wav(out / "Dora" / "wavs" / f"{ident}.wav")
    assert rate == 16000 and text == normalized and len(pcm) > 0
    # --source DIR finds the moved video by size and fingerprint, whatever its name
    out2 = tmp_path / "lj2"
    err = _ok(run_cli("export", ep1, "--format", "ljspeech", "-o", out2, "--source", moved))
    assert "note:" not in err
    manifest = json.loads((out2 / "sgtui-export.json").read_text(encoding="utf-8"))
    assert manifest["episodes"][0]["source"] == str(Path(video).resolve())
    # a different video given as --source is refused, nothing written
    _refused(run_cli("export", ep1, "--format", "folders", "-o", tmp_path / "f",
                     "--source", samples / "sample02.mp4"), "not the video")
    assert not (tmp_path / "f").exists()


def test_a_season_is_one_dataset_with_speakers_joined_by_name(labelled, samples, tmp_path) -> None:
    out = tmp_path / "season"
    _ok(run_cli("export", labelled["sample01"], labelled["sample02"], "--format", "folders",
                "-o", out))
    truth = {n: _truth(samples, n) for n in ("sample01", "sample02")}
    speakers = {r["speaker"] for rows in truth.values() for r in rows}
    assert {p.name for p in out.iterdir() if p.is_dir()} == speakers
    both = {r["speaker"] for r in truth["sample01"]} & {r["speaker"] for r in truth["sample02"]}
    assert both, "the two sample episodes share their cast"
    for spk in both:
        eps = {f.name.rsplit("_", 1)[0] for f in (out / spk).glob("*.wav")}
        assert eps == {"sample01", "sample02"}
    for spk in speakers:
        n = sum(r["speaker"] == spk for rows in truth.values() for r in rows)
        assert len(list((out / spk).glob("*.wav"))) == n


def test_audiofolder_metadata(labelled, tmp_path) -> None:
    # Hugging Face `datasets` is not a dependency: tried here (datasets 5.2 with pyarrow,
    # 55 MB), its audiofolder builder refuses to build without torchcodec, a native package
    # tied to the torch build, even with Audio(decode=False). So this checks the
    # metadata.jsonl schema that builder reads: file_name relative to it, one JSON per row.
    out = tmp_path / "hf"
    _ok(run_cli("export", labelled["sample01"], labelled["sample02"], "--format", "audiofolder",
                "-o", out))
    rows = [json.loads(x) for x in (out / "metadata.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 2 * LINES
    for r in rows:
        assert {"file_name", "speaker", "text", "episode", "start", "end"} <= set(r)
        assert (out / r["file_name"]).is_file() and r["speaker"] and r["end"] > r["start"]
    assert {r["episode"] for r in rows} == {"sample01", "sample02"}


# ---------------------------------------------------------------- text formats

def test_rttm_scores_zero_der_against_the_truth(ep1, samples, tmp_path) -> None:
    from pyannote.core import Annotation, Segment
    from pyannote.database.util import load_rttm
    from pyannote.metrics.diarization import DiarizationErrorRate

    out = tmp_path / "ep.rttm"
    _ok(run_cli("export", ep1, "--format", "rttm", "-o", out))
    hyp = load_rttm(str(out))["sample01"]
    truth = Annotation(uri="sample01")
    for r in _truth(samples):
        # the ASS file stores centiseconds: the truth in the times the episode was cut at
        start, end = round(float(r["start"]) * 1000) // 10 * 10, round(float(r["end"]) * 1000) // 10 * 10
        truth[Segment(start / 1000, end / 1000)] = r["speaker"]
    assert DiarizationErrorRate()(truth, hyp) == 0.0
    assert set(hyp.labels()) == {r["speaker"] for r in _truth(samples)}


def test_srt_and_vtt_reread_with_times_and_speakers(ep1, samples, tmp_path) -> None:
    import pysubs2

    from sgtui.media.subtitles import read_subtitles

    lines = _lines(ep1)
    truth = _truth(samples)
    srt = tmp_path / "ep.srt"
    _ok(run_cli("export", ep1, "--format", "srt", "-o", srt))
    doc = pysubs2.load(str(srt))
    assert [(e.start, e.end) for e in doc.events] == [(ln.start_ms, ln.end_ms) for ln in lines]
    assert [e.text.split(": ", 1) for e in doc.events] == [[t["speaker"], t["text"]] for t in truth]
    vtt = tmp_path / "ep.vtt"
    _ok(run_cli("export", ep1, "--format", "vtt", "-o", vtt))
    doc = pysubs2.load(str(vtt))
    assert [(e.start, e.end) for e in doc.events] == [(ln.start_ms, ln.end_ms) for ln in lines]
    # pysubs2 drops WebVTT voice spans; sgtui's own subtitle reader keeps them as speakers
    assert [c.actor for c in read_subtitles(vtt).cues] == [t["speaker"] for t in truth]
    r = run_cli("export", ep1, "--format", "srt", "-o", "-", "--name-format", "[{name}] ")
    assert _ok(r) and r.stdout.splitlines()[2] == f"[{truth[0]['speaker']}] {truth[0]['text']}"


def test_ass_keeps_the_original_file_except_the_name_field(ep1, samples, tmp_path) -> None:
    import pysubs2

    truth = _truth(samples)
    with Project.open(ep1) as p:
        dora = next(c.id for c in p.clusters() if c.name == "Dora")
        p.rename(dora, "Doris", "tester")
    out = tmp_path / "ep.ass"
    _ok(run_cli("export", ep1, "--format", "ass", "-o", out))
    original = (samples / "sample01.ass").read_bytes().decode("utf-8").splitlines(keepends=True)
    exported = out.read_bytes().decode("utf-8").splitlines(keepends=True)
    assert len(exported) == len(original)
    changed = 0
    for a, b in zip(original, exported, strict=True):
        if a == b:
            continue
        fa, fb = a.split(","), b.split(",")
        assert fa[:4] == fb[:4] and fa[5:] == fb[5:], (a, b)  # everything but Name
        assert (fa[4], fb[4]) == ("Dora", "Doris")
        changed += 1
    assert changed == sum(t["speaker"] == "Dora" for t in truth) > 0
    doc = pysubs2.load(str(out))
    assert [s for s in doc.styles] == ["Default", "Thoughts", "OP", "Sign"]
    dialogue = [e for e in doc.events if e.style in ("Default", "Thoughts")]
    assert [e.name for e in dialogue] == [t["speaker"].replace("Dora", "Doris") for t in truth]
    assert [(e.start, e.end) for e in dialogue] == [(ln.start_ms, ln.end_ms) for ln in _lines(ep1)]


def test_chat_haruhi_text_and_csv_to_stdout(ep1, samples, tmp_path) -> None:
    truth = _truth(samples)
    r = run_cli("export", ep1, "--format", "chat-haruhi", "-o", "-")
    assert _ok(r) and r.stdout.splitlines() == [f"{t['speaker']}:「{t['text']}」" for t in truth]
    r = run_cli("export", ep1, "--format", "csv", "-o", "-", "--layout", "generic")
    rows = list(csv.DictReader(r.stdout.splitlines()))
    assert [x["speaker"] for x in rows] == [t["speaker"] for t in truth]
    # the exported CSV is a label file: importing it into a fresh copy changes nothing
    path = tmp_path / "labels.csv"
    _ok(run_cli("export", ep1, "--format", "csv", "-o", path))
    rep = json.loads(_ok_out(run_cli("labels", "import", ep1, path, "--json")))
    assert rep["labelled"] == LINES and rep["unmatched_rows"] == 0


def _ok_out(r) -> str:
    assert r.returncode == 0, r.stderr
    return r.stdout


# ---------------------------------------------------------------- which lines

def test_unnamed_clusters_only_under_a_placeholder(samples, tmp_path) -> None:
    p = tmp_path / "raw.sgproj"
    _ok(run_cli("ingest", samples / "sample01.mp4", "--subs", samples / "sample01.srt", "-o", p))
    with Project.open(p) as proj:
        ids = [ln.id for ln in proj.lines()]
        proj.add(ids[:5], None, "tester")
        proj.add(ids[5:12], None, "tester")
        clusters = [c.id for c in proj.clusters()]
    _refused(run_cli("export", p, "--format", "srt", "-o", tmp_path / "none.srt"),
             "no line is in a named cluster", "unnamed cluster 12", "unassigned 4")
    assert not (tmp_path / "none.srt").exists()
    out = tmp_path / "gs"
    err = _ok(run_cli("export", p, "--format", "gpt-sovits", "-o", out, "--include-unnamed"))
    assert "wrote 12 lines" in err and "unassigned 4" in err
    speakers = [row.split("|")[1] for row in (out / "gpt-sovits.list").read_text().splitlines()]
    assert speakers == [f"raw-c{clusters[0]}"] * 5 + [f"raw-c{clusters[1]}"] * 7
    assert all(speakers)


def test_filters_and_flags(ep1, samples, tmp_path, cli) -> None:
    truth = _truth(samples)
    lines = _lines(ep1)
    with Project.open(ep1) as p:
        p.flag([lines[0].id, lines[1].id], "overlap", "tester")
        p.flag([lines[2].id], "noise", "tester")
        p.flag([lines[2].id], "noise", "tester")  # a toggle: off again
        p.undo("tester")  # ... and back on
    info = json.loads(_ok_out(cli("info", ep1, "--json")))
    assert info["flags"] == {"overlap": 2, "noise": 1, "not_speech": 0, "wrong_subtitle": 0}
    ops = json.loads(_ok_out(cli("ops", ep1, "--json")))
    assert ops["raw"]["flag"] == 4 and ops["raw"]["undo"] == 1 and ops["net"]["add"] == 0
    out = tmp_path / "gs"
    err = _ok(cli("export", ep1, "--format", "gpt-sovits", "-o", out))
    assert "flagged 3" in err
    assert len((out / "gpt-sovits.list").read_text().splitlines()) == LINES - 3
    srt = _ok_out(cli("export", ep1, "--format", "srt", "-o", "-"))
    assert f"{truth[0]['speaker']}: [overlap] {truth[0]['text']}" in srt
    assert f"{truth[3]['speaker']}: {truth[3]['text']}" in srt
    durations = [ln.duration_ms / 1000 for ln in lines]
    err = _ok(cli("export", ep1, "--format", "rttm", "-o", "-", "--min-dur", "2.5",
                  "--speakers", "Dora,Chiyo"))
    kept = [i for i, t in enumerate(truth) if t["speaker"] in ("Dora", "Chiyo") and durations[i] >= 2.5]
    assert kept
    assert f"wrote {len(kept)} lines" in err and "speaker filter" in err
    _refused(cli("export", ep1, "--format", "rttm", "-o", "-", "--reviewed-only"),
             "--reviewed-only keeps none", f"none of the {LINES} lines", "0 reviewed")


def test_refusals_leave_everything_untouched(ep1, samples, tmp_path, cli) -> None:
    out = tmp_path / "ep.srt"
    out.write_text("mine")
    _refused(cli("export", ep1, "--format", "srt", "-o", out), "--force")
    assert out.read_text() == "mine"
    before = ep1.read_bytes()
    _refused(cli("export", ep1, "--format", "srt", "-o", ep1, "--force"), "is also an input")
    assert ep1.read_bytes() == before
    _refused(cli("export", ep1, "--format", "gpt-sovits", "-o", "-"), "folder")
    _refused(cli("export", ep1, "--format", "bert-vits2", "-o", tmp_path / "k", "--lang", "ko"), "ZH")
    _refused(cli("export", tmp_path / "nope.sgproj", "--format", "srt", "-o", "-"), "does not exist")
    _refused(cli("export", ep1, "--format", "srt", "-o", "-", "--name-format", "x"), "{name}")


def test_a_project_without_media_exports_text_and_says_it_has_no_audio(h3_project, shared_data,
                                                                        cli, tmp_path) -> None:
    _ok(cli("labels", "import", h3_project, shared_data / "haruhi03" / "Haruhi_03_annotate.csv"))
    rows = _ok_out(cli("export", h3_project, "--format", "chat-haruhi", "-o", "-")).splitlines()
    assert len(rows) == 440 and all(r.endswith("」") for r in rows)
    assert {r.split(":「", 1)[0] for r in rows} == {"阿虚", "春日", "古泉", "朝比奈", "长门"}
    out = tmp_path / "g"
    err = _ok(cli("export", h3_project, "--format", "gpt-sovits", "-o", out))
    assert "wrote 0 lines" in err and "no audio 440" in err
    manifest = json.loads((out / "sgtui-export.json").read_text(encoding="utf-8"))
    assert manifest["lang"] == "zh" and manifest["lines"] == 0 and not list(out.glob("wavs/*"))


def test_ass_names_change_only_the_name_field_whatever_the_file_looks_like() -> None:
    from sgtui.media import subtitles as subs

    text = (
        "\ufeff[Script Info]\r\nTitle: x\r\n\r\n[V4+ Styles]\r\nFormat: Name, Fontname\r\n"
        "Style: Default,Arial\r\nStyle: OP,Arial\r\n\r\n[Events]\r\n"
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\r\n"
        "Comment: 0,0:00:00.00,0:00:01.00,Default,,0,0,0,,a note\r\n"
        "Dialogue: 0,0:00:00.00,0:00:01.50,OP,,0,0,0,,{\\k40}La la\r\n"
        "Dialogue: 1,0:00:01.00,0:00:02.50,Default,Old,0,0,0,,{\\i1}Hello, there\\Nfriend\r\n"
        "Dialogue: 0,0:00:01.00,0:00:02.50,Default,Old,0,0,0,,{\\i1}Hello, there\\Nfriend\r\n"
        "Dialogue: 0,0:00:03.00,0:00:04.00,Default,,0,0,0,,Bye\r\n"
    )
    doc = subs.parse_subtitles(text, "ass")
    cues, _ = subs.select_styles(doc)
    assert [c.text for c in cues] == ["Hello, there friend", "Bye"]
    rows = subs.ass_event_rows(text, cues)
    assert rows == {12: 0, 13: 0, 14: 1}  # both layers of the duplicated line
    out = subs.set_ass_names(text, {r: ("Kyon, jr" if i == 0 else "Haruhi") for r, i in rows.items()},
                             {14: "{sgtui: noise}"})
    before, after = text.splitlines(keepends=True), out.splitlines(keepends=True)
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert changed == [12, 13, 14]
    assert after[12] == "Dialogue: 1,0:00:01.00,0:00:02.50,Default,Kyon  jr,0,0,0,,{\\i1}Hello, there\\Nfriend\r\n"
    assert after[14] == "Dialogue: 0,0:00:03.00,0:00:04.00,Default,Haruhi,0,0,0,,{sgtui: noise}Bye\r\n"


def test_an_ass_with_bom_and_crlf_comes_back_byte_identical_when_names_agree(samples, tmp_path) -> None:
    # the sample's Name fields already hold the true speakers: after importing the truth,
    # the export must be the very same bytes
    ass = tmp_path / "bom.ass"
    original = b"\xef\xbb\xbf" + (samples / "sample01.ass").read_bytes().replace(b"\n", b"\r\n")
    ass.write_bytes(original)
    p = tmp_path / "bom.sgproj"
    _ok(run_cli("ingest", samples / "sample01.mp4", "--subs", ass, "-o", p))
    _ok(run_cli("labels", "import", p, samples / "sample01.truth.csv"))
    out = tmp_path / "out.ass"
    _ok(run_cli("export", p, "--format", "ass", "-o", out))
    assert out.read_bytes() == original
