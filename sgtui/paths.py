"""Path rules every command shares, and the one place an OS error on a path becomes one line.

- An output is never one of the command's inputs (hard links and symlinks count as the same
  file).
- `os_error_line` turns any OSError the system raises on a path (a symlink loop, a name too
  long, a folder where a file was meant, a read-only disk, a full disk...) into the one line
  users are promised: the path, what went wrong, what to do. The CLI's top-level handler uses
  it for every command, so no command handles these by itself.
- `probe` is how the path checks look at a path: unlike `Path.exists()`, which answers
  False for a symlink loop or a path through a file, it tells "not there" apart from "cannot
  be used" and reports the latter as that one line, before any work starts.

Stdlib only, so every layer may use it.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from sgtui.errors import SgtuiError

# errno -> (what it means for the path, what to do). Anything else an OSError carries is not
# a path problem we can explain, and stays a bug report.
PATH_ERRNOS: dict[int, tuple[str, str]] = {
    errno.ELOOP: ("a symbolic link that loops back on itself",
                  "fix or remove the link, or choose another path"),
    errno.ENAMETOOLONG: ("the name is too long for the filesystem",
                         "choose a shorter file name or path"),
    errno.EACCES: ("permission denied", "check the permissions of it and of its folders, "
                   "or choose another path"),
    errno.EPERM: ("operation not permitted", "check its permissions and attributes (lsattr), "
                  "or choose another path"),
    errno.EISDIR: ("it is a folder, where a file is needed", "give a file name"),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "check the path"),
    errno.EROFS: ("the filesystem is read-only", "choose a path on a disk you can write"),
    errno.EEXIST: ("something is already there", "remove it or choose another path"),
    errno.ENOENT: ("no such file or folder", "check the path"),
    errno.ENOSPC: ("the disk is full", "free some space and run the command again"),
    errno.EDQUOT: ("the disk quota is used up", "free some space and run the command again"),
    errno.EFBIG: ("the file grew too large for the filesystem",
                  "write to another disk, or free some space"),
    errno.EIO: ("an input/output error from the disk", "check the disk and run the command again"),
    errno.ETXTBSY: ("the file is in use by a running program", "choose another path"),
    errno.EBUSY: ("the file or folder is busy", "choose another path or try again later"),
    errno.ENXIO: ("no such device", "check the path (a device or a socket is not a file)"),
    errno.EMLINK: ("too many links in the folder", "choose another folder"),
    errno.ENOTEMPTY: ("the folder is not empty", "empty it or choose another path"),
    errno.EXDEV: ("the paths are on different disks", "choose an output on the same disk"),
}


def os_error_line(exc: OSError, path: str | Path | None = None) -> str | None:
    """The one line for an OSError on a path (path, what went wrong, what to do); None when
    its errno is not a path problem (a bug)."""
    if exc.errno not in PATH_ERRNOS:
        return None
    meaning, todo = PATH_ERRNOS[exc.errno]
    where = path if path is not None else exc.filename
    if where is None:
        where = exc.filename2
    name = errno.errorcode.get(exc.errno, str(exc.errno))
    detail = f"{name}: {exc.strerror}" if exc.strerror else name
    subject = f"cannot use {os.fsdecode(where)}: " if where is not None else ""
    return f"{subject}{meaning} ({detail}); {todo}"


def refuse(exc: OSError, path: str | Path) -> SgtuiError:
    """`os_error_line` as the user error to raise (a bare one for an errno it does not know)."""
    return SgtuiError(os_error_line(exc, path) or f"cannot use {path}: {exc}; check the path")


def probe(path: str | Path) -> os.stat_result | None:
    """stat(path), following links: None when nothing is there (nor a link to anything);
    any other OS error (loop, name too long, a file as a folder...) is one user error."""
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise refuse(exc, path) from None
    except ValueError as exc:  # an embedded NUL byte
        raise SgtuiError(f"{path!r} is not a usable path ({exc}); check it") from None


def _missing(path: Path, what: str) -> SgtuiError:
    if os.path.islink(path):
        return SgtuiError(f"{what} {path} is a symbolic link to {os.readlink(path)}, which does "
                          "not exist; fix the link or give the file itself")
    return SgtuiError(f"{what} {path} does not exist; check the path")


def check_input_file(path: str | Path, what: str = "file") -> Path:
    """An input file that is there and is a file, else one line saying which it is not."""
    p = Path(path)
    st = probe(p)
    if st is None:
        raise _missing(p, what)
    if stat.S_ISDIR(st.st_mode):
        raise SgtuiError(f"{what} {p} is a folder; give a file")
    return p


def check_input_path(path: str | Path, what: str = "file") -> Path:
    """An input that must exist, file or folder (a video, or a season's folder)."""
    p = Path(path)
    if probe(p) is None:
        raise _missing(p, what)
    return p


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when a and b name one file (same inode, or the same resolved path)."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        # os.path.realpath never raises on a loop (Path.resolve does, as RuntimeError)
        return os.path.realpath(a) == os.path.realpath(b)


def refuse_input_as_output(output: str | Path, inputs: Iterable[str | Path | None]) -> None:
    """Refuse, --force or not, an output that is (or links to) one of the inputs; and an
    output path that cannot be used at all (a symlink loop, a name too long)."""
    probe(output)
    for given in inputs:
        if given is not None and same_file(output, given):
            raise SgtuiError(f"the output {output} is also an input of this command ({given}); "
                             "choose another output path (it would be overwritten, --force or not)")


def check_writable_folder(path: str | Path) -> None:
    """An output's folder must exist, be a folder and be writable, else one line saying so."""
    folder = Path(path).parent
    st = probe(folder)
    if st is None:
        raise SgtuiError(f"folder {folder} does not exist; create it first")
    if not stat.S_ISDIR(st.st_mode):
        raise SgtuiError(f"{folder} is a file, not a folder; check the output path")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise SgtuiError(f"cannot write in folder {folder} (read-only or no permission); "
                         "choose an output in a folder you can write")


def check_output_file(path: str | Path, force: bool,
                      inputs: Iterable[str | Path | None] = ()) -> Path:
    """An output file: never an input, not a folder, not there unless --force, its folder
    writable (docs/architecture.md, "The project file")."""
    p = Path(path)
    refuse_input_as_output(p, inputs)
    st = probe(p)
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise SgtuiError(f"{p} is a folder; give a file name")
    if (st is not None or os.path.islink(p)) and not force:
        raise SgtuiError(f"{p} already exists; pass --force to overwrite it or choose another path")
    check_writable_folder(p)
    return p


def check_output_folder(path: str | Path) -> os.stat_result | None:
    """An output folder's path: a folder or nothing there (its parent then must exist and
    take a new folder); returns its stat, None when it is still to be made."""
    p = Path(path)
    st = probe(p)
    if st is None:
        if os.path.islink(p):
            raise SgtuiError(f"{p} is a symbolic link to {os.readlink(p)}, which does not exist; "
                             "fix the link or give another folder")
        parent = probe(p.parent if str(p.parent) else Path("."))
        if parent is None:
            raise SgtuiError(f"folder {p.parent} does not exist; create it first")
        if not stat.S_ISDIR(parent.st_mode):
            raise SgtuiError(f"{p.parent} is a file, not a folder; check the output path")
        check_writable_folder(p)  # the folder will be made there
    elif not stat.S_ISDIR(st.st_mode):
        raise SgtuiError(f"{p} is a file; give a folder")
    return st
