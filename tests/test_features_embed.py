"""`embed_project` and `sgtui embed` on real .sgproj files with espeak-ng clips."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from features_helpers import make_project, nn_accuracy

from sgtui.cli import main
from sgtui.features import embed_project
from sgtui.project import LineIn, Project


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> tuple[Path, dict[int, int]]:
    path = tmp_path_factory.mktemp("embed") / "ep.sgproj"
    truth = make_project(path, n_per_speaker=4, speakers=3)
    return path, truth


@pytest.fixture
def project(template, tmp_path) -> tuple[Path, dict[int, int]]:
    path, truth = template
    dst = tmp_path / "ep.sgproj"
    shutil.copy(path, dst)
    return dst, truth


def test_embed_stores_voice_and_image_vectors_for_every_line(project) -> None:
    path, truth = project
    with Project.open(path) as p:
        result = embed_project(p, device="cpu", batch=5)
        assert result["voice"]["embedded"] == result["image"]["embedded"] == len(truth)
        ids, voice = p.embeddings("voice")
        assert sorted(ids.tolist()) == sorted(truth)
        np.testing.assert_allclose(np.linalg.norm(voice, axis=1), 1.0, atol=1e-5)
        assert nn_accuracy(voice, [truth[int(i)] for i in ids]) == 1.0
        img_ids, image = p.embeddings("image")
        assert image.shape == (len(truth), 380)
        assert nn_accuracy(image, [truth[int(i)] for i in img_ids]) >= 0.9
        assert p.chosen_model("voice") == result["voice"]["model"]
        assert p.chosen_model("image") == "grid/v2-3x3"


def test_embedding_twice_is_a_no_op(project) -> None:
    path, truth = project
    with Project.open(path) as p:
        embed_project(p, device="cpu")
        _, before = p.embeddings("voice")
        again = embed_project(p, device="cpu")
        _, after = p.embeddings("voice")
    assert again["voice"]["embedded"] == 0 and again["voice"]["already"] == len(truth)
    assert again["image"]["embedded"] == 0
    np.testing.assert_array_equal(before, after)


def test_another_model_keeps_the_old_vectors(project, tmp_path) -> None:
    from sgtui.features.campp_weights import locate

    path, truth = project
    other = tmp_path / "other.pt"  # the same weights under another name: another model id
    shutil.copy(locate(None).path, other)
    with Project.open(path) as p:
        first = embed_project(p, image=None, device="cpu")["voice"]["model"]
        second = embed_project(p, image="none", device="cpu",
                               voice_model_path=str(other))["voice"]["model"]
        assert first != second
        models = {e["model"]: e["lines"] for e in p.encoders() if e["modality"] == "voice"}
        assert models == {first: len(truth), second: len(truth)}
        assert p.chosen_model("voice") == second


def test_lines_without_clip_or_keyframe_are_counted_not_faked(project) -> None:
    path, truth = project
    with Project.open(path) as p:
        (extra,) = p.add_lines([LineIn(99_000, 100_000, "(no media for this line)")])
        result = embed_project(p, device="cpu")
        assert result["voice"]["no_input"] == 1 and result["image"]["no_input"] == 1
        assert extra not in p.embedded_ids("voice", result["voice"]["model"])


def test_progress_reports_each_stage_to_its_total(project) -> None:
    path, truth = project
    seen: list[tuple[str, int, int]] = []
    with Project.open(path) as p:
        embed_project(p, device="cpu", batch=4, progress=lambda *a: seen.append(a))
    for stage in ("voice", "image"):
        steps = [s for s in seen if s[0] == stage]
        assert steps[0][1] == 0 and steps[-1][1:] == (len(truth), len(truth))


def test_cli_embed_prints_a_summary_and_json(project, capsys) -> None:
    path, truth = project
    assert main(["embed", str(path), "--device", "cpu", "--batch", "8"]) == 0
    out = capsys.readouterr().out
    assert "voice: campp/zh-en-200k" in out and f"{len(truth)} embedded" in out
    assert main(["embed", str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["voice"]["embedded"] == 0 and result["voice"]["already"] == len(truth)


@pytest.mark.parametrize("args,message", [
    (["embed", "{missing}"], "does not exist"),
    (["embed", "{ep}", "--voice", "wav2vec9"], "unknown encoder"),
    (["embed", "{ep}", "--voice", "grid"], "image encoder, not a voice"),
    (["embed", "{ep}", "--batch", "0"], "at least 1"),
    (["embed", "{ep}", "--voice", "ecapa", "--image", "clip", "--model-path", "{ep}"],
     "ambiguous"),
    (["embed", "{ep}", "--voice", "resemblyzer", "--voice-model-path", "{missing}"], "not found"),
    (["embed", "{ep}", "--voice", "none", "--model-path", "{ep}"], "no chosen encoder"),
])
def test_cli_bad_input_is_one_line_and_exit_2(project, tmp_path, capsys, args, message) -> None:
    path, _ = project
    argv = [a.format(ep=path, missing=tmp_path / "missing.sgproj") for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_cli_cuda_without_a_gpu_is_a_user_error(project, capsys) -> None:
    import torch

    path, _ = project
    if torch.cuda.is_available():
        assert main(["embed", str(path), "--device", "cuda", "--image", "none"]) == 0
    else:
        assert main(["embed", str(path), "--device", "cuda"]) == 2
        assert "no CUDA GPU" in capsys.readouterr().err
