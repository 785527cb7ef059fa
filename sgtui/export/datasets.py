"""Voice-training datasets: one WAV per line plus the list or metadata each tool reads.

| format | layout |
|---|---|
| gpt-sovits | `wavs/*.wav`, `gpt-sovits.list`: `ABS_WAV|speaker|lang|text`, lang zh ja en ko yue |
| bert-vits2 | `raw/*.wav`, `esd.list`: `WAV|speaker|ZH/JP/EN|text` (Style-Bert-VITS2 layout) |
| ljspeech | `SPEAKER/wavs/*.wav`, `SPEAKER/metadata.csv`: `id|text|normalized_text` |
| audiofolder | `audio/*.wav`, `metadata.jsonl`: file_name, speaker, text, episode, start, end |
| folders | `SPEAKER/*.wav` (RVC, so-vits-svc) |

Every export also writes `sgtui-export.json`: where each episode's audio came from (the
source video or the stored clips), the rate, padding, speakers, what was left out and
every file written (`folder.py`: how `--force` recognises an earlier export by it).

WAVs are named `EPISODE_NNNNN.wav` with the line's id, the number the app shows as
"line N" and `sgtui clip` takes.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sgtui.errors import SgtuiError
from sgtui.export.audio_source import (
    CLIP_RATE,
    cut_clips,
    cut_source,
    native_rate,
    plan_audio,
    write_wav,
)
from sgtui.export.folder import MANIFEST, write_manifest
from sgtui.export.select import Episode, ExportLine, safe_name

FORMATS = ("gpt-sovits", "bert-vits2", "ljspeech", "audiofolder", "folders")
LANGS = ("zh", "ja", "en", "ko", "yue")
BERT_VITS2_LANG = {"zh": "ZH", "ja": "JP", "en": "EN"}
NO_AUDIO = "no audio"

Progress = Callable[[int | None, str], AbstractContextManager[Callable[[int], None]]]


@dataclass
class DatasetReport:
    written: int = 0
    speakers: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    lang: str = ""
    files: list[str] = field(default_factory=list)


_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af]")
_HAN = re.compile(r"[\u3400-\u9fff]")


def guess_lang(texts: Sequence[str]) -> str:
    """zh / ja / ko / en from the writing system of the lines (kana means Japanese)."""
    joined = "".join(texts)
    if _KANA.search(joined):
        return "ja"
    if _HANGUL.search(joined):
        return "ko"
    if _HAN.search(joined):
        return "zh"
    return "en"


def _text(s: str) -> str:
    """A line's text as one list field: no separator, no line break."""
    return " ".join(s.replace("|", " ").split())


def _stem(el: ExportLine) -> str:
    return f"{safe_name(el.episode)}_{el.line.id:05d}"  # "line N" as the app shows it


def wav_path(fmt: str, el: ExportLine) -> str:
    """Where a line's WAV goes, relative to the output folder."""
    stem = _stem(el)
    spk = safe_name(el.speaker)
    return {
        "gpt-sovits": f"wavs/{stem}.wav",
        "bert-vits2": f"raw/{stem}.wav",
        "ljspeech": f"{spk}/wavs/{stem}.wav",
        "audiofolder": f"audio/{stem}.wav",
        "folders": f"{spk}/{stem}.wav",
    }[fmt]


def _unmet(rate: int | None, pad_ms: int) -> list[str]:
    """The audio options the stored 16 kHz clips (no context around a line) cannot give."""
    return ([f"--rate {rate}"] if rate is not None and rate != CLIP_RATE else []) + \
        ([f"--pad-ms {pad_ms}"] if pad_ms > 0 else [])


def write_dataset(fmt: str, episodes: list[Episode], out: Path, *, lang: str = "auto",
                  source: Path | None = None, rate: int | None = None, pad_ms: int = 0,
                  allow_stored: bool = False, final: Path | None = None,
                  progress: Progress | None = None) -> DatasetReport:
    """Write the dataset into the empty folder `out`; returns what was written.

    `final` is where the folder will be once complete (`folder.new_folder`): the absolute
    paths in lists point there. `--rate`/`--pad-ms` for an episode whose source video is
    not at hand are refused unless `allow_stored` (then the output and manifest say they
    were not applied). Everything is checked before the first file is written.
    """
    final = final or out
    if fmt not in FORMATS:
        raise ValueError(fmt)
    if lang == "auto":
        lang = guess_lang([el.line.text for ep in episodes for el in ep.lines])
    if lang not in LANGS:
        raise SgtuiError(f"unknown language {lang!r}; use one of {', '.join(LANGS)} or auto")
    if fmt == "bert-vits2" and lang not in BERT_VITS2_LANG:
        raise SgtuiError(f"Bert-VITS2 lists know only ZH, JP and EN, not {lang!r}; "
                         "pass --lang zh, ja or en")
    if pad_ms < 0:
        raise SgtuiError("--pad-ms must be 0 or more")
    if rate is not None and not 8000 <= rate <= 192000:
        raise SgtuiError(f"--rate {rate} is not a usable sample rate; give 8000 to 192000 Hz")
    report = DatasetReport(lang=lang)
    plans = plan_audio(episodes, source)
    unmet = _unmet(rate, pad_ms)
    stored = [ep for ep, plan in zip(episodes, plans, strict=True) if plan.source is None]
    if unmet and stored and not allow_stored:
        more = f" and {len(stored) - 1} more" if len(stored) > 1 else ""
        raise SgtuiError(f"{' and '.join(unmet)} cannot be applied to {stored[0].title}{more}: "
                         f"{plans[episodes.index(stored[0])].note.split(';')[0]}; give the video "
                         "with --source FILE|DIR, or pass --allow-stored to export the stored "
                         "16 kHz clips without them")
    out.mkdir(exist_ok=True)
    total = sum(len(ep.lines) for ep in episodes)
    rows: list[tuple[ExportLine, str, int, int]] = []  # line, wav path, rate, samples
    manifest_eps = []
    with _progress(progress, total, "export") as advance:
        for ep, plan in zip(episodes, plans, strict=True):
            if plan.source is not None:
                ep_rate = rate or native_rate(plan.source, int(ep.meta.get("audio_track", "0")))
                cuts = cut_source(plan.source, ep.lines, ep_rate, pad_ms,
                                  int(ep.meta.get("audio_track", "0")))
                ep_pad = pad_ms
            else:
                ep_rate, ep_pad = CLIP_RATE, 0
                cuts = cut_clips(ep.path, ep.lines)
                report.notes.append(f"{ep.title}: {plan.note}"
                                    + (f"; {' and '.join(unmet)} NOT applied (--allow-stored)"
                                       if unmet else ""))
            for el, pcm in cuts:
                advance(1)
                if not len(pcm):  # no stored clip (a project made from features) or no sound
                    ep.left_out[NO_AUDIO] += 1
                    continue
                rel = wav_path(fmt, el)
                write_wav(out / rel, pcm, ep_rate)
                rows.append((el, rel, ep_rate, len(pcm)))
            manifest_eps.append({
                "project": str(ep.path), "title": ep.title,
                "audio": "source" if plan.source else "clips",
                "source": str(plan.source) if plan.source else None,
                "rate": ep_rate, "pad_ms": ep_pad, "note": plan.note,
                "rate_asked": rate, "pad_ms_asked": pad_ms,
                "not_applied": unmet if plan.source is None else [],
                "left_out": dict(ep.left_out),
                "lines": sum(1 for r in rows if r[0].episode == ep.title),
            })
    _write_lists(fmt, out, rows, lang, report, final)
    report.written = len(rows)
    report.speakers = Counter(el.speaker for el, *_ in rows)
    manifest = {
        "format": fmt, "lang": lang, "lines": len(rows), "speakers": dict(report.speakers),
        "episodes": manifest_eps,
        "left_out": dict(sum((ep.left_out for ep in episodes), Counter())),
        "notes": report.notes,
    }
    write_manifest(out, manifest)
    report.files.append(MANIFEST)
    return report


def _write_lists(fmt: str, out: Path, rows: list[tuple[ExportLine, str, int, int]], lang: str,
                 report: DatasetReport, final: Path) -> None:
    if fmt == "gpt-sovits":
        where = final.resolve()
        body = "".join(f"{where / rel}|{_text(el.speaker)}|{lang}|{_text(el.line.text)}\n"
                       for el, rel, *_ in rows)
        _write(out / "gpt-sovits.list", body, report, out)
    elif fmt == "bert-vits2":
        code = BERT_VITS2_LANG[lang]
        body = "".join(f"{Path(rel).name}|{_text(el.speaker)}|{code}|{_text(el.line.text)}\n"
                       for el, rel, *_ in rows)
        _write(out / "esd.list", body, report, out)
    elif fmt == "ljspeech":
        per: dict[str, list[str]] = {}
        for el, rel, *_ in rows:
            t = _text(el.line.text)
            per.setdefault(safe_name(el.speaker), []).append(f"{Path(rel).stem}|{t}|{t}\n")
        for spk, lines in per.items():
            _write(out / spk / "metadata.csv", "".join(lines), report, out)
    elif fmt == "audiofolder":
        body = "".join(json.dumps({
            "file_name": rel, "speaker": el.speaker, "text": el.line.text, "episode": el.episode,
            "start": el.line.start_ms / 1000, "end": el.line.end_ms / 1000,
            "flags": list(el.flags),
        }, ensure_ascii=False) + "\n" for el, rel, *_ in rows)
        _write(out / "metadata.jsonl", body, report, out)


def _write(path: Path, body: str, report: DatasetReport, out: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8", newline="\n")
    report.files.append(str(path.relative_to(out)))


@contextmanager
def _silent(total: int | None, desc: str) -> Iterator[Callable[[int], None]]:
    yield lambda n=1: None


def _progress(factory: Progress | None, total: int, desc: str
              ) -> AbstractContextManager[Callable[[int], None]]:
    return (factory or _silent)(total, desc)
