"""One entry point for every clustering method: vectors + constraints in, groups out.

`cluster()` is what `workflows.recluster` and the benchmark call. Whatever the method,
the result is finished the same way: human-placed lines sit in their cluster's group,
cannot-links are honoured, unassigned lines get ranked suggestions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sgtui.engine import baselines
from sgtui.engine.confidence import ConfidenceModel, line_features
from sgtui.engine.constraints import NONE, Constraints
from sgtui.engine.gated import DEFAULT_PARAMS, GatedParams, gated_cluster
from sgtui.engine.knn import KnnGraph, build_knn, fuse
from sgtui.engine.modality import estimate_image_weight
from sgtui.engine.model import EngineModel
from sgtui.engine.suggest import suggestions

METHODS = ("gated", "ahc", "hdbscan", "spectral", "knn")


@dataclass(frozen=True)
class ClusterResult:
    """groups[g] = (existing cluster key or None, line indices); labels[i] = g or -1."""

    groups: list[tuple[int | None, list[int]]]
    labels: np.ndarray
    suggestions: dict[int, list[tuple[int, float]]]
    confidence: np.ndarray | None = None
    info: dict = field(default_factory=dict)


def finish(
    x: np.ndarray, raw: np.ndarray, constraints: Constraints = NONE
) -> tuple[list[tuple[int | None, list[int]]], np.ndarray, dict[int, list[tuple[int, float]]]]:
    """Raw labels (-1 = none) → groups with human keys attached, and suggestions.

    Each human cluster key goes to the raw group holding most of its lines (a group gets
    at most one key); its lines are placed there whatever the method said. A line in a
    group whose key it is cannot-linked to is left unassigned.
    """
    n = x.shape[0]
    raw = np.asarray(raw, dtype=np.int64).copy()
    fixed = {i: k for i, k in constraints.fixed.items() if 0 <= i < n}
    counts: dict[tuple[int, int], int] = {}
    for i, key in fixed.items():
        if raw[i] >= 0:
            counts[(key, int(raw[i]))] = counts.get((key, int(raw[i])), 0) + 1
    group_of_key: dict[int, int] = {}
    key_of_raw: dict[int, int] = {}
    for (key, r), _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if key not in group_of_key and r not in key_of_raw:
            group_of_key[key] = r
            key_of_raw[r] = key
    next_raw = int(raw.max()) + 1 if n else 0
    for key in sorted(set(fixed.values())):
        if key not in group_of_key:
            group_of_key[key] = next_raw
            key_of_raw[next_raw] = key
            next_raw += 1
    for i, key in fixed.items():
        raw[i] = group_of_key[key]
    for line, key in constraints.cannot_link:
        if 0 <= line < n and line not in fixed and key in group_of_key and raw[line] == group_of_key[key]:
            raw[line] = -1
    uniq = np.unique(raw[raw >= 0])
    remap = {int(r): g for g, r in enumerate(uniq.tolist())}
    labels = np.array([remap.get(int(r), -1) for r in raw.tolist()], dtype=np.int64)
    groups = [(key_of_raw.get(int(r)), np.flatnonzero(labels == g).tolist()) for g, r in enumerate(uniq.tolist())]
    forbidden = {
        (line, group_of_key_idx)
        for line, key in constraints.cannot_link
        if key in group_of_key
        for group_of_key_idx in [remap.get(group_of_key[key], -1)]
    }
    return groups, labels, suggestions(x, labels, len(groups), forbidden=forbidden)


def cluster(
    method: str,
    x: np.ndarray,
    *,
    graph: KnnGraph | None = None,
    constraints: Constraints = NONE,
    model: EngineModel | ConfidenceModel | None = None,
    params: GatedParams = DEFAULT_PARAMS,
    durations_ms: np.ndarray | None = None,
    seeds: dict[int, int] | None = None,
    image: np.ndarray | None = None,
    image_weight: float | None = None,
    starts_ms: np.ndarray | None = None,
    threshold: float | None = None,
) -> ClusterResult:
    """Cluster lines by voice vectors `x` (and `image` vectors, zero rows where missing)
    with `method` (one of METHODS), respecting human work. A given `graph` must be the
    k-NN graph of the fused vectors (knn.fuse).

    `knn` needs labelled seed lines: `seeds` (line index -> label), or else the lines a
    human placed (their cluster keys as labels). `starts_ms` (each line's start) gives
    gated clustering the lines' time order, for temporal context. `image_weight` None =
    measured on the episode (modality.estimate_image_weight; then a given `graph` is
    ignored unless the weight comes out 0). `threshold` (ahc only): the similarity to cut
    at; None = the seed's 0.3.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    order = None if starts_ms is None else np.argsort(np.asarray(starts_ms), kind="stable")
    agree = None
    if image_weight is None:
        given_graph = graph
        image_weight, agree = estimate_image_weight(x, image, params=params, order=order)
        graph = given_graph if image is None or image_weight == 0 else None
    split = (int(x.shape[1]), image_weight) if image is not None else None
    x = fuse(x, image, image_weight)
    info: dict = {"method": method,
                  "modality_weights": {"voice": round(1.0 - image_weight, 4) if image is not None else 1.0,
                                       "image": round(image_weight, 4) if image is not None else 0.0}}
    if agree is not None and image is not None:
        info["image_agreement"] = round(agree, 4)
    conf = None
    if method == "gated":
        graph = graph or build_knn(x)
        if isinstance(model, ConfidenceModel):
            model = EngineModel(model)
        given = None
        if model:
            cm = model.confidence
            given = lambda agree: cm.predict(line_features(graph, durations_ms, agree))  # noqa: E731
        mlp = model.merge if model else None
        raw, conf, theta = gated_cluster(x, graph, constraints, params, confidence=given, mlp=mlp,
                                         split=split, order=order)
        info.update(threshold=theta, low_confidence=int((conf < params.tau).sum()))
    elif method == "ahc":
        raw = baselines.ahc(x, 0.3 if threshold is None else threshold)
        info["threshold"] = 0.3 if threshold is None else threshold
    elif method == "hdbscan":
        raw = baselines.hdbscan_labels(x)
    elif method == "spectral":
        raw, n_spk = baselines.spectral(x, graph)
        info["speakers"] = n_spk
    else:
        if seeds is None:
            seeds = dict(constraints.fixed)
        if not seeds:
            raise ValueError("the knn method needs hand-labelled lines; label some lines first")
        raw, _ = baselines.old_knn(x, seeds)
    groups, labels, sugg = finish(x, raw, constraints)
    sizes = [len(m) for _, m in groups]
    info.update(clusters=len(groups), speakers_estimate=sum(1 for s in sizes if s >= 2),
                single_line_clusters=sum(1 for s in sizes if s == 1), unassigned=int((labels < 0).sum()))
    return ClusterResult(groups, labels, sugg, conf, info)
