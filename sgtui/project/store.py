"""The Project: one .sgproj file. All SQL of sgtui lives in this package.

Data accessors are here; the annotator's actions and the op log are in `actions.py`.
Bulk writes go in batches (executemany) inside one transaction; every user action is one
transaction. Plain sqlite3 with explicit BEGIN IMMEDIATE: sqlite-utils' bulk inserts commit
on their own, which would split an action from its op-log rows.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import sqlite3
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from sgtui import __version__
from sgtui.errors import SgtuiError
from sgtui.project import connection, schema
from sgtui.project.core import BATCH, ProjectCore, _chunks, write_failure  # noqa: F401 - re-exported
from sgtui.project.flags import FlagsMixin
from sgtui.project.records import (
    Assignment,
    Clip,
    Cluster,
    Keyframe,
    Line,
    LineIn,
    NameSuggestion,
    Suggestion,
)
from sgtui.project.titles import TitleMixin

MODALITIES = ("voice", "image")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def default_annotator() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "annotator"


FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_vectors(vecs: object, what: str = "embeddings") -> np.ndarray:
    """Vectors as a float64 (lines × dim) array, or one line saying what is wrong with them.

    Refused: non-numeric or complex dtypes, shapes other than (n ≥ 1, dim ≥ 1), NaN or
    infinite values, values float32 cannot hold, and all-zero rows (no direction to compare).
    """
    v = np.asarray(vecs)
    if v.dtype.names is not None or v.dtype.kind not in "biuf":
        kind = "complex numbers" if v.dtype.kind == "c" else f"dtype {v.dtype}"
        raise SgtuiError(f"{what} hold {kind}; give real numbers (float32), one row per line")
    if v.ndim != 2:
        raise SgtuiError(f"{what} must be a 2-D array (lines × dim), got shape {v.shape}")
    if v.shape[0] == 0 or v.shape[1] == 0:
        raise SgtuiError(f"{what} are empty (shape {v.shape}); give one non-empty row per line")
    v = v.astype(np.float64, copy=False)
    finite = np.isfinite(v).all(axis=1)
    if not finite.all():
        raise SgtuiError(f"{what} contain NaN or infinite values (row {int(np.argmin(finite))}); "
                         "re-run the encoder")
    big = (np.abs(v) > FLOAT32_MAX).any(axis=1)
    if big.any():
        raise SgtuiError(f"{what} hold values too large for float32 (row {int(np.argmax(big))}); "
                         "re-run the encoder or rescale them")
    zero = ~(v != 0).any(axis=1)
    if zero.any():
        raise SgtuiError(f"{what} have all-zero rows (row {int(np.argmax(zero))} and "
                         f"{int(zero.sum()) - 1} more); a zero vector cannot be compared")
    return v


def l2_normalise(vecs: object, what: str = "embeddings") -> np.ndarray:
    """Checked rows scaled to unit length, as float32 (norms taken in float64: no overflow)."""
    v = check_vectors(vecs, what)
    scale = np.abs(v).max(axis=1, keepdims=True)  # 1e38-sized values square without overflow
    v = v / scale
    out = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)
    if not np.isfinite(out).all() or not (out != 0).any(axis=1).all():
        raise SgtuiError(f"{what} do not normalise to finite unit vectors; re-run the encoder")
    return out


class Project(FlagsMixin, TitleMixin):
    """An open .sgproj file. Use `Project.create` or `Project.open`; close when done."""

    # ---- opening -------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, *, title: str | None = None, force: bool = False) -> Project:
        """A new, empty project file (refuses an existing path unless force)."""
        path = Path(path)
        connection.create_file(path, force)
        conn = connection.connect(path, "rwc")
        conn.execute(f"PRAGMA journal_mode={connection.journal_mode_for(path)}")
        conn.execute("BEGIN IMMEDIATE")
        schema.build(conn)
        meta = {
            "schema_version": str(schema.SCHEMA_VERSION),
            "sgtui_version": __version__,
            "title": title or path.stem,
            "created": now(),
        }
        conn.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", meta.items())
        conn.execute(f"PRAGMA application_id={schema.APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version={schema.SCHEMA_VERSION}")
        conn.execute("COMMIT")
        return cls(conn, path, readonly=False)

    @classmethod
    def open(cls, path: str | Path, *, readonly: bool = False) -> Project:
        """Open an existing project; refuse anything that is not a current-or-older sgproj."""
        path = Path(path)
        if not path.exists():
            raise SgtuiError(f"{path} does not exist; check the path")
        if path.is_dir():
            raise SgtuiError(f"{path} is a folder, not an sgproj file")
        if not readonly and not connection.writable(path):
            raise SgtuiError(f"{path} is read-only here (no write permission on the file or its "
                             "folder); copy it somewhere you can write, or make it writable "
                             "(chmod u+w), and run again — or open it to view only")
        conn = connection.open_existing(path, readonly)  # crashed writers' logs vetted first
        try:
            version = connection.verify(conn, path)
            if version < schema.SCHEMA_VERSION:
                if readonly:
                    mem = connection.copy_to_memory(conn)
                    conn.close()
                    conn = mem
                else:
                    connection.backup_copy(conn, path, version)
                connection.migrate(conn, version)
            if not readonly:
                mode = connection.journal_mode_for(path)
                current = conn.execute("PRAGMA journal_mode").fetchone()[0].upper()
                if current != mode:
                    # another process may hold it; then keep the current mode
                    with contextlib.suppress(sqlite3.OperationalError):
                        conn.execute(f"PRAGMA journal_mode={mode}")
        except BaseException:
            connection.close_keeping_log(conn, path)  # a refused file never takes in its -wal
            raise
        return cls(conn, path, readonly=readonly)

    def close(self, check: bool | None = None) -> None:
        """Close the file. The last connection of this process first moves the -wal into the
        file (checked), so the file alone is whole once a command ends: if that fails (a full
        disk), the file alone stays whole without the last work, which waits in the -wal, and
        a writer raises WriteFailed with what to do. `check` (default: a writer that is not
        already failing with another error) says whether to raise."""
        if self._closed:
            self.conn.close()
            return
        self._closed = True
        connection.closed(self.path)
        if connection.open_here(self.path):
            self.conn.close()  # another connection of this process ends the work later
            return
        problem = connection.close_checkpointed(self.conn, self.path, wait=not self.readonly)
        if check is None:
            check = not self.readonly and sys.exc_info()[0] is None
        if problem and check:
            raise connection.unfinished_error(self.path, problem)

    def checkpoint(self) -> str | None:
        """Move the -wal into the file now without waiting for readers (the app, when idle);
        None when done, else why not (the next try, or the close, does it)."""
        if self.readonly or self._closed:
            return None
        return connection.checkpoint(self.conn, self.path, wait=False)

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- meta ----------------------------------------------------------------------------
    def meta_get(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return default if row is None else row[0]

    def meta_set(self, key: str, value: str | None) -> None:
        with self.transaction() as c:
            if value is None:
                c.execute("DELETE FROM meta WHERE key=?", (key,))
            else:
                c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, str(value)))

    def meta(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT key, value FROM meta ORDER BY key"))

    def set_source(self, path: str | Path) -> None:
        """Record the source video's path, name, size and hashes that identify it cheaply.

        `source_sha256_head` hashes the first MiB (kept for older readers);
        `source_sha256_ends` hashes the size, the first and the last MiB, so `sgtui export`
        can tell the very same video from a re-encode with the same head.
        """
        p = Path(path)
        with open(p, "rb") as fh:
            head = hashlib.sha256(fh.read(1 << 20)).hexdigest()
        with self.transaction():
            self.meta_set("source_name", p.name)
            self.meta_set("source_path", str(p.resolve()))
            self.meta_set("source_size", str(p.stat().st_size))
            self.meta_set("source_sha256_head", head)
            self.meta_set("source_sha256_ends", source_fingerprint(p))

    # ---- lines ---------------------------------------------------------------------------
    def add_lines(self, lines: Sequence[LineIn]) -> list[int]:
        """Append lines in the given order; returns their ids."""
        for ln in lines:
            if not (isinstance(ln.start_ms, int) and isinstance(ln.end_ms, int)):
                raise SgtuiError("line times must be integer milliseconds")
            if ln.end_ms < ln.start_ms:
                raise SgtuiError(f"a line ends ({ln.end_ms} ms) before it starts ({ln.start_ms} ms)")
        with self.transaction() as c:
            base = c.execute("SELECT COALESCE(MAX(idx), -1) + 1 FROM lines").fetchone()[0]
            first = c.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM lines").fetchone()[0]
            rows = [
                (first + i, base + i, ln.start_ms, ln.end_ms, ln.text or "", ln.source, ln.style, ln.actor)
                for i, ln in enumerate(lines)
            ]
            for chunk in _chunks(rows, BATCH):
                c.executemany(
                    "INSERT INTO lines(id, idx, start_ms, end_ms, text, source, style, actor) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    chunk,
                )
        return [r[0] for r in rows]

    def lines(self) -> list[Line]:
        rows = self.conn.execute(
            "SELECT id, idx, start_ms, end_ms, text, source, style, actor FROM lines ORDER BY idx"
        )
        return [Line(*r) for r in rows]

    def line(self, line_id: int) -> Line | None:
        r = self.conn.execute(
            "SELECT id, idx, start_ms, end_ms, text, source, style, actor FROM lines WHERE id=?",
            (line_id,),
        ).fetchone()
        return Line(*r) if r else None

    def count(self, table: str) -> int:
        if table not in schema.TABLES:
            raise ValueError(table)
        return self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    # ---- clips and keyframes -------------------------------------------------------------
    def put_clips(self, clips: Iterable[tuple[int, str, int, bytes]]) -> None:
        """Store (line_id, codec, sample_rate, data) rows; replaces a line's earlier clip."""
        with self.transaction() as c:
            for chunk in _chunks(list(clips), BATCH):
                c.executemany(
                    "INSERT OR REPLACE INTO clips(line_id, codec, sample_rate, data) VALUES (?,?,?,?)",
                    chunk,
                )

    def clip(self, line_id: int) -> Clip | None:
        r = self.conn.execute(
            "SELECT codec, sample_rate, data FROM clips WHERE line_id=?", (line_id,)
        ).fetchone()
        return Clip(r[0], r[1], bytes(r[2])) if r else None

    def clip_ids(self) -> set[int]:
        return {r[0] for r in self.conn.execute("SELECT line_id FROM clips")}

    def put_keyframes(self, frames: Iterable[tuple[int, str, int, int, bytes]]) -> None:
        """Store (line_id, mime, width, height, data) rows."""
        with self.transaction() as c:
            for chunk in _chunks(list(frames), BATCH):
                c.executemany(
                    "INSERT OR REPLACE INTO keyframes(line_id, mime, width, height, data) "
                    "VALUES (?,?,?,?,?)",
                    chunk,
                )

    def keyframe(self, line_id: int) -> Keyframe | None:
        r = self.conn.execute(
            "SELECT mime, width, height, data FROM keyframes WHERE line_id=?", (line_id,)
        ).fetchone()
        return Keyframe(r[0], r[1], r[2], bytes(r[3])) if r else None

    def keyframe_ids(self) -> set[int]:
        return {r[0] for r in self.conn.execute("SELECT line_id FROM keyframes")}

    # ---- embeddings and confidence -------------------------------------------------------
    def put_embeddings(self, modality: str, model: str, line_ids: Sequence[int], vecs: np.ndarray) -> None:
        """Store L2-normalised float32 vectors for (modality, model); replaces earlier ones."""
        _check_modality(modality)
        v = l2_normalise(vecs, f"{modality} vectors ({model})")
        if len(line_ids) != len(v):
            raise SgtuiError(f"{len(line_ids)} line ids but {len(v)} vectors")
        dim = int(v.shape[1])
        rows = [(int(i), modality, model, dim, row.tobytes()) for i, row in zip(line_ids, v, strict=True)]
        with self.transaction() as c:
            for chunk in _chunks(rows, BATCH):
                c.executemany(
                    "INSERT OR REPLACE INTO embeddings(line_id, modality, model, dim, vec) VALUES (?,?,?,?,?)",
                    chunk,
                )
            known = json.loads(self.meta_get("encoders", "[]") or "[]")
            if [modality, model] not in known:
                known.append([modality, model])
                self.meta_set("encoders", json.dumps(known, ensure_ascii=False))

    def encoders(self) -> list[dict]:
        """Every (modality, model) stored, with its dimension and line count."""
        rows = self.conn.execute(
            "SELECT modality, model, dim, COUNT(*), MAX(rowid) FROM embeddings "
            "GROUP BY modality, model, dim ORDER BY modality, MAX(rowid)"
        )
        return [{"modality": m, "model": n, "dim": d, "lines": k} for m, n, d, k, _ in rows]

    def chosen_model(self, modality: str) -> str | None:
        """The model the engine should use: meta `model.<modality>` if stored, else the latest."""
        _check_modality(modality)
        chosen = self.meta_get(f"model.{modality}")
        models = [e["model"] for e in self.encoders() if e["modality"] == modality]
        if chosen in models:
            return chosen
        return models[-1] if models else None

    def embedded_ids(self, modality: str, model: str) -> set[int]:
        return {
            r[0]
            for r in self.conn.execute(
                "SELECT line_id FROM embeddings WHERE modality=? AND model=?", (modality, model)
            )
        }

    def embeddings(self, modality: str, model: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(line ids in episode order, float32 matrix) for one model; empty when none."""
        model = model or self.chosen_model(modality)
        if model is None:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        rows = self.conn.execute(
            "SELECT e.line_id, e.dim, e.vec FROM embeddings e JOIN lines l ON l.id = e.line_id "
            "WHERE e.modality=? AND e.model=? ORDER BY l.idx",
            (modality, model),
        ).fetchall()
        if not rows:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        dim = rows[0][1]
        for line_id, d, vec in rows:
            if not isinstance(d, int) or d < 1 or d != dim or not isinstance(vec, bytes) \
                    or len(vec) != 4 * d:
                size = len(vec) if isinstance(vec, bytes) else type(vec).__name__
                raise SgtuiError(f"{self.path}: the {modality} vector of line {line_id} ({model}) is "
                                 f"damaged ({size} bytes for dim {d}); re-run 'sgtui embed' or "
                                 "re-import the features")
        ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
        mat = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32).reshape(len(rows), dim)
        bad = ~np.isfinite(mat).all(axis=1)
        if bad.any():
            raise SgtuiError(f"{self.path}: {int(bad.sum())} {modality} vectors ({model}) hold NaN "
                             f"or infinite values (line {int(ids[np.argmax(bad)])}); re-run "
                             "'sgtui embed' or re-import the features")
        return ids, mat.copy()

    def confidence(self, modality: str, model: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(line ids in episode order, values) for one model; empty when none."""
        model = model or self.chosen_model(modality)
        rows = self.conn.execute(
            "SELECT c.line_id, c.value FROM confidence c JOIN lines l ON l.id = c.line_id "
            "WHERE c.modality=? AND c.model=? ORDER BY l.idx",
            (modality, model),
        ).fetchall()
        return np.array([r[0] for r in rows], np.int64), np.array([r[1] for r in rows], np.float64)

    # ---- clusters and assignments (read side) --------------------------------------------
    def clusters(self) -> list[Cluster]:
        rows = self.conn.execute(
            "SELECT c.id, c.name, c.confirmed, COUNT(a.line_id) FROM clusters c "
            "LEFT JOIN assignments a ON a.cluster_id = c.id GROUP BY c.id ORDER BY c.id"
        )
        return [Cluster(r[0], r[1], bool(r[2]), r[3]) for r in rows]

    def cluster(self, cluster_id: int) -> Cluster | None:
        return next((c for c in self.clusters() if c.id == cluster_id), None)

    def assignments(self) -> dict[int, Assignment]:
        rows = self.conn.execute("SELECT line_id, cluster_id, origin, confirmed FROM assignments")
        return {r[0]: Assignment(r[1], r[2], bool(r[3])) for r in rows}

    def cluster_lines(self, cluster_id: int) -> list[int]:
        rows = self.conn.execute(
            "SELECT a.line_id FROM assignments a JOIN lines l ON l.id=a.line_id "
            "WHERE a.cluster_id=? ORDER BY l.idx",
            (cluster_id,),
        )
        return [r[0] for r in rows]

    def unassigned_ids(self) -> list[int]:
        rows = self.conn.execute(
            "SELECT l.id FROM lines l LEFT JOIN assignments a ON a.line_id=l.id "
            "WHERE a.line_id IS NULL ORDER BY l.idx"
        )
        return [r[0] for r in rows]

    def suggestions(self) -> dict[int, list[Suggestion]]:
        out: dict[int, list[Suggestion]] = {}
        for line_id, cid, score in self.conn.execute(
            "SELECT line_id, cluster_id, score FROM suggestions ORDER BY line_id, rank"
        ):
            out.setdefault(line_id, []).append(Suggestion(cid, score))
        return out

    # ---- suggested names (machine guesses: not logged, replaced freely) -------------------
    def name_suggestions(self) -> dict[int, NameSuggestion]:
        """The best suggested name per cluster (highest score; bank before subtitle on a tie)."""
        out: dict[int, NameSuggestion] = {}
        for cid, name, score, source in self.conn.execute(
            "SELECT cluster_id, name, score, source FROM name_suggestions "
            "ORDER BY cluster_id, score DESC, source"
        ):
            out.setdefault(cid, NameSuggestion(cid, name, float(score), source))
        return out

    def set_name_suggestions(self, source: str, names: dict[int, tuple[str, float]]) -> None:
        """Replace every suggestion of `source` by `names` (cluster id -> (name, score)).

        Clusters that no longer exist are skipped: a suggestion never outlives its cluster."""
        if source not in ("bank", "subtitle"):
            raise ValueError(source)
        rows = [(int(cid), source, str(n).strip(), float(sc)) for cid, (n, sc) in names.items()
                if str(n).strip()]
        with self.transaction() as c:
            c.execute("DELETE FROM name_suggestions WHERE source=?", (source,))
            c.executemany(
                "INSERT INTO name_suggestions(cluster_id, source, name, score) "
                "SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM clusters WHERE id=?)",
                [(*r, r[0]) for r in rows])

    def extend_suggestions(self, ranked: dict[int, Sequence[tuple[int, float]]]) -> int:
        """Append clusters to unassigned lines' suggestions (after the engine's own, never a
        cluster already listed or one a human took the line out of); returns rows added."""
        cannot = self._cannot_links()
        added = 0
        with self.transaction() as c:
            for lid, pairs in ranked.items():
                if c.execute("SELECT 1 FROM assignments WHERE line_id=?", (int(lid),)).fetchone():
                    continue
                have = {r[0] for r in c.execute("SELECT cluster_id FROM suggestions WHERE line_id=?",
                                                (int(lid),))}
                rank = c.execute("SELECT COALESCE(MAX(rank), -1) + 1 FROM suggestions WHERE line_id=?",
                                 (int(lid),)).fetchone()[0]
                for cid, score in pairs:
                    if cid in have or (int(lid), int(cid)) in cannot:
                        continue
                    c.execute("INSERT INTO suggestions(line_id, rank, cluster_id, score) "
                              "SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM clusters WHERE id=?)",
                              (int(lid), rank, int(cid), float(score), int(cid)))
                    have.add(cid)
                    rank += 1
                    added += 1
        return added

    def annotators(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT name FROM annotators ORDER BY first_seen, name")]


def source_fingerprint(path: str | Path) -> str:
    """sha256 of the file's size, first MiB and last MiB: fast on any video, and enough to
    tell a file from another one (used to check that a video is the one ingested)."""
    p = Path(path)
    size = p.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with open(p, "rb") as fh:
        h.update(fh.read(1 << 20))
        fh.seek(max(size - (1 << 20), 0))
        h.update(fh.read(1 << 20))
    return h.hexdigest()


def _check_modality(modality: str) -> None:
    if modality not in MODALITIES:
        raise SgtuiError(f"unknown modality {modality!r}; use one of {', '.join(MODALITIES)}")
