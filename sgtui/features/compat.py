"""Import torchaudio and torchvision on CPU-only machines whose wheels are CUDA builds.

Why this exists (docs/encoders.md, "CPU-only machines"): PyPI's torchaudio and torchvision wheels for
Linux are CUDA builds. Next to a CPU-only torch their compiled extensions fail to load:
`import torchaudio` raises OSError (libc10_cuda.so missing) and `import torchvision`
raises RuntimeError (operator torchvision::nms does not exist). speechbrain imports
torchaudio when it is imported, and open_clip imports torchvision, yet sgtui only needs
their pure-Python parts (speechbrain's own Fbank and ECAPA-TDNN; torchvision.transforms).

What it does, and only when the real import fails:

* torchaudio: re-imports it with `torchaudio._extension.utils._load_lib` answering "no
  library here" — the state torchaudio itself supports for pure-Python deployments
  (`_IS_TORCHAUDIO_EXT_AVAILABLE = False`). Functions that need the C++ extension keep
  failing with torchaudio's own message.
* torchvision: defines the schemas of the two custom operators (`nms`, `qnms`) whose
  fake kernels torchvision registers at import, then re-imports it. Its extension stays
  unloaded (`torchvision.extension._has_ops()` is False), so `torchvision.ops.nms` and
  friends still raise torchvision's own "Couldn't load custom C++ ops" error.

On a machine where the real imports work (a CUDA server with matching builds, or CPU
wheels from PyTorch's own index) nothing is patched. `status()` says which way each
library was imported, and `sgtui embed` logs it.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import logging
import sys
from types import ModuleType
from typing import Any

from sgtui.errors import SgtuiError

_LOG = logging.getLogger(__name__)
_STATUS: dict[str, str] = {}
_KEEP: list[Any] = []  # torch.library.Library objects must outlive the import


def status() -> dict[str, str]:
    """{"torchaudio": "native" | "shim: <why>", "torchvision": ...} for what was imported."""
    return dict(_STATUS)


def _drop(prefix: str) -> None:
    for name in [m for m in sys.modules if m == prefix or m.startswith(prefix + ".")]:
        del sys.modules[name]


class _PatchAfterExec(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finder that loads one module normally, then replaces one of its attributes."""

    def __init__(self, module: str, attr: str, value: Any) -> None:
        self.module, self.attr, self.value = module, attr, value
        self._inner: importlib.abc.Loader | None = None

    def find_spec(self, fullname, path, target=None):  # type: ignore[no-untyped-def]
        if fullname != self.module:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        self._inner = spec.loader
        spec.loader = self
        return spec

    def create_module(self, spec):  # type: ignore[no-untyped-def]
        return None

    def exec_module(self, module: ModuleType) -> None:
        assert self._inner is not None
        self._inner.exec_module(module)
        setattr(module, self.attr, self.value)


def import_torchaudio() -> ModuleType:
    """torchaudio, natively if it imports, else its pure-Python parts (see module doc)."""
    if "torchaudio" in _STATUS and "torchaudio" in sys.modules:
        return sys.modules["torchaudio"]
    try:
        import torchaudio

        _STATUS["torchaudio"] = "native"
        return torchaudio
    except (OSError, ImportError, RuntimeError) as exc:
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
    _drop("torchaudio")
    finder = _PatchAfterExec("torchaudio._extension.utils", "_load_lib", lambda lib: False)
    sys.meta_path.insert(0, finder)
    try:
        torchaudio = importlib.import_module("torchaudio")
    except Exception as exc:  # the shim did not help: say both reasons
        _drop("torchaudio")
        raise SgtuiError(
            f"torchaudio does not import ({reason}), not even without its C++ extension "
            f"({type(exc).__name__}: {exc}); install a torchaudio build that matches torch "
            f"(see docs/encoders.md, 'CPU-only machines')"
        ) from exc
    finally:
        sys.meta_path.remove(finder)
    _STATUS["torchaudio"] = f"shim: C++ extension not loaded ({reason})"
    _LOG.info("torchaudio imported without its C++ extension: %s", reason)
    return torchaudio


_TV_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}


def import_torchvision() -> ModuleType:
    """torchvision, natively if it imports, else without its C++ ops (see module doc)."""
    if "torchvision" in _STATUS and "torchvision" in sys.modules:
        return sys.modules["torchvision"]
    try:
        import torchvision

        _STATUS["torchvision"] = "native"
        return torchvision
    except (OSError, ImportError, RuntimeError) as exc:
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
    _drop("torchvision")
    import torch

    missing = [op for op in _TV_SCHEMAS if not _has_op("torchvision", op)]
    if missing:
        lib = torch.library.Library("torchvision", "FRAGMENT")
        for op in missing:
            lib.define(_TV_SCHEMAS[op])
        _KEEP.append(lib)
    try:
        torchvision = importlib.import_module("torchvision")
    except Exception as exc:
        _drop("torchvision")
        raise SgtuiError(
            f"torchvision does not import ({reason}), not even without its C++ ops "
            f"({type(exc).__name__}: {exc}); install a torchvision build that matches torch "
            f"(see docs/encoders.md, 'CPU-only machines')"
        ) from exc
    _STATUS["torchvision"] = f"shim: C++ ops not loaded ({reason})"
    _LOG.info("torchvision imported without its C++ ops: %s", reason)
    return torchvision


def _has_op(namespace: str, op: str) -> bool:
    import torch

    try:
        return torch._C._dispatch_has_kernel_for_dispatch_key(f"{namespace}::{op}", "Meta") or bool(
            torch._C._jit_get_schemas_for_operator(f"{namespace}::{op}")
        )
    except RuntimeError:
        return False


def import_speechbrain() -> ModuleType:
    """speechbrain, after torchaudio (which it imports at package import)."""
    import_torchaudio()
    return importlib.import_module("speechbrain")


def import_open_clip() -> ModuleType:
    """open_clip, after torchvision (which it imports for its image transforms)."""
    import_torchvision()
    return importlib.import_module("open_clip")
