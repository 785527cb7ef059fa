"""CAM++ on the CPU through ONNX Runtime, from a graph exported once per set of weights.

ONNX Runtime ran this network 3.4× faster than torch on two cores, with the same vectors
(docs/encoders.md has the figures). The graph is exported from the torch network the first
time a set of weights is used (`torch.onnx.export`, dynamic batch and time axes), checked
against torch on fixed inputs of several lengths (cosine ≥ `MIN_COSINE`, and a batch of two
equal to each alone), and cached as `$XDG_CACHE_HOME/sgtui/campp/SHA256-vN.onnx` (N = GRAPH_VERSION) with the torch
outputs beside it (`SHA256-vN.check.npz`). A later run loads the cached graph without importing
torch at all, after running it once on those inputs again: a damaged or foreign cache file is
rebuilt, never trusted.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from sgtui.errors import SgtuiError
from sgtui.features.campp_weights import Weights

MIN_COSINE = 0.9999
GRAPH_VERSION = 2  # bump when the network's code changes the exported graph (a new cache name)
CHECK_FRAMES = (98, 263, 611)  # odd lengths: the last 100-frame context segment is partial
OPSET = 17


class OnnxCampp:
    """One inference session; call it with (batch, frames, 80) float32 features."""

    def __init__(self, session, dim: int):  # session: onnxruntime.InferenceSession
        self.session = session
        self.dim = dim
        self._input = session.get_inputs()[0].name

    def __call__(self, feats: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self._input: np.ascontiguousarray(feats, np.float32)})[0]

    @classmethod
    def load(cls, weights: Weights) -> OnnxCampp:
        """The cached graph for these weights, checked; exported (and cached) when missing."""
        folder = _cache_folder()
        graph = folder / f"{weights.sha256}-v{GRAPH_VERSION}.onnx"
        check = folder / f"{weights.sha256}-v{GRAPH_VERSION}.check.npz"
        if graph.is_file() and check.is_file():
            try:
                runner = cls(_session(graph), 0)
                expected = np.load(check)
                got = [runner(_check_input(n)) for n in CHECK_FRAMES]
                if _agree([expected[str(n)] for n in CHECK_FRAMES], got):
                    runner.dim = got[0].shape[1]
                    return runner
            except Exception:  # noqa: BLE001 - any unreadable cache file is rebuilt
                pass
        return cls._export(weights, graph, check)

    @classmethod
    def _export(cls, weights: Weights, graph: Path, check: Path) -> OnnxCampp:
        import sys

        import torch

        from sgtui.features.campp_weights import load_network

        if sys.stderr.isatty():  # a pause of ~15 s the first time: say why, once
            print(f"note: preparing CAM++ for ONNX Runtime (once per set of weights; cached in "
                  f"{graph.parent})", file=sys.stderr, flush=True)

        model = load_network(weights)
        with torch.inference_mode():
            expected = {str(n): model(torch.from_numpy(_check_input(n))).numpy() for n in CHECK_FRAMES}
        tmp_graph = _sibling_tmp(graph)
        tmp_check = _sibling_tmp(check)
        try:
            torch.onnx.export(
                model, (torch.from_numpy(_check_input(CHECK_FRAMES[1])),), str(tmp_graph),
                dynamo=False, opset_version=OPSET, input_names=["fbank"],
                output_names=["embedding"],
                dynamic_axes={"fbank": {0: "batch", 1: "frames"}, "embedding": {0: "batch"}})
            runner = cls(_session(tmp_graph), 0)
            got = [runner(_check_input(n)) for n in CHECK_FRAMES]
            pair = np.concatenate([_check_input(CHECK_FRAMES[2])] * 2)
            if not _agree([expected[str(n)] for n in CHECK_FRAMES], got) or \
                    not _agree([expected[str(CHECK_FRAMES[2])]] * 2, list(runner(pair)[:, None])):
                raise SgtuiError("internal error: CAM++'s ONNX graph does not give torch's "
                                 "vectors; embed with --device cuda or report it")
            with open(tmp_check, "wb") as f:
                np.savez(f, **expected)
            os.replace(tmp_check, check)
            os.replace(tmp_graph, graph)
            for stale in graph.parent.glob(f"{weights.sha256}*"):  # an older graph version's
                if stale not in (graph, check) and not stale.name.startswith("."):
                    stale.unlink(missing_ok=True)
        finally:
            for p in (tmp_graph, tmp_check):
                p.unlink(missing_ok=True)
        runner = cls(_session(graph), got[0].shape[1])
        return runner


def _check_input(frames: int) -> np.ndarray:
    """A fixed fbank-like input (mean-normalised noise, seeded by its length) for checking
    the graph against torch without audio."""
    rng = np.random.default_rng(frames)
    x = rng.standard_normal((1, frames, 80)).astype(np.float32) * 3.0
    return x - x.mean(axis=1, keepdims=True)


def _agree(expected: list[np.ndarray], got: list[np.ndarray]) -> bool:
    for e, g in zip(expected, got, strict=True):
        e, g = np.asarray(e, np.float64).reshape(-1), np.asarray(g, np.float64).reshape(-1)
        if e.shape != g.shape or not np.isfinite(g).all():
            return False
        if float(e @ g) / max(float(np.linalg.norm(e) * np.linalg.norm(g)), 1e-30) < MIN_COSINE:
            return False
    return True


def _session(path: Path):  # -> onnxruntime.InferenceSession
    try:
        import onnxruntime as ort
    except ImportError:
        raise SgtuiError("onnxruntime is not installed; run `make demo` (or embed with "
                         "--device cuda)") from None
    opts = ort.SessionOptions()
    threads = os.environ.get("SGTUI_ORT_THREADS")
    if threads:
        opts.intra_op_num_threads = int(threads)
    # Idle pool threads sleep instead of spinning: beside them the decoding process
    # prepares the next batches on the other core (sgtui/features/embed.py).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3  # warnings about unused initialisers are not the user's
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _cache_folder() -> Path:
    """sgtui's cache (XDG_CACHE_HOME/sgtui/campp); a private temporary folder where that
    cannot be written (the graph is then exported again by every run)."""
    from sgtui.features.hub import cache_dir

    try:
        folder = cache_dir("campp")
        probe = _sibling_tmp(folder / "probe")
        probe.touch()
        probe.unlink()
        return folder
    except OSError:
        return Path(tempfile.mkdtemp(prefix="sgtui-campp-"))


def _sibling_tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")
