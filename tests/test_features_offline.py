"""With no weights on disk and no hub, a model encoder fails at once, naming --model-path.

Never a hub retry loop: sgtui checks the Hugging Face cache with local_files_only, probes
the hub with one short TCP connection, and only downloads when that connection opens.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from features_helpers import make_project

from sgtui.errors import SgtuiError
from sgtui.features import create_encoder
from sgtui.features import hub as hub_mod


@pytest.fixture(scope="module")
def small_project(tmp_path_factory):
    path = tmp_path_factory.mktemp("offline") / "ep.sgproj"
    make_project(path, n_per_speaker=1, speakers=1)
    return path


@pytest.fixture
def no_hub(monkeypatch, tmp_path):
    """An empty HF cache for lookups and a hub endpoint that refuses connections."""
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "HF_HUB_OFFLINE",
                "TRANSFORMERS_OFFLINE", "SGTUI_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    calls: list[dict] = []
    import huggingface_hub

    def fake_download(repo_id, filename, **kw):
        calls.append({"repo_id": repo_id, **kw})
        if kw.get("local_files_only"):
            raise huggingface_hub.errors.LocalEntryNotFoundError("not in the cache")
        raise AssertionError("sgtui tried to download while the hub is unreachable")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda *a, **k: None)
    return calls


@pytest.mark.parametrize("spec,modality", [("ecapa", "voice"), ("anime-ecapa", "voice"),
                                           ("anime-ecapa:va", "voice"), ("clip", "image")])
def test_missing_weights_fail_naming_the_local_path_option(no_hub, spec, modality) -> None:
    with pytest.raises(SgtuiError) as err:
        create_encoder(spec, modality, device="cpu")
    msg = str(err.value)
    assert "--model-path" in msg and "127.0.0.1:9 unreachable" in msg
    assert "\n" not in msg
    assert all(c.get("local_files_only") for c in no_hub)  # never a real download attempt


def test_offline_variable_skips_even_the_probe(monkeypatch, no_hub) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub_mod.socket, "create_connection",
                        lambda *a, **k: pytest.fail("probed the hub although HF_HUB_OFFLINE=1"))
    with pytest.raises(SgtuiError, match="HF_HUB_OFFLINE is set.*--model-path"):
        create_encoder("ecapa", "voice", device="cpu")


def test_unknown_clip_tag_is_a_user_error(no_hub) -> None:
    with pytest.raises(SgtuiError, match="knows no pretrained tag"):
        create_encoder("clip:ViT-B-32/nonexistent", "image", device="cpu")


@pytest.mark.parametrize("args", [["--voice", "ecapa", "--image", "none"],
                                  ["--voice", "none", "--image", "clip"]])
def test_cli_fails_fast_with_one_line_and_exit_2(small_project, tmp_path, args) -> None:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(HF_HOME=str(tmp_path / "hf"), HF_ENDPOINT="http://127.0.0.1:9")
    r = subprocess.run([sys.executable, "-m", "sgtui", "embed", str(small_project), *args],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--model-path" in lines[0] and "Traceback" not in r.stderr


def test_a_cached_clip_tag_loads_by_path_without_the_hub(no_hub, tmp_path, monkeypatch) -> None:
    """Weights found in the HF cache go to open_clip as a file, so it never asks the hub."""
    import huggingface_hub
    from features_models import make_clip_folder

    from sgtui.features.compat import import_open_clip

    make_clip_folder(tmp_path / "clip")  # registers the tiny "sgtui-tiny-clip" config
    ckpt = str(tmp_path / "clip" / "open_clip_model.safetensors")
    open_clip = import_open_clip()
    monkeypatch.setattr(open_clip, "get_pretrained_cfg", lambda m, t: {"hf_hub": "someone/tiny/"}
                        if (m, t) == ("sgtui-tiny-clip", "v1") else {})
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache",
                        lambda repo, f, **k: ckpt if f == "open_clip_model.safetensors" else None)
    import sgtui.features.image_clip as image_clip

    monkeypatch.setattr(image_clip, "hub_offline_reason",
                        lambda: pytest.fail("probed the hub although the weights are cached"))
    enc = create_encoder("clip:sgtui-tiny-clip/v1", "image", device="cpu")
    assert enc.model_id == "clip/sgtui-tiny-clip-v1" and enc.dim == 32
