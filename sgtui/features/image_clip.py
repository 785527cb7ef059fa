"""`clip`: the image tower of an open_clip model, L2-normalised.

Weights come from, in order: --model-path (an open_clip folder with open_clip_config.json
and its weights, as open_clip's `save_for_hf` writes it, or a checkpoint file for the
named model), the Hugging Face cache, or a download when the hub is reachable. An
offline machine without the weights fails in seconds, naming --model-path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sgtui.errors import SgtuiError
from sgtui.features.base import l2_normalise, model_id
from sgtui.features.device import inference, resolve_device
from sgtui.features.hub import hub_offline_reason, offline_error
from sgtui.features.voice_ecapa import file_tag

DEFAULT = "ViT-B-32/laion2b_s34b_b79k"
WEIGHT_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


class ClipEncoder:
    name = "clip"
    modality = "image"

    def __init__(self, device: str = "auto", batch_size: int = 32, model_path: str | None = None,
                 arg: str | None = None):
        from sgtui.features.compat import import_open_clip

        self.device = resolve_device(device)
        self.batch_size = batch_size
        model_name, _, tag = (arg or DEFAULT).partition("/")
        open_clip = import_open_clip()
        kwargs: dict[str, object] = {"device": self.device}
        if model_path is not None:
            path = Path(model_path)
            if path.is_dir():
                if not (path / "open_clip_config.json").is_file():
                    raise SgtuiError(f"{path} has no open_clip_config.json; give an open_clip "
                                     "model folder or a checkpoint file with clip:MODEL")
                weights = next((path / f for f in WEIGHT_FILES if (path / f).is_file()), None)
                if weights is None:  # open_clip would only warn and run a random network
                    raise SgtuiError(f"{path} holds no weights ({' or '.join(WEIGHT_FILES)})")
                name, kwargs["model_name"] = path.name, f"local-dir:{path.resolve()}"
            elif path.is_file():
                weights = path
                name, kwargs["model_name"], kwargs["pretrained"] = model_name, model_name, str(path)
            else:
                raise SgtuiError(f"CLIP weights {path} not found; give a file or an open_clip folder")
            self.version = f"{name}-{file_tag(weights)}"
        else:
            if not tag:
                raise SgtuiError(f"clip:{model_name} needs a pretrained tag (clip:MODEL/TAG) "
                                 "or local weights with --model-path")
            cached = self._check_available(open_clip, model_name, tag)
            # A cached file is handed over by path, so open_clip never asks the hub again.
            kwargs.update(model_name=model_name, pretrained=cached or tag)
            self.version = f"{model_name}-{tag}"
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(**kwargs)
        except (RuntimeError, ValueError, OSError, KeyError) as exc:
            raise SgtuiError(f"open_clip could not load {arg or DEFAULT} ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0][:200]}); check --model-path") from exc
        self._model = model.eval()
        self._preprocess = preprocess
        self.dim = int(self._model.visual.output_dim)

    @staticmethod
    def _check_available(open_clip, model_name: str, tag: str) -> str | None:  # type: ignore[no-untyped-def]
        """The cached weight file of a tag, or None if it can be downloaded now; fails fast
        when it is neither."""
        cfg = open_clip.get_pretrained_cfg(model_name, tag)
        if not cfg:
            raise SgtuiError(f"open_clip knows no pretrained tag {model_name}/{tag}; "
                             "see open_clip.list_pretrained() or pass --model-path")
        repo = (cfg.get("hf_hub") or "").strip("/")
        if repo:
            from huggingface_hub import try_to_load_from_cache

            for f in WEIGHT_FILES:
                cached = try_to_load_from_cache(repo, f)
                if isinstance(cached, str):
                    return cached
        reason = hub_offline_reason()
        if reason is not None:
            raise offline_error(f"the CLIP model {model_name}/{tag}", "--model-path", reason)
        return None

    @property
    def model_id(self) -> str:
        return model_id(self.name, self.version)

    def embed(self, batch: Sequence[np.ndarray]) -> np.ndarray:
        """RGB uint8 arrays (H, W, 3) -> unit rows, `batch_size` images per forward pass."""
        import torch
        from PIL import Image

        out = []
        for start in range(0, len(batch), self.batch_size):
            chunk = batch[start : start + self.batch_size]
            x = torch.stack([self._preprocess(Image.fromarray(np.asarray(a, dtype=np.uint8)))
                             for a in chunk]).to(self.device)
            with inference(self.device):
                out.append(self._model.encode_image(x).float().cpu().numpy())
        if not out:
            return np.zeros((0, self.dim), dtype=np.float32)
        return l2_normalise(np.concatenate(out))
