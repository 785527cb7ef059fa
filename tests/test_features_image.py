"""The offline image descriptor: no weights, separates flat-coloured characters."""

from __future__ import annotations

import numpy as np
import pytest
from features_helpers import CHARACTERS, character_frame, jpeg, nn_accuracy

from sgtui.errors import SgtuiError
from sgtui.features import Encoder, create_encoder


@pytest.fixture(scope="module")
def grid():
    return create_encoder("grid", "image")


def _decode(data: bytes) -> np.ndarray:
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_grid_tells_drawn_characters_apart(grid) -> None:
    rng = np.random.default_rng(3)
    labels = [c for c in range(len(CHARACTERS)) for _ in range(8)]
    frames = [_decode(jpeg(character_frame(c, rng))) for c in labels]  # through JPEG, as stored
    vecs = grid.embed(frames)
    assert nn_accuracy(vecs, labels) >= 0.9
    sims = vecs @ vecs.T
    same = np.equal.outer(labels, labels) & ~np.eye(len(labels), dtype=bool)
    assert sims[same].mean() > sims[~np.equal.outer(labels, labels)].mean() + 0.1


def test_grid_rows_are_unit_and_deterministic(grid) -> None:
    rng = np.random.default_rng(0)
    frames = [character_frame(0, rng, 640, 360), character_frame(1, rng, 200, 300)]
    a = grid.embed(frames)
    assert a.shape == (2, grid.dim) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(a, grid.embed(frames))
    assert grid.model_id == "grid/v2-3x3"
    assert isinstance(grid, Encoder) and grid.modality == "image"


def test_grid_handles_flat_and_tiny_frames(grid) -> None:
    black = np.zeros((10, 12, 3), np.uint8)
    white = np.full((90, 160, 3), 255, np.uint8)
    vecs = grid.embed([black, white])
    assert np.isfinite(vecs).all()
    assert vecs[0] @ vecs[1] < 0.5  # black and white frames are not alike


def test_grid_takes_no_weights() -> None:
    with pytest.raises(SgtuiError, match="no weights"):
        create_encoder("grid", "image", model_path="/tmp/weights.pt")


def _figure(bg: tuple[int, int, int], hair: tuple[int, int, int],
            clothes: tuple[int, int, int]) -> np.ndarray:
    img = np.empty((180, 320, 3), np.uint8)
    img[:] = bg
    img[60:80, 140:180] = hair
    img[80:100, 145:175] = (250, 220, 200)
    img[100:170, 135:185] = clothes
    return img


def test_background_does_not_outweigh_the_character(grid) -> None:
    """Same character on two backgrounds is closer than two characters on one background."""
    a_on_red = _figure((200, 60, 50), (240, 220, 90), (30, 140, 70))
    a_on_blue = _figure((50, 70, 190), (240, 220, 90), (30, 140, 70))
    b_on_red = _figure((200, 60, 50), (120, 60, 200), (230, 230, 230))
    va, va2, vb = grid.embed([a_on_red, a_on_blue, b_on_red])
    assert va @ va2 > va @ vb
