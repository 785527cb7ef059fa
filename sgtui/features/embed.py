"""Embedding a whole project: clips and keyframes in, stored vectors out.

Idempotent by construction: a line is embedded only if the project has no vector for it
under the encoder's model id, so running `sgtui embed` twice does nothing the second
time, and embedding with another model adds vectors next to the old ones. Vectors are
written one batch at a time, so an interrupted run keeps what it finished. The model
just used becomes the project's chosen one for its modality (meta `model.<modality>`).
"""

from __future__ import annotations

import contextlib
import io
import threading
import time
from collections.abc import Callable
from queue import Full, Queue
from typing import Any

import numpy as np

from sgtui.errors import SgtuiError
from sgtui.features.base import Encoder, Modality

Progress = Callable[[str, int, int], None]
"""progress(stage, done, total): stage is "voice" or "image"."""


def _decode_clip(line_id: int, clip: Any) -> np.ndarray:
    from sgtui.media.clipcodec import decode_clip

    return decode_clip(clip.codec, clip.sample_rate, clip.data)


def _decode_keyframe(line_id: int, kf: Any) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(kf.data)) as img:
            return np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise SgtuiError(f"keyframe of line {line_id} ({kf.mime}) does not decode: {exc}; "
                         "re-run ingest") from exc


def embed_modality(project: Any, encoder: Encoder, batch: int = 32,
                   progress: Progress | None = None) -> dict[str, Any]:
    """Embed every line of one modality that has input and no vector from this encoder."""
    return _embed_lines(project, encoder.modality, encoder.model_id, lambda: encoder,
                        batch, progress, build_when_idle=True)


_DONE = object()
AHEAD = 2
"""Batches decoded and prepared ahead of the network (memory: a few batches of PCM)."""


def _embed_lines(project: Any, modality: Modality, model_id: str, build: Callable[[], Encoder],
                 batch: int, progress: Progress | None,
                 build_when_idle: bool = False) -> dict[str, Any]:
    """The pipeline behind `embed_modality`, for an encoder `build` returns (called once;
    not at all when no line needs a vector, unless `build_when_idle`: a re-run then costs
    no torch import and no weights).

    A second thread decodes each batch (PyAV, PIL) and computes what the encoder can
    compute before its network (`prepare`: resemblyzer's VAD and padding), while this
    thread runs the network on the previous batch and writes its vectors: the two cores of
    a small machine each do about half. The stored bytes are read here first: the
    project's connection belongs to this thread (an episode's clips are a few MB). Decoding
    does not start while the encoder loads: PyAV takes the GIL back once per 20 ms Opus
    frame, so beside torch's import (Python holding the GIL) it decoded ~30 clips a second
    and slowed the import by as much as it gained.
    """
    have_input = project.clip_ids() if modality == "voice" else project.keyframe_ids()
    done_ids = project.embedded_ids(modality, model_id)
    order = [line.id for line in project.lines()]
    todo = [i for i in order if i in have_input and i not in done_ids]
    fetch = project.clip if modality == "voice" else project.keyframe
    decode = _decode_clip if modality == "voice" else _decode_keyframe
    stats: dict[str, Any] = {"model": model_id, "dim": 0, "device": "", "embedded": 0,
                             "already": len(done_ids & set(order)),
                             "no_input": len(order) - len(have_input & set(order)), "empty": 0,
                             "seconds": 0.0, "load_seconds": 0.0}
    start = time.perf_counter()
    if not todo and not build_when_idle:
        stats["dim"] = next((e["dim"] for e in project.encoders()
                             if (e["modality"], e["model"]) == (modality, model_id)), 0)
        if stats["already"]:
            project.meta_set(f"model.{modality}", model_id)
        if progress:
            progress(modality, 0, 0)
        return stats
    encoder = build()
    stats["load_seconds"] = round(time.perf_counter() - start, 3)
    if encoder.model_id != model_id:  # pragma: no cover - version_for and __init__ disagree
        raise SgtuiError(f"internal error: encoder {encoder.model_id} was announced as "
                         f"{model_id}; nothing was stored")
    stats.update(dim=encoder.dim, device=encoder.device)
    chunks = [[(line_id, fetch(line_id)) for line_id in todo[pos : pos + batch]]
              for pos in range(0, len(todo), batch)]
    prepare = getattr(encoder, "prepare", None)
    staged = getattr(encoder, "embed_prepared", None)
    queue: Queue[Any] = Queue(maxsize=AHEAD)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                queue.put(item, timeout=0.05)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        try:
            for chunk in chunks:
                if stop.is_set():
                    return
                keep = [(i, x) for i, x in ((i, None if raw is None else decode(i, raw))
                                            for i, raw in chunk) if x is not None and x.size > 0]
                inputs = [x for _, x in keep]
                features = prepare(inputs) if prepare is not None and inputs else inputs
                if not put(([i for i, _ in keep], len(chunk), features)):
                    return
            put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, raised there
            put(exc)

    if progress:
        progress(modality, 0, len(todo))
    worker = threading.Thread(target=produce, name="sgtui-embed-decode", daemon=True)
    with _one_blas_thread():
        worker.start()
        try:
            done = 0
            while True:
                item = queue.get()
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    raise item
                ids, count, features = item
                stats["empty"] += count - len(ids)
                if ids:
                    vecs = staged(features) if staged is not None else encoder.embed(features)
                    stored = store_vectors(project, encoder, ids, vecs)
                    stats["embedded"] += stored
                    stats["empty"] += len(ids) - stored
                done += count
                if progress:
                    progress(modality, done, len(todo))
        finally:
            stop.set()
            worker.join()
    if stats["embedded"] or stats["already"]:
        project.meta_set(f"model.{modality}", model_id)
    stats["seconds"] = round(time.perf_counter() - start, 3)
    return stats


def _one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """numpy's BLAS on one thread while embedding. Its only product here is the mel
    filterbank's, small enough for one core, and OpenBLAS's second thread spins after
    each one: on two cores it took ~1 s of CPU per 329 lines from the decoding thread
    and the network (`sgtui embed`: 4.3 s of user time against 3.3 s)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().limit(limits=1, user_api="blas")


def store_vectors(project: Any, encoder: Encoder, line_ids: list[int], vecs: object) -> int:
    """Check an encoder's output for these lines and store it; returns how many were stored.

    NaN/inf or a wrong shape refuses the batch (one line naming the encoder). An all-zero
    vector (e.g. a blank frame once its background is suppressed) says nothing about the
    speaker: that line is left without one, like a line with empty input.
    """
    v = _checked_output(encoder, vecs, len(line_ids))
    keep = (v != 0).any(axis=1)
    if keep.any():
        kept = [i for i, k in zip(line_ids, keep.tolist(), strict=True) if k]
        project.put_embeddings(encoder.modality, encoder.model_id, kept, v[keep])
    return int(keep.sum())


def _checked_output(encoder: Encoder, vecs: object, n: int) -> np.ndarray:
    """The encoder's vectors as a real (n × dim) array; one line naming the encoder otherwise."""
    v = np.asarray(vecs)
    where = f"encoder {encoder.model_id} on {encoder.device}"
    if v.dtype.kind not in "biuf" or v.ndim != 2 or v.shape[0] != n or v.shape[1] == 0:
        raise SgtuiError(f"{where} returned {v.dtype} vectors of shape {v.shape} for {n} inputs; "
                         "check its weights (--model-path) or choose another encoder")
    v = v.astype(np.float64, copy=False)
    if not np.isfinite(v).all():
        raise SgtuiError(f"{where} returned NaN or infinite vectors; nothing of this batch was "
                         "stored — try --device cpu or check its weights")
    return v


def embed_project(
    project: Any,
    voice: str | None = "resemblyzer",
    image: str | None = "grid",
    device: str = "auto",
    batch: int = 32,
    progress: Progress | None = None,
    voice_model_path: str | None = None,
    image_model_path: str | None = None,
) -> dict[str, Any]:
    """Embed a project's clips (voice) and keyframes (image); None or "none" skips one.

    Returns {"voice": stats, "image": stats, "compat": {...}} where stats counts lines
    embedded now, already embedded, without input, and with empty input.
    """
    from sgtui.features import compat
    from sgtui.features.registry import create_encoder, known_model_id

    if batch < 1:
        raise SgtuiError(f"--batch must be at least 1, not {batch}")
    result: dict[str, Any] = {}
    for modality, spec, path in (("voice", voice, voice_model_path),
                                 ("image", image, image_model_path)):
        if spec is None or spec.lower() == "none":
            continue

        def build(spec: str = spec, modality: Modality = modality,  # type: ignore[assignment]
                  path: str | None = path) -> Encoder:
            return create_encoder(spec, modality, device=device, batch_size=batch, model_path=path)

        known = known_model_id(spec, modality, path)  # type: ignore[arg-type]
        if known is not None:  # a re-run with nothing left to embed loads nothing
            result[modality] = _embed_lines(project, modality, known, build, batch, progress)  # type: ignore[arg-type]
            continue
        loading = time.perf_counter()
        encoder = build()
        loaded = time.perf_counter() - loading
        stats = embed_modality(project, encoder, batch=batch, progress=progress)
        stats.update(load_seconds=round(loaded, 3), seconds=round(stats["seconds"] + loaded, 3))
        result[modality] = stats
    result["compat"] = compat.status()
    return result
