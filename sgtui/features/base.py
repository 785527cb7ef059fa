"""The one encoder protocol, and the voice policy every voice encoder shares.

An encoder turns a batch of inputs (16 kHz mono float32 PCM for voice, RGB uint8 arrays
for images) into L2-normalised float32 rows. The engine only ever sees those rows, so any
encoder that honours `Encoder` plugs into clustering unchanged.

Voice line-length policy (stated once, applied by `VoiceEncoderBase.embed` to every voice
encoder so none of them silently truncates or drops a line):

* **short lines** (< `min_seconds`, at least 1 s): the clip is *tiled* (repeated end to
  end) up to that length. Zero-padding would feed silence into the encoder's pooled
  statistics; repeating keeps them those of the voice. The line keeps its embedding,
  and its shortness stays visible to the engine through its duration.
* **long lines** (> `window_seconds`, 10 s by default): the clip is cut into equal
  consecutive windows of at most 10 s, each window is embedded, and the line's vector is
  the normalised mean of its windows. Every sample is used; memory per batch is bounded.
* **empty clips** (no samples) cannot be embedded; `embed` raises, and `embed_project`
  reports such lines instead of storing a made-up vector.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from sgtui.errors import SgtuiError

Modality = Literal["voice", "image"]
SAMPLE_RATE = 16_000
MIN_SECONDS = 1.0
WINDOW_SECONDS = 10.0


@runtime_checkable
class Encoder(Protocol):
    """What every encoder offers; `model_id` is the name stored with its embeddings."""

    name: str
    version: str
    dim: int
    modality: Modality
    device: str

    @property
    def model_id(self) -> str: ...

    def embed(self, batch: Sequence[np.ndarray]) -> np.ndarray:
        """Rows of shape (len(batch), dim), float32, each of unit L2 norm."""
        ...


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Row-wise unit norm in float32; an all-zero row stays zero rather than becoming NaN."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


def model_id(name: str, version: str) -> str:
    """`name/version`: one string per distinct set of weights (docs/architecture.md, "The project file")."""
    return f"{name}/{version}"


def tile_to(wav: np.ndarray, n: int) -> np.ndarray:
    """Repeat `wav` end to end until it has at least `n` samples (the short-line policy)."""
    if len(wav) >= n:
        return wav
    reps = math.ceil(n / len(wav))
    return np.tile(wav, reps)[:n]


def split_windows(wav: np.ndarray, max_len: int) -> list[np.ndarray]:
    """Equal consecutive windows of at most `max_len` samples that cover all of `wav`."""
    if len(wav) <= max_len:
        return [wav]
    k = math.ceil(len(wav) / max_len)
    bounds = np.linspace(0, len(wav), k + 1).round().astype(int)
    return [wav[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


class VoiceEncoderBase:
    """Applies the line-length policy, then hands 1–10 s segments to `_embed_segments`.

    Subclasses set name, version, dim, device and implement `_embed_segments`, which
    receives at most `batch_size` segments at a time, sorted by length so padding wastes
    little, and returns one row per segment. An encoder whose features need no weights
    splits it in two instead: `_prepare_segments` (a classmethod, run by `prepare_batch`
    wherever `embed_project` decodes) and `_forward_segments` (the network).
    """

    modality: Modality = "voice"
    name: str
    version: str
    dim: int
    device: str = "cpu"
    min_seconds: float = MIN_SECONDS
    window_seconds: float = WINDOW_SECONDS
    batch_size: int = 32

    @property
    def model_id(self) -> str:
        return model_id(self.name, self.version)

    @classmethod
    def segments(cls, wav: np.ndarray) -> list[np.ndarray]:
        """The policy: tile short clips, split long ones; never drop samples.

        Integer PCM (e.g. int16 from `media.decode.decode_audio`) is scaled to [-1, 1]:
        fed as is, its 32768× amplitude saturates resemblyzer's VAD and mel input, and
        1-NN speaker accuracy on LibriSpeech lines fell from ~1.0 to 0.84."""
        wav = np.asarray(wav)
        if np.issubdtype(wav.dtype, np.integer):
            wav = wav.astype(np.float32) / float(np.iinfo(wav.dtype).max + 1)
        wav = np.asarray(wav, dtype=np.float32).reshape(-1)
        if wav.size == 0:
            raise SgtuiError("a voice clip has no samples; re-run ingest for that line")
        min_len = int(round(max(cls.min_seconds, MIN_SECONDS) * SAMPLE_RATE))
        wav = tile_to(wav, min_len)
        windows = split_windows(wav, int(round(cls.window_seconds * SAMPLE_RATE)))
        return [tile_to(w, min_len) for w in windows]

    def embed(self, batch: Sequence[np.ndarray]) -> np.ndarray:
        return self.embed_prepared(self.prepare(batch))

    def prepare(self, batch: Sequence[np.ndarray]) -> PreparedBatch:
        return self.prepare_batch(batch, self.batch_size)

    @classmethod
    def prepare_batch(cls, batch: Sequence[np.ndarray], batch_size: int) -> PreparedBatch:
        """Everything before the network (the policy's segments, and each encoder's own
        features, see `_prepare_segments`). A classmethod, numpy only: `embed_project`
        runs it in the decoding process, before the encoder has even loaded."""
        owners: list[int] = []
        segs: list[np.ndarray] = []
        for i, wav in enumerate(batch):
            for seg in cls.segments(wav):
                owners.append(i)
                segs.append(seg)
        order = sorted(range(len(segs)), key=lambda j: len(segs[j]))
        step = max(1, int(batch_size))
        chunks = [(idx, cls._prepare_segments([segs[j] for j in idx]))
                  for idx in (order[s : s + step] for s in range(0, len(order), step))]
        return PreparedBatch(len(batch), owners, chunks)

    def embed_prepared(self, prepared: PreparedBatch) -> np.ndarray:
        """The network's part of `embed`: one row per line of the batch `prepare` was given."""
        out = np.zeros((prepared.n, self.dim), dtype=np.float32)
        if not prepared.owners:
            return out
        seg_vecs = np.zeros((len(prepared.owners), self.dim), dtype=np.float32)
        for idx, features in prepared.chunks:
            seg_vecs[idx] = l2_normalise(self._forward_segments(features))
        np.add.at(out, np.asarray(prepared.owners), seg_vecs)
        return l2_normalise(out)

    @classmethod
    def _prepare_segments(cls, segs: list[np.ndarray]) -> Any:
        """Features of at most `batch_size` segments (no weights: see `prepare_batch`); by
        default the segments themselves."""
        return segs

    def _forward_segments(self, features: Any) -> np.ndarray:
        """One row per segment from `_prepare_segments`'s output; by default `_embed_segments`."""
        return self._embed_segments(features)

    def _embed_segments(self, segs: list[np.ndarray]) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


@dataclass
class PreparedBatch:
    """A batch of voice lines ready for the network: `n` lines, the line each segment
    belongs to, and the segments' features in length-sorted chunks (segment indices, features)."""

    n: int
    owners: list[int]
    chunks: list[tuple[list[int], Any]] = field(default_factory=list)
