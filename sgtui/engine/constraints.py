"""Human work as the engine sees it: hard constraints in line-index space (docs/architecture.md, "The engine" 2–3).

`workflows` translates the project's line and cluster ids into row indices of the
embedding matrix; the engine only ever sees indices and opaque cluster keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Constraints:
    """fixed: line index -> cluster key a human put it in (it stays there);
    cannot_link: (line index, cluster key) pairs a human separated;
    must_link: line index pairs a human merged; names: cluster key -> name."""

    fixed: dict[int, int] = field(default_factory=dict)
    cannot_link: frozenset[tuple[int, int]] = frozenset()
    must_link: tuple[tuple[int, int], ...] = ()
    names: dict[int, str] = field(default_factory=dict)


NONE = Constraints()


class ConstrainedUnionFind:
    """Union-find whose components carry a cluster key and the keys they must avoid.

    Two components never merge when they hold different keys (lines a human placed stay,
    differently named clusters stay apart) or when one holds a key the other is
    cannot-linked to. Components also keep their vector sum and size, so the average
    similarity between two components is one dot product.
    """

    def __init__(self, x: np.ndarray, constraints: Constraints = NONE) -> None:
        n = x.shape[0]
        self.parent = list(range(n))
        self.size = [1] * n
        self.sums = np.array(x, dtype=np.float32, copy=True)  # float32: halves a 10^5-line copy
        self.key: list[int | None] = [None] * n
        self.avoid: list[frozenset[int]] = [frozenset()] * n
        by_line: dict[int, set[int]] = {}
        for line, key in constraints.cannot_link:
            if 0 <= line < n:
                by_line.setdefault(line, set()).add(key)
        for line, keys in by_line.items():
            self.avoid[line] = frozenset(keys)
        for line, key in constraints.fixed.items():
            if 0 <= line < n:
                self.key[line] = key
        anchor: dict[int, int] = {}
        for line, key in sorted(constraints.fixed.items()):
            if 0 <= line < n:
                if key in anchor:
                    self.union(anchor[key], line)
                else:
                    anchor[key] = line
        for a, b in constraints.must_link:
            if 0 <= a < n and 0 <= b < n:
                self.union(a, b)  # refused when it contradicts placed lines

    def find(self, a: int) -> int:
        parent = self.parent
        root = a
        while parent[root] != root:
            root = parent[root]
        while parent[a] != root:
            parent[a], a = root, parent[a]
        return root

    def allowed(self, ra: int, rb: int) -> bool:
        ka, kb = self.key[ra], self.key[rb]
        if ka is not None and kb is not None and ka != kb:
            return False
        if kb is not None and kb in self.avoid[ra]:
            return False
        return not (ka is not None and ka in self.avoid[rb])

    def avg_similarity(self, ra: int, rb: int) -> float:
        return float(self.sums[ra].astype(np.float64) @ self.sums[rb]) / (self.size[ra] * self.size[rb])

    def union(self, a: int, b: int) -> int | None:
        """Merge the components of a and b if allowed; the surviving root, or None."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        if not self.allowed(ra, rb):
            return None
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]
        self.sums[ra] += self.sums[rb]
        self.key[ra] = self.key[ra] if self.key[ra] is not None else self.key[rb]
        if self.avoid[rb]:
            self.avoid[ra] = self.avoid[ra] | self.avoid[rb]
        return ra

    def union_roots(self, ra: int, rb: int) -> int:
        """`union` for two distinct roots already checked with `allowed` (the hot path)."""
        size = self.size
        if size[ra] < size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        size[ra] += size[rb]
        self.sums[ra] += self.sums[rb]
        if self.key[ra] is None:
            self.key[ra] = self.key[rb]
        if self.avoid[rb]:
            self.avoid[ra] = self.avoid[ra] | self.avoid[rb]
        return ra

    def roots(self) -> np.ndarray:
        """Root of every line (pointer jumping in numpy; the tree is left as it is)."""
        p = np.array(self.parent, dtype=np.int64)
        while True:
            pp = p[p]
            if np.array_equal(pp, p):
                return p
            p = pp
