"""`ecapa`: speechbrain's ECAPA-TDNN speaker encoder (spkrec-ecapa-voxceleb), 192-d.

Loaded through speechbrain's own `EncoderClassifier.from_hparams`, always from a local
folder (hyperparams.yaml + embedding_model.ckpt + ...): either the user's
(--model-path DIR) or the hub snapshot that sgtui found in, or put into, the Hugging Face
cache (see `sgtui.features.hub`). speechbrain is told not to use the network at all, so
an offline machine fails in seconds, naming --model-path.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from pathlib import Path

import numpy as np

from sgtui.errors import SgtuiError
from sgtui.features.base import VoiceEncoderBase
from sgtui.features.device import inference, resolve_device
from sgtui.features.hub import hub_snapshot

DEFAULT_SOURCE = "speechbrain/spkrec-ecapa-voxceleb"
HUB_FILES = ["hyperparams.yaml", "embedding_model.ckpt", "mean_var_norm_emb.ckpt",
             "classifier.ckpt", "label_encoder.txt"]


def file_tag(path: Path, n: int = 8) -> str:
    """Short content hash: two different checkpoints never share a model id."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:n]


class EcapaEncoder(VoiceEncoderBase):
    name = "ecapa"
    dim = 192

    def __init__(self, device: str = "auto", batch_size: int = 32, model_path: str | None = None,
                 arg: str | None = None):
        from sgtui.features.compat import import_speechbrain

        self.device = resolve_device(device)
        self.batch_size = batch_size
        if model_path is not None:
            folder = Path(model_path)
            if not (folder / "hyperparams.yaml").is_file():
                raise SgtuiError(
                    f"{folder} is not a speechbrain model folder (no hyperparams.yaml); give the "
                    f"folder of {DEFAULT_SOURCE} (hyperparams.yaml, embedding_model.ckpt, ...)"
                )
        else:
            folder = hub_snapshot(arg or DEFAULT_SOURCE, HUB_FILES,
                                  f"the ECAPA model {arg or DEFAULT_SOURCE}", "--model-path")
        weights = folder / "embedding_model.ckpt"
        if not weights.is_file():
            raise SgtuiError(f"{folder} has no embedding_model.ckpt; give a complete model folder")
        self.version = f"{(arg or DEFAULT_SOURCE).rsplit('/', 1)[-1]}-{file_tag(weights)}"

        import_speechbrain()
        from speechbrain.inference.speaker import EncoderClassifier
        from speechbrain.utils.fetching import FetchConfig

        try:
            with contextlib.redirect_stdout(io.StringIO()):
                self._model = EncoderClassifier.from_hparams(
                    source=str(folder.resolve()),
                    savedir=None,  # use the files where they are; copy nothing
                    overrides={"pretrained_path": str(folder.resolve())},
                    overrides_must_match=False,
                    fetch_config=FetchConfig(allow_network=False),
                    run_opts={"device": self.device},
                )
        except (OSError, ValueError, KeyError) as exc:
            raise SgtuiError(
                f"speechbrain could not load the ECAPA model from {folder} "
                f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
                "give a complete model folder with --model-path"
            ) from exc
        self._model.mods.eval()

    def _embed_segments(self, segs: list[np.ndarray]) -> np.ndarray:
        import torch

        longest = max(len(s) for s in segs)
        wavs = np.zeros((len(segs), longest), dtype=np.float32)
        for i, s in enumerate(segs):
            wavs[i, : len(s)] = s
        lens = torch.tensor([len(s) / longest for s in segs], dtype=torch.float32)
        with inference(self.device):
            out = self._model.encode_batch(torch.from_numpy(wavs), lens)
        return out.reshape(len(segs), -1).float().cpu().numpy()
