"""Export folders: written whole beside the output, then swapped in, so an output folder
only ever holds one complete export.

Training tools read whatever a dataset folder holds, so `--force` must not write a new
export over an old one (the old speakers' folders and WAVs would stay). Every export folder
is written into a hidden sibling (`.OUT.sgtui-part-XXXX`) and renamed into place once
complete; an earlier export is first renamed aside (`.OUT.sgtui-old-XXXX`) and removed
after. A crash therefore never leaves a half export under the final name (at worst one of
those hidden siblings, which the next export to the same folder removes).

Every export folder carries `sgtui-export.json`, listing the files it wrote: `--force`
replaces only a folder with that manifest holding nothing else, so a folder of the user's
own (or an export someone added files to) is refused, never deleted.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sgtui import __version__
from sgtui.errors import SgtuiError

MANIFEST = "sgtui-export.json"
PART, OLD = "sgtui-part", "sgtui-old"
# what sgtui exports wrote before their manifest listed the files
_OLD_SUFFIXES = (".wav", ".list", ".csv", ".jsonl", ".json", ".srt", ".vtt", ".ass", ".rttm",
                 ".txt")


def _files(folder: Path) -> list[str]:
    """Every file under `folder`, as sorted paths relative to it (links are not followed)."""
    out = []
    for root, dirs, names in os.walk(folder):
        base = Path(root).relative_to(folder)
        out += [(base / n).as_posix() for n in names]
        out += [(base / d).as_posix() for d in dirs if os.path.islink(Path(root) / d)]
    return sorted(out)


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of an earlier sgtui export in `folder`, or None when there is none."""
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("format"), str):
        return None
    return data


def foreign_files(folder: Path, manifest: dict[str, Any]) -> list[str]:
    """Files in an earlier export's folder that the export did not write (the user's)."""
    present = _files(folder)
    listed = manifest.get("files")
    if isinstance(listed, list):
        mine = {str(f) for f in listed} | {MANIFEST}
        return [f for f in present if f not in mine]
    # an export from before the manifest listed its files: only the kinds sgtui writes
    return [f for f in present if not f.endswith(_OLD_SUFFIXES)]


def check_folder(out: Path, force: bool) -> None:
    """Before any work: may an export folder be written at `out`?

    Nothing there, or an empty folder: yes. A non-empty folder: only with `force`, and only
    when it is an earlier sgtui export holding nothing but what that export wrote."""
    if out.is_symlink() and out.is_dir():
        out = Path(os.path.realpath(out))
    if out.exists() and not out.is_dir():
        raise SgtuiError(f"{out} is a file; give a folder for this export")
    parent = out.absolute().parent
    if not parent.is_dir():
        raise SgtuiError(f"folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SgtuiError(f"cannot write in folder {parent}, where the export is put together "
                         "before it takes the name; choose an output in a folder you can write")
    if not out.exists() or not any(out.iterdir()):
        return
    if not force:
        raise SgtuiError(f"folder {out} is not empty; pass --force to replace an earlier export "
                         "there, or choose another folder")
    manifest = read_manifest(out)
    if manifest is None:
        raise SgtuiError(f"folder {out} is not an earlier sgtui export (it has no {MANIFEST}); "
                         "--force replaces only sgtui's own exports: choose an empty or new folder")
    extra = foreign_files(out, manifest)
    if extra:
        more = f" and {len(extra) - 1} more" if len(extra) > 1 else ""
        raise SgtuiError(f"folder {out} holds {extra[0]}{more}, which the earlier export did not "
                         "write; move it out (it would be deleted) or choose another folder")


def _leftovers(out: Path) -> list[Path]:
    """Hidden siblings an export to `out` that was killed left behind."""
    starts = (f".{out.name}.{PART}-", f".{out.name}.{OLD}-")
    return [p for p in out.parent.iterdir()
            if p.name.startswith(starts) and p.is_dir() and not p.is_symlink()]


@contextmanager
def new_folder(out: Path) -> Iterator[Path]:
    """A hidden sibling of `out` (not made yet: the writer makes it once its checks pass, so
    a refusal leaves no trace) to write the export into. When the block ends without an
    error it becomes `out`, replacing an earlier export there whole; else it is removed and
    `out` is left as it was. Call `check_folder` first."""
    if out.is_symlink() and out.is_dir():
        out = Path(os.path.realpath(out))
    out = out.absolute()
    tag = secrets.token_hex(4)
    work = out.parent / f".{out.name}.{PART}-{tag}"
    try:
        yield work
        if not work.is_dir():
            raise RuntimeError("the export wrote no folder")
        if not out.exists() or not any(out.iterdir()):
            os.replace(work, out)  # onto nothing or an empty folder: one atomic rename
        else:
            old = out.parent / f".{out.name}.{OLD}-{tag}"
            os.rename(out, old)
            try:
                os.rename(work, out)
            except BaseException:
                os.rename(old, out)
                raise
        for stale in _leftovers(out):  # this one's old export, and any a killed export left
            shutil.rmtree(stale, ignore_errors=True)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Write `manifest` (with the sgtui version and every file written) as the folder's
    `sgtui-export.json`: the mark by which `--force` recognises the export later."""
    body = {**manifest, "sgtui_version": __version__,
            "files": [f for f in _files(folder) if f != MANIFEST]}
    (folder / MANIFEST).write_text(json.dumps(body, ensure_ascii=False, indent=2) + "\n",
                                   encoding="utf-8")
