"""Glue that needs the project store and the engine together; used by the CLI and the TUI.

The engine works on row indices of an embedding matrix; this module translates project
line and cluster ids to indices and back, caches the k-NN graph per process (so the TUI
re-clusters on the cached graph), and reads and writes model files.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from sgtui.engine.confidence import (
    ConfidenceModel,
)
from sgtui.engine.constraints import Constraints
from sgtui.engine.gated import DEFAULT_PARAMS, GatedParams, params_for, threshold_for
from sgtui.engine.knn import KnnGraph, build_knn, fuse
from sgtui.engine.methods import METHODS, cluster
from sgtui.engine.modality import estimate_image_weight
from sgtui.engine.model import EngineModel
from sgtui.engine.training import Episode, fit_engine_model
from sgtui.errors import SgtuiError
from sgtui.project import Project, Suggestion, default_annotator

_GRAPHS: dict[str, tuple[KnnGraph, float]] = {}  # vectors' hash -> (graph, estimated threshold)


MODEL_MAX_BYTES = 16 << 20  # a trained model is a few kB; anything near this is not ours
MODEL_MAX_ARRAYS = 32
MODEL_MAX_ELEMENTS = 1 << 20


def _check_model_zip(p: Path) -> None:
    """Limits checked from the zip directory and each .npy header, before any array is read
    (a small zip bomb must be refused at once, not after gigabytes)."""
    import zipfile

    if p.stat().st_size > MODEL_MAX_BYTES:
        raise SgtuiError(f"{p} is {p.stat().st_size} bytes, too large for an sgtui model "
                         f"(at most {MODEL_MAX_BYTES}); train one with `sgtui train`")
    try:
        with zipfile.ZipFile(p) as zf:
            members = zf.infolist()
            if not members or len(members) > MODEL_MAX_ARRAYS:
                raise SgtuiError(f"{p} holds {len(members)} arrays; an sgtui model holds 1 to "
                                 f"{MODEL_MAX_ARRAYS} — train one with `sgtui train`")
            total = sum(m.file_size for m in members)
            if total > MODEL_MAX_BYTES:
                raise SgtuiError(f"{p} unpacks to {total} bytes, too large for an sgtui model; "
                                 "train one with `sgtui train`")
            for m in members:
                with zf.open(m) as fh:
                    version = np.lib.format.read_magic(fh)
                    read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                            else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read(fh)
                if dtype.hasobject or int(np.prod(shape, dtype=np.float64)) > MODEL_MAX_ELEMENTS:
                    raise SgtuiError(f"{p}: array {m.filename} ({dtype}, shape {shape}) is not one "
                                     "an sgtui model holds; train one with `sgtui train`")
    except (zipfile.BadZipFile, ValueError, OSError, SyntaxError, EOFError) as exc:
        raise SgtuiError(f"{p} is not an sgtui model ({exc}); train one with `sgtui train`") from None


def load_model(path: str | Path) -> EngineModel:
    """Read a model written by `sgtui train` (an .npz of plain arrays; pickle refused)."""
    p = Path(path)
    if not p.is_file():
        raise SgtuiError(f"model {p} does not exist; train one with `sgtui train EP... -o {p}`")
    _check_model_zip(p)
    try:
        with np.load(p, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        for name, arr in arrays.items():
            if arr.dtype.kind in "biufc" and not np.isfinite(arr).all():
                raise SgtuiError(f"{p}: array {name} holds NaN or infinite values; the model is "
                                 "damaged — train it again with `sgtui train`")
        return EngineModel.from_arrays(arrays)
    except (OSError, ValueError, EOFError) as exc:
        raise SgtuiError(f"{p} is not an sgtui model ({exc}); train one with `sgtui train`") from None


def save_model(model: EngineModel, path: str | Path) -> None:
    """Write the model whole or not at all (a .part file renamed once complete)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **model.to_arrays())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def episode_vectors(project: Project) -> tuple[np.ndarray, np.ndarray, str]:
    """(line ids, fused unit vectors, voice model name): voice, plus image where present."""
    ids, voice, image, model = episode_modalities(project)
    return ids, fuse(voice, image), model


def episode_modalities(project: Project, voice_model: str | None = None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, str]:
    """(line ids, voice vectors, image vectors aligned to them (zero rows where missing) or
    None, voice model name); `voice_model`: that model's vectors, not the chosen one's."""
    model = voice_model or project.chosen_model("voice")
    ids, voice = project.embeddings("voice", model)
    if ids.size == 0 or model is None:
        raise SgtuiError("the project has no voice embeddings; run `sgtui embed EP` or import features")
    img_ids, img = project.embeddings("image")
    if img_ids.size:
        pos = {int(i): r for r, i in enumerate(img_ids.tolist())}
        aligned = np.zeros((ids.size, img.shape[1]), dtype=np.float32)
        for r, i in enumerate(ids.tolist()):
            if i in pos:
                aligned[r] = img[pos[i]]
        return ids, voice, aligned, model
    return ids, voice, None, model


def cached_graph(x: np.ndarray, k: int = 10) -> KnnGraph:
    """The k-NN graph of these vectors, built once per process (keyed by their bytes)."""
    return _cached(x, k)[0]


def _cached(x: np.ndarray, k: int = 10, params: GatedParams = DEFAULT_PARAMS
            ) -> tuple[KnnGraph, float]:
    """(graph, the episode's threshold under `params`), both computed once per process."""
    key = hashlib.blake2b(np.ascontiguousarray(x).tobytes(), digest_size=16).hexdigest() + \
        f":{k}:{hash(params)}"
    if key not in _GRAPHS:
        if len(_GRAPHS) > 8:
            _GRAPHS.clear()
        graph = build_knn(x, k)
        _GRAPHS[key] = (graph, threshold_for(x, graph, params))
    return _GRAPHS[key]


def _constraints(project: Project, ids: np.ndarray) -> Constraints:
    """Human work (and imported guesses and endorsed clusters, which the store keeps anyway)."""
    pos = {int(i): r for r, i in enumerate(ids.tolist())}
    hc = project.constraints()
    fixed = {pos[lid]: cid for lid, cid in hc.fixed.items() if lid in pos}
    endorsed = {c.id for c in project.clusters() if c.name or c.confirmed}
    for lid, a in project.assignments().items():
        # imported guesses, and every line of a cluster a human named or reviewed, stay
        if (a.origin == "suggested" or a.cluster_id in endorsed) and lid in pos:
            fixed.setdefault(pos[lid], a.cluster_id)
    return Constraints(
        fixed=fixed,
        cannot_link=frozenset((pos[lid], cid) for lid, cid in hc.cannot_link if lid in pos),
        must_link=tuple((pos[a], pos[b]) for a, b in hc.must_link if a in pos and b in pos),
        names=dict(hc.names),
    )


@dataclass
class ReclusterPlan:
    """The engine's result for a project, not yet written (the app asks before writing)."""

    method: str
    lines: int
    ids: list[int]
    voice_model: str
    groups: list[tuple[int | None, list[int]]]
    suggestions: dict[int, list[tuple[int, float]]]
    confidence: list[float] | None
    threshold: float | None
    started: float
    info: dict  # what the engine decided (threshold, modality weights, speaker-count estimate)


def plan_recluster(
    project: Project, method: str = "gated", model: str | Path | EngineModel | ConfidenceModel | None = None,
    threshold: float | None = None, bank: str | Path | None = None,
) -> ReclusterPlan:
    """Run the engine on the project's embeddings; nothing is written. `threshold`: the
    similarity cut of `ahc` (default 0.3); gated estimates its own. `bank` (default: the
    bank the project remembers): auto groups that the bank confidently calls one character
    are joined (`join_by_bank`)."""
    if method not in METHODS:
        raise SgtuiError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    t0 = time.perf_counter()
    if model is not None and not isinstance(model, EngineModel | ConfidenceModel):
        model = load_model(model)
    ids, voice, image, voice_model = episode_modalities(project)
    lines = {ln.id: ln for ln in project.lines()}
    durations = np.array([lines[int(i)].duration_ms for i in ids.tolist()], dtype=np.float64)
    starts = np.array([lines[int(i)].start_ms for i in ids.tolist()], dtype=np.float64)
    base = params_for(voice_model)  # parameters tuned per voice encoder
    weight = _image_weight(voice, image, np.argsort(starts, kind="stable"), base)
    x = fuse(voice, image, weight)
    cons = _constraints(project, ids)
    graph, theta = _cached(x, params=base)
    params = replace(base, threshold=theta)
    try:
        result = cluster(method, voice, image=image, image_weight=weight, graph=graph, constraints=cons,
                         model=model, durations_ms=durations, params=params, starts_ms=starts,
                         threshold=threshold)
    except ValueError as exc:
        raise SgtuiError(f"{exc}") from None
    groups = [(key, [int(ids[i]) for i in members]) for key, members in result.groups]
    sugg = {int(ids[i]): list(ranked) for i, ranked in result.suggestions.items()}
    _check_result(result, ids.size)  # an invalid result (NaN) is refused before anything is written
    plan = ReclusterPlan(
        method=method, lines=len(lines), ids=[int(i) for i in ids.tolist()], voice_model=voice_model,
        groups=groups, suggestions=sugg,
        confidence=None if result.confidence is None else result.confidence.tolist(),
        threshold=float(result.info["threshold"]) if "threshold" in result.info else None,
        started=t0, info=dict(result.info),
    )
    bank = bank if bank is not None else project.meta_get("bank_path")
    if bank and Path(bank).is_file():
        try:
            plan.info["bank_joined"] = join_by_bank(plan, ids, voice, bank, project)
        except SgtuiError as exc:  # a bank of another encoder: cluster without it, and say so
            plan.info["bank_error"] = str(exc)
    return plan


def join_by_bank(plan: ReclusterPlan, ids: np.ndarray, voice: np.ndarray, bank: str | Path,
                 project: Project) -> int:
    """Join the plan's groups that the bank calls one character with calibrated probability
    ≥ JOIN (an over-split speaker); returns how many groups were joined into others.

    Only machine groups move: two groups that both keep a human-endorsed cluster stay apart
    (the annotator sees them as a suggested merge)."""
    from sgtui.engine.bank import JOIN, match_clusters

    ids, voice, protos, calibration, _ = _bank_matcher(bank, project, ids, voice, plan.voice_model)
    pos = {int(i): r for r, i in enumerate(ids.tolist())}
    group = np.full(len(ids), -1, dtype=np.int64)
    for g, (_, members) in enumerate(plan.groups):
        for lid in members:
            if lid in pos:
                group[pos[lid]] = g
    by_char: dict[int, list[int]] = {}
    for m in match_clusters(voice, group, len(plan.groups), protos, calibration, accept=JOIN):
        by_char.setdefault(m.character, []).append(m.group)
    into = list(range(len(plan.groups)))
    for gs in by_char.values():
        keyed = [g for g in gs if plan.groups[g][0] is not None]
        if len(gs) < 2 or len(keyed) > 1:
            continue
        target = keyed[0] if keyed else max(gs, key=lambda g: (len(plan.groups[g][1]), -g))
        for g in gs:
            into[g] = target
    joined = sum(1 for g, t in enumerate(into) if t != g)
    if not joined:
        return 0
    members: dict[int, list[int]] = {}
    for g, (_, lids) in enumerate(plan.groups):
        members.setdefault(into[g], []).extend(lids)
    kept = sorted(members)
    new_index = {g: kept.index(into[g]) for g in range(len(plan.groups))}
    plan.groups = [(plan.groups[g][0], members[g]) for g in kept]
    for lid, ranked in plan.suggestions.items():
        seen: set[int] = set()
        out = []
        for gi, score in ranked:
            ni = new_index[gi]
            if ni not in seen:
                seen.add(ni)
                out.append((ni, score))
        plan.suggestions[lid] = out
    return joined


def preview_recluster(project: Project, plan: ReclusterPlan) -> dict:
    """How many lines writing `plan` now would move ({moved, into_reviewed, kept})."""
    return project.preview_clustering(plan.groups)


def apply_recluster(project: Project, plan: ReclusterPlan, annotator: str | None = None) -> dict:
    """Write a plan as one `recluster` action of `annotator` (human work re-read and kept).

    Returns a summary: method, lines, clusters, assigned, unassigned, seconds (and the
    threshold), and the action id (undo it like any other action).
    """
    annotator = annotator or default_annotator()
    # the clusters, their confidences and their suggested names are one action: they commit
    # and undo together (what the screen shows comes back with the undo)
    conf = None if plan.confidence is None else ("voice", plan.voice_model, plan.ids, plan.confidence)
    names: dict = {}

    def name_clusters() -> None:
        names["subtitle_names"] = len(suggest_subtitle_names(project))
        bank = project.meta_get("bank_path")
        if bank:  # the project knows its bank (from `cluster --bank`): name from it again
            try:
                names["bank"] = match_bank(project, bank)
            except SgtuiError as exc:  # the clustering stands; say why no names came
                names["bank_error"] = str(exc)
                project.set_name_suggestions("bank", {})  # guesses about the old clusters

    action = project.apply_clustering(plan.groups, plan.suggestions, plan.method,
                                      annotator=annotator, confidence=conf, then=name_clusters)
    assigned = project.assignments()
    summary = {
        "method": plan.method,
        "lines": plan.lines,
        "embedded": len(plan.ids),
        "clusters": len(project.clusters()),
        "assigned": len(assigned),
        "unassigned": plan.lines - len(assigned),
        "seconds": round(time.perf_counter() - plan.started, 3),
        "action": action,
        "annotator": annotator,
    }
    if plan.threshold is not None:
        summary["threshold"] = round(plan.threshold, 4)
    for key in ("modality_weights", "image_agreement", "speakers_estimate", "single_line_clusters",
                "bank_joined", "bank_error"):
        if key in plan.info:
            summary[key] = plan.info[key]
    summary.update(names)
    return summary


def subtitle_speakers(project: Project) -> dict[int, str | None]:
    """line id -> the speaker its subtitle names (actor field or a `Name: text` prefix)."""
    from sgtui.engine.names import line_speaker

    return {ln.id: line_speaker(ln.actor, ln.text) for ln in project.lines()}


def suggest_subtitle_names(project: Project) -> dict[int, tuple[str, float]]:
    """Store each cluster's clear majority subtitle name as its suggested name (source
    'subtitle'), replacing the earlier ones; returns them."""
    from sgtui.engine.names import majority_names

    speakers = subtitle_speakers(project)
    if not any(speakers.values()):
        if project.name_suggestions():
            project.set_name_suggestions("subtitle", {})
        return {}
    by_cluster: dict[int, list[str | None]] = {}
    for lid, a in project.assignments().items():
        by_cluster.setdefault(a.cluster_id, []).append(speakers.get(lid))
    found = majority_names(by_cluster)
    project.set_name_suggestions("subtitle", found)
    return found


def cluster_names_for_eval(project: Project) -> dict[int, str]:
    """cluster id -> the name `eval` judges it by: its human name, else its suggested name."""
    out = {cid: s.name for cid, s in project.name_suggestions().items()}
    out.update({c.id: c.name for c in project.clusters() if c.name})
    return out


def _check_result(result, n: int) -> None:
    """Refuse to write an engine result that could only come from bad input (NaN scores)."""
    conf = result.confidence
    if conf is not None and (len(conf) != n or not np.isfinite(np.asarray(conf, float)).all()):
        raise SgtuiError("the engine produced invalid confidences (NaN) — the model or the "
                         "vectors are damaged; nothing was changed")
    scores = [s for ranked in result.suggestions.values() for _, s in ranked]
    if scores and not np.isfinite(np.asarray(scores, float)).all():
        raise SgtuiError("the engine produced invalid suggestion scores (NaN) — the model or the "
                         "vectors are damaged; nothing was changed")


def recluster(
    project: Project, method: str = "gated", model: str | Path | EngineModel | ConfidenceModel | None = None,
    annotator: str | None = None, threshold: float | None = None, bank: str | Path | None = None,
) -> dict:
    """Run the engine and write its auto clusters as one action of `annotator`.

    Human work is never changed: lines a human placed and every line of a named or reviewed
    cluster stay, removals stay cannot-links (the engine takes them as hard constraints,
    the store re-checks them when writing). See `apply_recluster` for the summary.
    """
    return apply_recluster(project, plan_recluster(project, method, model, threshold, bank), annotator)


_WEIGHTS: dict[str, float] = {}  # vectors' hash -> measured image weight


def _image_weight(voice: np.ndarray, image: np.ndarray | None, order: np.ndarray,
                  params: GatedParams = DEFAULT_PARAMS) -> float:
    """The episode's image weight (engine.modality), measured once per process per vectors."""
    if image is None:
        return 0.0
    h = hashlib.blake2b(digest_size=16)
    for a in (voice, image, order):
        h.update(np.ascontiguousarray(a).tobytes())
    key = h.hexdigest() + f":{hash(params)}"
    if key not in _WEIGHTS:
        if len(_WEIGHTS) > 8:
            _WEIGHTS.clear()
        _WEIGHTS[key] = estimate_image_weight(voice, image, order=order, graph_of=cached_graph,
                                              params=params)[0]
    return _WEIGHTS[key]


def project_labels(project: Project, ids: np.ndarray) -> np.ndarray:
    """Label per embedded line from human work: its cluster id, -1 if none placed by a human."""
    a = project.assignments()
    return np.array(
        [a[int(i)].cluster_id if int(i) in a and a[int(i)].origin == "human" else -1 for i in ids.tolist()],
        dtype=np.int64,
    )


def train(projects: list[Project], q: float = 0.1) -> tuple[EngineModel, dict]:
    """Fit the confidence regressor and the merge MLP on labelled projects (engine.training).

    Labels are the clusters of human-placed lines (with voice vectors); the summary says per
    project how many there were, and which projects were left out and why.
    """
    episodes = []
    per_project = []  # what each file gave: the count `train` reports must add up
    for p in projects:
        ids, voice, image, _ = episode_modalities(p)
        labels = project_labels(p, ids)
        known = int((labels >= 0).sum())
        entry = {"project": p.path.name, "lines": len(p.lines()), "embedded": int(ids.size),
                 "labelled": known}
        per_project.append(entry)
        if known < 10 or np.unique(labels[labels >= 0]).size < 2:
            entry["skipped"] = "fewer than 10 human-placed lines in 2 clusters"
            continue
        lines = {ln.id: ln for ln in p.lines()}
        durations = np.array([lines[int(i)].duration_ms for i in ids.tolist()], dtype=np.float64)
        x = fuse(voice, image)
        split = (int(voice.shape[1]), 0.3) if image is not None else None
        episodes.append(Episode(x, labels, durations, cached_graph(x), split))
    if not episodes:
        raise SgtuiError(
            "no project has enough labelled lines (≥ 10 in ≥ 2 clusters placed by a human); "
            "import labels with `sgtui labels import EP FILE.csv` first"
        )
    try:
        model, summary = fit_engine_model(episodes, q=q)
    except ValueError as exc:
        raise SgtuiError(f"{exc}; label more lines") from None
    summary["per_project"] = per_project
    return model, summary


def evaluate_project(project: Project, truth_csv: str | Path, weights: tuple[float, ...] = (1, 1, 1)) -> dict:
    """The `sgtui eval` JSON (docs/architecture.md, "The command line"): the project's clusters
    against a label CSV.

    Names count too: a cluster's name is its human name, else its suggested name (bank or
    subtitle); `ops.rename` and `names` say how many are right."""
    from sgtui.engine.metrics import NO_NAME, WRONG_NAME, evaluate
    from sgtui.project.labels_csv import match_rows, read_label_csv

    _, rows = read_label_csv(truth_csv)
    lines = project.lines()
    match = match_rows(lines, rows)
    names = sorted(set(match.line_to_speaker.values()))
    truth = np.array([names.index(match.line_to_speaker[ln.id]) if ln.id in match.line_to_speaker else -1
                      for ln in lines], dtype=np.int64)
    a = project.assignments()
    pred = np.array([a[ln.id].cluster_id if ln.id in a else -1 for ln in lines], dtype=np.int64)
    w = (*weights, 1.0) if len(weights) == 3 else tuple(weights)
    cluster_names = cluster_names_for_eval(project)
    named = {cid: (names.index(n) if n in names else WRONG_NAME) for cid, n in cluster_names.items()}
    named.update({cid: NO_NAME for cid in set(pred.tolist()) - set(named) if cid >= 0})
    e = evaluate(pred, truth, w, names=named)
    return {
        "lines": len(lines),
        "evaluated": e.evaluated,
        "unmatched": len(match.unmatched_lines),
        "unmatched_rows": len(match.unmatched_rows),
        "ties": len(match.ties),
        "speakers": e.speakers,
        "clusters": e.clusters,
        "unassigned": e.unassigned,
        "edge_precision": round(e.edge_precision, 6),
        "edge_recall": round(e.edge_recall, 6),
        "edge_f1": round(e.edge_f1, 6),
        "ops": {
            "add": e.ops.add,
            "remove": e.ops.remove,
            "merge": e.ops.merge,
            "total": e.ops.total,
            "per_100_lines": round(e.ops.per_100_lines, 4),
            "rename": e.ops.rename,
            "total_with_names": e.ops.total_with_names,
        },
        "names": e.names,
        "weights": {"add": w[0], "remove": w[1], "merge": w[2], "rename": w[3]},
    }


def line_doubts(project: Project) -> dict[int, float]:
    """Doubt per assigned, embedded line (engine.doubt): check high values first in the TUI."""
    from sgtui.engine.doubt import line_doubt

    ids, x, _ = episode_vectors(project)
    a = project.assignments()
    labels = np.array([a[int(i)].cluster_id if int(i) in a else -1 for i in ids.tolist()], dtype=np.int64)
    d = line_doubt(x, labels).doubt
    return {int(i): float(v) for i, v in zip(ids.tolist(), d.tolist(), strict=True) if v == v}


def live_suggestions(project: Project, ids: np.ndarray, vectors: np.ndarray, line_ids: list[int],
                     assign: dict | None = None, top: int = 3) -> dict[int, list[Suggestion]]:
    """Suggestions for unassigned `line_ids` from the clusters as they are now (engine.suggest),
    never a cluster a human removed the line from. Written nowhere: a line removed by hand gets
    its `1`/`2`/`3` at once, without waiting for a re-cluster. `assign`: the assignments the
    caller already read (else they are read here)."""
    from sgtui.engine.suggest import suggestions as engine_suggestions

    assign = project.assignments() if assign is None else assign
    cids = sorted({a.cluster_id for a in assign.values()})
    group = {cid: g for g, cid in enumerate(cids)}
    pos = {int(i): r for r, i in enumerate(ids.tolist())}
    wanted = [lid for lid in line_ids if lid in pos]
    if not wanted or not cids:
        return {}
    rows = [pos[lid] for lid in assign if lid in pos] + [pos[lid] for lid in wanted]
    labels = np.array([group[assign[lid].cluster_id] for lid in assign if lid in pos]
                      + [-1] * len(wanted), dtype=np.int64)
    first = len(rows) - len(wanted)  # the wanted lines are the last rows
    at = {lid: first + k for k, lid in enumerate(wanted)}
    forbidden = {(at[lid], group[cid]) for lid, cid in project.constraints().cannot_link
                 if lid in at and cid in group}
    ranked = engine_suggestions(np.asarray(vectors)[rows], labels, len(cids), top, forbidden)
    out: dict[int, list[Suggestion]] = {}
    for lid in wanted:
        got = ranked.get(at[lid], [])
        if got:
            out[lid] = [Suggestion(cids[g], round(score, 4)) for g, score in got]
    return out


# ---- the character bank (README "Character bank") ---------------------------------------------
def episode_key(project: Project) -> str:
    """What identifies an episode in a bank across moves and renames of its file, and
    across `info --set-title` (the title it was made with: project/titles.py)."""
    from sgtui.project.titles import identity_title

    return f"{identity_title(project.meta(), project.path.stem)}|{project.meta_get('created', '')}"


def bank_add(bank_path: str | Path, projects: list[Project]) -> list[dict]:
    """Store each project's named clusters in the bank (replacing that episode's earlier
    contribution); creates the bank when missing. Returns one summary per episode."""
    from sgtui.engine.bank import fit_characters
    from sgtui.project.bank import Bank, Contribution

    out = []
    models = {project.chosen_model("voice") for project in projects}
    for project in projects:  # refused before the bank is created or changed
        if project.chosen_model("voice") is None:
            raise SgtuiError(f"{project.path.name} has no voice embeddings; run "
                             f"`sgtui embed {project.path}` first")
    if len(models) > 1:
        raise SgtuiError(f"the episodes are embedded with different voice encoders "
                         f"({', '.join(sorted(m for m in models if m))}); a bank holds one — "
                         "embed them alike with `sgtui embed EP --voice ENCODER`")
    if Path(bank_path).exists():
        with Bank.open(bank_path, readonly=True) as bank:
            held = bank.voice_model
        if held is not None and held not in models:
            from sgtui.features.registry import embed_hint

            raise SgtuiError(f"the episodes are embedded with {models.pop()!r} but the bank "
                             f"{Path(bank_path).name} holds {held!r} voices; embed them with "
                             f"{embed_hint(held)} or use another bank")
    with Bank.open(bank_path, create=True) as bank:
        for project in projects:
            model = project.chosen_model("voice")
            ids, voice = project.embeddings("voice", model)
            img_ids, img = project.embeddings("image")
            img_pos = {int(i): r for r, i in enumerate(img_ids.tolist())}
            row = {int(i): r for r, i in enumerate(ids.tolist())}
            named = {c.id: c.name for c in project.clusters() if c.name}
            members: dict[str, list[int]] = {}
            for lid, a in project.assignments().items():
                if a.cluster_id in named and lid in row:
                    members.setdefault(named[a.cluster_id], []).append(lid)
            contributions = []
            for name, lids in sorted(members.items()):
                lids.sort()
                image = None
                if img_ids.size:
                    image = np.zeros((len(lids), img.shape[1]), np.float32)
                    for k, lid in enumerate(lids):
                        if lid in img_pos:
                            image[k] = img[img_pos[lid]]
                contributions.append(Contribution(name, lids, voice[[row[i] for i in lids]], image))
            title = project.meta_get("title", project.path.stem) or project.path.stem
            stored = bank.add_episode(episode_key(project), title, str(project.path.resolve()), model,
                                      contributions, fit=fit_characters)
            out.append({"episode": title, "characters": len(contributions), "lines": stored})
    return out


def _bank_matcher(bank_path: str | Path, project: Project, ids: np.ndarray | None = None,
                  voice: np.ndarray | None = None, model: str | None = None):
    """(line ids, vectors, prototypes, calibration, names): a bank's characters and the
    project's vectors it can match — the given ones (default: the chosen model's), or the
    project's vectors of the bank's own encoder when it holds them (a project embedded with
    both); one line naming a command that works otherwise."""
    from sgtui.engine.bank import Calibration, Prototypes
    from sgtui.project.bank import Bank

    if ids is None or voice is None or model is None:
        ids, voice, _, model = episode_modalities(project)
    with Bank.open(bank_path, readonly=True) as bank:
        held = bank.voice_model
        if held is None:
            raise SgtuiError(f"the bank {bank_path} is empty; add labelled episodes with "
                             f"`sgtui bank add {bank_path} EP.sgproj`")
        if held != model:
            if not any(e["model"] == held for e in project.encoders() if e["modality"] == "voice"):
                from sgtui.features.registry import embed_hint

                raise SgtuiError(f"the bank {bank_path} holds {held!r} voices but the episode is "
                                 f"embedded with {model!r}; embed it with {embed_hint(held)} or "
                                 "use a bank of that encoder")
            ids, voice = project.embeddings("voice", held)
        cal = bank.calibration()
        if cal is None:
            raise SgtuiError(f"the bank {bank_path} cannot calibrate its matches yet (it needs two "
                             "characters with two lines each); add another labelled episode")
        vecs, owner, names = bank.prototypes("voice")
    return ids, voice, Prototypes(vecs, owner, len(names)), Calibration.from_dict(cal), names


def match_bank(project: Project, bank_path: str | Path) -> dict:
    """Suggest bank names for the project's clusters (calibrated; a guest stays unnamed) and
    remember the bank in the project. Returns {matched, clusters, suggested_merges, seconds}."""
    from sgtui.engine.bank import match_clusters

    t0 = time.perf_counter()
    ids, voice, protos, calibration, names = _bank_matcher(bank_path, project)
    a = project.assignments()
    clusters = [c for c in project.clusters() if c.size]
    index = {c.id: g for g, c in enumerate(clusters)}
    group = np.array([index.get(a[int(i)].cluster_id, -1) if int(i) in a else -1
                      for i in ids.tolist()], dtype=np.int64)
    matches = match_clusters(voice, group, len(clusters), protos, calibration)
    found = {clusters[m.group].id: (names[m.character], round(m.probability, 4)) for m in matches
             if not clusters[m.group].name}
    with project.transaction():
        project.set_name_suggestions("bank", found)
        project.meta_set("bank_path", str(Path(bank_path).resolve()))
        lines_added = _suggest_bank_clusters(project, ids, voice, protos, calibration, names)
    by_name: dict[str, int] = {}
    for m in matches:
        by_name[names[m.character]] = by_name.get(names[m.character], 0) + 1
    return {"matched": len(found), "clusters": len(clusters),
            "suggested_merges": sum(n - 1 for n in by_name.values() if n > 1),
            "line_suggestions": lines_added, "seconds": round(time.perf_counter() - t0, 4)}


def _suggest_bank_clusters(project: Project, ids: np.ndarray, voice: np.ndarray, protos, calibration,
                           names: list[str]) -> int:
    """Unassigned lines get the clusters of the bank characters they sound like (the cluster
    named so, else the largest one suggested so) among their suggestions."""
    from sgtui.engine.bank import ACCEPT, line_character_scores

    loose = set(project.unassigned_ids())
    rows = [r for r, i in enumerate(ids.tolist()) if int(i) in loose]
    if not rows:
        return 0
    home: dict[str, int] = {}
    sizes = {c.id: c.size for c in project.clusters()}
    for cid, sug in project.name_suggestions().items():
        if sug.source == "bank" and sizes.get(cid, 0) > sizes.get(home.get(sug.name, -1), -1):
            home[sug.name] = cid
    home.update({c.name: c.id for c in project.clusters() if c.name})
    ranked = line_character_scores(voice[rows], protos, calibration)
    extra = {int(ids[r]): [(home[names[c]], p) for c, p in best if p >= ACCEPT and names[c] in home]
             for r, best in zip(rows, ranked, strict=True)}
    return project.extend_suggestions({k: v for k, v in extra.items() if v})
