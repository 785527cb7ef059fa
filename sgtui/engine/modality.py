"""How much the image channel may weigh, measured on the episode itself (no labels).

A keyframe helps only when it shows who speaks. Whether it does differs per episode (a
talking-head show vs. one that cuts to listeners or to scenery), so the weight is not a
constant: the voice channel alone reveals a speaker structure (a voice-only clustering),
and the image channel earns weight by how far its own nearest neighbours agree with that
structure beyond chance. An image channel that carries no speaker information scores ~0
and gets weight 0, so fusing it cannot cost operations.
"""

from __future__ import annotations

import numpy as np

from sgtui.engine.knn import KnnGraph, build_knn, normalise

MAX_IMAGE_WEIGHT = 0.3  # the weight an image channel that fully agrees with the voices gets
# Agreement needed above chance before the image gets any weight: a weak agreement comes as
# easily from shots that favour the main characters as from the speaker being on screen.
# Both chosen on the dev suite (bench/engine.py --defaults, stage 2).
AGREEMENT_MARGIN = 0.0


def neighbour_agreement(graph: KnnGraph, labels: np.ndarray) -> float:
    """Cohen's-kappa-like agreement of a k-NN graph with a partition: the share of edges
    (between two assigned lines) that stay inside one group, rescaled so that chance (the
    edges drawn at random among assigned lines) is 0 and full agreement 1."""
    if graph.k == 0:
        return 0.0
    a = labels >= 0
    if a.sum() < 3:
        return 0.0
    nb = labels[graph.indices]
    m = a[:, None] & (nb >= 0)
    if not m.any():
        return 0.0
    same = float(((nb == labels[:, None]) & m).sum()) / float(m.sum())
    sizes = np.bincount(labels[a]).astype(np.float64)
    n = sizes.sum()
    chance = float((sizes * (sizes - 1)).sum() / max(n * (n - 1), 1.0))
    if chance >= 1.0:
        return 0.0
    return float(np.clip((same - chance) / (1.0 - chance), 0.0, 1.0))


def image_weight(image: np.ndarray | None, voice_labels: np.ndarray,
                 max_weight: float = MAX_IMAGE_WEIGHT, k: int = 10,
                 margin: float = AGREEMENT_MARGIN) -> tuple[float, float]:
    """(weight for the image channel, its agreement with the voice structure).

    `voice_labels`: a clustering of the voice vectors alone (-1 = unassigned). Lines
    without an image (zero rows) are left out of the measure. The weight rises from 0 at
    chance + `margin` to `max_weight` at full agreement.
    """
    if image is None:
        return 0.0, 0.0
    im = normalise(image)
    has = np.linalg.norm(im, axis=1) > 0
    if has.sum() < 3:
        return 0.0, 0.0
    idx = np.flatnonzero(has)
    graph = build_knn(im[idx], k)
    labels = np.asarray(voice_labels)[idx]
    agree = neighbour_agreement(graph, labels)
    floor = min(chance_floor(graph, labels) + margin, 0.99)
    if agree <= floor:
        return 0.0, agree
    return max_weight * (agree - floor) / (1.0 - floor), agree


def chance_floor(graph: KnnGraph, labels: np.ndarray, draws: int = 8, seed: int = 0) -> float:
    """What `neighbour_agreement` reaches by chance on this graph: mean + 2 sd over random
    relabellings (same group sizes). Below it the image channel shows no speaker."""
    rng = np.random.default_rng(seed)
    vals = [neighbour_agreement(graph, rng.permutation(labels)) for _ in range(draws)]
    return float(np.mean(vals) + 2 * np.std(vals))


def estimate_image_weight(voice: np.ndarray, image: np.ndarray | None, voice_labels: np.ndarray | None = None,
                          params=None, order: np.ndarray | None = None,
                          graph_of=build_knn) -> tuple[float, float]:
    """(image weight, agreement) for one episode: the voice-only gated clustering (unless
    `voice_labels` are given) is the speaker structure the image channel is measured on.
    `graph_of`: how to get a k-NN graph of vectors (a caching one, in the workflows)."""
    from sgtui.engine.gated import DEFAULT_PARAMS, gated_cluster

    params = params or DEFAULT_PARAMS
    if image is None:
        return 0.0, 0.0
    if voice_labels is None:
        v = normalise(voice)
        voice_labels = gated_cluster(v, graph_of(v), params=params, order=order)[0]
    return image_weight(image, voice_labels, max_weight=params.image_max_weight,
                        margin=params.image_margin)
