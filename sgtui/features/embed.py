"""Embedding a whole project: clips and keyframes in, stored vectors out.

Idempotent by construction: a line is embedded only if the project has no vector for it
under the encoder's model id, so running `sgtui embed` twice does nothing the second
time, and embedding with another model adds vectors next to the old ones. Vectors are
written one batch at a time, so an interrupted run keeps what it finished. The model
just used becomes the project's chosen one for its modality (meta `model.<modality>`).
"""

from __future__ import annotations

import io
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

import numpy as np

from sgtui.blas import one_blas_thread
from sgtui.errors import SgtuiError
from sgtui.features.base import Encoder, Modality
from sgtui.features.registry import DEFAULTS

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
    return _embed_lines(project, encoder.modality, encoder.model_id, lambda: encoder, batch,
                        progress, _preparer(type(encoder), getattr(encoder, "batch_size", batch)),
                        build_when_idle=True)


AHEAD = 8
"""Batches handed to the decoder ahead of the network: what it prepares while torch is
imported, and at most this many batches held at once (resemblyzer's mel features: ~2 MB
a batch of 32 lines; PCM for other encoders: ~4 MB at 2 s a line)."""


def _decode_chunk(modality: str, chunk: list[tuple[int, Any]],
                  prepare: Callable[[list[np.ndarray]], Any] | None) -> tuple[list[int], int, Any]:
    """One batch's stored inputs decoded, and prepared for the network when the encoder
    can do that without its weights (`prepare_batch`): (line ids with input, lines in the
    batch, the encoder's input). Runs in the decoding process."""
    decode = _decode_clip if modality == "voice" else _decode_keyframe
    decoded = [(i, None if raw is None else decode(i, raw)) for i, raw in chunk]
    keep = [(i, x) for i, x in decoded if x is not None and x.size > 0]
    inputs = [x for _, x in keep]
    features = prepare(inputs) if prepare is not None and inputs else inputs
    return [i for i, _ in keep], len(chunk), features


def _preparer(cls: type, batch_size: int) -> Callable[[list[np.ndarray]], Any] | None:
    """The encoder class's weight-free first stage (`prepare_batch`), if it has one."""
    import functools

    stage = getattr(cls, "prepare_batch", None)
    return None if stage is None else functools.partial(stage, batch_size=batch_size)


def _decoder(modality: str) -> Executor:
    """Where clips are decoded: a forked process on Linux when this process runs no other
    thread (a fork copies no thread, so a lock one of them held would stay held), else a
    thread; a thread for keyframes (a few ms each in PIL).

    PyAV hands the GIL back once per 20 ms Opus frame, so a decoding *thread* waited for
    it behind whatever Python the main thread ran: beside torch's import it decoded ~30
    clips a second, and beside the network it took twice its CPU time in wall time. A
    process has its own GIL. It is forked (no interpreter start-up, nothing re-imported)
    and only decodes bytes it is given: it never touches the project file.
    """
    import multiprocessing
    import sys
    import threading
    from concurrent.futures import ThreadPoolExecutor

    if modality == "voice" and sys.platform == "linux" and threading.active_count() == 1 \
            and "fork" in multiprocessing.get_all_start_methods():
        return forked_decoder()
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="sgtui-embed-decode")


def forked_decoder() -> Executor:
    """A one-process pool, forked now, that never frees an object it inherited.

    An object of this process can own native threads: a PyAV filter graph (every resampler
    has one) keeps a pool of FFmpeg slice threads. A fork copies the object but not its
    threads, and freeing it in the child waits for those threads forever (a clip decoder
    hung the test suite so, collecting a graph the parent had left as garbage). So the
    parent's garbage is collected here, where its threads are, and everything else is
    frozen out of the garbage collector's reach (`gc.freeze`) while the child is forked:
    the child frees only what it made itself.
    """
    import gc
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork"))
    gc.collect()
    gc.freeze()
    try:
        pool.submit(int).result()  # the pool forks its process on the first task
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        gc.unfreeze()
    return pool


def _embed_lines(project: Any, modality: Modality, model_id: str, build: Callable[[], Encoder],
                 batch: int, progress: Progress | None,
                 prepare: Callable[[list[np.ndarray]], Any] | None,
                 build_when_idle: bool = False) -> dict[str, Any]:
    """The pipeline behind `embed_modality`, for an encoder `build` returns (called once;
    not at all when no line needs a vector, unless `build_when_idle`: a re-run then costs
    no torch import and no weights).

    The stored bytes are read here (the project's connection belongs to this thread),
    decoded and `prepare`d (resemblyzer: VAD, mel features) in another process
    (`_decoder`), started before the encoder loads: the first batches are ready when torch
    has been imported, and later ones while the network runs on the previous batch. Only
    the network and the writes are left to this thread.
    """
    have_input = project.clip_ids() if modality == "voice" else project.keyframe_ids()
    done_ids = project.embedded_ids(modality, model_id)
    order = [line.id for line in project.lines()]
    todo = [i for i in order if i in have_input and i not in done_ids]
    fetch = project.clip if modality == "voice" else project.keyframe
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
    chunk_ids = [todo[pos : pos + batch] for pos in range(0, len(todo), batch)]
    pending: deque[Future] = deque()
    with _decoder(modality) as decoder, one_blas_thread():  # sgtui/blas.py

        def submit(k: int) -> None:
            if k < len(chunk_ids):
                chunk = [(line_id, fetch(line_id)) for line_id in chunk_ids[k]]
                pending.append(decoder.submit(_decode_chunk, modality, chunk, prepare))

        try:
            for k in range(AHEAD):
                submit(k)
            loading = time.perf_counter()
            encoder = build()
            stats["load_seconds"] = round(time.perf_counter() - loading, 3)
            if encoder.model_id != model_id:  # pragma: no cover - version_for and __init__ disagree
                raise SgtuiError(f"internal error: encoder {encoder.model_id} was announced as "
                                 f"{model_id}; nothing was stored")
            stats.update(dim=encoder.dim, device=encoder.device)
            if progress:
                progress(modality, 0, len(todo))
            done = 0
            for k in range(len(chunk_ids)):
                ids, count, features = pending.popleft().result()
                submit(k + AHEAD)
                stats["empty"] += count - len(ids)
                if ids:
                    vecs = (encoder.embed_prepared(features) if prepare is not None  # type: ignore[attr-defined]
                            else encoder.embed(features))
                    stored = store_vectors(project, encoder, ids, vecs)
                    stats["embedded"] += stored
                    stats["empty"] += len(ids) - stored
                done += count
                if progress:
                    progress(modality, done, len(todo))
        finally:
            for fut in pending:
                fut.cancel()
    if stats["embedded"] or stats["already"]:
        project.meta_set(f"model.{modality}", model_id)
    stats["seconds"] = round(time.perf_counter() - start, 3)
    return stats


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
    voice: str | None = DEFAULTS["voice"],
    image: str | None = DEFAULTS["image"],
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
    from sgtui.features.registry import create_encoder, encoder_class, known_model_id

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
        if known is not None:  # a re-run with nothing left to embed loads nothing, unless
            # a device was named that only loading can check (--device cuda without a GPU)
            result[modality] = _embed_lines(project, modality, known, build, batch, progress,  # type: ignore[arg-type]
                                            _preparer(encoder_class(spec), batch),
                                            build_when_idle=device not in ("auto", "cpu"))
            continue
        loading = time.perf_counter()
        encoder = build()
        loaded = time.perf_counter() - loading
        stats = embed_modality(project, encoder, batch=batch, progress=progress)
        stats.update(load_seconds=round(loaded, 3), seconds=round(stats["seconds"] + loaded, 3))
        result[modality] = stats
    result["compat"] = compat.status()
    return result
