"""`anime-ecapa`: ECAPA-TDNN (GroupNorm) trained on anime / visual-novel speech, 192-d.

Built by the PyPI package anime-speaker-embedding's own `AnimeSpeakerEmbedding`, always
from a local checkpoint: the user's (--model-path FILE.pth) or the hub file sgtui found
in, or put into, the Hugging Face cache. Variants: `char` (default; tells apart
characters voiced by one actor) and `va` (groups by voice actor).

Two things the package leaves to its caller are done here: it loads checkpoints with
`strict=False`, so a wrong file would silently give a random network — sgtui checks that
every backbone weight is in the file; and its `forward` rescales a whole batch by the
batch's loudest sample and ignores padding — sgtui scales each line on its own and pads a
batch by repeating each line (the short-line policy), because GroupNorm statistics would
otherwise include the padding.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np

from sgtui.errors import SgtuiError
from sgtui.features.base import VoiceEncoderBase, tile_to
from sgtui.features.device import inference, resolve_device
from sgtui.features.hub import hub_snapshot
from sgtui.features.voice_ecapa import file_tag

VARIANTS = {
    "char": "litagin/anime_speaker_embedding_ecapa_tdnn_groupnorm",
    "va": "litagin/anime_speaker_embedding_by_va_ecapa_tdnn_groupnorm",
}
FILE_NAME = "embedding_model.pth"


class AnimeEcapaEncoder(VoiceEncoderBase):
    name = "anime-ecapa"
    dim = 192

    def __init__(self, device: str = "auto", batch_size: int = 32, model_path: str | None = None,
                 arg: str | None = None):
        variant = (arg or "char").lower()
        if variant not in VARIANTS:
            raise SgtuiError(f"unknown anime-ecapa variant {variant!r}; use char or va")
        self.device = resolve_device(device)
        self.batch_size = batch_size
        if model_path is not None:
            ckpt = Path(model_path)
            if ckpt.is_dir():
                ckpt = ckpt / FILE_NAME
            if not ckpt.is_file():
                raise SgtuiError(f"anime-ecapa checkpoint {ckpt} not found; give its {FILE_NAME}")
        else:
            ckpt = hub_snapshot(VARIANTS[variant], [FILE_NAME],
                                f"the anime-ecapa '{variant}' model", "--model-path") / FILE_NAME
        self.version = f"{variant}-{file_tag(ckpt)}"

        from sgtui.features.compat import import_speechbrain

        import_speechbrain()
        import torch
        from anime_speaker_embedding import AnimeSpeakerEmbedding

        try:
            state = torch.load(ckpt, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise SgtuiError(f"{ckpt} is not a torch checkpoint ({type(exc).__name__}); "
                             "give the embedding_model.pth of anime-speaker-embedding") from exc
        with contextlib.redirect_stdout(io.StringIO()):  # the package prints progress
            model = AnimeSpeakerEmbedding(variant=variant, ckpt_path=ckpt, device="cpu")
        wanted = {k for k in model.state_dict() if k.startswith("backbone.")}
        missing = sorted(wanted - set(state) if isinstance(state, dict) else wanted)
        if missing:
            raise SgtuiError(
                f"{ckpt} lacks {len(missing)} of the model's {len(wanted)} weights (e.g. "
                f"{missing[0]}); it is not an anime-speaker-embedding checkpoint"
            )
        self._model = model.to(self.device).eval()

    def _embed_segments(self, segs: list[np.ndarray]) -> np.ndarray:
        import torch

        longest = max(len(s) for s in segs)
        rows = []
        for s in segs:
            peak = float(np.abs(s).max())
            s = s / peak if peak > 1.0 else s  # the package's own scaling, per line
            rows.append(tile_to(s, longest))
        x = torch.from_numpy(np.stack(rows).astype(np.float32)).to(self.device) * 32768.0
        with inference(self.device):
            feats = self._model.fbank(x)
            out = self._model.backbone(feats)
        return out.reshape(len(segs), -1).float().cpu().numpy()
