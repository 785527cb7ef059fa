"""Names from the subtitles: the speaker a line's subtitle names, and each cluster's clear majority.

Subtitles often carry who speaks (the ASS Name/Actor field, a WebVTT ``<v Name>`` span, or a
``Name: text`` prefix). A cluster whose lines mostly carry one name gets it as a *suggested*
name — never a human one: the annotator accepts it with one key.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping

# "Kyon: text", "Asahina：text", "古泉:「text」" — a short name, a colon, then the words.
_PREFIX = re.compile(r"^\s*([^\s:：「」()（）\[\]][^:：「」()（）\[\]]{0,23}?)\s*[:：]\s*(\S.*)$")
MIN_SHARE_OF_NAMED = 0.6  # the majority name among the lines that carry one
MIN_SHARE_OF_CLUSTER = 0.3  # and among all the cluster's lines
MIN_LINES = 2  # one line naming a speaker is an accident, not a majority


def line_speaker(actor: str | None, text: str) -> str | None:
    """The speaker a subtitle line names: its actor field, else a ``Name: text`` prefix."""
    if actor and actor.strip():
        return actor.strip()
    m = _PREFIX.match(text or "")
    if m and len(m.group(1).split()) <= 3 and not m.group(1).strip().isdigit():
        return m.group(1).strip()
    return None


def majority_names(clusters: Mapping[int, Iterable[str | None]]) -> dict[int, tuple[str, float]]:
    """cluster -> (name, share of its lines) where one subtitle name is a clear majority.

    Clear: at least MIN_LINES lines carry it, MIN_SHARE_OF_NAMED of the lines that carry any
    name carry this one, and MIN_SHARE_OF_CLUSTER of all its lines do."""
    out: dict[int, tuple[str, float]] = {}
    for cid, speakers in clusters.items():
        speakers = list(speakers)
        named = Counter(s for s in speakers if s)
        if not named:
            continue
        (name, top), = named.most_common(1)
        total_named = sum(named.values())
        share = top / len(speakers)
        if top >= MIN_LINES and top / total_named >= MIN_SHARE_OF_NAMED and share >= MIN_SHARE_OF_CLUSTER:
            out[cid] = (name, round(share, 4))
    return out


def actor_names(speakers: Iterable[str | None]) -> list[str]:
    """Every distinct speaker name, most frequent first (for the name prompt's completion)."""
    return [n for n, _ in Counter(s for s in speakers if s).most_common()]
