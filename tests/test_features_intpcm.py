"""Integer PCM given to a voice encoder is scaled, not fed at 32768× its amplitude.

The benchmark's former LibriSpeech side path handed `decode_audio`'s int16 samples to the
encoder as they were: resemblyzer's VAD and linear mel input saturated and 1-NN speaker
accuracy fell from ~1.0 (through ingest + embed) to 0.84.
"""

from __future__ import annotations

import numpy as np

from sgtui.features.registry import create_encoder
from sgtui.media.decode import decode_audio


def test_int16_and_float_pcm_give_the_same_voice_vector(shared_data):
    flac = sorted((shared_data / "librispeech-test-other").glob("*/*.flac"))[0]
    pcm = decode_audio(flac).samples[:48000]
    assert pcm.dtype == np.int16
    enc = create_encoder("resemblyzer", "voice", device="cpu")
    a, b = enc.embed([pcm, pcm.astype(np.float32) / 32768.0])
    assert float(a @ b) > 0.9999
