"""Label CSV files (docs/architecture.md, "The command line"): the Chat-Haruhi layout and the generic layout.

Files are read by header name (extra columns ignored), times parsed to integer ms, the
`(可能)` ("maybe") prefix marks a machine guess. `match_rows` pairs rows with lines by
time IoU, one row to one line.
"""

from __future__ import annotations

import bisect
import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sgtui.errors import SgtuiError

CHAT_HARUHI = ("人物", "人物台词", "开始时间", "结束时间")
GENERIC = ("start", "end", "speaker", "text")
MAYBE_PREFIXES = ("(可能)", "（可能）")
MIN_IOU = 0.5

_TIME = re.compile(r"^(\d+):(\d{1,2}):(\d{1,2})(?:([.,:])(\d{1,3}))?$")


@dataclass(frozen=True)
class LabelRow:
    start_ms: int
    end_ms: int
    speaker: str | None  # None: no label (never "unassign")
    text: str
    suggested: bool = False  # a machine guess, from the (可能) prefix


@dataclass
class MatchResult:
    line_to_row: dict[int, int] = field(default_factory=dict)  # line id -> row index
    line_to_speaker: dict[int, str] = field(default_factory=dict)
    unmatched_lines: list[int] = field(default_factory=list)
    unmatched_rows: list[int] = field(default_factory=list)
    ties: list[int] = field(default_factory=list)  # lines left out by a tie between speakers
    dropped_unlabelled: int = 0


MAX_TIME_MS = 1000 * 3_600_000  # 1000 hours: longer than any episode, far inside SQLite's range


def parse_time(value: str) -> int:
    """A time in H:MM:SS.cc, HH:MM:SS,mmm, HH:MM:SS.mmm, HH:MM:SS:mmm, H:MM:SS or seconds → ms."""
    ms = _parse_time(value)
    if ms > MAX_TIME_MS:
        raise SgtuiError(f"time {value.strip()[:40]!r} is beyond 1000 hours; fix the file")
    return ms


def _parse_time(value: str) -> int:
    s = value.strip()
    m = _TIME.match(s)
    if m:
        h, mi, sec, _, frac = m.groups()
        if int(mi) >= 60 or int(sec) >= 60:
            raise SgtuiError(f"time {value!r} has minutes or seconds ≥ 60; fix the file")
        ms = int(frac) * 10 ** (3 - len(frac)) if frac else 0
        return ((int(h) * 60 + int(mi)) * 60 + int(sec)) * 1000 + ms
    try:
        secs = float(s)
    except ValueError:
        raise SgtuiError(f"cannot read time {value!r}; use H:MM:SS.cc, HH:MM:SS,mmm, "
                         "HH:MM:SS.mmm, HH:MM:SS:mmm, H:MM:SS or seconds") from None
    if secs < 0 or secs != secs or secs == float("inf"):
        raise SgtuiError(f"time {value!r} is negative or not finite; fix the file")
    return round(secs * 1000)


def format_time(ms: int) -> str:
    """HH:MM:SS.mmm, the export format."""
    h, rest = divmod(int(ms), 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, milli = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{milli:03d}"


def _speaker(raw: str | None) -> tuple[str | None, bool]:
    name = (raw or "").strip()
    for prefix in MAYBE_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix):].strip()
            return (name or None), True
    return (name or None), False


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SgtuiError(f"cannot read {path} ({exc.strerror}); check the path") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SgtuiError(f"{path} is not UTF-8 text; save it as UTF-8 (with or without BOM)") from None


def read_label_csv(path: str | Path) -> tuple[str, list[LabelRow]]:
    """Read a label file; returns (layout name, rows). Layout: 'chat-haruhi' or 'generic'."""
    path = Path(path)
    if not path.is_file():
        raise SgtuiError(f"{path} does not exist or is not a file; check the path")
    reader = csv.DictReader(io.StringIO(_read_text(path), newline=""))
    try:
        return _read_rows(path, reader)
    except csv.Error as exc:  # e.g. a field over the csv module's 131,072-character limit
        raise SgtuiError(f"{path}, line {reader.line_num + 1}: not valid CSV ({exc}); "
                         "fix the file") from None


def _read_rows(path: Path, reader: csv.DictReader) -> tuple[str, list[LabelRow]]:
    header = [h.strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    if all(h in header for h in (CHAT_HARUHI[0], CHAT_HARUHI[2], CHAT_HARUHI[3])):
        layout, cols = "chat-haruhi", CHAT_HARUHI
    elif "start" in header and "end" in header:
        layout, cols = "generic", GENERIC
    else:
        raise SgtuiError(f"{path}: header {header or '(none)'} is not a label layout; expected "
                         "人物,人物台词,开始时间,结束时间 or start,end[,speaker][,text]")
    rows = []
    for n, rec in enumerate(reader, start=2):
        try:
            start, end = parse_time(rec.get(cols[2] if layout == "chat-haruhi" else "start") or ""), \
                parse_time(rec.get(cols[3] if layout == "chat-haruhi" else "end") or "")
        except SgtuiError as exc:
            raise SgtuiError(f"{path}, line {n}: {exc}") from None
        if end < start:
            raise SgtuiError(f"{path}, line {n}: ends before it starts; fix the times")
        spk_col, text_col = (cols[0], cols[1]) if layout == "chat-haruhi" else ("speaker", "text")
        speaker, maybe = _speaker(rec.get(spk_col))
        rows.append(LabelRow(start, end, speaker, (rec.get(text_col) or "").strip(), maybe))
    return layout, rows


def write_label_csv(path: str | Path, rows: Sequence[LabelRow], layout: str = "chat-haruhi") -> None:
    """Write rows; Chat-Haruhi layout (UTF-8 with BOM, HH:MM:SS.mmm) or generic (seconds)."""
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    if layout == "chat-haruhi":
        w.writerow(CHAT_HARUHI)
        for r in rows:
            w.writerow([r.speaker or "", r.text, format_time(r.start_ms), format_time(r.end_ms)])
        data = "\ufeff" + buf.getvalue()
    elif layout == "generic":
        w.writerow(GENERIC)
        for r in rows:
            w.writerow([f"{r.start_ms / 1000:.3f}", f"{r.end_ms / 1000:.3f}", r.speaker or "", r.text])
        data = buf.getvalue()
    else:
        raise SgtuiError(f"unknown layout {layout!r}; use chat-haruhi or generic")
    out = Path(path)
    tmp = out.with_name(out.name + ".part")  # whole or not at all (a full disk, an interrupt)
    try:
        tmp.write_text(data, encoding="utf-8", newline="")
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)


def iou(a0: int, a1: int, b0: int, b1: int) -> float:
    inter = min(a1, b1) - max(a0, b0)
    if inter <= 0:
        return 1.0 if (a0 == b0 and a1 == b1) else 0.0
    return inter / (max(a1, b1) - min(a0, b0))


def match_rows(lines: Sequence, rows: Sequence[LabelRow]) -> MatchResult:
    """Pair each line with the labelled row of highest time IoU ≥ 0.5, one row to one line.

    `lines` need .id, .start_ms, .end_ms. Rows with no speaker are dropped first; a line
    whose best rows tie between different speakers is left unmatched (reported in `ties`).
    """
    result = MatchResult()
    labelled = [i for i, r in enumerate(rows) if r.speaker]
    result.dropped_unlabelled = len(rows) - len(labelled)
    order = sorted(labelled, key=lambda i: rows[i].start_ms)
    starts = [rows[i].start_ms for i in order]
    max_len = max((rows[i].end_ms - rows[i].start_ms for i in order), default=0)
    pairs: list[tuple[float, int, int]] = []
    tied: set[int] = set()
    for ln in lines:
        # a row overlapping the line starts before the line ends and after line.start - max_len
        lo = bisect.bisect_left(starts, ln.start_ms - max_len)
        hi = bisect.bisect_right(starts, ln.end_ms)
        cands = []
        for k in range(lo, hi):
            ri = order[k]
            v = iou(ln.start_ms, ln.end_ms, rows[ri].start_ms, rows[ri].end_ms)
            if v >= MIN_IOU:
                cands.append((v, ri))
        if not cands:
            continue
        best = max(v for v, _ in cands)
        top_speakers = {rows[ri].speaker for v, ri in cands if abs(v - best) < 1e-12}
        if len(top_speakers) > 1:
            tied.add(ln.id)
            continue
        pairs.extend((v, ln.id, ri) for v, ri in cands)
    pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
    used_rows: set[int] = set()
    for _, lid, ri in pairs:
        if lid in result.line_to_row or ri in used_rows:
            continue
        result.line_to_row[lid] = ri
        result.line_to_speaker[lid] = rows[ri].speaker  # type: ignore[assignment]
        used_rows.add(ri)
    result.ties = sorted(tied)
    result.unmatched_lines = [ln.id for ln in lines if ln.id not in result.line_to_row]
    result.unmatched_rows = [i for i in labelled if i not in used_rows]
    return result
