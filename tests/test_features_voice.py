"""The default voice encoder on real speech, the line-length policy, device choice."""

from __future__ import annotations

import numpy as np
import pytest
from features_helpers import VOICES, espeak, librispeech, nn_accuracy

from sgtui.errors import SgtuiError
from sgtui.features import Encoder, create_encoder
from sgtui.features.base import SAMPLE_RATE, split_windows, tile_to


@pytest.fixture(scope="module")
def resemblyzer():
    return create_encoder("resemblyzer", "voice", device="cpu")


@pytest.mark.slow
def test_resemblyzer_tells_librispeech_speakers_apart(resemblyzer) -> None:
    wavs, speakers = librispeech()
    assert len(set(speakers)) == 10
    vecs = resemblyzer.embed(wavs)
    assert nn_accuracy(vecs, speakers) >= 0.95


def test_vectors_are_unit_float32_rows(resemblyzer) -> None:
    vecs = resemblyzer.embed([espeak("Good morning everyone.", VOICES[0]),
                              espeak("See you tomorrow.", VOICES[2])])
    assert vecs.dtype == np.float32 and vecs.shape == (2, resemblyzer.dim)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert resemblyzer.model_id.startswith("resemblyzer/")
    assert isinstance(resemblyzer, Encoder) and resemblyzer.modality == "voice"


def test_same_voice_is_closer_than_another_voice(resemblyzer) -> None:
    a1 = espeak("The train leaves at seven.", VOICES[0])
    a2 = espeak("Please close the window.", VOICES[0])
    b = espeak("The train leaves at seven.", VOICES[3])
    va1, va2, vb = resemblyzer.embed([a1, a2, b])
    assert va1 @ va2 > va1 @ vb


def test_batching_does_not_change_a_line_vector(resemblyzer) -> None:
    clips = [espeak(t, v) for t, v in (("One two three.", VOICES[1]),
                                       ("A much longer sentence about the weather today.", VOICES[4]),
                                       ("Yes.", VOICES[5]))]
    together = resemblyzer.embed(clips)
    alone = np.stack([resemblyzer.embed([c])[0] for c in clips])
    np.testing.assert_allclose(together, alone, atol=1e-4)


def test_short_line_is_tiled_not_padded_with_silence() -> None:
    wav = np.arange(1, 5, dtype=np.float32)
    np.testing.assert_array_equal(tile_to(wav, 10), [1, 2, 3, 4, 1, 2, 3, 4, 1, 2])
    assert tile_to(wav, 3) is wav  # long enough: untouched


def test_short_lines_get_a_vector(resemblyzer) -> None:
    word = espeak("Hi!", VOICES[2])[: SAMPLE_RATE * 3 // 10]  # 0.3 s
    vec = resemblyzer.embed([word])
    assert np.isfinite(vec).all() and abs(np.linalg.norm(vec) - 1) < 1e-5


def test_long_line_windows_cover_every_sample() -> None:
    wav = np.arange(25 * SAMPLE_RATE, dtype=np.float32)
    wins = split_windows(wav, 10 * SAMPLE_RATE)
    assert len(wins) == 3
    assert all(len(w) <= 10 * SAMPLE_RATE for w in wins)
    np.testing.assert_array_equal(np.concatenate(wins), wav)


def test_long_line_is_the_mean_of_its_windows(resemblyzer) -> None:
    a = espeak("This is the first voice speaking for a good long while about nothing. " * 2, VOICES[0])
    b = espeak("And this is another voice speaking for a good long while too. " * 2, VOICES[3])
    long = np.concatenate([a, b])
    assert len(long) > 10 * SAMPLE_RATE  # longer than one window: split, not truncated
    segs = resemblyzer.segments(long)
    assert sum(len(s) for s in segs) == len(long)
    vec = resemblyzer.embed([long])[0]
    parts = resemblyzer.embed(segs)
    expected = parts.mean(axis=0)
    expected /= np.linalg.norm(expected)
    np.testing.assert_allclose(vec, expected, atol=1e-4)


def test_empty_clip_is_refused(resemblyzer) -> None:
    with pytest.raises(SgtuiError, match="no samples"):
        resemblyzer.embed([np.zeros(0, np.float32)])


def test_silent_clip_does_not_produce_nan(resemblyzer) -> None:
    vec = resemblyzer.embed([np.zeros(SAMPLE_RATE * 2, np.float32)])
    assert np.isfinite(vec).all()


def test_unknown_encoder_and_wrong_modality_are_user_errors() -> None:
    with pytest.raises(SgtuiError, match="unknown encoder"):
        create_encoder("wav2vec9")
    with pytest.raises(SgtuiError, match="image encoder"):
        create_encoder("grid", "voice")
    with pytest.raises(SgtuiError, match="takes no ':' argument"):
        create_encoder("resemblyzer:big", "voice", device="cpu")


def test_device_choice() -> None:
    import torch

    from sgtui.features.device import resolve_device, use_fp16

    assert resolve_device("cpu") == "cpu"
    assert torch.get_num_threads() == 1  # one thread is faster here (ENVIRONMENT.md)
    expected = "cuda" if torch.cuda.is_available() else (
        "mps" if torch.backends.mps.is_available() else "cpu")
    assert resolve_device("auto") == expected
    if not torch.cuda.is_available():
        with pytest.raises(SgtuiError, match="no CUDA GPU"):
            resolve_device("cuda")
    with pytest.raises(SgtuiError, match="unknown device"):
        resolve_device("tpu")
    assert use_fp16("cuda") and use_fp16("cuda:1") and not use_fp16("cpu") and not use_fp16("mps")


def test_thread_count_can_be_overridden(monkeypatch) -> None:
    import torch

    from sgtui.features.device import configure_threads

    monkeypatch.setenv("SGTUI_TORCH_THREADS", "2")
    configure_threads("cpu")
    assert torch.get_num_threads() == 2
    monkeypatch.setenv("SGTUI_TORCH_THREADS", "many")
    with pytest.raises(SgtuiError, match="whole number"):
        configure_threads("cpu")
    monkeypatch.delenv("SGTUI_TORCH_THREADS")
    configure_threads("cpu")
    assert torch.get_num_threads() == 1


def test_numpy_mel_equals_resemblyzers_own_features_on_real_speech() -> None:
    """sgtui computes resemblyzer's mel spectrogram without librosa (start-up seconds);
    the features must be the ones the network was trained on."""
    import warnings

    from sgtui.features.melspec import mel_spectrograms

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from resemblyzer.audio import wav_to_mel_spectrogram

    wavs, _ = librispeech()
    clips = [wavs[0], wavs[37][: 16_000 + 123], wavs[99][:5000]]  # whole, odd length, short
    for wav, ours in zip(clips, mel_spectrograms(clips), strict=True):
        ref = wav_to_mel_spectrogram(wav)
        assert ours.shape == ref.shape and ours.dtype == np.float32
        assert np.abs(ours - ref).max() <= 1e-5 * ref.max()


def test_embedding_never_imports_librosa_or_the_resemblyzer_package() -> None:
    """The point of the numpy mel: `sgtui embed` starts without librosa/numba; and the VAD
    without webrtcvad's wrapper, whose pkg_resources import cost 0.1-0.15 s per start."""
    import subprocess
    import sys

    code = ("import sys, numpy as np; from sgtui.features.voice_resemblyzer import "
            "ResemblyzerEncoder as E; E('cpu').embed([np.random.default_rng(0).standard_normal("
            "32000).astype('float32') * 0.1]); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('librosa', 'numba', 'resemblyzer', 'pkg_resources', 'webrtcvad')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_silence_trimming_equals_resemblyzers_own_on_real_speech() -> None:
    """The VAD called through webrtcvad's C module keeps exactly the samples resemblyzer's
    `trim_long_silences` keeps (speech with its pauses, and speech cut by a long silence)."""
    import warnings

    from sgtui.features.voice_resemblyzer import _trim_long_silences

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from resemblyzer.audio import trim_long_silences

    wavs, _ = librispeech()
    gap = np.zeros(SAMPLE_RATE, dtype=np.float32)
    clips = [wavs[3], np.concatenate([wavs[50][:40_000], gap, wavs[50][40_000:80_000]])]
    for wav in clips:
        ours, ref = _trim_long_silences(wav), trim_long_silences(wav)
        assert len(ref) < len(wav)  # the check has something to trim
        assert len(ours) == len(ref)
        np.testing.assert_array_equal(ours, ref.astype(np.float32))
