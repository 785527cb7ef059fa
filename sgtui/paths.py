"""Path rules every writing command shares: an output is never one of the command's inputs.

Stdlib only, so every layer may use it. Hard links and symlinks count as the same file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from sgtui.errors import SgtuiError


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when a and b name one file (same inode, or the same resolved path)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def refuse_input_as_output(output: str | Path, inputs: Iterable[str | Path | None]) -> None:
    """Refuse, --force or not, an output that is (or links to) one of the inputs."""
    for given in inputs:
        if given is not None and same_file(output, given):
            raise SgtuiError(f"the output {output} is also an input of this command ({given}); "
                             "choose another output path (it would be overwritten, --force or not)")


def check_writable_folder(path: str | Path) -> None:
    """An output's folder must exist and be writable, else one line saying so."""
    folder = Path(path).parent
    if not folder.exists():
        raise SgtuiError(f"folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise SgtuiError(f"cannot write in folder {folder} (read-only); "
                         "choose an output in a folder you can write")
