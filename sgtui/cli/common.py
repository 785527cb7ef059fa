"""Helpers shared by the command modules: output-path rules, JSON printing, progress bars."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sgtui.errors import plural  # noqa: F401 - the command modules take it from here
from sgtui.paths import check_input_file, check_output_file


def check_output(path: str | Path, force: bool, inputs: Iterable[str | Path | None] = ()) -> Path:
    """Refuse an output that is one of the inputs (always), or exists unless --force (docs/architecture.md, "The project file")."""
    return check_output_file(path, force, inputs)


def check_input(path: str | Path, what: str = "file") -> Path:
    """A readable input file, or a one-line error (a symlink loop is called one)."""
    return check_input_file(path, what)


def examples(*commands: str) -> str:
    """An --help epilog: the commands, kept as written (sgtui.cli.HelpFormatter)."""
    return "examples:\n" + "\n".join(f"  {c}" for c in commands)


AS_DEFAULT = "default: config 'annotator', else login name"


def annotator_name(given: str | None) -> str:
    """--as NAME, else config 'annotator', else the login name (as `sgtui open` does)."""
    from sgtui.errors import SgtuiError
    from sgtui.project import default_annotator
    from sgtui.tui.config import load_config

    name = (given or load_config().annotator or default_annotator()).strip()
    if not name:
        raise SgtuiError("the annotator name is empty; pass --as NAME")
    return name


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, ensure_ascii=False, indent=2, sort_keys=False)
    sys.stdout.write("\n")


@contextmanager
def progress_bar(total: int | None, description: str) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on a terminal, silent in a pipe; yields advance(n).

    A bar that counts seconds of audio (its description ends in ``(s of audio)``) also shows
    the real-time factor: seconds of audio done per second of work.
    """
    if not sys.stderr.isatty():
        yield lambda n=1: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Items per second (lines/s for embedding), the figure users compare."""

        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            return Text("" if speed is None else f"{speed:,.0f}/s")

    class RealTime(ProgressColumn):
        def render(self, task) -> Text:
            speed = task.completed / task.elapsed if task.elapsed else 0.0
            return Text(f"{speed:.1f}× real time" if speed else "")

    audio = description.endswith("(s of audio)")  # seconds of audio: speed as real-time factor
    extra = [RealTime()] if audio else [RateColumn()]
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *extra,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    ) as prog:
        task = prog.add_task(description, total=total)
        yield lambda n=1: prog.advance(task, n)


@contextmanager
def stage_progress(prefix: str) -> Iterator[Callable[[str, int, int], None]]:
    """A `progress(stage, done, total)` callback (as `embed_project` calls it) that shows
    one bar per stage, e.g. "embed voice" then "embed image"."""
    with contextlib.ExitStack() as bars:
        current: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if current.get("stage") != stage:
                bars.close()
                current.update(stage=stage, done=0,
                               advance=bars.enter_context(progress_bar(total, f"{prefix} {stage}")))
            current["advance"](done - current["done"])
            current["done"] = done

        yield progress
