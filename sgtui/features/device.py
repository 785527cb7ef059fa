"""Where an encoder runs: device choice, thread count and precision, decided in one place.

* `auto` picks CUDA, then Apple's MPS, then the CPU; asking for a device that is not
  there is a user error, not a silent fall-back.
* On the CPU torch gets one thread unless SGTUI_TORCH_THREADS says otherwise: on the
  small machines sgtui targets, one thread embedded resemblyzer lines 2x faster than two
  (thread hand-offs cost more than the small matrix products gain).
* On CUDA, model encoders run under fp16 autocast (`use_fp16`); MPS and the CPU stay fp32.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from sgtui.errors import SgtuiError

DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(pref: str = "auto") -> str:
    """The torch device string for a user's --device choice."""
    import torch

    pref = (pref or "auto").lower()
    if pref not in DEVICES and not pref.startswith("cuda:"):
        raise SgtuiError(f"unknown device {pref!r}; use one of {', '.join(DEVICES)}")
    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if pref == "auto":
        pref = "cuda" if cuda else "mps" if mps else "cpu"
    elif pref.startswith("cuda") and not cuda:
        raise SgtuiError("--device cuda asked for, but torch sees no CUDA GPU; use --device cpu")
    elif pref == "mps" and not mps:
        raise SgtuiError("--device mps asked for, but this torch has no MPS; use --device cpu")
    configure_threads(pref)
    return pref


def resolve_device_lazily(pref: str = "auto") -> str:
    """`resolve_device` without importing torch when the answer can only be the CPU (no
    NVIDIA device node, not a Mac): encoders that run on the CPU without torch (CAM++ through
    ONNX Runtime) then skip torch's ~0.8 s import."""
    import sys

    choice = (pref or "auto").lower()
    gpu_possible = os.path.exists("/dev/nvidiactl") or os.path.exists("/dev/nvidia0") \
        or sys.platform == "darwin"
    if choice == "cpu" or (choice == "auto" and not gpu_possible):
        return "cpu"
    return resolve_device(pref)


def configure_threads(device: str) -> None:
    """One torch thread on the CPU unless SGTUI_TORCH_THREADS overrides it."""
    import torch

    env = os.environ.get("SGTUI_TORCH_THREADS")
    if env:
        try:
            n = int(env)
        except ValueError as exc:
            raise SgtuiError(f"SGTUI_TORCH_THREADS={env!r} is not a whole number") from exc
        torch.set_num_threads(max(1, n))
    elif device == "cpu":
        torch.set_num_threads(1)


def use_fp16(device: str) -> bool:
    """Half precision where it is fast and safe: CUDA only."""
    return device.startswith("cuda")


@contextlib.contextmanager
def inference(device: str) -> Iterator[None]:
    """no_grad plus fp16 autocast on CUDA: the context every model forward runs in."""
    import torch

    with torch.inference_mode():
        if use_fp16(device):
            with torch.autocast(device_type="cuda", dtype=torch.float16):
                yield
        else:
            yield
