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
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from sgtui.errors import SgtuiError
from sgtui.features.base import Encoder

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
    modality = encoder.modality
    have_input = project.clip_ids() if modality == "voice" else project.keyframe_ids()
    done_ids = project.embedded_ids(modality, encoder.model_id)
    order = [line.id for line in project.lines()]
    todo = [i for i in order if i in have_input and i not in done_ids]
    fetch = project.clip if modality == "voice" else project.keyframe
    decode = _decode_clip if modality == "voice" else _decode_keyframe
    stats = {"model": encoder.model_id, "dim": encoder.dim, "device": encoder.device,
             "embedded": 0, "already": len(done_ids & set(order)),
             "no_input": len(order) - len(have_input & set(order)), "empty": 0, "seconds": 0.0}
    start = time.perf_counter()
    if progress:
        progress(modality, 0, len(todo))
    # The next batch's clips are decoded in a second thread while the encoder works on
    # this one (PyAV and the network both release the GIL), so on two cores decoding
    # costs almost nothing end to end. The stored bytes are read here: the project's
    # connection belongs to this thread.
    chunks = [todo[pos : pos + batch] for pos in range(0, len(todo), batch)]

    def load(rows: list[tuple[int, Any]]) -> list[tuple[int, np.ndarray | None]]:
        return [(line_id, None if raw is None else decode(line_id, raw)) for line_id, raw in rows]

    def submit(pool: ThreadPoolExecutor, k: int) -> Future | None:
        if k >= len(chunks):
            return None
        return pool.submit(load, [(line_id, fetch(line_id)) for line_id in chunks[k]])

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = submit(pool, 0)
        for k in range(len(chunks)):
            loaded = pending.result() if pending is not None else []
            pending = submit(pool, k + 1)
            chunk_ids, inputs = [], []
            for line_id, x in loaded:
                if x is None or x.size == 0:
                    stats["empty"] += 1
                    continue
                chunk_ids.append(line_id)
                inputs.append(x)
            if inputs:
                stored = store_vectors(project, encoder, chunk_ids, encoder.embed(inputs))
                stats["embedded"] += stored
                stats["empty"] += len(chunk_ids) - stored
            if progress:
                progress(modality, min((k + 1) * batch, len(todo)), len(todo))
    if stats["embedded"] or stats["already"]:
        project.meta_set(f"model.{modality}", encoder.model_id)
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
    from sgtui.features.registry import create_encoder

    if batch < 1:
        raise SgtuiError(f"--batch must be at least 1, not {batch}")
    result: dict[str, Any] = {}
    for modality, spec, path in (("voice", voice, voice_model_path),
                                 ("image", image, image_model_path)):
        if spec is None or spec.lower() == "none":
            continue
        encoder = create_encoder(spec, modality, device=device, batch_size=batch, model_path=path)  # type: ignore[arg-type]
        result[modality] = embed_modality(project, encoder, batch=batch, progress=progress)
    result["compat"] = compat.status()
    return result
