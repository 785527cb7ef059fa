"""Subtitle-like lines from recognised words and voice activity.

A line should hold one speaker's turn. Whisper's own segments run across pauses and speaker
changes and its word times drift by a few hundred milliseconds, while voice activity (Silero)
finds where sound starts and stops precisely but knows no words. So: every stretch of
speech voice activity found becomes a line carrying the words recognised inside it; a
stretch is split again where the recogniser began a new segment or a sentence (where turns
often change hands), where the words pause or where it grows too long;
stretches without any recognised word are dropped (breath, music, noise), and a fragment
under ``MIN_LINE_S`` is merged into the nearer neighbour when that one is close.

Plain functions over seconds; no model, no file.
"""

from __future__ import annotations

from dataclasses import dataclass

PAUSE_S = 0.6      # a gap between words this long inside one stretch starts a new line
MAX_LINE_S = 15.0  # longer stretches are split at their longest word gap
MIN_LINE_S = 0.5   # shorter lines are fragments...
MERGE_GAP_S = 0.5  # ...merged into a neighbour at most this far away
EDGE_PAD_S = 0.1   # a line cut between two words keeps this much margin around them
WORD_REACH_S = 0.3  # a word outside every stretch joins the nearest one this close
SENTENCE_END = (".", "?", "!", "。", "？", "！", "…")


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    text: str
    lead: bool = False  # first word of a Whisper segment: its start takes in the silence before


@dataclass(frozen=True)
class Line:
    start: float
    end: float
    words: tuple[Word, ...]

    def text(self, spaced: bool) -> str:
        """The words joined; Whisper's words carry their own leading spaces in spaced scripts."""
        if spaced:
            return "".join(w.text for w in self.words).strip()
        return "".join(w.text.strip() for w in self.words)


def make_lines(words: list[Word], speech: list[tuple[float, float]]) -> list[Line]:
    """Lines from words and speech stretches (both in seconds, any order)."""
    speech = sorted(speech)
    buckets: list[list[Word]] = [[] for _ in speech]
    extra: list[Line] = []
    for w in sorted(words, key=lambda w: w.start):
        i = _stretch_of(w, speech)
        if i is None:
            extra.append(Line(w.start, w.end, (w,)))
        else:
            buckets[i].append(w)
    lines = list(extra)
    for (a, b), ws in zip(speech, buckets, strict=True):
        if ws:
            lines += _split(Line(a, b, tuple(ws)))  # Whisper's word edges drift; VAD's do not
    lines.sort(key=lambda ln: ln.start)
    return _merge_fragments(_join_touching(lines))


def _stretch_of(w: Word, speech: list[tuple[float, float]]) -> int | None:
    """The stretch the word lies in most (a segment's first word: its second half)."""
    start = (w.start + w.end) / 2 if w.lead else w.start
    best, best_key = None, None
    for i, (a, b) in enumerate(speech):
        overlap = min(b, w.end) - max(a, start)
        distance = max(a - w.end, start - b, 0.0)
        key = (overlap if overlap > 0 else -distance)
        if (overlap > 0 or distance <= WORD_REACH_S) and (best_key is None or key > best_key):
            best, best_key = i, key
    return best


def _split(line: Line) -> list[Line]:
    """Cut a stretch where the recogniser started a new segment or a sentence, or where the
    words pause."""
    ws = line.words
    gaps = [(ws[k + 1].start - ws[k].end, k) for k in range(len(ws) - 1)]
    cut = [k for g, k in gaps
           if g >= PAUSE_S or ws[k + 1].lead or ws[k].text.rstrip().endswith(SENTENCE_END)]
    if not cut and line.end - line.start > MAX_LINE_S and gaps:
        cut = [max(gaps)[1]]
    if not cut:
        return [line]
    out, first, start = [], 0, line.start
    for k in cut:
        nxt = ws[k + 1]
        # a segment's first word starts too early: trust only its second half
        nxt_start = (nxt.start + nxt.end) / 2 if nxt.lead else nxt.start
        end = min(ws[k].end + EDGE_PAD_S, (ws[k].end + nxt_start) / 2)
        out.append(Line(start, end, ws[first:k + 1]))
        first = k + 1
        start = end if nxt.lead else max(nxt.start - EDGE_PAD_S, end)
    out.append(Line(start, line.end, ws[first:]))
    return [p for q in out for p in _split(q)] if len(out) > 1 else out


def _join_touching(lines: list[Line]) -> list[Line]:
    """Overlapping lines (a word voice activity missed, next to a stretch) become one."""
    out: list[Line] = []
    for ln in lines:
        if out and ln.start < out[-1].end:
            prev = out.pop()
            ln = Line(prev.start, max(prev.end, ln.end), prev.words + ln.words)
        out.append(ln)
    return out


def _merge_fragments(lines: list[Line]) -> list[Line]:
    out = list(lines)
    changed = True
    while changed:
        changed = False
        for i, ln in enumerate(out):
            if ln.end - ln.start >= MIN_LINE_S:
                continue
            left = ln.start - out[i - 1].end if i > 0 else float("inf")
            right = out[i + 1].start - ln.end if i + 1 < len(out) else float("inf")
            if min(left, right) > MERGE_GAP_S:
                continue
            j = i - 1 if left <= right else i + 1
            a, b = sorted((i, j))
            out[a:b + 1] = [Line(out[a].start, out[b].end, out[a].words + out[b].words)]
            changed = True
            break
    return out
