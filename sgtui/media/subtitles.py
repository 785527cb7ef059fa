"""Subtitle files -> clean dialogue cues (SRT, ASS/SSA, WebVTT; any common encoding).

What "clean" means (so every reader of a .sgproj can rely on it):
- markup removed: ASS override blocks ``{...}``, ``\\N``/``\\h``, HTML/WebVTT tags;
- multi-line cues joined into one line (a space between words, none between CJK characters);
- drawings (``{\\p1}``) and comments dropped; zero-length or negative cues dropped and counted;
- exact duplicates (same start, end and text, e.g. a fansub's shadow layer) merged into one.

Speaker names that a file carries become the cue's ``actor``: the ASS Name/Actor field and
the WebVTT ``<v Name>`` voice span. Which styles count as dialogue is decided by
:func:`select_styles` (its docstring states the default rule).
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from sgtui.errors import SgtuiError
from sgtui.media.encoding import decode_subtitle_bytes

SUBTITLE_SUFFIXES = (".ass", ".ssa", ".srt", ".vtt")


@dataclass(frozen=True)
class Cue:
    """One subtitle event, times in integer milliseconds."""

    start_ms: int
    end_ms: int
    text: str
    style: str | None = None
    actor: str | None = None


@dataclass(frozen=True)
class StyleInfo:
    name: str
    count: int
    kept: bool
    reason: str


@dataclass(frozen=True)
class SubtitleDoc:
    """A parsed file before style selection: raw events plus what cleaning reported."""

    cues: tuple[Cue, ...]
    format: str
    encoding: str
    dropped_bad_times: int = 0
    dropped_empty: int = 0
    merged_duplicates: int = 0
    # per style: fraction of its events that carried karaoke or positioning tags
    typeset_share: dict[str, float] = field(default_factory=dict)
    # the decoded file as read, kept so an export can rewrite it (ASS keeps its styles)
    text: str = field(default="", repr=False)


# ---------------------------------------------------------------- reading

def read_subtitles(path: str | Path, encoding: str | None = None) -> SubtitleDoc:
    """Read and clean a subtitle file; one-line SgtuiError for anything unusable."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise SgtuiError(f"cannot read subtitles {p}: {exc.strerror}") from exc
    if not data.strip():
        raise SgtuiError(f"subtitle file {p} is empty; give a file with dialogue lines")
    text, enc = decode_subtitle_bytes(data, encoding, what=str(p))
    fmt = guess_format(p.name, text)
    return parse_subtitles(text, fmt, encoding=enc, what=str(p))


def guess_format(name: str, text: str) -> str:
    """'ass', 'ssa', 'vtt' or 'srt', from the content first and the file name second."""
    head = text.lstrip("\ufeff \r\n\t")[:2000].lower()
    if head.startswith("webvtt"):
        return "vtt"
    if "[script info]" in head or "[v4+ styles]" in head or "[events]" in head:
        return "ssa" if "[v4 styles]" in head else "ass"
    suffix = Path(name).suffix.lower().lstrip(".")
    return suffix if suffix in ("ass", "ssa", "vtt", "srt") else "srt"


def parse_subtitles(text: str, fmt: str, encoding: str = "utf-8", what: str = "subtitles") -> SubtitleDoc:
    """Parse decoded subtitle text of a known format and clean it."""
    if fmt in ("ass", "ssa"):
        raw, typeset = _parse_ass(text, what)
    elif fmt == "vtt":
        raw, typeset = _parse_vtt(text), {}
    elif fmt == "srt":
        raw, typeset = _parse_srt(text), {}
    else:
        raise SgtuiError(f"{what}: subtitle format {fmt!r} is not supported; use SRT, ASS/SSA or WebVTT")
    if not raw:
        raise SgtuiError(f"{what} holds no subtitle lines; check that it is an {fmt.upper()} file with dialogue")
    return replace(_clean(raw, fmt, encoding, typeset), text=text)


@dataclass
class _Raw:
    start_ms: int
    end_ms: int
    text: str  # already stripped of markup
    style: str | None
    actor: str | None


def _parse_ass(text: str, what: str) -> tuple[list[_Raw], dict[str, float]]:
    import pysubs2

    try:
        with warnings.catch_warnings():  # SSA v4 "Marked=" layers: pysubs2 warns, we don't care
            warnings.simplefilter("ignore")
            doc = pysubs2.SSAFile.from_string(text, format_="ass")
    except Exception as exc:  # pysubs2 raises several types for malformed files
        raise SgtuiError(f"{what} is not a readable ASS/SSA file ({exc})") from exc
    out: list[_Raw] = []
    tagged: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for ev in doc.events:
        if ev.is_comment:
            continue
        if _DRAWING.search(ev.text):
            continue
        total[ev.style] += 1
        if _TYPESET.search(ev.text):
            tagged[ev.style] += 1
        out.append(_Raw(int(ev.start), int(ev.end), strip_markup(ev.text), ev.style,
                        ev.name.strip() or None))
    return out, {s: tagged[s] / total[s] for s in total}


def _parse_srt(text: str) -> list[_Raw]:
    import pysrt

    items = pysrt.from_string(text)
    return [_Raw(int(it.start.ordinal), int(it.end.ordinal), strip_markup(it.text), None, None)
            for it in items]


_VTT_TIME = re.compile(
    r"^\s*((?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})\s*-->\s*((?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})")
_VTT_VOICE = re.compile(r"<v(?:\.[^\s>]*)?\s+([^>]+)>")


def _parse_vtt(text: str) -> list[_Raw]:
    """A small WebVTT reader: cue timings, payload, and the first <v Name> as actor."""
    out: list[_Raw] = []
    blocks = re.split(r"\r?\n\s*\r?\n", text.replace("\r\n", "\n").lstrip("\ufeff"))
    for block in blocks:
        lines = [ln for ln in block.split("\n") if ln.strip() != ""]
        for i, line in enumerate(lines):
            m = _VTT_TIME.match(line)
            if m:
                payload = "\n".join(lines[i + 1:])
                voice = _VTT_VOICE.search(payload)
                out.append(_Raw(_vtt_ms(m.group(1)), _vtt_ms(m.group(2)), strip_markup(payload),
                                None, voice.group(1).strip() if voice else None))
                break
    return out


def _vtt_ms(stamp: str) -> int:
    parts = stamp.replace(",", ".").split(":")
    secs = float(parts[-1])
    mins = int(parts[-2])
    hours = int(parts[-3]) if len(parts) == 3 else 0
    return int(round((hours * 3600 + mins * 60 + secs) * 1000))


# ---------------------------------------------------------------- cleaning

_DRAWING = re.compile(r"\{[^}]*\\p[1-9]")
_TYPESET = re.compile(r"\\(?:k|K|kf|ko)\d|\\(?:pos|move)\(")
_OVERRIDE = re.compile(r"\{[^}]*\}")
_HTML = re.compile(r"</?[A-Za-z][^<>]*>|<\d{1,2}:\d{2}[^<>]*>")
_CJK = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")


def strip_markup(text: str) -> str:
    """Markup-free, single-line text (see the module docstring)."""
    t = _OVERRIDE.sub("", text)
    t = t.replace("\\N", "\n").replace("\\n", "\n").replace("\\h", " ")
    t = _HTML.sub("", t)
    t = t.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&nbsp;", " ")
    parts = [" ".join(p.split()) for p in t.split("\n")]
    parts = [p for p in parts if p]
    joined = ""
    for p in parts:
        if joined and not (_CJK.match(joined[-1]) and _CJK.match(p[0])):
            joined += " "
        joined += p
    return joined


def _clean(raw: list[_Raw], fmt: str, encoding: str, typeset: dict[str, float]) -> SubtitleDoc:
    bad = empty = dup = 0
    seen: dict[tuple[int, int, str], int] = {}
    cues: list[Cue] = []
    for r in raw:
        if r.end_ms <= r.start_ms or r.start_ms < 0:
            bad += 1
            continue
        if not r.text:
            empty += 1
            continue
        key = (r.start_ms, r.end_ms, r.text)
        if key in seen:
            dup += 1
            i = seen[key]
            if cues[i].actor is None and r.actor:
                c = cues[i]
                cues[i] = Cue(c.start_ms, c.end_ms, c.text, c.style, r.actor)
            continue
        seen[key] = len(cues)
        cues.append(Cue(r.start_ms, r.end_ms, r.text, r.style, r.actor))
    cues.sort(key=lambda c: (c.start_ms, c.end_ms))
    return SubtitleDoc(tuple(cues), fmt, encoding, bad, empty, dup, typeset)


# ---------------------------------------------------------------- styles

_NON_DIALOGUE_NAME = re.compile(
    r"(?:^|[^a-z])(op|ed|opening|ending|song|songs|insert|lyrics?|karaoke|kara|romaji|kanji|"
    r"sign|signs|title|titles|note|notes|tl|tlnote|caption|logo|credits?|staff|eyecatch|"
    r"preview|next|typeset|ts)(?:[^a-z]|$)",
    re.IGNORECASE,
)
_OP_ED_PREFIX = re.compile(r"(?:OP|ED)(?:[A-Z0-9_\-\s]|$)")  # OPJP, ED2, OP_Kanji
DEFAULT_STYLE_RULE = (
    "by default a style is dialogue unless its name names songs or signs (OP, ED, song, "
    "insert, lyrics, karaoke, romaji, sign, title, note, TL, credits, eyecatch, preview...) "
    "or most of its lines carry karaoke (\\k) or positioning (\\pos, \\move) tags; if no style "
    "is left, the most common style is kept (Chat-Haruhi's rule)"
)


def select_styles(doc: SubtitleDoc, keep: list[str] | None = None,
                  exclude: list[str] | None = None) -> tuple[list[Cue], list[StyleInfo]]:
    """Keep the dialogue cues; return them with a per-style report.

    Default rule: a style is dialogue unless its name names songs or signs (OP, ED, song,
    insert, lyrics, karaoke, romaji, sign, title, note, TL, credits, eyecatch, preview, ...)
    or more than half of its lines carry karaoke (``\\k``) or positioning (``\\pos``,
    ``\\move``) tags. If that leaves no style, the most common style is kept
    (Chat-Haruhi's rule). ``keep`` replaces the default rule; ``exclude`` is applied last.
    Files without styles (SRT, WebVTT) keep every cue.
    """
    counts = Counter(c.style for c in doc.cues)
    names = [s for s in counts if s is not None]
    for wanted in (keep or []) + (exclude or []):
        if wanted not in counts:
            listed = ", ".join(sorted(names)) or "none (the file has no styles)"
            raise SgtuiError(f"style {wanted!r} is not in the subtitles; its styles are: {listed}")
    decision: dict[str | None, tuple[bool, str]] = {}
    for s in counts:
        if s is None:
            decision[s] = (True, "no styles in file")
        elif keep:
            decision[s] = (s in keep, "--style" if s in keep else "not named by --style")
        elif _NON_DIALOGUE_NAME.search(s) or _OP_ED_PREFIX.match(s):
            decision[s] = (False, "name says song/sign")
        elif doc.typeset_share.get(s, 0.0) > 0.5:
            decision[s] = (False, "mostly karaoke/positioned lines")
        else:
            decision[s] = (True, "dialogue")
    if not keep and not any(k for k, _ in decision.values()) and counts:
        top = counts.most_common(1)[0][0]
        decision[top] = (True, "most common style (no style looked like dialogue)")
    for s in exclude or []:
        decision[s] = (False, "--exclude-style")
    report = [StyleInfo(s or "", counts[s], decision[s][0], decision[s][1])
              for s, _ in counts.most_common()]
    kept = [c for c in doc.cues if decision[c.style][0]]
    return kept, report


# ---------------------------------------------------------------- writing times

def _srt_time_text(ms: int) -> str:
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def _ass_time_text(ms: int) -> str:
    cs = int(round(ms / 10))
    return f"{cs // 360000}:{cs // 6000 % 60:02d}:{cs // 100 % 60:02d}.{cs % 100:02d}"


# ---------------------------------------------------------------- ASS events, raw

@dataclass(frozen=True)
class AssEvent:
    """A Dialogue row of an ASS/SSA file as written: where it is and its parsed fields."""

    row: int  # index in text.splitlines(keepends=True)
    start_ms: int
    end_ms: int
    style: str
    text: str  # cleaned like a Cue's text


def ass_events(text: str) -> tuple[list[AssEvent], int | None]:
    """Every Dialogue row of an ASS/SSA text, and the index of its Name field (None if none).

    Read straight from the text (not re-serialised), so a caller can change one field of
    one row and leave every other byte of the file as it was.
    """
    import pysubs2.time

    events: list[AssEvent] = []
    fmt: list[str] = []
    section = ""
    for row, raw in enumerate(text.splitlines(keepends=True)):
        line = raw.strip().lstrip("\ufeff")
        if line.startswith("[") and line.endswith("]"):
            section = line.lower()
            continue
        if section != "[events]" or ":" not in line:
            continue
        kind, rest = line.split(":", 1)
        if kind.strip().lower() == "format":
            fmt = [f.strip().lower() for f in rest.split(",")]
            continue
        if kind.strip().lower() != "dialogue" or not fmt:
            continue
        fields = [f.strip() for f in rest.lstrip().split(",", len(fmt) - 1)]
        if len(fields) != len(fmt):
            continue
        rec = dict(zip(fmt, fields, strict=True))
        start = pysubs2.time.TIMESTAMP.match(rec.get("start", ""))
        end = pysubs2.time.TIMESTAMP.match(rec.get("end", ""))
        body = rec.get("text", "")
        if not start or not end or _DRAWING.search(body):
            continue
        events.append(AssEvent(row, pysubs2.time.timestamp_to_ms(start.groups()),
                               pysubs2.time.timestamp_to_ms(end.groups()),
                               rec.get("style", "").lstrip("*"), strip_markup(body)))
    name_at = next((i for i, f in enumerate(fmt) if f in ("name", "actor")), None)
    return events, name_at


def ass_event_rows(text: str, cues: list[Cue]) -> dict[int, int]:
    """Row of the ASS text -> index of the cue it became (a merged duplicate maps too)."""
    events, _ = ass_events(text)
    index = {(c.start_ms, c.end_ms, c.style or "", c.text): i for i, c in enumerate(cues)}
    out = {}
    for ev in events:
        i = index.get((ev.start_ms, ev.end_ms, ev.style, ev.text))
        if i is not None:
            out[ev.row] = i
    return out


def set_ass_names(text: str, names: dict[int, str], notes: dict[int, str] | None = None) -> str:
    """The ASS text with the Name field of the given rows replaced; every other byte kept.

    `notes` (row -> an ASS comment block such as ``{note}``) are put before a row's text.
    """
    _, name_at = ass_events(text)
    if name_at is None:
        raise SgtuiError("the stored ASS file has no Name field in its [Events] Format line")
    rows = text.splitlines(keepends=True)
    for row, name in names.items():
        raw = rows[row]
        body = raw.rstrip("\r\n")
        ending = raw[len(body):]
        kind, rest = body.split(":", 1)
        lead = rest[: len(rest) - len(rest.lstrip())]
        fields = rest.lstrip().split(",", _field_count(text) - 1)
        fields[name_at] = name.replace(",", " ").replace("\n", " ").strip()
        fields[-1] = (notes or {}).get(row, "") + fields[-1]
        rows[row] = f"{kind}:{lead}{','.join(fields)}{ending}"
    return "".join(rows)


def _field_count(text: str) -> int:
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line.lower()
        elif section == "[events]" and line.lower().startswith("format:"):
            return len(line.split(":", 1)[1].split(","))
    return 10
