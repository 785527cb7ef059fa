"""`sgtui diff`, `sgtui merge` and `sgtui merge-driver`: copies of one episode's file that
annotators changed apart, compared and merged (docs/architecture.md, "Merging copies")."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sgtui.cli.common import check_input, check_output, examples, plural, print_json

GITATTRIBUTES = "*.sgproj merge=sgproj diff=sgproj"
GIT_CONFIG = ('git config merge.sgproj.name "sgtui: merge two copies of an episode"',
              'git config merge.sgproj.driver "sgtui merge-driver %O %A %B"',
              'git config diff.sgproj.textconv "sgtui info --textconv"',
              'git config diff.sgproj.binary true')


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "diff", help="what two copies of one episode's file did since they parted, and what conflicts",
        description="Compare two copies of one .sgproj that annotators changed apart: who did "
        "what on each side since the history they share, and which decisions conflict (one "
        "line placed in two clusters, one cluster named twice, ...). Nothing is written: this "
        "is the preview of 'sgtui merge'.",
        epilog=examples("sgtui diff alice/ep01.sgproj bob/ep01.sgproj",
                        "sgtui diff alice/ep01.sgproj bob/ep01.sgproj --json"))
    p.add_argument("a", metavar="A.sgproj")
    p.add_argument("b", metavar="B.sgproj")
    p.add_argument("--base", metavar="O.sgproj", help="the common ancestor file, when at hand (checked)")
    p.add_argument("--json", action="store_true", help="print JSON: both sides' actions and the conflicts")
    p.set_defaults(handler=cmd_diff)

    p = sub.add_parser(
        "merge", help="merge two copies of one episode's file into a new file",
        description="Merge the work of two copies of one .sgproj. The actions both copies made "
        "since the history they share are replayed in time order, each checked against the "
        "state it meets: independent work all applies, the same decision applies once, and a "
        "conflict is never decided silently — --prefer decides it, or it stays in OUT as a "
        "review item that 'sgtui open' shows with both choices (r: review queue). Each "
        "annotator's counts and undo keep working in OUT. The inputs are never written.",
        epilog=examples("sgtui merge alice/ep01.sgproj bob/ep01.sgproj -o ep01.sgproj",
                        "sgtui merge a.sgproj b.sgproj --prefer newer -o ep01.sgproj",
                        "sgtui merge a.sgproj b.sgproj --base original.sgproj -o ep01.sgproj --json")
        + "\n\nIn a git repository (each line once):\n  echo '" + GITATTRIBUTES
        + "' >> .gitattributes\n" + "\n".join(f"  {c}" for c in GIT_CONFIG))
    p.add_argument("a", metavar="A.sgproj")
    p.add_argument("b", metavar="B.sgproj")
    p.add_argument("--base", metavar="O.sgproj", help="the common ancestor file, when at hand (checked)")
    p.add_argument("--prefer", choices=("A", "B", "newer"),
                   help="decide every conflict for A's choice, B's, or the newer one (default: "
                   "leave conflicts as review items in OUT)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.sgproj")
    p.add_argument("--force", action="store_true", help="overwrite an existing OUT (never an input)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=cmd_merge)

    p = sub.add_parser(
        "merge-driver", help="git merge driver for .sgproj files (see 'sgtui merge --help')",
        description="Called by git as `sgtui merge-driver %O %A %B`: merges %B into %A with "
        "%O as their ancestor and writes the result to %A, as git expects. Exit 0: merged; "
        "exit 1: merged with conflicts left as review items (open the file to decide them, "
        "then commit); exit 2: not mergeable (one line says why; %A untouched).",
        epilog=examples("git merge alice-labels     # git runs: sgtui merge-driver %O %A %B",
                        "sgtui merge-driver base.sgproj ours.sgproj theirs.sgproj")
        + "\n\nset-up, in the repository:\n  echo '" + GITATTRIBUTES + "' >> .gitattributes\n"
        + "\n".join(f"  {c}" for c in GIT_CONFIG))
    p.add_argument("base", metavar="O")
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B")
    p.set_defaults(handler=cmd_merge_driver)


def _print_report(rep: dict, verb: str) -> None:
    if rep["fast_forward"]:
        keep = rep["a"] if rep["fast_forward"] == "A" else rep["b"]
        print(f"{keep} already holds every action of the other copy: {verb} it as it is")
        return
    for side, key in (("A", "a"), ("B", "b")):
        acts = rep[f"{key}_actions"]
        print(f"{side} {rep[key]}: {plural(len(acts), 'action')} since the {rep['shared_actions']} shared")
        for act in acts:
            lines = f" lines {','.join(map(str, act['lines']))}" if act["lines"] else ""
            more = "…" if act["line_count"] > len(act["lines"]) else ""
            print(f"  {act['ts'][:19]}  {act['annotator']:<12} {act['kind']}{lines}{more}")
    print(f"{plural(len(rep['conflicts']), 'conflict')}:")
    for c in rep["conflicts"]:
        how = {"kept": "kept the first choice", "other": "took the second",
               None: "left for review"}[c["resolution"]]
        print(f"  - {c['summary']} [{how}]")
    for n in rep["notes"]:
        print(f"  note: {n}")


def cmd_diff(args: argparse.Namespace) -> int:
    from sgtui.project import merge

    a, b = check_input(args.a, "project"), check_input(args.b, "project")
    base = check_input(args.base, "project") if args.base else None
    with merge.open_sides(a, b, base) as (sa, sb, so):
        rep = merge.report(merge.plan(sa, sb, None, so))
    if args.json:
        print_json(rep)
    else:
        _print_report(rep, "merging keeps")
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from sgtui.project import merge

    a, b = check_input(args.a, "project"), check_input(args.b, "project")
    base = check_input(args.base, "project") if args.base else None
    out = check_output(args.output, args.force, [a, b, base])
    with merge.open_sides(a, b, base) as (sa, sb, so):
        mp = merge.plan(sa, sb, args.prefer, so)
        merge.write(mp, out)
        rep = merge.report(mp)
    rep["output"] = str(out)
    if args.json:
        print_json(rep)
        return 0
    _print_report(rep, "wrote")
    if rep["fast_forward"]:
        print(f"{out}: written")
        return 0
    left = rep["unresolved"]
    print(f"{out}: {rep['applied']} of {rep['replayed']} actions applied"
          + (f"; {plural(left, 'conflict')} left as review items — 'sgtui open {out}', then r"
             if left else ""))
    return 0


def cmd_merge_driver(args: argparse.Namespace) -> int:
    """git's contract: the result replaces %A; non-zero when conflicts are left."""
    from sgtui.project import merge

    a, b, base = (check_input(p, "project") for p in (args.a, args.b, args.base))
    with merge.open_sides(a, b, base) as (sa, sb, so):
        mp = merge.plan(sa, sb, None, so)
        merge.write(mp, Path(a))
        left = len(mp.unresolved)
    if left:
        print(f"sgtui: {plural(left, 'conflict')} left as review items in the merged file; open it "
              "with 'sgtui open FILE' (r: review queue), decide them, then commit", file=sys.stderr)
        return 1
    return 0
