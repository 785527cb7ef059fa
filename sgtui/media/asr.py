"""Lines without subtitles: speech recognition (faster-whisper) or voice activity alone.

``--asr`` runs offline with Whisper **base** (multilingual; see `asr_models`), the
language detected once per episode from a few stretches of speech (or forced by
``--lang``); ``--asr-model tiny.en`` is the small English-only model, ``--asr-model PATH`` a
CTranslate2 Whisper folder of your own. Line boundaries come from voice activity and the
recognised words (`asr_lines`). ``--vad`` cuts lines where Silero VAD (shipped with
faster-whisper) hears speech, with empty text.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from sgtui.errors import SgtuiError
from sgtui.media.asr_lines import Line, Word, make_lines
from sgtui.media.asr_script import convert, default_script
from sgtui.media.decode import Audio
from sgtui.media.subtitles import Cue

DEFAULT_MODEL = "base"
RATE = 16000
WINDOW_S = 30.0         # Whisper hears 30 s at a time
DETECT_WINDOWS = 5      # language votes per episode
LINE_VAD = {"min_silence_duration_ms": 300, "speech_pad_ms": 100,
            "min_speech_duration_ms": 200}
# the 30 languages with the most hours in Whisper's training data (Radford et al. 2022,
# appendix E): what detection may answer
DETECTABLE = frozenset({"en", "zh", "de", "es", "ru", "fr", "pt", "ko", "ja", "tr", "pl", "it",
                        "sv", "nl", "ca", "fi", "id", "ar", "uk", "vi", "he", "el", "da", "ms",
                        "hu", "ro", "no", "th", "cs", "ta"})
# scripts written without spaces between words
UNSPACED = {"zh", "ja", "yue", "th", "lo", "my", "km", "bo"}
# three-letter (ISO 639-2) and regional codes people pass as --lang
LANG_ALIASES = {"jpn": "ja", "zho": "zh", "chi": "zh", "cmn": "zh", "kor": "ko", "eng": "en",
                "deu": "de", "ger": "de", "fra": "fr", "fre": "fr", "spa": "es", "ita": "it",
                "por": "pt", "rus": "ru", "jp": "ja", "kr": "ko", "cn": "zh"}


def _need_faster_whisper():
    try:
        import faster_whisper
    except ImportError as exc:
        raise SgtuiError("--asr/--vad need faster-whisper; install sgtui[asr] "
                         "(pip install 'sgtui[asr]')") from exc
    return faster_whisper


def pick_device(device: str) -> tuple[str, str]:
    """(device, compute type): CUDA in float16 when there is a GPU, else the CPU in int8."""
    import ctranslate2

    gpus = ctranslate2.get_cuda_device_count()
    if device == "cuda" and not gpus:
        raise SgtuiError("--device cuda but CTranslate2 sees no CUDA GPU; use --device cpu")
    if device == "cuda" or (device == "auto" and gpus):
        return "cuda", "float16"
    return "cpu", "int8"


def load_model(name: str | None = None, device: str = "auto", threads: int | None = None
               ) -> tuple[Any, bool]:
    """A loaded WhisperModel and whether it is English only."""
    from sgtui.media import asr_models

    fw = _need_faster_whisper()
    model = asr_models.resolve(name)
    dev, compute = pick_device(device)
    threads = threads or min(4, os.cpu_count() or 1)
    try:
        try:
            wm = fw.WhisperModel(model.ref, device=dev, compute_type=compute,
                                 cpu_threads=threads)
        except Exception:
            if device != "auto" or dev == "cpu":
                raise
            # a GPU without its CUDA libraries: auto means "the GPU if it works"
            wm = fw.WhisperModel(model.ref, device="cpu", compute_type="int8",
                                 cpu_threads=threads)
    except Exception as exc:  # damaged files, wrong format, out of GPU memory
        raise SgtuiError(f"cannot load ASR model {model.ref!r} ({type(exc).__name__}: "
                         f"{str(exc)[:120]}); pass --asr-model base or a CTranslate2 folder"
                         ) from exc
    return wm, model.english_only


def language_code(code: str) -> str:
    c = code.strip().lower().replace("_", "-").split("-")[0]
    return LANG_ALIASES.get(c, c)


def normalise_language(code: str, wm: Any) -> str:
    """``--lang`` as Whisper's code (``jpn`` -> ``ja``, ``en-US`` -> ``en``), or a one-line error."""
    c = language_code(code)
    known = set(getattr(wm, "supported_languages", None) or [c])
    if c not in known:
        raise SgtuiError(f"--lang {code}: the ASR model knows no such language; give a code "
                         "like ja, zh, ko, en, de")
    return c


def speech_spans(pcm: np.ndarray, **vad: int) -> list[tuple[float, float]]:
    """Where Silero VAD hears speech, in seconds from the start of ``pcm`` (float, 16 kHz)."""
    _need_faster_whisper()
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    spans = get_speech_timestamps(pcm, VadOptions(**(vad or LINE_VAD)), sampling_rate=RATE)
    return [(s["start"] / RATE, s["end"] / RATE) for s in spans]


def detect_language(wm: Any, pcm: np.ndarray, spans: list[tuple[float, float]] | None = None,
                    windows: int = DETECT_WINDOWS) -> tuple[str, float]:
    """The episode's language: a vote over up to ``windows`` 30-s windows of speech.

    The speech stretches (with their surroundings, long silences left out) are laid end to
    end, cut into 30-s windows, and windows spread over the episode are asked; the language
    with the most votes wins (ties: summed probability). Only languages Whisper saw plenty
    of in training are candidates (`DETECTABLE`): on a few seconds of accented speech base
    otherwise drifts to Welsh or Nynorsk; ``--lang`` reaches every other language.
    Returns the code and the winner's mean probability.
    """
    if spans is None:
        spans = speech_spans(pcm)
    speech = np.concatenate([pcm[int(a * RATE):int(b * RATE)] for a, b in _widen(spans)]) \
        if spans else pcm
    if not len(speech):
        speech = pcm
    n = max(1, int(np.ceil(len(speech) / (WINDOW_S * RATE))))
    picks = sorted({int(round(i)) for i in np.linspace(0, n - 1, min(windows, n))})
    votes: Counter[str] = Counter()
    prob: dict[str, float] = {}
    step = int(WINDOW_S * RATE)
    for k in picks:
        chunk = speech[k * step:(k + 1) * step]
        if k and len(chunk) < RATE * 2:  # a last scrap says little
            continue
        _, _, ranked = wm.detect_language(audio=chunk)
        lang, p = max(((c, q) for c, q in ranked if c in DETECTABLE),
                      key=lambda cq: cq[1], default=ranked[0])
        votes[lang] += 1
        prob[lang] = prob.get(lang, 0.0) + p
    best = max(votes, key=lambda lang: (votes[lang], prob[lang]))
    return best, prob[best] / votes[best]


def _widen(spans: list[tuple[float, float]], pad: float = 0.4, gap: float = 1.0
           ) -> list[tuple[float, float]]:
    """Speech stretches padded and joined across short pauses: words keep their edges."""
    out: list[tuple[float, float]] = []
    for a, b in spans:
        a, b = max(0.0, a - pad), b + pad
        if out and a - out[-1][1] < gap:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def transcribe(audio: Audio, model: str | None = None, language: str | None = None,
               device: str = "auto", progress: Callable[[int], None] | None = None,
               loaded: tuple[Any, bool] | None = None, threads: int | None = None,
               zh_script: str | None = None) -> tuple[list[Cue], str]:
    """Recognised lines as cues (no speaker) and the episode's language code.

    ``progress(n)`` is told each whole second of audio transcribed. ``loaded`` re-uses a
    model from `load_model`. ``zh_script`` (hans, hant, keep; None: simplified for
    Mandarin, as written otherwise) is the Chinese script of the text (`asr_script`).
    """
    wm, english_only = loaded or load_model(model, device, threads)
    if english_only:
        if language and language_code(language) != "en":
            raise SgtuiError(f"the ASR model {model} is English only but --lang is "
                             f"{language!r}; pass --asr-model base for other languages")
        language = "en"
    pcm = audio.samples.astype(np.float32) / 32768.0
    spans = speech_spans(pcm)
    if language:
        lang = normalise_language(language, wm)
    elif spans:
        lang, _ = detect_language(wm, pcm, spans)
    else:
        lang = "en"
    segments, _ = wm.transcribe(pcm, language=lang, vad_filter=True, beam_size=1,
                                word_timestamps=True, condition_on_previous_text=False,
                                temperature=0.0)
    words: list[Word] = []
    told = 0
    for s in segments:
        if progress is not None and int(s.end) > told:
            progress(int(s.end) - told)
            told = int(s.end)
        for k, w in enumerate(s.words or []):
            if w.end > w.start and w.word.strip():
                words.append(Word(w.start, w.end, w.word, lead=k == 0))
    if progress is not None and int(len(pcm) / RATE) > told:
        progress(int(len(pcm) / RATE) - told)
    cues = to_cues(make_lines(words, spans), audio.start_ms, lang not in UNSPACED)
    script = zh_script or default_script(lang)
    if script != "keep":
        texts = convert([c.text for c in cues], script)
        cues = [replace(c, text=t) for c, t in zip(cues, texts, strict=True)]
    return cues, lang


def to_cues(lines: list[Line], offset_ms: float, spaced: bool) -> list[Cue]:
    cues = []
    for ln in lines:
        a, b = int(round(ln.start * 1000 + offset_ms)), int(round(ln.end * 1000 + offset_ms))
        text = ln.text(spaced)
        if b > a and text:
            cues.append(Cue(a, b, text))
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
