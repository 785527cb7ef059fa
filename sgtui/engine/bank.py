"""A season's characters: voice prototypes, calibrated matching of an episode's clusters to them.

Arrays in, scores out (no files here; `sgtui.project.bank` stores them). A character is
several prototypes — sub-clusters of its lines (calm, shouting, whispering), not one mean.
A cluster's score against a character is the mean over its lines of the best cosine to any
of that character's prototypes. Whether the best-scoring character is *the* speaker is
decided by a logistic fit on the bank's own held-out scores (leave one episode out, or
alternate halves of one episode; each time also with the true character removed, which is
what a guest looks like), so a new character does not inherit a name.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_PROTOTYPES = 4
LINES_PER_PROTOTYPE = 6  # a sub-cluster smaller than this is noise, not a register of the voice
CHUNK = 8  # held-out groups are scored whole and in chunks of this many lines
ACCEPT = 0.7  # calibrated probability above which a match becomes a suggested name (a wrong
# name on a guest costs more than a missing one: it misleads)
JOIN = 0.9  # ... and above which the engine joins two auto groups of one character


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(n > 0, n, 1)


def prototypes(x: np.ndarray, max_k: int = MAX_PROTOTYPES) -> np.ndarray:
    """Unit prototypes of one character's lines: the mean, plus the means of up to `max_k`
    average-linkage sub-clusters (each of at least LINES_PER_PROTOTYPE lines)."""
    x = _unit(x)
    protos = [x.mean(axis=0)]
    k = min(max_k, x.shape[0] // LINES_PER_PROTOTYPE)
    if k >= 2:
        from scipy.cluster.hierarchy import fcluster, linkage

        labels = fcluster(linkage(x, "average", metric="cosine"), k, criterion="maxclust")
        for lab in np.unique(labels):
            members = x[labels == lab]
            if members.shape[0] >= LINES_PER_PROTOTYPE:
                protos.append(members.mean(axis=0))
    return _unit(np.stack(protos))


@dataclass(frozen=True)
class Prototypes:
    """Every character's prototypes stacked: `vecs` (m × d) and the character of each row."""

    vecs: np.ndarray
    owner: np.ndarray  # m, character index in 0..n_characters-1
    n_characters: int

    @classmethod
    def build(cls, x: np.ndarray, character: np.ndarray, n_characters: int) -> Prototypes:
        vecs, owner = [], []
        for c in range(n_characters):
            sel = character == c
            if sel.any():
                p = prototypes(x[sel])
                vecs.append(p)
                owner.extend([c] * p.shape[0])
        d = x.shape[1]
        return cls(np.concatenate(vecs) if vecs else np.zeros((0, d), np.float32),
                   np.asarray(owner, dtype=np.int64), n_characters)


def character_scores(x: np.ndarray, group: np.ndarray, n_groups: int, protos: Prototypes) -> np.ndarray:
    """n_groups × n_characters: mean over each group's lines of the best prototype cosine.

    A character without prototypes scores -inf. Lines with group < 0 are ignored."""
    x = _unit(x)
    out = np.full((n_groups, protos.n_characters), -np.inf)
    if protos.vecs.shape[0] == 0 or n_groups == 0:
        return out
    sims = x @ protos.vecs.T  # n × m
    per_char = np.full((x.shape[0], protos.n_characters), -np.inf, dtype=np.float32)
    order = np.argsort(protos.owner, kind="stable")
    owners = protos.owner[order]
    starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
    per_char[:, owners[starts]] = np.maximum.reduceat(sims[:, order], starts, axis=1)
    keep = group >= 0
    sums = np.zeros((n_groups, protos.n_characters))
    has = np.zeros(protos.n_characters, bool)
    has[protos.owner] = True
    np.add.at(sums, group[keep], np.where(np.isfinite(per_char[keep]), per_char[keep], 0.0))
    counts = np.bincount(group[keep], minlength=n_groups).astype(np.float64)
    out[:, has] = (sums / np.maximum(counts, 1)[:, None])[:, has]
    out[counts == 0] = -np.inf
    return out


def match_features(scores: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(best character per row, features) of a score table and each row's line count.

    Features: the best score, its margin over the second, and both scaled by ln(lines) — a
    cluster's mean over many lines is steadier than one line's score, so the same score
    means more for a large cluster."""
    s = np.where(np.isfinite(scores), scores, -1.0)
    best = np.argmax(s, axis=1) if s.shape[1] else np.zeros(s.shape[0], np.int64)
    top = s[np.arange(s.shape[0]), best] if s.shape[1] else np.full(s.shape[0], -1.0)
    second = np.sort(s, axis=1)[:, -2] if s.shape[1] > 1 else np.full(s.shape[0], -1.0)
    ln = np.log(np.maximum(np.asarray(sizes, dtype=np.float64), 1.0))
    margin = top - second
    return best, np.column_stack([top, margin, ln, top * ln, margin * ln])


N_FEATURES = 5


@dataclass(frozen=True)
class Calibration:
    """P(the best character is the speaker) = sigmoid(w · features + b) (`match_features`)."""

    w: tuple[float, ...]
    b: float
    positives: int
    negatives: int

    def probability(self, feats: np.ndarray) -> np.ndarray:
        z = feats @ np.asarray(self.w) + self.b
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))

    def to_dict(self) -> dict:
        return {"w": list(self.w), "b": self.b, "positives": self.positives, "negatives": self.negatives}

    @classmethod
    def from_dict(cls, d: dict) -> Calibration:
        w = tuple(float(v) for v in d["w"])
        if len(w) != N_FEATURES:
            raise ValueError(f"a calibration of {len(w)} features, not {N_FEATURES}")
        return cls(w, float(d["b"]), int(d["positives"]), int(d["negatives"]))


def _logistic(f: np.ndarray, y: np.ndarray, l2: float = 1e-3) -> tuple[np.ndarray, float]:
    """Class-balanced logistic regression by Newton's method (features and a bias)."""
    xb = np.column_stack([f, np.ones(len(f))])
    pos = max(int(y.sum()), 1)
    neg = max(int((1 - y).sum()), 1)
    sw = np.where(y > 0, 0.5 / pos, 0.5 / neg)
    beta = np.zeros(xb.shape[1])
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ beta, -50, 50)))
        grad = xb.T @ (sw * (p - y)) + l2 * np.r_[beta[:-1], 0]
        h = (xb * (sw * p * (1 - p))[:, None]).T @ xb + l2 * np.eye(xb.shape[1])
        step = np.linalg.solve(h, grad)
        beta -= step
        if np.abs(step).max() < 1e-9:
            break
    return beta[:-1], float(beta[-1])


SINGLES = 12  # held-out single lines per character and fold


def _held_out_groups(idx: np.ndarray) -> list[np.ndarray]:
    """A held-out character's lines whole, in chunks of CHUNK and of 3, and some single
    lines: clusters come in every size, down to a line left alone."""
    groups = [idx]
    for size in (CHUNK, 3):
        if idx.size > size:
            groups += [idx[i : i + size] for i in range(0, idx.size - size + 1, size)]
    step = max(1, idx.size // SINGLES)
    groups += [idx[i : i + 1] for i in range(0, idx.size, step)][:SINGLES]
    return groups


def calibrate(x: np.ndarray, character: np.ndarray, episode: np.ndarray, n_characters: int) -> Calibration:
    """Fit the match probability on the bank's own held-out scores.

    Folds: each episode held out in turn (with two or more episodes), else alternate
    lines. Each held-out group of a character is a positive when its best character is
    itself, and, scored again without its own character, a negative (a guest)."""
    x = _unit(x)
    eps = np.unique(episode)
    if eps.size >= 2:
        folds = [episode == e for e in eps]
    else:
        alt = np.zeros(x.shape[0], bool)
        for c in range(n_characters):
            idx = np.flatnonzero(character == c)
            alt[idx[1::2]] = True
        folds = [alt, ~alt]
    feats, labels = [], []
    for test in folds:
        train = ~test
        if not train.any() or not test.any():
            continue
        protos = Prototypes.build(x[train], character[train], n_characters)
        groups: list[tuple[np.ndarray, int]] = []
        for c in np.unique(character[test]):
            groups += [(g, int(c)) for g in _held_out_groups(np.flatnonzero(test & (character == c)))]
        if not groups:
            continue
        lines = np.concatenate([g for g, _ in groups])
        gid = np.concatenate([np.full(g.size, i) for i, (g, _) in enumerate(groups)])
        scores = character_scores(x[lines], gid, len(groups), protos)
        truth = np.array([c for _, c in groups])
        sizes = np.array([g.size for g, _ in groups])
        best, f = match_features(scores, sizes)
        known = np.isfinite(scores[np.arange(len(groups)), truth])
        feats.append(f[known])
        labels.append((best[known] == truth[known]).astype(float))
        without = scores.copy()
        without[np.arange(len(groups)), truth] = -np.inf
        _, f2 = match_features(without, sizes)
        feats.append(f2)
        labels.append(np.zeros(len(groups)))
    if not feats:
        raise ValueError("the bank has too few lines to calibrate (a character needs two lines)")
    f = np.concatenate(feats)
    y = np.concatenate(labels)
    if y.min() == y.max():
        raise ValueError("the bank's held-out scores are all of one kind; add another labelled episode")
    w, b = _logistic(f, y)
    return Calibration(tuple(float(v) for v in w), b, int(y.sum()), int((1 - y).sum()))


@dataclass(frozen=True)
class Match:
    """A cluster's best character and the calibrated probability it is that speaker."""

    group: int
    character: int
    score: float
    probability: float


def match_clusters(x: np.ndarray, group: np.ndarray, n_groups: int, protos: Prototypes,
                   calibration: Calibration, accept: float = ACCEPT) -> list[Match]:
    """Each group's best character where the calibrated probability reaches `accept`
    (at most one character per group; several groups may match one character)."""
    scores = character_scores(x, group, n_groups, protos)
    sizes = np.bincount(group[group >= 0], minlength=n_groups)
    best, f = match_features(scores, sizes)
    prob = calibration.probability(f)
    return [Match(g, int(best[g]), float(f[g, 0]), float(prob[g]))
            for g in range(n_groups) if np.isfinite(scores[g, best[g]]) and prob[g] >= accept]


def line_character_scores(x: np.ndarray, protos: Prototypes, calibration: Calibration,
                          top: int = 3) -> list[list[tuple[int, float]]]:
    """Per line, its best character with the calibrated probability, then the next ones
    ranked by score with theirs (each judged as if it were the best)."""
    n = x.shape[0]
    scores = character_scores(x, np.arange(n), n, protos)
    out = []
    for row in scores:
        order = [int(c) for c in np.argsort(-np.where(np.isfinite(row), row, -9))[:top]
                 if np.isfinite(row[c])]
        ranked = []
        for c in order:
            alone = np.where(np.arange(row.size) == c, row, np.where(row >= row[c], -np.inf, row))
            _, f = match_features(alone[None, :], np.ones(1))
            ranked.append((c, float(calibration.probability(f)[0])))
        out.append(ranked)
    return out


def fit_characters(x: np.ndarray, character: np.ndarray, episode: np.ndarray, n_characters: int,
                   modality: str) -> tuple[Prototypes, dict | None]:
    """What a bank stores for one modality: each character's prototypes and, for voices, the
    calibration of match scores (None while the bank is too small to calibrate)."""
    protos = Prototypes.build(x, character, n_characters)
    if modality != "voice":
        return protos, None
    try:
        return protos, calibrate(x, character, episode, n_characters).to_dict()
    except ValueError:
        return protos, None
