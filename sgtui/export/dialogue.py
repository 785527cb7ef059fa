"""Dialogue with speakers as text: Chat-Haruhi's `角色:「台词」` lines and the label CSVs.

Flags are kept: Chat-Haruhi text gets `` [overlap]`` after the closing bracket; the generic
CSV layout gets a `flags` column (`;`-separated; `labels import` ignores it). The
Chat-Haruhi CSV layout keeps its four columns, exactly as `labels export` writes them.
"""

from __future__ import annotations

import csv
import io

from sgtui.export.select import Episode
from sgtui.project.labels_csv import CHAT_HARUHI, GENERIC, format_time


def chat_haruhi(episodes: list[Episode]) -> str:
    out = []
    for ep in episodes:
        for el in ep.lines:
            note = "".join(f" [{f}]" for f in el.flags)
            out.append(f"{el.speaker}:「{el.line.text}」{note}\n")
    return "".join(out)


def csv_text(ep: Episode, layout: str = "chat-haruhi") -> str:
    """One episode as a label CSV (the layouts `labels import` reads)."""
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    if layout == "chat-haruhi":
        w.writerow(CHAT_HARUHI)
        for el in ep.lines:
            ln = el.line
            w.writerow([el.speaker, ln.text, format_time(ln.start_ms), format_time(ln.end_ms)])
        return "\ufeff" + buf.getvalue()
    w.writerow([*GENERIC, "flags"])
    for el in ep.lines:
        ln = el.line
        w.writerow([f"{ln.start_ms / 1000:.3f}", f"{ln.end_ms / 1000:.3f}", el.speaker, ln.text,
                    ";".join(el.flags)])
    return buf.getvalue()
