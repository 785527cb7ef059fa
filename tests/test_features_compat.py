"""The torchaudio / torchvision compat shim (sgtui/features/compat.py).

Each check runs in a fresh interpreter, because a failed import leaves half-initialised
modules behind. The plain import decides what the shim must do: where it works the shim
must not touch anything ("native"); where it fails (CUDA-only wheels next to a CPU torch,
as on this machine) the shim must make the pure-Python parts import and work, and leave
the compiled parts failing loudly.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _run(code: str) -> dict:
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                       text=True, timeout=180, cwd=REPO)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def _plain_import_works(lib: str) -> bool:
    return _run(f"""
        import json
        try:
            import {lib}
            ok = True
        except Exception:
            ok = False
        print(json.dumps({{"ok": ok}}))
    """)["ok"]


@pytest.mark.parametrize("lib", ["torchaudio", "torchvision"])
def test_shim_is_used_exactly_when_the_real_import_fails(lib) -> None:
    native = _plain_import_works(lib)
    got = _run(f"""
        import json
        from sgtui.features import compat
        compat.import_{lib}()
        print(json.dumps(compat.status()))
    """)
    if native:
        assert got[lib] == "native"
    else:
        assert got[lib].startswith("shim:")


def test_speechbrain_pure_python_parts_work_through_the_shim() -> None:
    got = _run("""
        import json, torch
        from sgtui.features import compat
        compat.import_speechbrain()
        from speechbrain.lobes.features import Fbank
        from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN
        import torchaudio
        feats = Fbank(n_mels=80)(torch.randn(2, 16000))
        emb = ECAPA_TDNN(80, channels=[32, 32, 32, 32, 96], lin_neurons=24)(feats)
        out = {"fbank": list(feats.shape), "emb": list(emb.shape),
               "ext": bool(torchaudio._extension._IS_TORCHAUDIO_EXT_AVAILABLE),
               "status": compat.status()["torchaudio"]}
        print(json.dumps(out))
    """)
    assert got["fbank"] == [2, 101, 80] and got["emb"] == [2, 1, 24]
    if got["status"].startswith("shim:"):
        assert got["ext"] is False  # the C++ extension really is off, as torchaudio intends


def test_open_clip_and_torchvision_transforms_work_through_the_shim() -> None:
    got = _run("""
        import json, torch
        from sgtui.features import compat
        open_clip = compat.import_open_clip()
        import torchvision
        from torchvision import transforms
        x = transforms.Resize(32)(torch.rand(3, 64, 48))
        try:
            torchvision.ops.nms(torch.rand(3, 4), torch.rand(3), 0.5)
            nms = "ran"
        except RuntimeError as exc:
            nms = str(exc)
        print(json.dumps({"shape": list(x.shape), "nms": nms, "oc": open_clip.__version__,
                          "status": compat.status()["torchvision"]}))
    """)
    assert got["shape"] == [3, 42, 32]
    if got["status"].startswith("shim:"):
        # The compiled ops stay unavailable, with torchvision's own explanation.
        assert "Couldn't load custom C++ ops" in got["nms"]
    else:
        assert got["nms"] == "ran"


def test_sgtui_embed_says_when_a_shim_was_used(tmp_path) -> None:
    got = _run(f"""
        import json, sys
        sys.path.insert(0, "tests")
        from features_helpers import make_project
        from features_models import make_clip_folder
        from sgtui.cli import main
        make_project(__import__("pathlib").Path("{tmp_path}/ep.sgproj"), 1, 1)
        make_clip_folder(__import__("pathlib").Path("{tmp_path}/clip"))
        import io, contextlib
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            rc = main(["embed", "{tmp_path}/ep.sgproj", "--voice", "none", "--image", "clip",
                       "--model-path", "{tmp_path}/clip", "--device", "cpu"])
        from sgtui.features import compat
        print(json.dumps({{"rc": rc, "stderr": err.getvalue(), "status": compat.status()}}))
    """)
    assert got["rc"] == 0
    if got["status"]["torchvision"].startswith("shim:"):
        assert "note: torchvision shim: C++ ops not loaded" in got["stderr"]
    else:
        assert "torchvision" not in got["stderr"]
