"""The `sgtui` command: wires the layers together (docs/architecture.md, "The command line" is its contract).

Each group of commands lives in its own module with a `register(subparsers)` function;
heavy libraries are imported inside the handlers so `sgtui --help` starts fast.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import textwrap
import traceback
from collections.abc import Sequence

from sgtui import __version__
from sgtui.errors import SgtuiError, one_line
from sgtui.paths import os_error_line

# Modules that add sub-commands; each exposes register(subparsers).
COMMAND_MODULES = (
    "sgtui.cli.project_cmds",
    "sgtui.cli.media_cmds",
    "sgtui.cli.features_cmds",
    "sgtui.cli.engine_cmds",
    "sgtui.cli.tui_cmds",
    "sgtui.cli.audio_cmds",
    "sgtui.cli.export_cmds",
    "sgtui.cli.bank_cmds",
    "sgtui.cli.series_cmds",
    "sgtui.cli.merge_cmds",
)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Wraps each paragraph of a description or epilog to the terminal, as argparse does,
    but keeps a paragraph with indented lines (the examples) exactly as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = []
        for para in text.strip("\n").split("\n\n"):
            if any(line.startswith(" ") for line in para.splitlines()):
                paragraphs.append(textwrap.indent(para, indent))
            else:
                paragraphs.append(textwrap.fill(" ".join(para.split()), width,
                                                initial_indent=indent, subsequent_indent=indent))
        return "\n\n".join(paragraphs)


class Parser(argparse.ArgumentParser):
    """argparse with the CLI's promise: a mistake on the command line is one line on stderr
    and exit 2 (argparse alone prints the whole usage first); --help pages keep examples."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"sgtui: error: {one_line(message)}; see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every command module that is present."""
    import importlib

    parser = Parser(
        prog="sgtui",
        description="Group the spoken lines of a video episode by speaker and correct the "
        "groups in a keyboard-driven terminal app. Each episode is one .sgproj file.",
        epilog="examples:\n  sgtui demo\n  sgtui ingest ep01.mkv --embed -o ep01.sgproj && "
        "sgtui cluster ep01.sgproj && sgtui open ep01.sgproj\n\n"
        "`sgtui COMMAND --help` shows each command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"sgtui {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that command group is not built yet
                continue
            raise
        module.register(sub)
    return parser



def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; user errors exit 2 with one line, bugs exit 1."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a bad option (its one line is printed)
        return exc.code if isinstance(exc.code, int) else 2
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        result = args.handler(args)
    except SgtuiError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"sgtui: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sgtui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    # The disk or a path refused: not a bug. Every OS error on any path of any command is
    # turned into its one line here (sgtui.paths.os_error_line), not by each command.
    except (sqlite3.OperationalError, OSError) as exc:
        if isinstance(exc, sqlite3.OperationalError):
            from sgtui.project.store import write_failure

            failed = write_failure(exc, "the file")
            reason = None if failed is None else str(failed)
        else:
            reason = os_error_line(exc)
        if reason is None:
            return _internal(exc, args.debug)
        if args.debug:
            traceback.print_exc()
        print(f"sgtui: error: {one_line(reason)}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: say so, and how to see more
        return _internal(exc, args.debug)
    return int(result or 0)


def _internal(exc: BaseException, debug: bool) -> int:
    if debug:
        traceback.print_exception(exc)
    else:
        print(
            f"sgtui: internal error ({type(exc).__name__}: {exc}); "
            "re-run with --debug for the traceback and report it",
            file=sys.stderr,
        )
    return 1
