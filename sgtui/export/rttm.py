"""RTTM, the diarization reference format pyannote and dscore read.

One row per line: ``SPEAKER <uri> 1 <start> <dur> <NA> <NA> <name> <NA> <NA>``, seconds
with millisecond precision; the uri is the episode title. RTTM fields are split on
whitespace, so spaces in titles and names become underscores.
"""

from __future__ import annotations

from sgtui.export.select import Episode


def token(s: str) -> str:
    """A whitespace-free RTTM field."""
    return "_".join(s.split()) or "_"


def rttm(episodes: list[Episode]) -> str:
    rows = []
    for ep in episodes:
        uri = token(ep.title)
        for el in ep.lines:
            ln = el.line
            rows.append(f"SPEAKER {uri} 1 {ln.start_ms / 1000:.3f} {ln.duration_ms / 1000:.3f} "
                        f"<NA> <NA> {token(el.speaker)} <NA> <NA>\n")
    return "".join(rows)
