"""The annotator's state and actions, as plain Python: no terminal, no Textual.

Widgets render an `AnnotatorState` and forward keys to it; tests drive it directly. It
keeps a snapshot of the project (lines, clusters, assignments, suggestions, counters)
taken at the last refresh, so every action can tell the store what the screen showed
(`expect=`): a line that someone else moved meanwhile is refused, not moved blindly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sgtui.engine.doubt import line_doubt as engine_doubt
from sgtui.errors import SgtuiError
from sgtui.project import Assignment, Cluster, Line, Project, Suggestion
from sgtui.project.records import MergeConflict, NameSuggestion
from sgtui.tui import conflicts as merge_conflicts

POOL = "pool"
CLUSTER = "cluster"
TIMELINE = "timeline"
SEARCH = "search"
VIEWS = (CLUSTER, POOL, TIMELINE, SEARCH)
DOUBTFUL = 0.5  # a line this close to another cluster as to its own is worth a look


@dataclass(frozen=True)
class Counters:
    """What the status bar shows about the op log."""

    net: dict[str, int] = field(default_factory=lambda: {"add": 0, "remove": 0, "merge": 0})
    raw: dict[str, int] = field(default_factory=dict)
    actions: int = 0


def line_doubt(
    line_ids: np.ndarray,
    clusters: dict[int, int],
    vectors: np.ndarray | None,
    confidence: dict[int, float],
    settled: set[int] | frozenset[int] = frozenset(),
) -> dict[int, float]:
    """Doubt per assigned line in [0, 1]: closer to another cluster than to its own.

    The engine's measure (engine.doubt: own centroid against the nearest other one);
    lines without vectors fall back to 1 - confidence. `settled`: lines a human placed,
    which are decisions, not doubts (0).
    """
    out: dict[int, float] = {}
    if vectors is not None and len(vectors) == len(line_ids) and len(line_ids) and clusters:
        labels = np.array([clusters.get(int(i), -1) for i in line_ids], dtype=np.int64)
        mask = np.array([int(i) in settled for i in line_ids], dtype=bool)
        values = engine_doubt(vectors, labels, mask).doubt
        for lid, v in zip(line_ids.tolist(), values.tolist(), strict=True):
            if v == v:  # not NaN
                out[lid] = float(v)
    for lid in clusters:
        if lid not in out and lid in confidence:
            out[lid] = 0.0 if lid in settled else 1.0 - confidence[lid]
    return out


def fuzzy_score(query: str, text: str) -> float | None:
    """A score for `query` as an in-order subsequence of `text` (higher is better), or None."""
    q, t = query.casefold(), text.casefold()
    if not q:
        return 0.0
    if t == q:
        return 1000.0
    if t.startswith(q):
        return 500.0 - len(t)
    if q in t:
        return 300.0 - t.index(q) - len(t)
    pos, first, gaps = -1, None, 0
    for ch in q:
        nxt = t.find(ch, pos + 1)
        if nxt < 0:
            return None
        if first is None:
            first = nxt
        elif nxt != pos + 1:
            gaps += 1
        pos = nxt
    return 100.0 - 5 * gaps - (first or 0) - 0.1 * len(t)


@dataclass(frozen=True)
class LineBinding:
    """What a prompt was opened for: lines, and the cluster each was in (None: unassigned)."""

    lines: tuple[int, ...]
    expect: dict[int, int | None]


@dataclass(frozen=True)
class ClusterBinding:
    """The cluster a prompt was opened for, and its name then (None: unnamed)."""

    cluster_id: int
    name: str | None


class AnnotatorState:
    """The annotator's view of one project: what is shown, what is selected, what to do."""

    def __init__(self, project: Project, annotator: str) -> None:
        if not annotator.strip():
            raise SgtuiError("the annotator name is empty; pass --as NAME")
        self.project = project
        self.annotator = annotator.strip()
        self.view = CLUSTER
        self.cluster_id: int | None = None
        self.cursor = 0
        self.cluster_cursor = 0
        self.marked: set[int] = set()
        self.sort_doubt = False
        self.query = ""
        self.message = ""
        self.refused = ""  # the message, while it says why an action was refused (drawn red)
        self.revision = 0  # bumped whenever what the screen shows may have changed
        self.lines: dict[int, Line] = {}
        self.order: list[int] = []
        self.position: dict[int, int] = {}
        self.clusters: list[Cluster] = []
        self.by_id: dict[int, Cluster] = {}
        self.assign: dict[int, Assignment] = {}
        self.members: dict[int, list[int]] = {}
        self.suggest: dict[int, list[Suggestion]] = {}
        self.name_sugg: dict[int, NameSuggestion] = {}  # machine guesses (bank, subtitles)
        self.confidence: dict[int, float] = {}
        self._doubt: dict[int, float] | None = None
        self._mean_conf: dict[int, float | None] = {}
        self.counters = Counters()
        self.version = -1
        self.seen_op = 0  # the newest op this screen has shown (to say what others did)
        self.visited: set[int] = set()  # lines the review queue showed this session
        self.visited_clusters: set[int] = set()  # clusters it showed
        self.conflicts: list[MergeConflict] = []  # open review items of `sgtui merge`
        self.conflict: MergeConflict | None = None  # the one the queue shows (K / O decide it)
        self.visited_conflicts: set[int] = set()  # conflicts the queue showed this session
        self.reopened: list[int] = []  # conflicts open again since the last refresh (an undo)
        self._vec_ids: np.ndarray = np.zeros(0, np.int64)
        self._vecs: np.ndarray | None = None
        self._rows_cache: tuple[int, list[int]] | None = None
        self.refresh(full=True)
        if self.clusters:
            self.cluster_id = self.clusters[0].id
        elif self.order:
            self.view = POOL
            self.message = "no clusters yet: press R to cluster this episode (or a, 'new NAME' by hand)"
        if self.conflicts:
            n = len(self.conflicts)
            self.message = (f"{n} merge conflict{'s' if n != 1 else ''} to review: press r "
                            f"({merge_conflicts.KEEP_KEY} keeps the merge's choice, "
                            f"{merge_conflicts.TAKE_KEY} takes the other copy's)")

    # ---- loading -------------------------------------------------------------------------
    def refresh(self, full: bool = False) -> None:
        """Reload the snapshot from the file; `full` also reloads lines and vectors.

        Confidences are reloaded every time: a re-cluster rewrites them and its undo puts
        the earlier ones back, and the screen must show what the file holds."""
        p = self.project
        self.version = p.data_version()
        if full or not self.lines:
            self.lines = {ln.id: ln for ln in p.lines()}
            self.order = list(self.lines)
            self.position = {lid: i for i, lid in enumerate(self.order)}
            self._vec_ids, vecs = p.embeddings("voice")
            self._vecs = vecs if len(self._vec_ids) else None
        ids, values = p.confidence("voice")
        self.confidence = {int(i): float(v) for i, v in zip(ids, values, strict=True)}
        self.assign = p.assignments()
        self.suggest = p.suggestions()
        self._suggest_loose()
        self.name_sugg = p.name_suggestions()
        self._load_conflicts()
        self.members = {}
        for lid in self.order:
            a = self.assign.get(lid)
            if a is not None:
                self.members.setdefault(a.cluster_id, []).append(lid)
        self._doubt = None
        self._mean_conf = {}
        self._set_clusters(p.clusters())
        if not self.seen_op:
            self.seen_op = p.last_op_id()
        counts = p.op_counts()
        self.counters = Counters(net=counts["net"], raw=counts["raw"], actions=counts["actions"])
        self.marked &= set(self.lines)
        if self.view == CLUSTER and self.cluster_id not in self.by_id:
            self._fall_back_cluster()
        self._touch()

    def _load_conflicts(self) -> None:
        """The merge conflicts still open; one that opened again (its resolution undone, here
        or in another window) is shown again by the queue."""
        before = {c.id for c in self.conflicts}
        self.conflicts = self.project.merge_conflicts()
        open_now = {c.id: c for c in self.conflicts}
        self.reopened = [cid for cid in open_now if cid not in before and cid in self.visited_conflicts]
        self.visited_conflicts -= set(self.reopened)
        if self.conflict is not None:
            self.conflict = open_now.get(self.conflict.id)

    def _set_clusters(self, clusters: list[Cluster]) -> None:
        self.by_id = {c.id: c for c in clusters}
        if self.sort_doubt:
            clusters = sorted(clusters, key=lambda c: (-self.cluster_doubt(c.id), c.id))
        else:
            clusters = sorted(clusters, key=lambda c: (-c.size, c.id))
        self.clusters = clusters

    def _fall_back_cluster(self) -> None:
        if self.clusters:
            i = min(self.cluster_cursor, len(self.clusters)) - 1
            self.cluster_id = self.clusters[max(i, 0)].id
        else:
            self.cluster_id = None
            self.view = POOL
        self.cursor = 0

    def _suggest_loose(self) -> None:
        """Suggestions for unassigned lines the last re-cluster did not cover (a line removed
        by hand since): computed now from the current clusters, so `1`/`2`/`3` work at once."""
        missing = [lid for lid in self.order if lid not in self.assign and lid not in self.suggest]
        if not missing or not self.assign or self._vecs is None:
            return
        from sgtui.workflows import live_suggestions

        self.suggest.update(live_suggestions(self.project, self._vec_ids, self._vecs, missing, self.assign))

    def poll(self) -> bool:
        """Refresh when another connection committed since; True if it did."""
        if self.project.data_version() == self.version:
            return False
        before = self.seen_op
        self.refresh(full=True)
        self.message = "the project changed in another window: " + self._others_since(before)
        return True

    def _others_since(self, op_id: int) -> str:
        """Who did what since op `op_id` ("bob: move 2 lines, rename #3"), newest ops last."""
        ops = self.project.ops(after=op_id)
        if ops:
            self.seen_op = ops[-1].id
        # annotator -> action -> (the kinds of its rows, the lines it touched)
        said: dict[str, dict[int, tuple[set[str], set[int]]]] = {}
        for o in ops:
            kinds_, touched = said.setdefault(o.annotator, {}).setdefault(o.action_id, (set(), set()))
            kinds_.add(o.kind)
            if o.line_id is not None:
                touched.add(o.line_id)
        if not said:
            return "screen updated"
        parts = []
        for who, acts in said.items():
            kinds: dict[str, int] = {}
            for row_kinds, touched in acts.values():
                kind = "move" if {"add", "remove"} <= row_kinds else min(row_kinds)
                kinds[kind] = kinds.get(kind, 0) + max(1, len(touched))
            what = ", ".join(f"{k} {n} line{'s' if n != 1 else ''}" if k in ("add", "remove", "move")
                             else k if n == 1 else f"{k} ×{n}" for k, n in kinds.items())
            parts.append(f"{who}: {what}")
        return "; ".join(parts)

    def _touch(self) -> None:
        """After any change: rows recomputed, cursors kept inside them."""
        self.revision += 1
        self._rows_cache = None
        rows = self.rows()
        self.cursor = max(0, min(self.cursor, len(rows) - 1))
        self.cluster_cursor = self._cluster_row()

    # ---- what the screen shows -----------------------------------------------------------
    def cluster_rows(self) -> list[int | None]:
        """Rows of the cluster list: None (the unassigned pool) first, then cluster ids."""
        return [None, *(c.id for c in self.clusters)]

    def _cluster_row(self) -> int:
        if self.view == CLUSTER and self.cluster_id is not None:
            for i, c in enumerate(self.clusters):
                if c.id == self.cluster_id:
                    return i + 1
        return 0 if self.view == POOL else self.cluster_cursor

    def rows(self) -> list[int]:
        """Line ids of the centre pane, in display order (cached per revision)."""
        if self._rows_cache and self._rows_cache[0] == self.revision:
            return self._rows_cache[1]
        if self.view == CLUSTER:
            ids = list(self.members.get(self.cluster_id, [])) if self.cluster_id is not None else []
        elif self.view == POOL:
            ids = [lid for lid in self.order if lid not in self.assign]
        elif self.view == SEARCH:
            q = self.query.casefold()
            ids = [lid for lid in self.order if q in self.lines[lid].text.casefold()]
        else:
            ids = list(self.order)
        if self.sort_doubt and self.view in (CLUSTER, POOL):
            ids.sort(key=lambda lid: -self.line_doubt_value(lid))
        self._rows_cache = (self.revision, ids)
        return ids

    @property
    def doubt(self) -> dict[int, float]:
        """Doubt per assigned line, computed on first use after each change (a few ms)."""
        if self._doubt is None:
            labels = {lid: a.cluster_id for lid, a in self.assign.items()}
            settled = {lid for lid, a in self.assign.items() if a.origin == "human"}
            self._doubt = line_doubt(self._vec_ids, labels, self._vecs, self.confidence, settled)
        return self._doubt

    def line_doubt_value(self, line_id: int) -> float:
        if line_id in self.assign:
            return self.doubt.get(line_id, 0.0)
        sug = self.suggest.get(line_id)
        if sug:  # an unassigned line is doubtful when its best suggestion is weak
            return 1.0 - max(0.0, min(1.0, sug[0].score))
        return 1.0 - self.confidence.get(line_id, 0.0)

    def cluster_doubt(self, cluster_id: int) -> float:
        vals = [self.doubt[lid] for lid in self.members.get(cluster_id, []) if lid in self.doubt]
        return float(np.mean(vals)) if vals else 0.0

    def mean_confidence(self, cluster_id: int) -> float | None:
        """Mean voice confidence of a cluster's lines (memoised until the next refresh)."""
        if cluster_id not in self._mean_conf:
            vals = [self.confidence[lid] for lid in self.members.get(cluster_id, []) if lid in self.confidence]
            self._mean_conf[cluster_id] = round(float(np.mean(vals)), 4) if vals else None
        return self._mean_conf[cluster_id]

    def current_line(self) -> int | None:
        rows = self.rows()
        return rows[self.cursor] if rows else None

    def targets(self) -> list[int]:
        """The marked lines, or else the line under the cursor."""
        if self.marked:
            return [lid for lid in self.order if lid in self.marked]
        cur = self.current_line()
        return [] if cur is None else [cur]

    def cluster_label(self, cluster_id: int | None) -> str:
        if cluster_id is None:
            return "—"
        c = self.by_id.get(cluster_id)
        return c.label if c else f"#{cluster_id}"

    def speaker_of(self, line_id: int) -> str:
        a = self.assign.get(line_id)
        return self.cluster_label(a.cluster_id) if a else "—"

    def title(self) -> str:
        """What the centre pane is showing, in words."""
        n = len(self.rows())
        if self.view == CLUSTER:
            if self.cluster_id is None:
                return "no clusters yet — press the re-cluster key"
            c = self.by_id.get(self.cluster_id)
            mark = " ✓" if c and c.confirmed else ""
            return f"{self.cluster_label(self.cluster_id)}{mark} — {lines(n)}"
        if self.view == POOL:
            return f"unassigned — {lines(n)}"
        if self.view == SEARCH:
            return f"search {self.query!r} — {lines(n)}"
        return f"timeline — {lines(n)}"

    def progress(self) -> tuple[int, int]:
        """(lines in named clusters, all lines): only a name exports a speaker, so a
        cluster marked reviewed but unnamed does not count."""
        done = sum(len(self.members.get(c.id, [])) for c in self.clusters if c.name)
        return done, len(self.order)

    def unassigned_count(self) -> int:
        return len(self.order) - len(self.assign)

    def name_choices(self) -> list[str]:
        """Names used in this project (current and earlier ones), for completion."""
        names = {c.name for c in self.clusters if c.name}
        for op in self.project.ops():
            if op.kind == "rename" and op.payload:
                for before_after in json.loads(op.payload).get("clusters", {}).values():
                    for st in before_after:
                        if st and st[0]:
                            names.add(st[0])
        return sorted(names)

    def rank_clusters(self, query: str, exclude: int | None = None) -> list[int]:
        """Clusters for a picker, best match first: '#12'/'12' is an id, else fuzzy on label."""
        q = query.strip()
        cands = [c for c in self.clusters if c.id != exclude]
        if not q:
            return [c.id for c in cands]
        m = re.fullmatch(r"#?(\d+)", q)
        exact = [c.id for c in cands if m and c.id == int(m.group(1))]
        scored = []
        for c in cands:
            s = fuzzy_score(q, c.label)
            if s is not None and c.id not in exact:
                scored.append((-s, -c.size, c.id))
        return exact + [cid for *_, cid in sorted(scored)]

    def resolve_cluster(self, query: str, exclude: int | None = None) -> int:
        """The cluster a typed target means (number or fuzzy name); SgtuiError when none."""
        ranked = self.rank_clusters(query, exclude)
        if not query.strip() or not ranked:
            raise SgtuiError(f"no cluster matches {query!r}; type its number or part of its name")
        return ranked[0]

    # ---- navigation ----------------------------------------------------------------------
    def select_cluster(self, cluster_id: int | None) -> None:
        """Show a cluster's lines (None: the unassigned pool)."""
        if cluster_id is None:
            self.view = POOL
        else:
            if cluster_id not in self.by_id:
                raise SgtuiError(f"cluster #{cluster_id} does not exist")
            self.view, self.cluster_id = CLUSTER, cluster_id
        self.cursor = 0
        self.marked.clear()
        self.message = ""  # what it said was about the lines left behind
        self._touch()

    def select_cluster_row(self, row: int) -> None:
        """Select a row of the cluster list; the empty unassigned pool is skipped (first
        row means the first cluster when no line is left to place)."""
        rows = self.cluster_rows()
        row = max(0, min(row, len(rows) - 1))
        if row == 0 and len(rows) > 1 and not self.unassigned_count():
            row = 1
        self.select_cluster(rows[row])

    def step_cluster(self, step: int) -> None:
        self.select_cluster_row(self._cluster_row() + step)

    def move_cursor(self, step: int) -> None:
        self.set_cursor(self.cursor + step)

    def set_cursor(self, index: int) -> None:
        n = len(self.rows())
        old = self.cursor
        self.cursor = max(0, min(index, n - 1)) if n else 0
        if self.cursor != old:
            self.message = ""  # it was about the line the cursor left

    def toggle_mark(self) -> None:
        cur = self.current_line()
        if cur is None:
            return
        self.marked ^= {cur}
        self.move_cursor(1)

    def clear_marks(self) -> None:
        self.marked.clear()
        self._touch()

    def show(self, view: str) -> None:
        """Switch the centre pane to another view, keeping the current line in sight."""
        if view not in VIEWS:
            raise ValueError(view)
        cur = self.current_line()
        if view == CLUSTER and self.cluster_id is None:
            self._fall_back_cluster()
            if self.cluster_id is None:
                return
        self.view = view
        self.message = ""
        self._touch()
        if cur is not None and cur in self.rows():
            self.cursor = self.rows().index(cur)

    def search(self, query: str) -> None:
        self.query = query.strip()
        if not self.query:
            self.show(CLUSTER)
            return
        self.view = SEARCH
        self.cursor = 0
        self._touch()
        n = len(self.rows())
        self.message = f"{lines(n)} contain{'s' if n == 1 else ''} {self.query!r}"

    def toggle_doubt_sort(self) -> None:
        """Sort by doubt (or back); the top cluster is selected, as that is where to look."""
        self.sort_doubt = not self.sort_doubt
        self._set_clusters(list(self.by_id.values()))
        if self.view == CLUSTER and self.clusters:
            self.cluster_id = self.clusters[0].id
        self.cursor = 0
        self._touch()
        self.message = "sorted by doubt (most doubtful first)" if self.sort_doubt else "sorted by size and time"

    # ---- the review queue ----------------------------------------------------------------
    def next_doubtful(self) -> int | None:
        """The most doubtful line not shown by the queue yet: a line of a cluster nobody marked
        reviewed that sits at least as close to another cluster (doubt ≥ 0.5), else an
        unassigned line; None when there is none. A line a human placed is never offered:
        it is a decision, not a doubt."""
        open_ = {c.id for c in self.clusters if not c.confirmed}
        best = [(-d, lid) for lid, d in self.doubt.items() if d >= DOUBTFUL and lid not in self.visited
                and lid in self.assign and self.assign[lid].cluster_id in open_
                and self.assign[lid].origin != "human"]
        if best:
            return min(best)[1]
        loose = [(-self.line_doubt_value(lid), lid) for lid in self.order
                 if lid not in self.assign and lid not in self.visited]
        return min(loose)[1] if loose else None

    def next_unreviewed(self) -> int | None:
        """The next cluster neither named nor marked reviewed (most doubtful first), skipping
        the ones the queue showed already; None when every cluster is done."""
        todo = [c for c in self.clusters if not c.name and not c.confirmed and c.id not in self.visited_clusters]
        if not todo:
            return None
        return min(todo, key=lambda c: (-self.cluster_doubt(c.id), -c.size, c.id)).id

    def review_next(self) -> str:
        """One key for "what is most likely wrong next": first each merge conflict a merge of
        two copies left open, then the most doubtful line (shown in its cluster, or in the
        pool), then the next unreviewed cluster. Pressing it again moves on: what it showed
        counts as seen whatever the decision was; conflicts still open come round again once
        the rest of the queue is empty."""
        self.conflict = None
        if merge_conflicts.show_next(self):
            return self.message
        lid = self.next_doubtful()
        if lid is not None:
            self.visited.add(lid)
            if lid in self.assign:
                self.select_cluster(self.assign[lid].cluster_id)
                self._keep_cursor_on(lid)
                rival = self._rival(lid)
                self.message = (f"doubtful line {lid} ({self.doubt.get(lid, 0):.2f}"
                                f"{', nearer ' + rival if rival else ''}): x remove · m move · r next")
            else:
                self.select_cluster(None)
                self._keep_cursor_on(lid)
                self.message = f"unassigned line {lid}: 1/2/3 accept a suggestion · a add · r next"
            return self.message
        cid = self.next_unreviewed()
        if cid is not None:
            self.visited_clusters.add(cid)
            self.select_cluster(cid)
            self.message = f"unreviewed {self.cluster_label(cid)}: n name · c reviewed · M merge · r next"
            return self.message
        if merge_conflicts.show_next(self, again=True):
            return self.message
        self.message = "review queue empty: every doubtful line seen, every cluster named or reviewed"
        return self.message

    def next_unreviewed_cluster(self) -> str:
        """Go to the next cluster neither named nor reviewed."""
        cid = self.next_unreviewed()
        if cid is None:
            self.message = "every cluster is named or reviewed"
            return self.message
        self.visited_clusters.add(cid)
        self.select_cluster(cid)
        self.message = f"unreviewed {self.cluster_label(cid)}: n name · c reviewed · M merge"
        return self.message

    def _rival(self, line_id: int) -> str:
        """The label of the cluster a line's vector is nearest to, other than its own."""
        if self._vecs is None or line_id not in self.assign:
            return ""
        own = self.assign[line_id].cluster_id
        pos = {int(i): r for r, i in enumerate(self._vec_ids.tolist())}
        if line_id not in pos:
            return ""
        x = self._vecs[pos[line_id]]
        best, best_s = None, -2.0
        for cid, members in self.members.items():
            rows = [pos[m] for m in members if m in pos and m != line_id]
            if cid == own or not rows:
                continue
            c = self._vecs[rows].mean(axis=0)
            sim = float(x @ c / (np.linalg.norm(x) * np.linalg.norm(c) + 1e-12))
            if sim > best_s:
                best, best_s = cid, sim
        return self.cluster_label(best) if best is not None else ""

    # ---- actions (each one transaction in the op log) ------------------------------------
    @property
    def view_only(self) -> bool:
        return self.project.readonly

    def check_writable(self) -> None:
        """Refuse any change to a project opened view-only (before a prompt even opens)."""
        if self.project.readonly:
            raise SgtuiError(f"view only: {self.project.path.name} is read-only for you, nothing can be "
                             "changed here; ask its owner for write access or work on a copy")

    def _expect(self, line_ids: Sequence[int]) -> dict[int, int | None]:
        """Where the screen shows each line now (None: unassigned), for the store to check."""
        return {lid: (self.assign[lid].cluster_id if lid in self.assign else None) for lid in line_ids}

    def bind_lines(self) -> LineBinding:
        """The lines a prompt acts on and where they were when it opened (`expect=`)."""
        t = self._need_targets()
        return LineBinding(tuple(t), self._expect(t))

    def bind_cluster(self) -> ClusterBinding:
        """The cluster a prompt acts on, with its name when it opened."""
        cid = self.current_cluster()
        return ClusterBinding(cid, self.by_id[cid].name)

    def _run(self, fn: Callable[[], Any], done: str) -> str:
        self.check_writable()
        here = self.current_line()
        try:
            fn()
        except SgtuiError:  # a conflict or a failed write: show what the file holds now
            self.refresh(full=True)
            self._keep_cursor_on(here)
            self.seen_op = self.project.last_op_id()  # the refusal says what changed
            raise
        self.marked.clear()
        self.refresh()
        self._keep_cursor_on(here)
        self.seen_op = max(self.seen_op, self.project.last_op_id())
        self.message = done
        return done

    def _keep_cursor_on(self, line_id: int | None) -> None:
        """The cursor stays on the line it was on when that line is still shown (else on
        the row where it was, which now holds the next line)."""
        rows = self.rows()
        if line_id is not None and line_id in rows:
            self.cursor = rows.index(line_id)

    def _need_targets(self) -> list[int]:
        t = self.targets()
        if not t:
            raise SgtuiError("no line selected; move to a line first")
        return t

    def _lines(self, bound: LineBinding | None) -> tuple[list[int], dict[int, int | None]]:
        if bound is not None:
            return list(bound.lines), dict(bound.expect)
        t = self._need_targets()
        return t, self._expect(t)

    def add_to(self, cluster_id: int | None, name: str | None = None, bound: LineBinding | None = None) -> str:
        """Add unassigned lines to a cluster (None: start a new one)."""
        t, expect = self._lines(bound)
        placed = [lid for lid in t if expect.get(lid) is not None]
        if placed:
            raise SgtuiError(f"line {placed[0]} is already in {self.speaker_of(placed[0])}; "
                             "use move to put it elsewhere")
        self._run(lambda: self.project.add(t, cluster_id, self.annotator, name=name), "")
        dst = self.assign[t[0]].cluster_id
        self.message = f"added {_n(t)} to {self.cluster_label(dst)}"
        return self.message

    def remove(self) -> str:
        """Take lines out of their clusters: they go to the unassigned pool."""
        t = self._need_targets()
        loose = [lid for lid in t if lid not in self.assign]
        if loose:
            raise SgtuiError(f"line {loose[0]} is not in a cluster; nothing to remove")
        return self._run(lambda: self.project.remove(t, self.annotator, expect=self._expect(t)),
                         f"removed {_n(t)} (now unassigned)")

    def move_to(self, cluster_id: int | None, name: str | None = None, bound: LineBinding | None = None) -> str:
        """Move lines to another cluster (None: a new one); one action, remove + add rows."""
        t, expect = self._lines(bound)
        self._run(lambda: self.project.move(t, cluster_id, self.annotator, expect=expect, name=name), "")
        self.message = f"moved {_n(t)} to {self.cluster_label(self.assign[t[0]].cluster_id)}"
        return self.message

    def place(self, cluster_id: int | None, name: str | None = None, bound: LineBinding | None = None) -> str:
        """Add when every target is unassigned (when the prompt opened), else move."""
        t, expect = self._lines(bound)
        if all(expect.get(lid) is None for lid in t):
            # the store refuses a line someone placed since the prompt opened
            return self.add_to(cluster_id, name, LineBinding(tuple(t), expect))
        return self.move_to(cluster_id, name, LineBinding(tuple(t), expect))

    def merge_into(self, dst: int, src: int | None = None) -> str:
        """Fold the current cluster (or the bound `src`) into `dst`; the view follows to `dst`."""
        src = self.current_cluster() if src is None else src
        label_src, label_dst = self.cluster_label(src), self.cluster_label(dst)
        self._run(lambda: self.project.merge(src, dst, self.annotator), "")
        self.select_cluster(dst)
        self.message = f"merged {label_src} into {label_dst}"
        return self.message

    def current_cluster(self) -> int:
        if self.view == CLUSTER and self.cluster_id is not None:
            return self.cluster_id
        cur = self.current_line()
        if cur is not None and cur in self.assign:
            return self.assign[cur].cluster_id
        raise SgtuiError("no cluster selected; choose one in the cluster list first")

    def rename(self, name: str, bound: ClusterBinding | None = None) -> str:
        """Name the current cluster (or the bound one, refused if renamed meanwhile)."""
        if bound is None:
            bound = self.bind_cluster()
        cid = bound.cluster_id
        old = bound.name or f"#{cid}"
        self._run(lambda: self.project.rename(cid, name, self.annotator, expect_name=bound.name), "")
        self.message = f"renamed {old} to {self.cluster_label(cid)}"
        return self.message

    def toggle_confirm(self) -> str:
        cid = self.current_cluster()
        value = not self.by_id[cid].confirmed
        return self._run(lambda: self.project.confirm(cid, self.annotator, value=value),
                         f"{self.cluster_label(cid)} {'marked reviewed' if value else 'unmarked'}")

    def accept_suggestion(self, rank: int) -> str:
        """Put the current unassigned line into its suggestion `rank` (1-based)."""
        cur = self.current_line()
        if cur is None:
            raise SgtuiError("no line selected")
        if cur in self.assign:
            raise SgtuiError("this line is already in a cluster; suggestions are for unassigned lines")
        sug = self.suggest.get(cur, [])
        if rank > len(sug):
            raise SgtuiError(f"this line has {len(sug)} suggestion(s); no suggestion {rank}")
        self.marked.clear()
        return self.add_to(sug[rank - 1].cluster_id)

    def write_recluster(self, apply: Callable[[], dict]) -> str:
        """Write an engine result computed in the background (one undoable action of mine)."""
        summary: dict = {}
        self._run(lambda: summary.update(apply() or {}), "")
        n = summary.get("clusters", len(self.clusters))
        self.message = f"re-clustered: {n} clusters, {self.unassigned_count()} unassigned (u undoes it)"
        return self.message

    def undo(self) -> str:
        """Undo my latest action; the message says which ("undone: merge #3 into #1")."""
        return self._undo_redo("undo")

    def redo(self) -> str:
        """Redo the action I undid last; the message says which."""
        return self._undo_redo("redo")

    def _undo_redo(self, kind: str) -> str:
        done: list[int | None] = []
        step = self.project.undo if kind == "undo" else self.project.redo
        self._run(lambda: done.append(step(self.annotator)), "")
        if done[0] is None:
            self.message = f"nothing to {kind}"
            return self.message
        rows = self.project.action_ops(done[0])
        target = rows[0].undoes if rows else None
        what = describe_action(self.project.action_ops(target), self.cluster_label) if target else ""
        self.message = f"{kind}ne: {what}" if what else f"{kind}ne"
        if self.reopened:
            ids = ", ".join(map(str, self.reopened))
            self.message += f"; merge conflict {ids} is open again (r shows it)"
        return self.message

    # ---- playback material ---------------------------------------------------------------
    def line_ids_for_montage(self, limit: int = 20) -> list[int]:
        """Lines of the current cluster to play back to back (doubt order when sorted)."""
        if self.view == CLUSTER:
            return self.rows()[:limit]
        cur = self.current_line()
        if cur is not None and cur in self.assign:
            return self.members[self.assign[cur].cluster_id][:limit]
        return []

    def context_ids(self, before: int = 1, after: int = 1) -> list[int]:
        """The current line with its neighbours in the episode."""
        cur = self.current_line()
        if cur is None:
            return []
        i = self.position[cur]
        return self.order[max(0, i - before): i + after + 1]


def describe_action(rows: Sequence[Any], label: Callable[[int | None], str]) -> str:
    """One action of the op log in words ("merge #3 into #1", "move 2 lines to Haruhi"),
    from its rows (OpRow) and a cluster labeller; '' for an empty action."""
    if not rows:
        return ""
    kinds = {r.kind for r in rows}
    lines = [r.line_id for r in rows if r.line_id is not None]
    payload = next((json.loads(r.payload) for r in rows if r.payload), {})
    if "merge" in kinds:
        m = next(r for r in rows if r.kind == "merge")
        return f"merge {label(m.src_cluster)} into {label(m.dst_cluster)}"
    if {"add", "remove"} <= kinds:
        dst = next(r.dst_cluster for r in rows if r.kind == "add")
        return f"move {_n(sorted(set(lines)))} to {label(dst)}"
    if "add" in kinds:
        return f"add {_n(lines)} to {label(rows[0].dst_cluster)}"
    if "remove" in kinds:
        srcs = {r.src_cluster for r in rows}
        return f"remove {_n(lines)} from {label(srcs.pop())}" if len(srcs) == 1 else f"remove {_n(lines)}"
    clusters = payload.get("clusters", {})
    if "rename" in kinds:
        if len(clusters) != 1:
            return f"name {len(clusters)} clusters"
        (cid, (before, after)), = clusters.items()
        old = (before or [None])[0] or f"#{cid}"
        new = (after or [None])[0]
        return f"rename {old} to {new}" if new else f"unname {old}"
    if "confirm" in kinds:
        cid = rows[0].src_cluster
        after = clusters.get(str(cid), [None, None])[1]
        return f"{'mark' if after and after[3] else 'unmark'} {label(cid)} reviewed"
    if "flag" in kinds:
        return f"{'flag' if payload.get('set', True) else 'unflag'} {_n(lines)}" + (
            f" ({payload['flag']})" if payload.get("flag") else "")
    if "recluster" in kinds:
        return "re-cluster"
    if "resolve" in kinds:
        ids = ", ".join(sorted(payload.get("conflicts", {}), key=int))
        took = "the other copy's choice" if payload.get("pick") == "other" else "the merge's choice"
        return f"decide merge conflict {ids} ({took})"
    if "import" in kinds:
        return "import labels"
    if "title" in kinds and isinstance(payload.get("title"), list) and len(payload["title"]) == 2:
        before, after = payload["title"]
        return f"retitle {before!r} to {after!r}"
    return min(kinds)


def lines(n: int) -> str:
    """"1 line", "2 lines": a count the way people say it."""
    return f"{n} line" if n == 1 else f"{n} lines"


def _n(line_ids: Sequence[int]) -> str:
    return f"line {line_ids[0]}" if len(line_ids) == 1 else f"{len(line_ids)} lines"
