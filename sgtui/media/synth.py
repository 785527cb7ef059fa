"""Synthetic episodes: espeak-ng voices + drawn animation frames, encoded with PyAV.

Used by `sgtui sample`, by the tests (real media, made on the spot) and by the ingest
benchmark. Each character has an espeak-ng voice and its own look (body colour, head
shape, hat); the speaker is on screen in most shots but not all. Shots change every few
seconds (flat colours, a moving ball, flapping mouths) like cheap animation.
"""

from __future__ import annotations

import csv
import random
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from sgtui.errors import SgtuiError

# Voices that separate well with common speaker encoders (ENVIRONMENT.md).
VOICES = ("en+m1", "en+m7", "en+f3", "en+grandma", "en+edward", "en-gb-scotland+m2")


@dataclass(frozen=True)
class Character:
    name: str
    voice: str
    body: tuple[int, int, int]  # YUV
    head: str  # "round" | "square" | "tall" | "wide" | "diamond" | "tri"
    hat: tuple[int, int, int] | None


CAST = (
    Character("Akira", "en+m1", (81, 90, 240), "round", None),  # red
    Character("Boris", "en+m7", (145, 54, 34), "square", (41, 240, 110)),  # green / blue hat
    Character("Chiyo", "en+f3", (210, 16, 146), "tall", None),  # yellow
    Character("Dora", "en+grandma", (106, 202, 222), "wide", (170, 166, 16)),  # purple / cyan hat
    Character("Edward", "en+edward", (41, 240, 110), "diamond", None),  # blue
    Character("Fiona", "en-gb-scotland+m2", (170, 166, 16), "tri", (81, 90, 240)),  # cyan
)


RECURRING = 4  # `sgtui sample`: the first four characters appear in every episode


def season_cast(episode: int) -> tuple[tuple[Character, ...], tuple[float, ...]]:
    """The cast of the `episode`-th (0-based) sample episode and how often each speaks: the
    recurring four, plus one guest who appears in that episode only (Edward, then Fiona,
    alternating) and speaks half as often — a season in miniature, for the character bank."""
    guest = CAST[RECURRING + episode % (len(CAST) - RECURRING)]
    return (*CAST[:RECURRING], guest), (1.0,) * RECURRING + (0.5,)


@dataclass(frozen=True)
class ScriptLine:
    start_ms: int
    end_ms: int
    speaker: str
    text: str
    style: str = "Default"


@dataclass(frozen=True)
class Shot:
    start_ms: int
    background: tuple[int, int, int]
    on_screen: tuple[int, ...]  # indices into the cast


@dataclass(frozen=True)
class Episode:
    lines: tuple[ScriptLine, ...]
    shots: tuple[Shot, ...]
    cast: tuple[Character, ...]
    duration_ms: int
    audio: np.ndarray  # int16 mono at AUDIO_RATE
    signs: tuple[ScriptLine, ...] = ()  # OP song and sign events (ASS only)


AUDIO_RATE = 24000

_SUBJECTS = ["I", "We", "You", "They", "The club", "My sister", "Our teacher", "Nobody",
             "The captain", "Everyone"]
_VERBS = ["found", "forgot", "painted", "carried", "cooked", "opened", "hid", "sold",
          "watched", "repaired", "borrowed", "explained"]
_OBJECTS = ["the old map", "a green umbrella", "the broken radio", "seven apples",
            "the secret letter", "a tiny robot", "the school gate", "our last ticket",
            "the red bicycle", "a strange stone", "the festival poster", "the lunch box"]
_SHORT = ["Huh?", "What?", "Yes.", "No way!", "Really?", "Okay.", "Wait!", "Hmm.", "Thanks.",
          "Sorry."]
_TAILS = ["yesterday.", "before dinner.", "in the rain.", "again!", "at the station.",
          "for no reason.", "near the river?", "this morning.", "after class.", "somehow."]


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def speak(text: str, voice: str, rate: int = AUDIO_RATE, speed: int = 165) -> np.ndarray:
    """espeak-ng speech as int16 mono at ``rate`` Hz."""
    if not espeak_available():
        raise SgtuiError("espeak-ng is not installed; install it (apt install espeak-ng)")
    proc = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text],
                          capture_output=True, check=False)
    if proc.returncode != 0 or len(proc.stdout) < 100:
        raise SgtuiError(f"espeak-ng failed for voice {voice}: {proc.stderr.decode()[:200]}")
    data = proc.stdout
    pos = data.find(b"data")
    body = data[pos + 8:]
    pcm = np.frombuffer(body[: len(body) // 2 * 2], dtype="<i2")
    return _resample(pcm, 22050, rate)


def _resample(pcm: np.ndarray, src: int, dst: int) -> np.ndarray:
    if src == dst:
        return pcm.astype(np.int16)
    r = av.AudioResampler(format="s16", layout="mono", rate=dst)
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm[None, :]), format="s16",
                                       layout="mono")
    frame.sample_rate = src
    out = [f.to_ndarray().reshape(-1) for f in r.resample(frame)]
    out += [f.to_ndarray().reshape(-1) for f in r.resample(None)]
    return np.concatenate(out).astype(np.int16)


def make_episode(seed: int, n_lines: int, cast: tuple[Character, ...] = CAST,
                 lead_in_ms: int = 1500, on_screen_p: float = 0.85, signs: bool = True,
                 short_p: float = 0.0, weights: tuple[float, ...] | None = None,
                 progress: Callable[[int], None] | None = None) -> Episode:
    """Write a script, speak it and lay out shots; deterministic for a seed.

    ``short_p``: share of one-word lines ("Huh?"), which are hard for voice encoders.
    ``weights``: how often each cast member speaks, relative (default: all alike).
    """
    rng = random.Random(seed)
    pieces: list[tuple[int, np.ndarray, ScriptLine]] = []
    t = lead_in_ms
    prev = -1
    texts: set[str] = set()
    for _ in range(n_lines):
        who = rng.randrange(len(cast)) if weights is None else \
            rng.choices(range(len(cast)), weights)[0]
        if who == prev and rng.random() < 0.6:
            who = (who + 1 + rng.randrange(len(cast) - 1)) % len(cast)
        prev = who
        text = rng.choice(_SHORT) if short_p and rng.random() < short_p else _sentence(rng, texts)
        speech = speak(text, cast[who].voice)
        dur = len(speech) * 1000 // AUDIO_RATE
        start = t
        style = "Thoughts" if rng.random() < 0.1 else "Default"
        line = ScriptLine(max(0, start - 80), start + dur + 120, cast[who].name, text, style)
        pieces.append((start, speech, line))
        t = start + dur + rng.randint(400, 1800)
        if progress:
            progress(1)
    duration = t + 1000
    audio = np.zeros(duration * AUDIO_RATE // 1000, dtype=np.int32)
    noise = np.random.default_rng(seed).normal(0, 60, len(audio)).astype(np.int32)
    audio += noise
    for start, speech, _ in pieces:
        a = start * AUDIO_RATE // 1000
        audio[a:a + len(speech)] += speech.astype(np.int32)
    audio16 = np.clip(audio, -32768, 32767).astype(np.int16)
    lines = tuple(p[2] for p in pieces)
    shots = _shots(rng, lines, cast, duration, on_screen_p)
    sign_lines: tuple[ScriptLine, ...] = ()
    if signs:
        sign_lines = (
            ScriptLine(0, lead_in_ms, "", "{\\k40}La {\\k40}la {\\k60}sunrise", "OP"),
            ScriptLine(lead_in_ms, lead_in_ms + 3000, "", "{\\pos(320,40)}Clubroom", "Sign"),
        )
    return Episode(lines, shots, cast, duration, audio16, sign_lines)


def _sentence(rng: random.Random, seen: set[str]) -> str:
    while True:
        s = f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} {rng.choice(_TAILS)}"
        if s not in seen:
            seen.add(s)
            return s


def _shots(rng: random.Random, lines: tuple[ScriptLine, ...], cast: tuple[Character, ...],
           duration: int, on_screen_p: float) -> tuple[Shot, ...]:
    names = [c.name for c in cast]
    shots: list[Shot] = []
    cur_start: int = 0
    cur_lines: list[ScriptLine] = []
    bounds: list[tuple[int, list[ScriptLine]]] = []
    for ln in lines:
        if cur_lines and (ln.start_ms - cur_start > 4500 or rng.random() < 0.45):
            bounds.append((cur_start, cur_lines))
            cur_start, cur_lines = max(cur_lines[-1].end_ms, ln.start_ms - 300), []
        cur_lines.append(ln)
    bounds.append((cur_start, cur_lines))
    for start, group in bounds:
        present: set[int] = set()
        for ln in group:
            if rng.random() < on_screen_p:
                present.add(names.index(ln.speaker))
        if not present or rng.random() < 0.3:
            present.add(rng.randrange(len(cast)))
        bg = (rng.randint(120, 200), rng.randint(100, 156), rng.randint(100, 156))
        shots.append(Shot(start, bg, tuple(sorted(present))))
        # a second cut inside long shots: same people, another angle (background)
        if len(group) > 1 and rng.random() < 0.3:
            mid = group[len(group) // 2].start_ms - 200
            if mid > start:
                bg2 = (rng.randint(60, 110), rng.randint(100, 156), rng.randint(100, 156))
                shots.append(Shot(mid, bg2, tuple(sorted(present))))
    shots.sort(key=lambda s: s.start_ms)
    return tuple(shots)


# ---------------------------------------------------------------- drawing


def _sprite(ch: Character, h: int) -> tuple[np.ndarray, np.ndarray]:
    """(mask, label) at full resolution: label 1 = body, 2 = head, 3 = hat, 4 = eye."""
    w = h // 2
    yy, xx = np.mgrid[0:h, 0:w]
    label = np.zeros((h, w), np.uint8)
    body_top = int(h * 0.45)
    label[body_top:, int(w * 0.15):int(w * 0.85)] = 1
    cy, cx, r = int(h * 0.3), w // 2, int(w * 0.33)
    dy, dx = yy - cy, xx - cx
    shape = {
        "round": dx**2 + dy**2 <= r**2,
        "square": (abs(dx) <= r) & (abs(dy) <= r),
        "tall": (abs(dx) <= r * 0.6) & (abs(dy) <= r * 1.3),
        "wide": (abs(dx) <= r * 1.4) & (abs(dy) <= r * 0.7),
        "diamond": abs(dx) + abs(dy) <= r * 1.2,
        "tri": (dy >= -r) & (dy <= r) & (abs(dx) <= (dy + r) * 0.6),
    }[ch.head]
    label[shape] = 2
    if ch.hat is not None:
        label[(yy < cy - int(r * 0.8)) & (yy > cy - int(r * 1.6)) & (abs(dx) < r)] = 3
    for ex in (cx - r // 3, cx + r // 3):
        label[(abs(yy - cy) < max(2, r // 8)) & (abs(xx - ex) < max(2, r // 8))] = 4
    return label > 0, label


class _Painter:
    """Draws frames in YUV420 straight into the buffer PyAV encodes."""

    def __init__(self, cast: tuple[Character, ...], width: int, height: int):
        self.w, self.h = width, height
        self.cast = cast
        sh = int(height * 0.55) // 4 * 4
        self.sprites = [_sprite(c, sh) for c in cast]
        self.sprite_h = sh
        self._base_key: tuple | None = None
        self._base = np.zeros((height * 3 // 2, width), np.uint8)

    def planes(self, buf: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        h, w = self.h, self.w
        y = buf[:h]
        u = buf[h:h + h // 4].reshape(h // 2, w // 2)
        v = buf[h + h // 4:].reshape(h // 2, w // 2)
        return y, u, v

    def slots(self, n: int) -> list[int]:
        sw = self.sprite_h // 2
        gap = (self.w - n * sw) // (n + 1)
        return [gap + i * (sw + gap) for i in range(n)]

    def base(self, shot: Shot) -> np.ndarray:
        key = (shot.background, shot.on_screen)
        if key != self._base_key:
            y, u, v = self.planes(self._base)
            y[:], u[:], v[:] = shot.background
            y[int(self.h * 0.8):] = max(16, shot.background[0] - 50)
            top = self.h - self.sprite_h - self.h // 20
            for slot, ci in zip(self.slots(len(shot.on_screen)), shot.on_screen, strict=True):
                self._paint(y, u, v, ci, slot, top)
            self._base_key = key
        return self._base

    def _paint(self, y, u, v, ci: int, x0: int, y0: int) -> None:
        ch = self.cast[ci]
        mask, label = self.sprites[ci]
        colours = {1: ch.body, 2: (200, 118, 140), 3: ch.hat or ch.body, 4: (20, 128, 128)}
        hh, ww = mask.shape
        ys = y[y0:y0 + hh, x0:x0 + ww]
        for lab, col in colours.items():
            m = label == lab
            ys[m] = col[0]
            m2 = m[::2, ::2]
            u[y0 // 2:y0 // 2 + m2.shape[0], x0 // 2:x0 // 2 + m2.shape[1]][m2] = col[1]
            v[y0 // 2:y0 // 2 + m2.shape[0], x0 // 2:x0 // 2 + m2.shape[1]][m2] = col[2]

    def frame(self, shot: Shot, t_ms: int, speaking: int | None, out: np.ndarray) -> None:
        np.copyto(out, self.base(shot))
        y, u, v = self.planes(out)
        # a ball crossing the screen
        r = max(4, self.h // 30)
        period = 4000
        bx = int((t_ms % period) / period * (self.w - 2 * r)) + r
        by = int(self.h * 0.15 + abs(((t_ms // 7) % 200) - 100) / 100 * self.h * 0.2)
        y[by - r:by + r, bx - r:bx + r] = 235
        u[(by - r) // 2:(by + r) // 2, (bx - r) // 2:(bx + r) // 2] = 128
        v[(by - r) // 2:(by + r) // 2, (bx - r) // 2:(bx + r) // 2] = 128
        # the speaker's mouth flaps when on screen
        if speaking is not None and speaking in shot.on_screen and (t_ms // 120) % 2 == 0:
            slot = self.slots(len(shot.on_screen))[shot.on_screen.index(speaking)]
            top = self.h - self.sprite_h - self.h // 20
            cx = slot + self.sprite_h // 4
            cy = top + int(self.sprite_h * 0.38)
            mw, mh = max(2, self.sprite_h // 24), max(2, self.sprite_h // 40)
            y[cy - mh:cy + mh, cx - mw:cx + mw] = 16


def write_video(path: str | Path, ep: Episode, width: int = 640, height: int = 360,
                fps: Fraction = Fraction(24000, 1001), keyint: int = 250,
                preset: str = "veryfast", crf: int = 23, threads: int = 0,
                audio_codec: str = "aac", container_format: str | None = None,
                x264_params: str | None = None, progress: Callable[[int], None] | None = None) -> None:
    """Encode an episode: h264 video (x264, ``keyint`` GOP, scene cuts on) + AAC 48 kHz."""
    painter = _Painter(ep.cast, width, height)
    names = [c.name for c in ep.cast]
    n_frames = int(ep.duration_ms / 1000 * fps)
    starts = [s.start_ms for s in ep.shots]
    line_starts = [ln.start_ms for ln in ep.lines]
    import bisect

    with av.open(str(path), "w", format=container_format) as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.codec_context.thread_count = threads
        vs.options = {"preset": preset, "crf": str(crf), "g": str(keyint)}
        if x264_params:
            vs.options = {**vs.options, "x264-params": x264_params}
        aus = out.add_stream(audio_codec, rate=48000, layout="stereo")
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=48000)
        buf = np.zeros((height * 3 // 2, width), np.uint8)
        audio_done = 0
        chunk = AUDIO_RATE // 10
        for i in range(n_frames):
            t_ms = int(i * 1000 / fps)
            shot = ep.shots[max(0, bisect.bisect_right(starts, t_ms) - 1)]
            j = bisect.bisect_right(line_starts, t_ms) - 1
            speaking = None
            if j >= 0 and ep.lines[j].start_ms <= t_ms < ep.lines[j].end_ms:
                speaking = names.index(ep.lines[j].speaker)
            painter.frame(shot, t_ms, speaking, buf)
            frame = av.VideoFrame.from_ndarray(buf, format="yuv420p")
            frame.pts = i
            frame.time_base = 1 / fps
            for p in vs.encode(frame):
                out.mux(p)
            want = min(len(ep.audio), int((t_ms + 500) * AUDIO_RATE / 1000))
            while audio_done + chunk <= want or (i == n_frames - 1 and audio_done < len(ep.audio)):
                piece = ep.audio[audio_done:audio_done + chunk]
                _encode_audio(out, aus, resampler, piece, audio_done)
                audio_done += len(piece)
            if progress:
                progress(1)
        for f in resampler.resample(None):
            for p in aus.encode(f):
                out.mux(p)
        for p in aus.encode(None):
            out.mux(p)
        for p in vs.encode(None):
            out.mux(p)


def _encode_audio(out, stream, resampler, piece: np.ndarray, offset: int) -> None:
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(piece[None, :]), format="s16",
                                       layout="mono")
    frame.sample_rate = AUDIO_RATE
    frame.pts = offset
    frame.time_base = Fraction(1, AUDIO_RATE)
    for f in resampler.resample(frame):
        for p in stream.encode(f):
            out.mux(p)


# ---------------------------------------------------------------- subtitle files


def _srt_time(ms: int) -> str:
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def _ass_time(ms: int) -> str:
    cs = ms // 10
    return f"{cs // 360000}:{cs // 6000 % 60:02d}:{cs // 100 % 60:02d}.{cs % 100:02d}"


def write_srt(path: str | Path, lines: tuple[ScriptLine, ...], encoding: str = "utf-8") -> None:
    parts = [f"{i}\n{_srt_time(ln.start_ms)} --> {_srt_time(ln.end_ms)}\n{ln.text}\n"
             for i, ln in enumerate(lines, 1)]
    Path(path).write_bytes("\n".join(parts).encode(encoding))


def write_ass(path: str | Path, ep: Episode, names: bool = True, encoding: str = "utf-8",
              width: int = 640, height: int = 360) -> None:
    """ASS with true speaker names in the Name field (when ``names``), plus OP/sign events."""
    head = (
        "[Script Info]\nScriptType: v4.00+\n"
        f"PlayResX: {width}\nPlayResY: {height}\n\n"
        "[V4+ Styles]\n"
        "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, "
        "BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, "
        "BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n"
    )
    for style, italic in (("Default", 0), ("Thoughts", -1), ("OP", 0), ("Sign", 0)):
        head += (f"Style: {style},Arial,20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,"
                 f"{italic},0,0,100,100,0,0,1,2,1,2,10,10,10,1\n")
    head += ("\n[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, "
             "Effect, Text\n")
    events = sorted(list(ep.lines) + list(ep.signs), key=lambda ln: ln.start_ms)
    rows = []
    for ln in events:
        name = ln.speaker if names else ""
        rows.append(f"Dialogue: 0,{_ass_time(ln.start_ms)},{_ass_time(ln.end_ms)},{ln.style},"
                    f"{name},0,0,0,,{ln.text}\n")
    Path(path).write_bytes((head + "".join(rows)).encode(encoding))


def write_truth(path: str | Path, lines: tuple[ScriptLine, ...]) -> None:
    """Generic truth layout: start,end,speaker,text with seconds."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["start", "end", "speaker", "text"])
        for ln in lines:
            w.writerow([f"{ln.start_ms / 1000:.3f}", f"{ln.end_ms / 1000:.3f}", ln.speaker, ln.text])


def ass_cues_ms(lines: tuple[ScriptLine, ...]) -> list[tuple[int, int]]:
    """The times as the ASS file stores them (centiseconds), for tests and truth matching."""
    return [(ln.start_ms // 10 * 10, ln.end_ms // 10 * 10) for ln in lines]
