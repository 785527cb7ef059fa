"""ECAPA, anime-ECAPA and open_clip through their libraries' real loading code, on this
CPU-only machine, with weights the tests create in each library's format."""

from __future__ import annotations

import numpy as np
import pytest
from features_helpers import VOICES, character_frame, espeak
from features_models import make_anime_checkpoint, make_clip_folder, make_ecapa_folder

from sgtui.errors import SgtuiError
from sgtui.features import Encoder, create_encoder


@pytest.fixture(scope="module")
def speech() -> list[np.ndarray]:
    return [espeak("I left my umbrella on the train.", VOICES[0]),
            espeak("Hello.", VOICES[3]),
            espeak("We will meet again next summer by the lake.", VOICES[4])]


def _unit_rows(vecs: np.ndarray, n: int, dim: int) -> None:
    """What the Encoder protocol promises: float32 rows of unit length."""
    assert vecs.shape == (n, dim) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert np.isfinite(vecs).all()


def _same_weights(module, saved: dict, prefix: str = "") -> None:
    import torch

    state = module.state_dict()
    for k, v in saved.items():
        assert torch.equal(state[prefix + k].cpu(), v.cpu()), k


@pytest.mark.slow
def test_ecapa_loads_a_speechbrain_folder_and_embeds(tmp_path, speech) -> None:
    saved = make_ecapa_folder(tmp_path / "ecapa")
    enc = create_encoder("ecapa", "voice", device="cpu", model_path=str(tmp_path / "ecapa"))
    _same_weights(enc._model.mods.embedding_model, saved)
    assert enc.dim == 192 and enc.model_id.startswith("ecapa/spkrec-ecapa-voxceleb-")
    assert isinstance(enc, Encoder)
    vecs = enc.embed(speech)
    _unit_rows(vecs, 3, 192)
    # Batching pads with zeros and passes relative lengths, so a line's vector barely
    # depends on its batch-mates (only convolutions at the padded edge see the zeros).
    alone = np.stack([enc.embed([s])[0] for s in speech])
    assert (np.sum(vecs * alone, axis=1) > 0.995).all()


def test_ecapa_refuses_a_folder_that_is_not_a_model(tmp_path) -> None:
    (tmp_path / "x").mkdir()
    with pytest.raises(SgtuiError, match="hyperparams.yaml"):
        create_encoder("ecapa", "voice", device="cpu", model_path=str(tmp_path / "x"))


@pytest.mark.slow
def test_anime_ecapa_loads_its_checkpoint_and_embeds(tmp_path, speech) -> None:
    ckpt = tmp_path / "embedding_model.pth"
    saved = make_anime_checkpoint(ckpt)
    enc = create_encoder("anime-ecapa:va", "voice", device="cpu", model_path=str(ckpt))
    _same_weights(enc._model, saved)
    assert enc.model_id.startswith("anime-ecapa/va-")
    assert isinstance(enc, Encoder)
    vecs = enc.embed(speech)
    _unit_rows(vecs, 3, 192)
    # A folder holding embedding_model.pth works too, and gives the same vectors.
    again = create_encoder("anime-ecapa:va", "voice", device="cpu", model_path=str(tmp_path))
    np.testing.assert_allclose(again.embed(speech), vecs, atol=1e-5)


def test_anime_ecapa_refuses_a_checkpoint_without_its_weights(tmp_path) -> None:
    import torch

    torch.save({"something.else": torch.zeros(3)}, tmp_path / "embedding_model.pth")
    with pytest.raises(SgtuiError, match="not an anime-speaker-embedding checkpoint"):
        create_encoder("anime-ecapa", "voice", device="cpu", model_path=str(tmp_path))
    with pytest.raises(SgtuiError, match="unknown anime-ecapa variant"):
        create_encoder("anime-ecapa:kids", "voice", device="cpu", model_path=str(tmp_path))


def test_clip_loads_an_open_clip_folder_and_embeds(tmp_path) -> None:
    saved = make_clip_folder(tmp_path / "clip")
    enc = create_encoder("clip", "image", device="cpu", batch_size=2,
                         model_path=str(tmp_path / "clip"))
    _same_weights(enc._model, saved)
    assert enc.dim == 32 and enc.model_id.startswith("clip/clip-")
    assert isinstance(enc, Encoder)
    rng = np.random.default_rng(0)
    frames = [character_frame(c, rng) for c in (0, 1, 2)]
    vecs = enc.embed(frames)  # 3 images in batches of 2
    _unit_rows(vecs, 3, 32)
    np.testing.assert_allclose(enc.embed(frames[2:]), vecs[2:], atol=1e-5)


def test_clip_refuses_a_folder_without_weights(tmp_path) -> None:
    make_clip_folder(tmp_path / "clip")
    for f in (tmp_path / "clip").glob("open_clip_model.*"):
        f.unlink()
    with pytest.raises(SgtuiError, match="holds no weights"):
        create_encoder("clip", "image", device="cpu", model_path=str(tmp_path / "clip"))
