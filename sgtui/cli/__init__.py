"""The `sgtui` command: wires the layers together (docs/architecture.md, "The command line" is its contract).

Each group of commands lives in its own module with a `register(subparsers)` function;
heavy libraries are imported inside the handlers so `sgtui --help` starts fast.
"""

from __future__ import annotations

import argparse
import errno
import sqlite3
import sys
import traceback
from collections.abc import Sequence

from sgtui import __version__
from sgtui.errors import SgtuiError, one_line

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
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every command module that is present."""
    import importlib

    parser = argparse.ArgumentParser(
        prog="sgtui",
        description="Group the spoken lines of a video episode by speaker and correct the "
        "groups in a keyboard-driven terminal app. Each episode is one .sgproj file.",
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
    args = parser.parse_args(argv)
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
    except (sqlite3.OperationalError, OSError) as exc:  # the disk or the file refused: not a bug
        if isinstance(exc, sqlite3.OperationalError):
            from sgtui.project.store import write_failure

            failed = write_failure(exc, "the file")
            reason = None if failed is None else str(failed)
        else:
            reason = environment_failure(exc)
        if reason is None:
            return _internal(exc, args.debug)
        if args.debug:
            traceback.print_exc()
        print(f"sgtui: error: {one_line(reason)}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: say so, and how to see more
        return _internal(exc, args.debug)
    return int(result or 0)


ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM,
                      errno.EFBIG, errno.ENOENT, errno.EIO}


def environment_failure(exc: OSError) -> str | None:
    """One line for a file the system would not read or write (space, permissions), else None."""
    if exc.errno not in ENVIRONMENT_ERRNOS:
        return None
    where = f" {exc.filename}" if exc.filename else ""
    todo = ("free some space" if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
            else "check the path and its permissions")
    return f"cannot use{where} ({exc.strerror}); {todo} and run the command again"


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
