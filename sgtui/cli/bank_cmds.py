"""`sgtui bank`: a series' character bank (README "Character bank")."""

from __future__ import annotations

import argparse

from sgtui.cli.common import check_input, examples, plural, print_json
from sgtui.errors import SgtuiError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bank", help="a series' characters, to name the clusters of the next episode",
        description="A .sgbank file holds the characters of a series, built from labelled episodes: "
        "name, several voice prototypes (and image ones where present), the encoder, and which "
        "episode and lines each came from. `sgtui cluster EP --bank FILE` then suggests names.",
        epilog=examples("sgtui bank add series.sgbank ep01.sgproj ep02.sgproj",
                        "sgtui cluster ep03.sgproj --bank series.sgbank"),
    )
    bank = p.add_subparsers(dest="bank_command", metavar="ACTION")
    a = bank.add_parser("add", help="add (or replace) the named clusters of episodes",
                        description="Store each episode's named clusters; creates the bank when "
                        "missing. Re-adding an episode replaces its earlier contribution. An "
                        "episode with no named cluster is refused: name its clusters first "
                        "(`sgtui open`, or `sgtui labels import`).",
                        epilog=examples("sgtui bank add series.sgbank ep01.sgproj",
                                        "sgtui bank add series.sgbank ep01.sgproj ep02.sgproj --json"))
    a.add_argument("bank", metavar="SERIES.sgbank")
    a.add_argument("projects", nargs="+", metavar="EP.sgproj")
    a.add_argument("--json", action="store_true", help="print JSON")
    a.set_defaults(handler=cmd_add)
    ls = bank.add_parser("list", help="the bank's characters and episodes",
                         description="The bank's characters (lines, prototypes, episodes) and "
                         "the episodes it was built from.",
                         epilog=examples("sgtui bank list series.sgbank",
                                         "sgtui bank list series.sgbank --json"))
    ls.add_argument("bank", metavar="SERIES.sgbank")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(handler=cmd_list)
    rm = bank.add_parser("remove", help="remove an episode's contribution or a character",
                         description="Remove what one episode added, or a whole character.",
                         epilog=examples("sgtui bank remove series.sgbank --episode ep01.sgproj",
                                         "sgtui bank remove series.sgbank --character Kyon"))
    rm.add_argument("bank", metavar="SERIES.sgbank")
    what = rm.add_mutually_exclusive_group(required=True)
    what.add_argument("--episode", metavar="EP", help="an episode's .sgproj path or title")
    what.add_argument("--character", metavar="NAME", help="a character's name")
    rm.set_defaults(handler=cmd_remove)
    rn = bank.add_parser("rename", help="rename a character",
                         description="Give a character of the bank a new name.",
                         epilog=examples('sgtui bank rename series.sgbank Kyon "Kyon (narrator)"'))
    rn.add_argument("bank", metavar="SERIES.sgbank")
    rn.add_argument("old", metavar="OLD")
    rn.add_argument("new", metavar="NEW")
    rn.set_defaults(handler=cmd_rename)
    p.set_defaults(handler=lambda args: _usage(p))


def _usage(p: argparse.ArgumentParser) -> int:
    p.print_help()
    return 2


def cmd_add(args: argparse.Namespace) -> int:
    from contextlib import ExitStack
    from pathlib import Path

    from sgtui.paths import check_writable_folder, probe, refuse_input_as_output
    from sgtui.project import Project
    from sgtui.workflows import bank_add

    refuse_input_as_output(Path(args.bank), args.projects)
    if probe(args.bank) is None:  # a new bank: its folder must take it
        check_writable_folder(args.bank)
    with ExitStack() as stack:
        projects = [stack.enter_context(Project.open(check_input(p, "project"), readonly=True))
                    for p in args.projects]
        for project in projects:  # refused before the bank is created or changed
            if not any(c.name and c.size for c in project.clusters()):
                raise SgtuiError(f"{project.path} has no named cluster, so it would add no "
                                 f"character; name its clusters first (`sgtui open "
                                 f"{project.path}`, or `sgtui labels import {project.path} "
                                 "LABELS.csv`)")
        out = bank_add(args.bank, projects)
    if args.json:
        print_json(out)
    else:
        for e in out:
            print(f"{e['episode']}: {plural(e['characters'], 'character')}, "
                  f"{plural(e['lines'], 'line')} → {args.bank}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from sgtui.project.bank import Bank

    with Bank.open(check_input(args.bank, "bank"), readonly=True) as bank:
        chars = bank.characters()
        eps = bank.episodes()
        out = {"voice_model": bank.voice_model, "calibrated": bank.calibration() is not None,
               "characters": [{"name": c.name, "lines": c.lines, "prototypes": c.prototypes,
                               "episodes": c.episodes} for c in chars],
               "episodes": [{"title": e.title, "path": e.path, "lines": e.lines} for e in eps]}
    if args.json:
        print_json(out)
    else:
        print(f"{plural(len(chars), 'character')} from {plural(len(eps), 'episode')} "
              f"({out['voice_model']})")
        for c in chars:
            print(f"  {c.name}: {plural(c.lines, 'line')}, {plural(c.prototypes, 'prototype')}, "
                  f"in {', '.join(c.episodes)}")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sgtui.engine.bank import fit_characters
    from sgtui.project.bank import Bank

    with Bank.open(check_input(args.bank, "bank")) as bank:
        if args.character is not None:
            if not bank.remove_character(args.character, fit=fit_characters):
                raise SgtuiError(f"the bank has no character {args.character!r}; see `sgtui bank list`")
            print(f"removed {args.character}")
            return 0
        ep = args.episode
        keys = [ep, str(Path(ep).resolve())]
        if Path(ep).is_file():
            from sgtui.project import Project
            from sgtui.workflows import episode_key

            with Project.open(ep, readonly=True) as project:
                keys.insert(0, episode_key(project))
        if not any(bank.remove_episode(k, fit=fit_characters) for k in keys):
            raise SgtuiError(f"the bank holds no episode {ep!r}; see `sgtui bank list`")
    print(f"removed episode {ep}")
    return 0


def cmd_rename(args: argparse.Namespace) -> int:
    from sgtui.project.bank import Bank

    with Bank.open(check_input(args.bank, "bank")) as bank:
        bank.rename_character(args.old, args.new)
    print(f"{args.old} → {args.new}")
    return 0
