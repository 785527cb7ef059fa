"""Subtitles with speakers: SRT (`Name: ` prefix), WebVTT (`<v Name>`), ASS (Name field).

Times are the lines' own milliseconds. A flagged line stays in, with its flags noted where
the format allows it without changing what viewers see: WebVTT gets a ``NOTE`` block
before the cue, ASS a ``{sgtui: overlap}`` comment block (players ignore it); SRT has no
comments, so its text gets a visible ``[overlap]`` after the name.

An episode ingested from an ASS file is exported as THAT file: styles, script info and
every event the style rule left out stay byte-for-byte; only the Name field of the lines
exported is filled (and the comment block of flagged ones). Output is UTF-8 (with a BOM when
the original had one); a file in another encoding is re-encoded, its text unchanged.
"""

from __future__ import annotations

import json

from sgtui.export.select import Episode, ExportLine
from sgtui.media import subtitles as subs

DEFAULT_NAME_FORMAT = "{name}: "


def _srt_time(ms: int) -> str:
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def _vtt_time(ms: int) -> str:
    return _srt_time(ms).replace(",", ".")


def _note(el: ExportLine) -> str:
    return "".join(f"[{f}] " for f in el.flags)


def srt(ep: Episode, name_format: str = DEFAULT_NAME_FORMAT) -> str:
    """SubRip: each cue's text is `name_format` (with {name}) + flags + the line's text."""
    blocks = []
    for i, el in enumerate(ep.lines, 1):
        ln = el.line
        text = name_format.format(name=el.speaker) + _note(el) + ln.text
        blocks.append(f"{i}\n{_srt_time(ln.start_ms)} --> {_srt_time(ln.end_ms)}\n{text}\n")
    return "\n".join(blocks)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def vtt(ep: Episode) -> str:
    """WebVTT with one voice span per cue; flags go in a NOTE block before the cue."""
    parts = ["WEBVTT\n"]
    for el in ep.lines:
        ln = el.line
        if el.flags:
            parts.append(f"NOTE sgtui flags: {', '.join(el.flags)}\n")
        name = _vtt_escape(el.speaker).replace("\n", " ")
        parts.append(f"{_vtt_time(ln.start_ms)} --> {_vtt_time(ln.end_ms)}\n"
                     f"<v {name}>{_vtt_escape(ln.text)}\n")
    return "\n".join(parts)


def _ass_comment(el: ExportLine) -> str:
    return "{sgtui: " + ", ".join(el.flags) + "}" if el.flags else ""


def ass(ep: Episode) -> str:
    """ASS: the ingested ASS file with Name filled when there is one, else a plain new file."""
    text = ep.meta.get("subs_text")
    rows = ep.meta.get("subs_rows")
    if ep.meta.get("subs_format") in ("ass", "ssa") and text and rows:
        by_idx = {el.line.idx: el for el in ep.lines}
        names, notes = {}, {}
        for row, idx in json.loads(rows):
            el = by_idx.get(idx)
            if el is None:
                continue
            if not el.named and (el.line.actor or "").strip():
                # an unnamed cluster's placeholder never overwrites the source's own name
                if not el.flags:
                    continue
                names[row] = el.line.actor
            else:
                names[row] = el.speaker
            if el.flags:
                notes[row] = _ass_comment(el)
        if ep.meta.get("zh_script") in ("hans", "hant"):
            text = _convert_ass_text(text, ep.meta["zh_script"])
        bom = "\ufeff" if ep.meta.get("subs_encoding") == "utf-8-sig" else ""
        return bom + subs.set_ass_names(text, names, notes)
    return _new_ass(ep)


def _convert_ass_text(text: str, script: str) -> str:
    """The ASS file with the Text field of every Dialogue event in `script` (OpenCC); every
    other byte (styles, font names, comments, the line endings) kept."""
    from sgtui.media.asr_script import convert

    rows = text.splitlines(keepends=True)
    section, fields, at = "", 10, []
    for i, raw in enumerate(rows):
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line.lower()
        elif section == "[events]" and line.lower().startswith("format:"):
            fields = len(line.split(":", 1)[1].split(","))
        elif section == "[events]" and line.startswith("Dialogue:"):
            at.append((i, fields))
    parts = []
    for i, n in at:
        body = rows[i].rstrip("\r\n")
        head, last = _split_text(body, n)
        parts.append((i, head, last, rows[i][len(body):]))
    new = convert([last for _, _, last, _ in parts], script)
    for (i, head, _, ending), t in zip(parts, new, strict=True):
        rows[i] = head + t + ending
    return "".join(rows)


def _split_text(body: str, fields: int) -> tuple[str, str]:
    """(everything before the Text field, the Text field) of an event row."""
    cut = body.split(":", 1)[1].split(",", fields - 1)
    last = cut[-1] if len(cut) == fields else ""
    return body[: len(body) - len(last)], last


def _new_ass(ep: Episode) -> str:
    import pysubs2

    doc = pysubs2.SSAFile()
    doc.info["Title"] = ep.title
    for el in ep.lines:
        ln = el.line
        doc.events.append(pysubs2.SSAEvent(start=ln.start_ms, end=ln.end_ms, name=el.speaker,
                                           text=_ass_comment(el) + ln.text.replace("{", "(")
                                           .replace("}", ")")))
    return doc.to_string("ass")
