"""`embed_project`'s pipeline: clips decoded in a second process (a thread off Linux), the
network in the caller's. The vectors must be exactly the encoder's own on the decoded clips, a failure
must keep the batches already written and leave no thread behind, and a re-run with
nothing to embed must not load the encoder at all."""

from __future__ import annotations

import shutil
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from features_helpers import make_project

from sgtui.errors import SgtuiError
from sgtui.features import create_encoder, embed_project
from sgtui.media.clipcodec import decode_clip
from sgtui.project import Project


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pipeline") / "ep.sgproj"
    make_project(path, n_per_speaker=4, speakers=3, keyframes=False)
    return path


@pytest.fixture
def project(template, tmp_path) -> Path:
    dst = tmp_path / "ep.sgproj"
    shutil.copy(template, dst)
    return dst


def _decode_threads() -> list[object]:
    """What decodes beside the network (a process on Linux, a thread elsewhere), or any
    thread an executor left behind."""
    import multiprocessing

    return [t for t in threading.enumerate() if t is not threading.main_thread()
            and t.name.startswith(("sgtui-embed-decode", "ExecutorManagerThread", "QueueFeeder"))
            ] + multiprocessing.active_children()


@pytest.mark.parametrize("voice", ["campp", "resemblyzer"])
def test_pipeline_vectors_are_the_encoders_own_on_the_decoded_clips(project, tmp_path,
                                                                    voice) -> None:
    """Decoding (and preparing features) in another process changes no bit of any vector."""
    from threadpoolctl import threadpool_limits

    from sgtui.features.embed import store_vectors

    by_hand = tmp_path / "by-hand.sgproj"
    shutil.copy(project, by_hand)
    import multiprocessing
    import sys

    children: list[int] = []
    single = threading.active_count() == 1
    with Project.open(project) as p:
        result = embed_project(p, voice=voice, image=None, device="cpu", batch=5, progress=lambda *a:
                               children.append(len(multiprocessing.active_children())))["voice"]
        ids, piped = p.embeddings("voice", result["model"])
    assert result["embedded"] == len(ids) == 12
    assert _decode_threads() == []
    # the decoder is a process on Linux (alive while lines embed) unless threads run
    assert max(children) == (1 if sys.platform == "linux" and single else 0)
    enc = create_encoder(voice, "voice", device="cpu", batch_size=5)
    with Project.open(by_hand) as p, threadpool_limits(1, user_api="blas"):  # as embed_project
        order = [line.id for line in p.lines()]
        wavs = [decode_clip(c.codec, c.sample_rate, c.data) for c in map(p.clip, order)]
        for k in range(0, len(order), 5):  # one batch at a time, in line order, as the command
            store_vectors(p, enc, order[k : k + 5], enc.embed(wavs[k : k + 5]))
        ids_b, direct = p.embeddings("voice", result["model"])
    np.testing.assert_array_equal(ids, ids_b)
    np.testing.assert_array_equal(piped, direct)


def test_with_another_thread_running_the_decoder_is_a_thread_and_the_vectors_the_same(
        project, tmp_path) -> None:
    """Forking beside a running thread could copy a lock it holds: then a thread decodes."""
    import multiprocessing

    twin = tmp_path / "twin.sgproj"
    shutil.copy(project, twin)
    with Project.open(project) as p:
        embed_project(p, image=None, device="cpu", batch=5)
        _, alone = p.embeddings("voice")
    release = threading.Event()
    other = threading.Thread(target=release.wait, name="someone-else")
    other.start()
    seen: list[tuple[int, int]] = []
    try:
        with Project.open(twin) as p:
            embed_project(p, image=None, device="cpu", batch=5, progress=lambda *a: seen.append((
                len(multiprocessing.active_children()),
                sum(t.name.startswith("sgtui-embed-decode") for t in threading.enumerate()))))
            _, beside = p.embeddings("voice")
    finally:
        release.set()
        other.join()
    assert max(c for c, _ in seen) == 0 and max(t for _, t in seen) == 1
    np.testing.assert_array_equal(alone, beside)
    assert _decode_threads() == []


@pytest.mark.skipif(sys.platform != "linux", reason="the decoder is forked on Linux only")
def test_the_forked_decoder_never_frees_the_garbage_of_the_process_it_was_forked_from() -> None:
    """A PyAV resampler left in a reference cycle: its filter graph owns FFmpeg threads that a
    fork does not copy, so freeing it in the child waits for them forever (this hung CI). The
    decoding process forked beside such garbage must collect its own and answer."""
    import gc
    import os
    import signal

    import av

    from sgtui.features.embed import forked_decoder

    def task_count() -> int:
        return len(os.listdir("/proc/self/task"))

    gc.disable()  # the cycle stays garbage until the decoder is forked
    try:
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 4800), np.float32), format="flt",
                                           layout="mono")
        frame.sample_rate, frame.pts = 48000, 0
        before = task_count()
        resampler = av.AudioResampler(format="flt", layout="mono", rate=16000)
        resampler.resample(frame)
        cycle: list[object] = [resampler]
        cycle.append(cycle)
        del resampler, cycle
        assert task_count() > before  # the graph's slice threads outlive the last name
        pool = forked_decoder()
        try:
            pid = pool.submit(os.getpid).result(timeout=60)
            collected = pool.submit(gc.collect)
            try:
                collected.result(timeout=60)
            except TimeoutError:
                os.kill(pid, signal.SIGKILL)
                pytest.fail("the forked decoder hung freeing an object it inherited")
        finally:
            pool.shutdown(wait=True)
    finally:
        gc.enable()


def test_a_clip_that_does_not_decode_stops_the_run_and_keeps_earlier_batches(project) -> None:
    with Project.open(project) as p:
        order = [line.id for line in p.lines()]
        bad = order[7]  # in the second batch of 5
        clip = p.clip(bad)
        p.put_clips([(bad, clip.codec, clip.sample_rate, b"OggS" + bytes(200))])
        with pytest.raises(SgtuiError, match="does not decode"):
            embed_project(p, image=None, device="cpu", batch=5)
        assert _decode_threads() == []
        model = create_encoder("campp", "voice", device="cpu").model_id  # the default
        assert p.embedded_ids("voice", model) == set(order[:5])  # the first batch, written


def test_weights_that_do_not_load_store_nothing_and_leave_no_thread(project, tmp_path) -> None:
    weights = tmp_path / "weights.pt"
    weights.write_bytes(b"not a torch checkpoint")
    with Project.open(project) as p:
        with pytest.raises(SgtuiError, match="not a readable CAM\\+\\+ state dict"):
            embed_project(p, image=None, device="cpu", batch=2, voice_model_path=str(weights))
        assert _decode_threads() == []
        assert p.encoders() == []


def test_a_rerun_with_nothing_to_embed_does_not_load_torch(project) -> None:
    """Running `sgtui embed` again is a no-op, and now a cheap one: no torch import (most
    of a start-up), no weights; the summary still names the model and its dimension."""
    import os
    import subprocess
    import sys

    with Project.open(project) as p:
        embed_project(p, image=None, device="cpu")
    code = ("import sys; from sgtui.cli import main; rc = main(['embed', sys.argv[1], "
            "'--image', 'none']); print('torch' in sys.modules, rc)")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    r = subprocess.run([sys.executable, "-c", code, str(project)], capture_output=True,
                       text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[-1] == "False 0"
    assert "(192-d): 0 embedded, 12 already" in lines[0]


def test_the_command_ends_without_torchs_teardown_and_loses_nothing(project) -> None:
    """`python -m sgtui embed` skips the interpreter's teardown once torch is loaded: its
    JSON must still be whole on a pipe, its exit status kept, the file closed cleanly."""
    import json
    import os
    import sqlite3
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    cmd = [sys.executable, "-m", "sgtui", "embed", str(project), "--image", "none"]
    r = subprocess.run([*cmd, "--device", "cpu", "--json"], capture_output=True, text=True,
                       env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["voice"]["embedded"] == 12
    assert not Path(f"{project}-wal").exists()  # closed, checkpointed: nothing left pending
    with sqlite3.connect(project) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT COUNT(*) FROM embeddings").fetchone() == (12,)
    import torch

    if not torch.cuda.is_available():  # a user error after torch loaded: status 2, one line
        r = subprocess.run([*cmd, "--device", "cuda"], capture_output=True, text=True,
                           env=env, timeout=300)
        assert r.returncode == 2 and r.stderr.strip().count("\n") == 0
        assert "no CUDA GPU" in r.stderr


def test_the_model_id_told_before_loading_is_the_loaded_encoders(tmp_path) -> None:
    """`embed_project` decides which lines to embed before torch loads, from the model id
    the encoder class tells without loading; it must be the one the loaded encoder has."""
    import resemblyzer

    from sgtui.features.registry import known_model_id

    other = tmp_path / "other.pt"
    shutil.copy(Path(resemblyzer.__file__).parent / "pretrained.pt", other)
    for path in (None, str(other)):
        built = create_encoder("resemblyzer", "voice", device="cpu", model_path=path).model_id
        assert known_model_id("resemblyzer", "voice", path) == built
    assert known_model_id("resemblyzer", "voice", str(other)) != known_model_id("resemblyzer")
    assert known_model_id("ecapa", "voice") is None  # only loading tells: built first
    with pytest.raises(SgtuiError, match="not found"):
        known_model_id("resemblyzer", "voice", str(tmp_path / "missing.pt"))
