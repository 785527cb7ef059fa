"""A child process that performs scripted actions on a project (for crash/concurrency tests).

usage: python project_worker.py PATH ANNOTATOR START COUNT
Action k (k = START .. START+COUNT-1) moves line (k % 12) + 1 to cluster k % 3 of the
three clusters named c0, c1, c2. After each commit it prints "committed k".
"""

from __future__ import annotations

import sys

from sgtui.errors import ConflictError
from sgtui.project import Project


def expected_cluster(k: int) -> tuple[int, str]:
    return (k % 12) + 1, f"c{k % 3}"


def main() -> None:
    path, who, start, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    with Project.open(path) as p:
        by_name = {c.name: c.id for c in p.clusters()}
        for k in range(start, start + count):
            line, name = expected_cluster(k)
            while True:
                cur = p.assignments().get(line)
                try:
                    if cur is not None and cur.cluster_id == by_name[name]:
                        p.confirm(by_name[name], who)  # still one logged action
                    else:
                        # another writer may move the line between our read and this
                        # move: the store refuses (ConflictError) and we look again
                        p.move([line], by_name[name], who, expect={line: cur.cluster_id} if cur else None)
                    break
                except ConflictError:
                    continue
            print(f"committed {k}", flush=True)


if __name__ == "__main__":
    main()
