"""`resemblyzer`: the default voice encoder (GE2E LSTM, 256-d), weights inside its wheel.

Works with nothing downloaded. resemblyzer's own `embed_utterance` runs one utterance at
a time; here every 1.6 s partial of every segment in a batch goes through the LSTM in one
forward pass, which is what makes ≥ 50 lines/s on two CPU cores possible.

The resemblyzer package itself is never imported: its `__init__` pulls librosa and numba
(seconds of start-up before the first line). The network (3-layer LSTM, linear, ReLU) is
declared here and loads the package's own `pretrained.pt`; the mel features come from
`sgtui.features.melspec`, equal to resemblyzer's within float rounding (tested).
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
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.version = self.version_for(model_path)
        self._model = _load_ge2e(Path(model_path) if model_path else _packaged_weights(), self.device)

    @classmethod
    def version_for(cls, model_path: str | None = None) -> str:
        """The version this encoder will have, known without loading torch or the weights
        (so `embed_project` can start decoding while they load)."""
        from importlib.metadata import PackageNotFoundError, version

        try:
            installed = version("resemblyzer")
        except PackageNotFoundError:
            raise SgtuiError("the resemblyzer package is not installed; run `make demo` or "
                             "`pip install resemblyzer`") from None
        if model_path is None:
            return installed
        weights = Path(model_path)
        if not weights.is_file():
            raise SgtuiError(f"resemblyzer weights {weights} not found; give a .pt file")
        return f"{installed}+{weights.stem}"

    @staticmethod
    def _preprocess(wav: np.ndarray) -> np.ndarray:
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

    @classmethod
    def _prepare_segments(cls, segs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, int]:
        """(the 1.6 s partials' mel spectrograms stacked, the segment each belongs to,
        segment count): everything but the network, computed without the weights."""
        from sgtui.features.melspec import mel_spectrograms

        wavs: list[np.ndarray] = []
        slices: list[list[slice]] = []
        for seg in segs:
            wav = cls._preprocess(seg)
            mel_slices, stop = partial_slices(len(wav))
            if stop > len(wav):
                wav = np.pad(wav, (0, stop - len(wav)))
            wavs.append(wav)
            slices.append(mel_slices)
        mels: list[np.ndarray] = []
        owner: list[int] = []
        for i, (mel, mel_slices) in enumerate(zip(mel_spectrograms(wavs), slices, strict=True)):
            for s in mel_slices:
                mels.append(mel[s])
                owner.append(i)
        return np.stack(mels), np.asarray(owner), len(segs)

    def _forward_segments(self, features: tuple[np.ndarray, np.ndarray, int]) -> np.ndarray:
        """All partials through the LSTM in one pass, summed per segment."""
        import torch

        mels, owner, n = features
        with inference(self.device):
            x = torch.from_numpy(mels).to(self.device)
            partial = self._model(x).float().cpu().numpy()
        out = np.zeros((n, self.dim), dtype=np.float32)
        np.add.at(out, owner, partial)
        return out


PARTIAL_FRAMES = 160  # mel frames in a partial
HOP = 160  # samples per mel frame (10 ms)


def partial_slices(n_samples: int) -> tuple[list[slice], int]:
    """resemblyzer's `compute_partial_slices` at its defaults (rate 1.3, coverage 0.75):
    the mel-frame slices of the 1.6 s partials, and how many samples they need."""
    n_frames = int(np.ceil((n_samples + 1) / HOP))
    frame_step = int(np.round((SAMPLE_RATE / RATE) / HOP))
    steps = max(1, n_frames - PARTIAL_FRAMES + frame_step + 1)
    starts = list(range(0, steps, frame_step))
    last = starts[-1] * HOP
    coverage = (n_samples - last) / (PARTIAL_FRAMES * HOP)
    if coverage < MIN_COVERAGE and len(starts) > 1:
        starts = starts[:-1]
    return [slice(s, s + PARTIAL_FRAMES) for s in starts], (starts[-1] + PARTIAL_FRAMES) * HOP


def _packaged_weights() -> Path:
    """resemblyzer's `pretrained.pt`, found without importing the package (see module doc)."""
    from importlib.util import find_spec

    spec = find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise SgtuiError("the resemblyzer package is not installed; run `make demo`")
    path = Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"
    if not path.is_file():
        raise SgtuiError(f"resemblyzer's weights are missing ({path}); reinstall resemblyzer")
    return path


def _load_ge2e(weights: Path, device: str):  # -> torch.nn.Module
    """resemblyzer's VoiceEncoder network with its weights, in eval mode on `device`."""
    import torch
    from torch import nn

    class GE2E(nn.Module):
        """resemblyzer's network: 3-layer LSTM (40 mels -> 256), linear, ReLU, L2 norm."""

        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(40, 256, 3, batch_first=True)
            self.linear = nn.Linear(256, 256)
            self.relu = nn.ReLU()

        def forward(self, mels: torch.Tensor) -> torch.Tensor:
            _, (hidden, _) = self.lstm(mels)
            raw = self.relu(self.linear(hidden[-1]))
            return raw / torch.norm(raw, dim=1, keepdim=True)

    try:
        checkpoint = torch.load(weights, map_location="cpu")
        state = checkpoint["model_state"] if isinstance(checkpoint, dict) and "model_state" in checkpoint else checkpoint
        model = GE2E()
        missing, _ = model.load_state_dict(state, strict=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise SgtuiError(f"{weights} is not a resemblyzer checkpoint ({exc})") from None
    if missing:
        raise SgtuiError(f"{weights} is not a resemblyzer checkpoint (missing {', '.join(missing)})")
    return model.to(device).eval()


def _trim_long_silences(wav: np.ndarray) -> np.ndarray:
    """resemblyzer's `trim_long_silences` (webrtcvad mode 3, smoothed, dilated), without
    its per-sample struct packing, so it costs well under a millisecond per line."""
    n = len(wav) - len(wav) % VAD_WINDOW
    if n == 0:
        return wav
    wav = wav[:n]
    pcm = (np.clip(wav, -1, 1) * 32767).round().astype("<i2").tobytes()
    flags = np.array(_speech_flags(pcm), dtype=float)
    width = 8
    padded = np.concatenate((np.zeros((width - 1) // 2), flags, np.zeros(width // 2)))
    csum = np.cumsum(padded)
    csum[width:] = csum[width:] - csum[:-width]
    mask = np.round(csum[width - 1 :] / width).astype(bool)
    # binary dilation by 7 frames (scipy.ndimage's, whose import alone costs ~0.7 s)
    mask = np.convolve(mask.astype(np.int32), np.ones(7, dtype=np.int32))[3 : 3 + len(mask)] > 0
    return wav[np.repeat(mask, VAD_WINDOW)]


def _speech_flags(pcm: bytes) -> list[bool]:
    """webrtcvad (mode 3) on each 30 ms window of 16-bit PCM. Its C module is called
    directly: the `webrtcvad` wrapper imports pkg_resources for its version string, which
    cost 0.1-0.15 s of every `sgtui embed` start-up; the calls are the wrapper's own."""
    step = VAD_WINDOW * 2
    try:
        import _webrtcvad
    except ImportError:  # a webrtcvad build without the C module under that name
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import webrtcvad

        vad = webrtcvad.Vad(3)
        return [vad.is_speech(pcm[i : i + step], SAMPLE_RATE) for i in range(0, len(pcm), step)]
    handle = _webrtcvad.create()
    _webrtcvad.init(handle)
    _webrtcvad.set_mode(handle, 3)
    return [_webrtcvad.process(handle, SAMPLE_RATE, pcm[i : i + step], VAD_WINDOW)
            for i in range(0, len(pcm), step)]
