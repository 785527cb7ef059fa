"""`resemblyzer`: the default voice encoder (GE2E LSTM, 256-d), weights inside its wheel.

Works with nothing downloaded. resemblyzer's own `embed_utterance` runs one utterance at
a time; here every 1.6 s partial of every segment in a batch goes through the LSTM in one
forward pass, which is what makes ≥ 50 lines/s on two CPU cores possible.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sgtui.errors import SgtuiError
from sgtui.features.base import SAMPLE_RATE, VoiceEncoderBase
from sgtui.features.device import inference, resolve_device

PARTIAL_SECONDS = 1.6  # resemblyzer's partial utterance: 160 mel frames of 10 ms
RATE = 1.3  # partials per second, resemblyzer's default
MIN_COVERAGE = 0.75
VAD_WINDOW = 480  # 30 ms at 16 kHz
TARGET_DBFS = -30.0


class ResemblyzerEncoder(VoiceEncoderBase):
    name = "resemblyzer"
    dim = 256
    min_seconds = PARTIAL_SECONDS

    def __init__(self, device: str = "auto", batch_size: int = 32, model_path: str | None = None):
        import warnings
        from importlib.metadata import version

        with warnings.catch_warnings():  # webrtcvad's pkg_resources and scipy deprecations
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            from resemblyzer import VoiceEncoder

        self.device = resolve_device(device)
        self.batch_size = batch_size
        weights = None
        if model_path is not None:
            weights = Path(model_path)
            if not weights.is_file():
                raise SgtuiError(f"resemblyzer weights {weights} not found; give a .pt file")
        self.version = version("resemblyzer") + ("" if weights is None else f"+{weights.stem}")
        self._model = VoiceEncoder(device=self.device, verbose=False, weights_fpath=weights)
        self._model.eval()

    def _preprocess(self, wav: np.ndarray) -> np.ndarray:
        """resemblyzer's preprocessing (volume up to -30 dBFS, long silences cut) made safe
        for silent and very short clips: if VAD would leave under 0.5 s, keep the clip."""
        rms = float(np.sqrt(np.mean(np.square(wav, dtype=np.float64))))
        if rms > 1e-6:
            gain = 10 ** ((TARGET_DBFS - 20 * np.log10(rms)) / 20)
            if gain > 1.0:
                wav = wav * np.float32(gain)
        trimmed = _trim_long_silences(wav)
        if len(trimmed) >= SAMPLE_RATE // 2:
            wav = trimmed
        n = int(PARTIAL_SECONDS * SAMPLE_RATE)
        if len(wav) < n:
            wav = np.tile(wav, int(np.ceil(n / len(wav))))[:n]
        return wav.astype(np.float32, copy=False)

    def _embed_segments(self, segs: list[np.ndarray]) -> np.ndarray:
        import torch
        from resemblyzer.audio import wav_to_mel_spectrogram

        mels: list[np.ndarray] = []
        owner: list[int] = []
        for i, seg in enumerate(segs):
            wav = self._preprocess(seg)
            wav_slices, mel_slices = self._model.compute_partial_slices(len(wav), RATE, MIN_COVERAGE)
            if wav_slices[-1].stop > len(wav):
                wav = np.pad(wav, (0, wav_slices[-1].stop - len(wav)))
            mel = wav_to_mel_spectrogram(wav)
            for s in mel_slices:
                mels.append(mel[s])
                owner.append(i)
        with inference(self.device):
            x = torch.from_numpy(np.stack(mels)).to(self.device)
            partial = self._model(x).float().cpu().numpy()
        out = np.zeros((len(segs), self.dim), dtype=np.float32)
        np.add.at(out, np.asarray(owner), partial)
        return out


def _trim_long_silences(wav: np.ndarray) -> np.ndarray:
    """resemblyzer's `trim_long_silences` (webrtcvad mode 3, smoothed, dilated), without
    its per-sample struct packing, so it costs well under a millisecond per line."""
    import webrtcvad
    from scipy.ndimage import binary_dilation

    n = len(wav) - len(wav) % VAD_WINDOW
    if n == 0:
        return wav
    wav = wav[:n]
    pcm = (np.clip(wav, -1, 1) * 32767).round().astype("<i2").tobytes()
    vad = webrtcvad.Vad(3)
    flags = np.array(
        [vad.is_speech(pcm[i * 2 : (i + VAD_WINDOW) * 2], SAMPLE_RATE) for i in range(0, n, VAD_WINDOW)],
        dtype=float,
    )
    width = 8
    padded = np.concatenate((np.zeros((width - 1) // 2), flags, np.zeros(width // 2)))
    csum = np.cumsum(padded)
    csum[width:] = csum[width:] - csum[:-width]
    mask = np.round(csum[width - 1 :] / width).astype(bool)
    mask = binary_dilation(mask, np.ones(7))
    return wav[np.repeat(mask, VAD_WINDOW)]
