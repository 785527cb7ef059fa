"""Commands that need no media: import-features, info, ops, labels import/export."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import-features",
        help="make a project from a lines CSV and precomputed embeddings (.npy)",
        description="Create EP.sgproj from LINES.csv (generic start,end[,speaker][,text] in seconds, "
        "or the Chat-Haruhi layout) and one row of V.npy per CSV row. Speakers in the CSV are "
        "ignored: use 'sgtui labels import' for labels. Vectors are L2-normalised.",
        epilog=examples("sgtui import-features lines.csv --voice voice.npy -o ep01.sgproj",
                        "sgtui import-features lines.csv --voice voice.npy --image image.npy "
                        "--voice-model ecapa192 -o ep01.sgproj"),
    )
    p.add_argument("lines_csv", metavar="LINES.csv")
    p.add_argument("--voice", required=True, metavar="V.npy", help="voice embeddings, one row per line")
    p.add_argument("--image", metavar="I.npy", help="image embeddings, one row per line")
    p.add_argument("--voice-model", default="imported", help="name for the voice vectors (default: imported)")
    p.add_argument("--image-model", default="imported", help="name for the image vectors (default: imported)")
    p.add_argument("-o", "--output", required=True, metavar="EP.sgproj")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(handler=cmd_import_features)

    p = sub.add_parser("info", help="summarise a project", description="What a project holds.",
                       epilog=examples("sgtui info ep01.sgproj", "sgtui info ep01.sgproj --json",
                                       "sgtui info lines.sgproj --set-title 'EP01'"))
    p.add_argument("project", metavar="EP.sgproj")
    p.add_argument("--json", action="store_true", help="print JSON (keys: docs/architecture.md, \"The command line\")")
    p.add_argument("--set-title", metavar="TITLE",
                   help="set the episode's title, what a season export calls it (a project is "
                   "titled by its file name when made); one logged, undoable action")
    p.add_argument("--as", dest="annotator", metavar="NAME",
                   help=f"who sets the title with --set-title ({AS_DEFAULT})")
    p.add_argument("--textconv", action="store_true",
                   help="print the whole labelling as stable text, one fact per line (clusters, "
                   "every line with its speaker, the op log, open merge conflicts): git's textconv "
                   "for .sgproj files, so `git diff` reads (see 'sgtui merge --help')")
    p.set_defaults(handler=cmd_info)

    p = sub.add_parser("ops", help="operation counts from the op log",
                       description="Raw and net add/remove/merge counts, per annotator (docs/architecture.md, \"The op log\").",
                       epilog=examples("sgtui ops ep01.sgproj", "sgtui ops ep01.sgproj --json"))
    p.add_argument("project", metavar="EP.sgproj")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=cmd_ops)

    labels = sub.add_parser("labels", help="import or export speaker labels as CSV",
                            description="Speaker labels as CSV: bring a labelled episode in, or "
                            "write the clusters' names out.",
                            epilog=examples("sgtui labels import ep01.sgproj ep01.truth.csv",
                                            "sgtui labels export ep01.sgproj ep01-labels.csv"))
    lsub = labels.add_subparsers(dest="labels_command", metavar="ACTION", required=True)
    p = lsub.add_parser(
        "import", help="assign lines to named clusters from a label CSV",
        description="Match CSV rows to lines by time (IoU ≥ 0.5, one row to one line), create or "
        "reuse one named cluster per speaker, and log one 'import' action. Rows with an empty "
        "speaker are ignored; '(可能)' rows are machine guesses, imported as suggestions.",
        epilog=examples("sgtui labels import ep01.sgproj ep01.truth.csv",
                        "sgtui labels import ep01.sgproj labels.csv --as alice --json"),
    )
    p.add_argument("project", metavar="EP.sgproj")
    p.add_argument("csv", metavar="FILE.csv")
    p.add_argument("--as", dest="annotator", metavar="NAME",
                   help=f"who imports: one action of NAME in the op log, undoable by NAME ({AS_DEFAULT})")
    p.add_argument("--json", action="store_true", help="print the matching report as JSON")
    p.set_defaults(handler=cmd_labels_import)
    p = lsub.add_parser("export", help="write every line with its cluster name",
                        description="Every line with its cluster's name (empty when none).",
                        epilog=examples("sgtui labels export ep01.sgproj ep01-labels.csv",
                                        "sgtui labels export ep01.sgproj labels.csv --layout generic --force"))
    p.add_argument("project", metavar="EP.sgproj", help="the project whose lines to write")
    p.add_argument("csv", metavar="FILE.csv", help="the CSV file to write (refused if it exists, "
                   "unless --force)")
    p.add_argument("--layout", choices=["chat-haruhi", "generic"], default="chat-haruhi",
                   help="chat-haruhi: 人物,人物台词,开始时间,结束时间 (speaker, text, start, end as "
                   "HH:MM:SS.mmm, UTF-8 with BOM); generic: start,end,speaker,text with times "
                   "in seconds (default chat-haruhi)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(handler=cmd_labels_export)


MAX_DIM = 1 << 16


def _load_npy(path: str, what: str):
    """A real 2-D .npy array, its header checked before anything is read (no bombs, no pickle)."""
    import numpy as np

    from sgtui.project.store import check_vectors

    p = check_input(path, what)
    size = p.stat().st_size
    try:
        with open(p, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read_header(fh)
            offset = fh.tell()
    except (ValueError, OSError, SyntaxError) as exc:
        raise SgtuiError(f"{what} {path} is not a readable .npy array ({exc}); "
                         "save it with numpy.save") from None
    if dtype.names is not None or dtype.kind not in "biuf":
        kind = "complex numbers" if dtype.kind == "c" else f"dtype {dtype}"
        raise SgtuiError(f"{what} {path} holds {kind}; give real numbers (float32), one row per line")
    if len(shape) != 2:
        raise SgtuiError(f"{what} {path} has shape {shape}; expected one row per line (2-D)")
    if shape[0] == 0 or shape[1] == 0:
        raise SgtuiError(f"{what} {path} is empty (shape {shape}); give one non-empty row per line")
    if shape[1] > MAX_DIM or shape[0] * shape[1] * dtype.itemsize != size - offset:
        raise SgtuiError(f"{what} {path}: its header claims shape {shape} but the file holds "
                         f"{size - offset} bytes of data; it is truncated or not a numpy.save file")
    try:
        arr = np.load(p, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise SgtuiError(f"{what} {path} is not a readable .npy array ({exc}); "
                         "save it with numpy.save") from None
    return check_vectors(arr, f"{what} {path}")


def cmd_import_features(args: argparse.Namespace) -> int:
    from sgtui.project import LineIn, Project
    from sgtui.project.labels_csv import read_label_csv
    from sgtui.project.store import l2_normalise

    check_input(args.lines_csv, "lines file")
    out = check_output(args.output, args.force, inputs=(args.lines_csv, args.voice, args.image))
    _, rows = read_label_csv(args.lines_csv)
    if not rows:
        raise SgtuiError(f"{args.lines_csv} has no rows; nothing to import")
    voice = _load_npy(args.voice, "voice embeddings")
    image = _load_npy(args.image, "image embeddings") if args.image else None
    for name, arr in (("--voice", voice), ("--image", image)):
        if arr is not None and len(arr) != len(rows):
            raise SgtuiError(f"{name} has {plural(len(arr), 'row')} but {args.lines_csv} has "
                             f"{len(rows)}; "
                             "row i of the CSV must go with row i of the .npy")
    # everything is checked before the output is begun
    l2_normalise(voice, f"--voice {args.voice}")
    if image is not None:
        l2_normalise(image, f"--image {args.image}")
    tmp = out.with_name(out.name + ".part")
    try:
        # titled by the file it makes: feature sets often come as one lines.csv per episode
        with Project.create(tmp, title=out.stem, force=True) as proj:
            ids = proj.add_lines([LineIn(r.start_ms, r.end_ms, r.text, source="csv") for r in rows])
            proj.put_embeddings("voice", args.voice_model, ids, voice)
            if image is not None:
                proj.put_embeddings("image", args.image_model, ids, image)
            proj.meta_set("ingest_state", "complete")
        tmp.replace(out)  # the output appears only once complete
    finally:
        for leftover in (tmp, *(tmp.with_name(tmp.name + x) for x in ("-wal", "-shm", "-journal"))):
            leftover.unlink(missing_ok=True)
    print(f"{out}: {plural(len(ids), 'line')}, voice {voice.shape[1]}-d"
          + (f", image {image.shape[1]}-d" if image is not None else ""), file=sys.stderr)
    return 0


def project_info(proj) -> dict:
    """The `info --json` object (docs/architecture.md, "The command line")."""
    clusters = proj.clusters()
    assigned = proj.count("assignments")
    lines = proj.count("lines")
    actors = proj.conn.execute(
        "SELECT COUNT(*) FROM lines WHERE actor IS NOT NULL AND TRIM(actor) != ''").fetchone()[0]
    return {
        "title": proj.meta_get("title"),
        "lines": lines,
        "clips": proj.count("clips"),
        "keyframes": proj.count("keyframes"),
        "clusters": len(clusters),
        "named": sum(1 for c in clusters if c.name),
        "confirmed": sum(1 for c in clusters if c.confirmed),
        "assigned": assigned,
        "unassigned": lines - assigned,
        "encoders": proj.encoders(),
        "voice_model": proj.chosen_model("voice"),  # what `cluster` uses
        "actors": actors,
        "ops": proj.op_counts()["net"],
        "flags": proj.flag_counts(),
        "annotators": proj.annotators(),
        "schema_version": int(proj.meta_get("schema_version")),
        "ingest_state": proj.meta_get("ingest_state", "complete"),
        "language": proj.meta_get("language"),
    }


def _set_title(args: argparse.Namespace) -> None:
    from sgtui.project import Project
    from sgtui.project.titles import check_title

    title = check_title(args.set_title)
    annotator = annotator_name(args.annotator)
    with Project.open(args.project) as proj:
        before = proj.meta_get("title")
        done = proj.set_title(title, annotator)
    print(f"{args.project}: title {before!r} -> {title!r}" if done else
          f"{args.project}: already titled {title!r}; nothing changed", file=sys.stderr)


def cmd_info(args: argparse.Namespace) -> int:
    from sgtui.project import Project

    check_input(args.project, "project")
    if args.set_title is not None:
        _set_title(args)
    elif args.annotator is not None:
        raise SgtuiError("--as names who sets the title; use it with --set-title")
    if args.textconv:
        if args.json or args.set_title is not None:
            raise SgtuiError("--textconv prints text alone; leave out --json and --set-title")
        with Project.open(args.project, readonly=True) as proj:
            sys.stdout.writelines(f"{row}\n" for row in textconv(proj))
        return 0
    with Project.open(args.project, readonly=True) as proj:
        info = project_info(proj)
        clusters = proj.clusters()
    if args.json:
        print_json(info)
        return 0
    print(f"{args.project}: {info['title']}  (schema {info['schema_version']})")
    if info["ingest_state"] != "complete":
        print(f"  INCOMPLETE: ingest state is {info['ingest_state']!r}; re-run 'sgtui ingest' to finish")
    print(f"  lines {info['lines']}  clips {info['clips']}  keyframes {info['keyframes']}  "
          f"speaker names in subtitles {info['actors']}"
          + (f"  language {info['language']}" if info["language"] else ""))
    print(f"  clusters {info['clusters']} ({info['named']} named, {info['confirmed']} reviewed)  "
          f"assigned {info['assigned']}  unassigned {info['unassigned']}")
    for e in info["encoders"]:
        used = "  (clusters on it)" if e["modality"] == "voice" and e["model"] == info["voice_model"] \
            and sum(x["modality"] == "voice" for x in info["encoders"]) > 1 else ""
        print(f"  {e['modality']:5s} {e['model']}  {e['dim']}-d  {plural(e['lines'], 'line')}{used}")
    if info["voice_model"]:
        print(f"  voice model: {info['voice_model']}")
    ops = info["ops"]
    print(f"  operations: add {ops['add']}  remove {ops['remove']}  merge {ops['merge']}"
          + (f"  by {', '.join(info['annotators'])}" if info["annotators"] else ""))
    if any(info["flags"].values()):
        print("  flagged lines: " + ", ".join(f"{k} {v}" for k, v in info["flags"].items() if v))
    top = sorted(clusters, key=lambda c: -c.size)[:10]
    if top:
        print("  largest clusters: " + ", ".join(f"{c.label} ({c.size})" for c in top))
    return 0


def _ms(ms: int) -> str:
    return f"{ms // 3_600_000}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def textconv(proj) -> list[str]:
    """A project as text that diffs well: one fact per line, in a stable order, ids as the
    file holds them. What `git diff` shows of an .sgproj (git's textconv)."""
    out = [f"title: {proj.meta_get('title')}", f"schema: {proj.meta_get('schema_version')}"]
    clusters = {c.id: c for c in proj.clusters()}
    out.append(f"clusters: {len(clusters)}")
    for c in clusters.values():
        out.append(f"cluster #{c.id} {c.name or '(unnamed)'}{' reviewed' if c.confirmed else ''}: "
                   f"{c.size} lines")
    where = proj.assignments()
    flags = proj.line_flags()
    for ln in proj.lines():
        a = where.get(ln.id)
        who = "-" if a is None else f"{clusters[a.cluster_id].label} [{a.origin}{', reviewed' if a.confirmed else ''}]"
        flag = f" flags={','.join(flags[ln.id])}" if ln.id in flags else ""
        out.append(f"line {ln.id} {_ms(ln.start_ms)} {who}{flag}: {ln.text}")
    from sgtui.project.history import action_label

    superseded = proj.superseded_actions()
    kinds: dict[int, list] = {}
    for op in proj.ops():
        kinds.setdefault(op.action_id, []).append(op)
    for aid, ops in kinds.items():
        kind = action_label([o.kind for o in ops])
        lines = sorted({o.line_id for o in ops if o.line_id is not None})
        on = f" lines {','.join(map(str, lines))}" if lines else ""
        state = " (superseded by a merge)" if aid in superseded else ""
        out.append(f"action {ops[0].ts} {ops[0].annotator} {kind}{on}{state}")
    for c in proj.merge_conflicts():
        out.append(f"open merge conflict {c.id}: {c.summary}")
    return out


def cmd_ops(args: argparse.Namespace) -> int:
    from sgtui.project import Project

    check_input(args.project, "project")
    with Project.open(args.project, readonly=True) as proj:
        counts = proj.op_counts()
    if args.json:
        print_json(counts)
        return 0
    raw, net = counts["raw"], counts["net"]
    print(plural(counts["actions"], "action"))
    print("          " + "  ".join(f"{k:>7s}" for k in raw))
    print("raw       " + "  ".join(f"{v:>7d}" for v in raw.values()))
    print("net       " + "  ".join(f"{net.get(k, 0):>7d}" if k in net else "      -" for k in raw))
    for name, c in counts["by_annotator"].items():
        print(f"{name[:9]:<10s}" + "  ".join(f"{v:>7d}" for v in c["raw"].values()))
    return 0


def cmd_labels_import(args: argparse.Namespace) -> int:
    from sgtui.project import Project
    from sgtui.project.labels_csv import match_rows, read_label_csv

    check_input(args.project, "project")
    layout, rows = read_label_csv(check_input(args.csv, "label file"))
    annotator = annotator_name(args.annotator)
    with Project.open(args.project) as proj:
        m = match_rows(proj.lines(), rows)
        human = {lid: sp for lid, sp in m.line_to_speaker.items() if not rows[m.line_to_row[lid]].suggested}
        guess = {lid: sp for lid, sp in m.line_to_speaker.items() if rows[m.line_to_row[lid]].suggested}
        source = Path(args.csv).name
        if human:
            proj.import_labels(human, annotator, origin="human", source=source)
        if guess:
            proj.import_labels(guess, annotator, origin="suggested", source=source)
        named = sum(1 for c in proj.clusters() if c.name)
    report = {
        "layout": layout, "rows": len(rows), "unlabelled_rows": m.dropped_unlabelled,
        "labelled": len(human), "suggested": len(guess), "named_clusters": named,
        "speakers": len(set(m.line_to_speaker.values())),
        "unmatched_lines": len(m.unmatched_lines), "unmatched_rows": len(m.unmatched_rows),
        "ties": m.ties,
    }
    if args.json:
        print_json(report)
    else:
        print(f"labelled {plural(len(human), 'line')}" + (f" and suggested {len(guess)}" if guess else "")
              + f" from {plural(report['speakers'], 'speaker')} into "
              f"{plural(named, 'named cluster')}; {plural(report['unmatched_lines'], 'line')} and "
              f"{plural(report['unmatched_rows'], 'labelled row')} unmatched, "
              f"{plural(m.dropped_unlabelled, 'unlabelled row')} ignored"
              + (f"; tied lines left unmatched: {m.ties}" if m.ties else ""))
    return 0


def cmd_labels_export(args: argparse.Namespace) -> int:
    from sgtui.project import Project
    from sgtui.project.labels_csv import LabelRow, write_label_csv

    check_input(args.project, "project")
    out = check_output(args.csv, args.force, inputs=(args.project,))
    with Project.open(args.project, readonly=True) as proj:
        names = {c.id: c.name for c in proj.clusters()}
        assign = proj.assignments()
        rows = [
            LabelRow(ln.start_ms, ln.end_ms,
                     names.get(assign[ln.id].cluster_id) if ln.id in assign else None, ln.text)
            for ln in proj.lines()
        ]
    write_label_csv(out, rows, args.layout)
    print(f"wrote {plural(len(rows), 'line')} to {out}", file=sys.stderr)
    return 0
