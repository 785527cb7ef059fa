"""Which lines an export takes, and why each other line was left out.

By default a line is exported when it sits in a named cluster. Unnamed clusters are never
exported with an empty speaker: they are left out (counted) or, with `include_unnamed`,
exported under the stable placeholder ``EPISODE-c<cluster id>``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sgtui.errors import SgtuiError
from sgtui.project import Line, Project

# Reasons, in the order they are checked (a line is counted under the first that applies).
UNASSIGNED = "unassigned"
UNNAMED = "unnamed cluster"
SPEAKER_FILTER = "speaker filter"
NOT_REVIEWED = "not reviewed"
DURATION = "duration filter"
CONFIDENCE = "confidence"
FLAGGED = "flagged"
REASONS = (UNASSIGNED, UNNAMED, SPEAKER_FILTER, NOT_REVIEWED, DURATION, CONFIDENCE, FLAGGED)


@dataclass(frozen=True)
class Choice:
    """The user's line filters (CLI flags of `sgtui export`)."""

    speakers: frozenset[str] | None = None
    reviewed_only: bool = False
    include_unnamed: bool = False
    min_dur: float | None = None  # seconds
    max_dur: float | None = None
    min_confidence: float | None = None
    drop_flagged: bool = False  # voice datasets leave flagged lines out


@dataclass(frozen=True)
class ExportLine:
    episode: str
    line: Line
    speaker: str
    cluster_id: int
    flags: tuple[str, ...] = ()


@dataclass
class Episode:
    """One project's selected lines, with what an export needs to know about the project."""

    path: Path
    title: str
    meta: dict[str, str]
    lines: list[ExportLine]
    left_out: Counter[str] = field(default_factory=Counter)


def placeholder(title: str, cluster_id: int) -> str:
    """The stable speaker name of an unnamed cluster: episode title + cluster id."""
    return f"{title}-c{cluster_id}"


def select_lines(proj: Project, path: Path, choice: Choice) -> Episode:
    """The lines of one project that `choice` keeps, and the count left out by reason."""
    title = proj.meta_get("title") or path.stem
    clusters = {c.id: c for c in proj.clusters()}
    assign = proj.assignments()
    flags = proj.line_flags()
    conf: dict[int, float] = {}
    if choice.min_confidence is not None:
        ids, values = proj.confidence("voice")
        if not len(ids):
            raise SgtuiError(f"{path} has no confidence values for --min-confidence; "
                             "run 'sgtui cluster' on it first")
        conf = dict(zip(ids.tolist(), values.tolist(), strict=True))
    out: list[ExportLine] = []
    left: Counter[str] = Counter()
    for ln in proj.lines():
        a = assign.get(ln.id)
        reason = None
        speaker = ""
        if a is None:
            reason = UNASSIGNED
        else:
            c = clusters[a.cluster_id]
            speaker = c.name or (placeholder(title, c.id) if choice.include_unnamed else "")
            dur = ln.duration_ms / 1000
            if not speaker:
                reason = UNNAMED
            elif choice.speakers is not None and speaker not in choice.speakers:
                reason = SPEAKER_FILTER
            elif choice.reviewed_only and not (c.confirmed or a.confirmed):
                reason = NOT_REVIEWED
            elif (choice.min_dur is not None and dur < choice.min_dur) or \
                    (choice.max_dur is not None and dur > choice.max_dur):
                reason = DURATION
            elif choice.min_confidence is not None and conf.get(ln.id, -1.0) < choice.min_confidence:
                reason = CONFIDENCE
            elif choice.drop_flagged and ln.id in flags:
                reason = FLAGGED
        if reason:
            left[reason] += 1
        else:
            out.append(ExportLine(title, ln, speaker, a.cluster_id, tuple(flags.get(ln.id, ()))))
    return Episode(path, title, proj.meta(), out, left)


def load_episodes(paths: list[Path], choice: Choice) -> list[Episode]:
    """Select lines from every project (read-only); titles must tell episodes apart."""
    episodes = []
    for p in paths:
        with Project.open(p, readonly=True) as proj:
            if proj.meta_get("ingest_state", "complete") != "complete":
                raise SgtuiError(f"{p} is an unfinished ingest; re-run 'sgtui ingest' to finish it first")
            episodes.append(select_lines(proj, p, choice))
    seen: dict[str, Path] = {}
    for ep in episodes:
        if ep.title in seen:
            raise SgtuiError(f"{seen[ep.title]} and {ep.path} have the same title {ep.title!r}; "
                             "export them separately or give one project a different file name")
        seen[ep.title] = ep.path
    return episodes


def safe_name(name: str) -> str:
    """A speaker or episode name usable as a file or folder name on any system."""
    bad = '<>:"/\\|?*'
    cleaned = "".join("_" if c in bad or ord(c) < 32 else c for c in name).strip().strip(".")
    return cleaned or "_"
