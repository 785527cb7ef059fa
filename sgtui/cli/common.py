"""Helpers shared by the command modules: output-path rules, JSON printing, progress bars."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sgtui.errors import SgtuiError
from sgtui.paths import check_writable_folder, refuse_input_as_output


def check_output(path: str | Path, force: bool, inputs: Iterable[str | Path | None] = ()) -> Path:
    """Refuse an output that is one of the inputs (always), or exists unless --force (docs/architecture.md, "The project file")."""
    p = Path(path)
    refuse_input_as_output(p, inputs)
    if p.exists() and not force:
        raise SgtuiError(f"{p} already exists; pass --force to overwrite it or choose another path")
    if p.is_dir():
        raise SgtuiError(f"{p} is a folder; give a file name")
    check_writable_folder(p)
    return p


def check_input(path: str | Path, what: str = "file") -> Path:
    """A readable input file, or a one-line error."""
    p = Path(path)
    if not p.exists():
        raise SgtuiError(f"{what} {p} does not exist; check the path")
    if p.is_dir():
        raise SgtuiError(f"{what} {p} is a folder; give a file")
    return p


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, ensure_ascii=False, indent=2, sort_keys=False)
    sys.stdout.write("\n")


@contextmanager
def progress_bar(total: int | None, description: str) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on a terminal, silent in a pipe; yields advance(n)."""
    if not sys.stderr.isatty():
        yield lambda n=1: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    ) as prog:
        task = prog.add_task(description, total=total)
        yield lambda n=1: prog.advance(task, n)
