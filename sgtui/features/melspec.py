"""resemblyzer's mel spectrogram in plain numpy, for a batch of clips at once.

resemblyzer computes its features with `librosa.feature.melspectrogram` (power 2, 25 ms
Hann window, 10 ms hop, 40 Slaney mel bands, centred frames, zero padding). Importing
librosa pulls numba and costs seconds before the first line is embedded, and calling it
clip by clip costs a Python round trip each; the same numbers come from one framed
real FFT and one matrix product over every frame of every clip in a batch. The equality
with resemblyzer's own features is checked on real speech in tests/test_features_voice.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

SAMPLE_RATE = 16_000
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 40


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's auditory scale (librosa's default, htk=False): linear below 1 kHz, log above."""
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, mels)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


@lru_cache(maxsize=1)
def mel_filterbank() -> np.ndarray:
    """(N_MELS, N_FFT // 2 + 1) Slaney-normalised triangular filters, 0 Hz to Nyquist."""
    fft_freqs = np.linspace(0, SAMPLE_RATE / 2, 1 + N_FFT // 2)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(SAMPLE_RATE / 2), N_MELS + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fft_freqs)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : N_MELS + 2] - mel_f[:N_MELS]))[:, None]
    return weights.astype(np.float32)


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    """The periodic Hann window librosa uses for STFTs."""
    n = np.arange(N_FFT)
    return (0.5 - 0.5 * np.cos(2 * np.pi * n / N_FFT)).astype(np.float32)


def n_frames(n_samples: int) -> int:
    """Frames of a centred STFT: one every HOP samples, first centred on sample 0."""
    return 1 + n_samples // HOP


def mel_spectrograms(wavs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """(frames, N_MELS) float32 power mel spectrogram of each 16 kHz clip, as resemblyzer's
    `wav_to_mel_spectrogram` gives it, computed for all clips in one FFT and one product."""
    if not wavs:
        return []
    pad = N_FFT // 2
    framed = []
    counts = []
    for wav in wavs:
        y = np.pad(np.asarray(wav, dtype=np.float32).reshape(-1), (pad, pad))
        frames = np.lib.stride_tricks.sliding_window_view(y, N_FFT)[::HOP]
        framed.append(frames)
        counts.append(len(frames))
    allframes = np.concatenate(framed) * _window()
    spec = np.fft.rfft(allframes, axis=1)
    power = (spec.real**2 + spec.imag**2).astype(np.float32)
    mel = power @ mel_filterbank().T
    return np.split(mel, np.cumsum(counts)[:-1])
