"""Plain records that cross layers: what the store returns and what callers hand it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LineIn:
    """A spoken line to store; times in integer milliseconds."""

    start_ms: int
    end_ms: int
    text: str = ""
    source: str | None = None
    style: str | None = None
    actor: str | None = None


@dataclass(frozen=True)
class Line:
    id: int
    idx: int
    start_ms: int
    end_ms: int
    text: str
    source: str | None
    style: str | None
    actor: str | None

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


@dataclass(frozen=True)
class Clip:
    codec: str
    sample_rate: int
    data: bytes


@dataclass(frozen=True)
class Keyframe:
    mime: str
    width: int
    height: int
    data: bytes


@dataclass(frozen=True)
class Cluster:
    id: int
    name: str | None
    confirmed: bool
    size: int

    @property
    def label(self) -> str:
        return self.name or f"#{self.id}"


@dataclass(frozen=True)
class Assignment:
    cluster_id: int
    origin: str  # auto | human | suggested
    confirmed: bool = False


@dataclass(frozen=True)
class Suggestion:
    cluster_id: int
    score: float


@dataclass(frozen=True)
class NameSuggestion:
    """A machine's guess at a cluster's name (a bank match or the subtitles' speaker names)."""

    cluster_id: int
    name: str
    score: float
    source: str  # bank | subtitle


@dataclass(frozen=True)
class HumanConstraints:
    """What the engine must respect on a re-run (docs/architecture.md, "The engine" 2–3)."""

    fixed: dict[int, int] = field(default_factory=dict)  # line_id -> cluster_id placed by a human
    cannot_link: set[tuple[int, int]] = field(default_factory=set)  # (line_id, cluster_id)
    must_link: list[tuple[int, int]] = field(default_factory=list)  # (line_id, line_id)
    names: dict[int, str] = field(default_factory=dict)  # cluster_id -> name


@dataclass(frozen=True)
class OpRow:
    id: int
    action_id: int
    ts: str
    annotator: str
    kind: str
    line_id: int | None
    src_cluster: int | None
    dst_cluster: int | None
    payload: str | None
    undoes: int | None


@dataclass(frozen=True)
class MergeConflict:
    """A decision two copies of a file made differently, left for a person by `sgtui merge`."""

    id: int
    kind: str  # line | name | cluster | gone | flags | title | merge | recluster | import | undo | redo
    summary: str
    rows: list  # [{"key": [kind, id], "kept": value, "other": value}, ...]
    kept: dict  # who made the kept choice: side, file, annotator, ts, action
    other: dict  # who made the other one
    status: str  # open | kept | other
