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
    named: bool = True  # False: `speaker` is the placeholder of an unnamed cluster


@dataclass(frozen=True)
class Candidate:
    """A line that has a speaker (before the filters): what a refusal says exists."""

    speaker: str
    dur_s: float
    reviewed: bool
    confidence: float | None
    flagged: bool


@dataclass
class Episode:
    """One project's selected lines, with what an export needs to know about the project."""

    path: Path
    title: str
    meta: dict[str, str]
    lines: list[ExportLine]
    left_out: Counter[str] = field(default_factory=Counter)
    candidates: list[Candidate] = field(default_factory=list)
    note: str = ""  # said to the user (e.g. why the title is the file name)


def placeholder(title: str, cluster_id: int) -> str:
    """The stable speaker name of an unnamed cluster: episode title + cluster id."""
    return f"{title}-c{cluster_id}"


def select_lines(proj: Project, path: Path, choice: Choice, title: str | None = None) -> Episode:
    """The lines of one project that `choice` keeps, and the count left out by reason.

    `title` overrides the stored title (a season whose titles collide uses file names)."""
    title = title or proj.meta_get("title") or path.stem
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
    pool: list[Candidate] = []
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
            reviewed = bool(c.confirmed or a.confirmed)
            if speaker:
                pool.append(Candidate(speaker, dur, reviewed, conf.get(ln.id), ln.id in flags))
            if not speaker:
                reason = UNNAMED
            elif choice.speakers is not None and speaker not in choice.speakers:
                reason = SPEAKER_FILTER
            elif choice.reviewed_only and not reviewed:
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
            out.append(ExportLine(title, ln, speaker, a.cluster_id, tuple(flags.get(ln.id, ())),
                                  named=bool(clusters[a.cluster_id].name)))
    return Episode(path, title, proj.meta(), out, left, pool)


def _open(path: Path) -> Project:
    proj = Project.open(path, readonly=True)
    if proj.meta_get("ingest_state", "complete") != "complete":
        proj.close()
        raise SgtuiError(f"{path} is an unfinished ingest; re-run 'sgtui ingest' to finish it first")
    return proj


def episode_titles(paths: list[Path], stored: list[str]) -> tuple[list[str], list[str]]:
    """The title each project is exported under, and a note for each one changed.

    Titles name the episodes of a season (file names, RTTM uris, placeholders). Two
    projects with the same stored title (two `lines.csv` imports) are told apart by their
    file names; when those are the same too, the user must set a title."""
    counts = Counter(stored)
    titles = [p.stem if counts[t] > 1 else t for p, t in zip(paths, stored, strict=True)]
    seen: dict[str, Path] = {}
    for p, t in zip(paths, titles, strict=True):
        if t in seen:
            raise SgtuiError(f"{seen[t]} and {p} are both titled {t!r} (by title or file name); "
                             f"give one a title of its own: sgtui info {p} --set-title NEW_TITLE")
        seen[t] = p
    notes = []
    for t in sorted(t for t, n in counts.items() if n > 1):
        same = [(p, new) for p, old, new in zip(paths, stored, titles, strict=True) if old == t]
        notes.append(f"{len(same)} projects are titled {t!r}; exported under their file names "
                     + ", ".join(repr(new) for _, new in same)
                     + " (sgtui info EP --set-title TITLE sets a title)")
    return titles, notes


def load_episodes(paths: list[Path], choice: Choice) -> list[Episode]:
    """Select lines from every project (read-only); titles must tell episodes apart."""
    stored = []
    for p in paths:
        with _open(p) as proj:
            stored.append(proj.meta_get("title") or p.stem)
    titles, notes = episode_titles(paths, stored)
    episodes = []
    for p, title in zip(paths, titles, strict=True):
        with _open(p) as proj:
            episodes.append(select_lines(proj, p, choice, title))
    if notes:
        episodes[0].note = "; ".join(notes)
    check_selection(episodes, choice)
    return episodes


def _filters(choice: Choice) -> str:
    asked = []
    if choice.speakers is not None:
        asked.append("--speakers " + ",".join(sorted(choice.speakers)))
    if choice.reviewed_only:
        asked.append("--reviewed-only")
    if choice.min_dur is not None:
        asked.append(f"--min-dur {choice.min_dur:g}")
    if choice.max_dur is not None:
        asked.append(f"--max-dur {choice.max_dur:g}")
    if choice.min_confidence is not None:
        asked.append(f"--min-confidence {choice.min_confidence:g}")
    return " ".join(asked)


def _speakers(pool: list[Candidate], most: int = 8) -> str:
    counts = Counter(c.speaker for c in pool).most_common()
    shown = ", ".join(f"{s} ({n})" for s, n in counts[:most])
    return shown + (f" and {len(counts) - most} more" if len(counts) > most else "")


def check_selection(episodes: list[Episode], choice: Choice) -> None:
    """Refuse an export that would be empty, or that names a speaker no project has:
    say what was asked and what there is, so the next try can work."""
    pool = [c for ep in episodes for c in ep.candidates]
    if choice.speakers is not None:
        unknown = sorted(choice.speakers - {c.speaker for c in pool})
        if unknown and pool:
            raise SgtuiError(f"--speakers: no line is spoken by {', '.join(map(repr, unknown))}; "
                             f"the speakers are {_speakers(pool)}")
    if any(ep.lines for ep in episodes):
        return
    left: Counter[str] = sum((ep.left_out for ep in episodes), Counter())
    if not pool:
        what = ", ".join(f"{r} {n}" for r, n in left.most_common()) or "no lines"
        todo = ("name clusters in 'sgtui open', or pass --include-unnamed"
                if left.get(UNNAMED) else "cluster and name it first ('sgtui cluster', 'sgtui open')")
        raise SgtuiError(f"nothing to export: no line is in a named cluster ({what}); {todo}")
    durs = [c.dur_s for c in pool]
    exists = [f"speakers {_speakers(pool)}", f"lasting {min(durs):.2f}-{max(durs):.2f} s"]
    if choice.reviewed_only:
        exists.append(f"{sum(c.reviewed for c in pool)} reviewed")
    confs = [c.confidence for c in pool if c.confidence is not None]
    if choice.min_confidence is not None and confs:
        exists.append(f"voice confidence up to {max(confs):.2f}")
    if choice.drop_flagged and left.get(FLAGGED):
        exists.append(f"{left[FLAGGED]} flagged (--include-flagged keeps them)")
    asked = _filters(choice) or "the selection"
    raise SgtuiError(f"nothing to export: {asked} keeps none of the {len(pool)} lines with a "
                     f"speaker ({'; '.join(exists)}); widen the filters")


def safe_name(name: str) -> str:
    """A speaker or episode name usable as a file or folder name on any system."""
    bad = '<>:"/\\|?*'
    cleaned = "".join("_" if c in bad or ord(c) < 32 else c for c in name).strip().strip(".")
    return cleaned or "_"
