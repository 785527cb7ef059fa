"""Engine commands: cluster, eval, train (docs/architecture.md, "The command line")."""

from __future__ import annotations

import argparse

from sgtui.cli import validate
from sgtui.cli.common import (
    AS_DEFAULT,
    annotator_name,
    check_input,
    check_output,
    examples,
    plural,
    print_json,
)
from sgtui.errors import SgtuiError

METHOD_CHOICES = ("gated", "ahc", "hdbscan", "spectral", "knn")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "cluster", help="group lines by speaker (auto clusters; human work is kept)",
        description="Cluster the project's lines by voice (and image, when embedded) and write the "
        "result as auto clusters, as one undoable action. Lines a human placed and every line of a "
        "named or reviewed cluster stay; removals, merges and names are constraints. Unassigned "
        "lines get ranked suggestions.",
        epilog=examples("sgtui cluster ep01.sgproj",
                        "sgtui cluster ep02.sgproj --bank series.sgbank"),
    )
    p.add_argument("project", metavar="EP.sgproj")
    p.add_argument("--method", choices=METHOD_CHOICES, default="gated",
                   help="gated (default), ahc (average linkage, similarity 0.3), hdbscan, spectral, "
                   "knn (3-NN from the lines a human labelled)")
    p.add_argument("--model", metavar="MODEL", help="confidence model from `sgtui train`")
    p.add_argument("--as", dest="annotator", metavar="NAME",
                   help="who asks for the re-cluster: it is one action of NAME in the op log, "
                   f"undoable by NAME ({AS_DEFAULT})")
    p.add_argument("--bank", metavar="SERIES.sgbank",
                   help="after clustering, suggest names from this character bank (calibrated: a "
                   "new character stays unnamed); the project remembers the bank for R in the app")
    p.add_argument("--threshold", type=validate.float_in(-1.0, 1.0), metavar="T",
                   help="with --method ahc: the cosine similarity to cut the tree at, between -1 and 1 "
                   "(default 0.3); gated estimates its own from each episode")
    p.add_argument("--json", action="store_true",
                   help="print the summary as JSON, with what the engine decided (threshold, modality "
                   "weights, speaker-count estimate)")
    p.set_defaults(handler=cmd_cluster)

    p = sub.add_parser(
        "eval", help="score the clusters against a label CSV",
        description="Edge precision/recall/F1 and the minimum add/remove/merge operations that turn "
        "the project's clusters into the truth (docs/architecture.md, \"Metrics\"). Rows are matched to lines by time.",
        epilog=examples("sgtui eval ep01.sgproj --truth ep01.truth.csv",
                        "sgtui eval ep01.sgproj --truth ep01.truth.csv --weights 1,1,2 --json"),
    )
    p.add_argument("project", metavar="EP.sgproj")
    p.add_argument("--truth", required=True, metavar="TRUTH.csv",
                   help="labels: Chat-Haruhi layout or generic start,end,speaker")
    p.add_argument("--weights", default="1,1,1,1", metavar="A,R,M[,N]",
                   help="weights of add, remove, merge and rename (default 1,1,1,1); a cluster's "
                   "name is its human name, else its suggested name")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=cmd_eval)

    p = sub.add_parser(
        "train", help="fit the confidence model on labelled projects",
        description="Fit the line-confidence regressor on projects whose lines a human labelled "
        "(e.g. with `sgtui labels import`) and save it as an .npz of plain arrays.",
        epilog=examples("sgtui train ep01.sgproj ep02.sgproj -o confidence.npz",
                        "sgtui cluster ep03.sgproj --model confidence.npz"),
    )
    p.add_argument("projects", nargs="+", metavar="EP.sgproj")
    p.add_argument("-o", "--output", required=True, metavar="MODEL.npz")
    p.add_argument("--q", type=validate.float_in(0.0, 1.0), default=None, metavar="Q",
                   help="how much of the truth the confidence target assumes is known: each "
                   "neighbour's label counts as seen with probability Q, in (0, 1] (default 0.1; "
                   "small Q = a fresh episode, few lines labelled; see docs/architecture.md)")
    p.add_argument("--folds", type=validate.int_in(2), default=None, metavar="N",
                   help="the same as --q (N-1)/N: a model for N-fold cross-validation")
    p.add_argument("--force", action="store_true", help="overwrite an existing model file")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(handler=cmd_train)


def _open(path: str, readonly: bool):
    from sgtui.project import Project

    check_input(path, "project")
    return Project.open(path, readonly=readonly)


def parse_weights(text: str) -> tuple[float, ...]:
    parts = text.split(",")
    try:
        w = tuple(float(v) for v in parts)
    except ValueError:
        w = ()
    if len(w) not in (3, 4) or any(v < 0 or v != v or v == float("inf") for v in w):
        raise SgtuiError(f"--weights {text!r} must be three or four numbers ≥ 0 like 1,1,1,1 "
                         "(add,remove,merge[,rename])")
    return w


def cmd_cluster(args: argparse.Namespace) -> int:
    from sgtui.workflows import recluster

    if args.threshold is not None and args.method != "ahc":
        raise SgtuiError("--threshold applies to --method ahc only (gated estimates its own); "
                         "drop it or add --method ahc")
    if args.model is not None:
        check_input(args.model, "model")
    annotator = annotator_name(getattr(args, "annotator", None))
    bank = getattr(args, "bank", None)
    if bank is not None:
        check_input(bank, "bank")
    with _open(args.project, readonly=False) as project:
        if bank is not None:
            from sgtui.workflows import _bank_matcher

            _bank_matcher(bank, project)  # refuse before anything is written
        summary = recluster(project, method=args.method, model=args.model, annotator=annotator,
                            threshold=args.threshold, bank=bank)
        if bank is not None:
            from sgtui.workflows import match_bank

            summary["bank"] = match_bank(project, bank)
    if args.json:
        print_json(summary)
    else:
        print(f"{summary['method']}: {plural(summary['clusters'], 'cluster')}, "
              f"{plural(summary['assigned'], 'line')} assigned, "
              f"{summary['unassigned']} unassigned ({summary['seconds']} s)")
        if bank is not None:
            b = summary["bank"]
            # suggestions only: a cluster is named when a person accepts its name in the app
            print(f"bank: names suggested for {b['matched']} of {plural(b['clusters'], 'cluster')} "
                  f"by {bank} (accept them in `sgtui open`), "
                  f"{plural(b['suggested_merges'], 'suggested merge')}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from sgtui.workflows import evaluate_project

    weights = parse_weights(args.weights)
    check_input(args.truth, "truth file")
    with _open(args.project, readonly=True) as project:
        report = evaluate_project(project, args.truth, weights)
    if args.json:
        print_json(report)
    else:
        o = report["ops"]
        print(f"{report['evaluated']} of {plural(report['lines'], 'line')} evaluated, "
              f"{plural(report['speakers'], 'speaker')}, {plural(report['clusters'], 'cluster')}, "
              f"{report['unassigned']} unassigned")
        print(f"edge P {report['edge_precision']:.3f}  R {report['edge_recall']:.3f}  "
              f"F1 {report['edge_f1']:.3f}")
        print(f"operations: add {o['add']}  remove {o['remove']}  merge {o['merge']}  "
              f"total {o['total']:g}  ({o['per_100_lines']:.1f} per 100 lines)")
        n = report["names"]
        print(f"names: {n['correct']} correct, {n['wrong']} wrong, {n['missing']} missing; "
              f"with renames ({o['rename']}) the total is {o['total_with_names']:g}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from contextlib import ExitStack

    from sgtui.engine.confidence import q_from_folds
    from sgtui.workflows import save_model, train

    if args.q is not None and args.folds is not None:
        raise SgtuiError("give --q or --folds, not both")
    if args.q is not None and not 0 < args.q <= 1:
        raise SgtuiError(f"--q {args.q} must be in (0, 1]")
    q = args.q if args.q is not None else (q_from_folds(args.folds) if args.folds else 0.1)
    out = check_output(args.output, args.force, inputs=args.projects)
    with ExitStack() as stack:
        projects = [stack.enter_context(_open(p, readonly=True)) for p in args.projects]
        model, summary = train(projects, q=q)
    save_model(model, out)
    summary["model"] = str(out)
    if args.json:
        print_json(summary)
    else:
        print(f"trained on {plural(summary['lines'], 'human-labelled line')} of "
              f"{plural(summary['projects'], 'project')} → {out}")
        for e in summary["per_project"]:
            used = f"skipped: {e['skipped']}" if "skipped" in e else "used"
            print(f"  {e['project']}: {e['labelled']} of {plural(e['lines'], 'line')} labelled by a human "
                  f"(with voice vectors) — {used}")
    return 0
