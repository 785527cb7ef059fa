"""Text subtitle tracks inside MKV/MP4, read with PyAV and cleaned like files.

ASS/SSA tracks are rebuilt into a complete script (the track header lives in the codec's
extradata; each packet is one event) so styles and Name fields survive; SubRip, WebVTT,
mov_text and plain-text tracks become SRT.
"""

from __future__ import annotations

from pathlib import Path

import av

from sgtui.errors import SgtuiError
from sgtui.media.decode import SubtitleTrack, open_media, origin_ms, probe
from sgtui.media.subtitles import SubtitleDoc, _ass_time_text, _srt_time_text, parse_subtitles

_LANG_ALIASES = {
    "en": "eng", "ja": "jpn", "zh": "chi", "zho": "chi", "ko": "kor", "fr": "fre", "fra": "fre",
    "de": "ger", "deu": "ger", "es": "spa", "it": "ita", "ru": "rus", "pt": "por",
}
_NON_DIALOGUE_TITLE = ("sign", "song", "forced", "karaoke", "commentary")


def _norm_lang(code: str | None) -> str | None:
    if not code:
        return None
    c = code.strip().lower()
    return _LANG_ALIASES.get(c, c)


def choose_track(tracks: tuple[SubtitleTrack, ...], number: int | None, lang: str | None,
                 what: str) -> SubtitleTrack:
    """The track to read: ``number`` if given, else the first dialogue text track,
    preferring ``lang``."""
    listing = "; ".join(f"{t.number}: {t.codec} {t.language or '?'} {t.title or ''}".strip()
                        for t in tracks) or "none"
    if number is not None:
        for t in tracks:
            if t.number == number:
                if not t.text:
                    raise SgtuiError(f"subtitle track {number} of {what} is a picture track "
                                     f"({t.codec}); choose a text track (tracks: {listing})")
                return t
        raise SgtuiError(f"{what} has no subtitle track {number} (tracks: {listing})")
    text = [t for t in tracks if t.text]
    if not text:
        raise SgtuiError(f"{what} has no text subtitle track (tracks: {listing}); "
                         "give --subs FILE, --asr or --vad")
    dialogue = [t for t in text
                if not any(w in (t.title or "").lower() for w in _NON_DIALOGUE_TITLE)] or text
    want = _norm_lang(lang)
    if want:
        for t in dialogue:
            if _norm_lang(t.language) == want:
                return t
    return dialogue[0]


def read_track(path: str | Path, number: int | None = None, lang: str | None = None) -> SubtitleDoc:
    """Read one text subtitle track of a container (see :func:`choose_track`)."""
    info = probe(path)
    track = choose_track(info.subtitle_tracks, number, lang, str(path))
    with open_media(path) as c:
        stream = c.streams[track.index]
        tb = stream.time_base
        origin = origin_ms(c)
        events: list[tuple[int, int, str]] = []
        try:
            for packet in c.demux(stream):
                if packet.pts is None or not packet.size:
                    continue
                start = int(round(packet.pts * tb * 1000 - origin))
                end = start + int(round((packet.duration or 0) * tb * 1000))
                events.append((start, end, _packet_text(bytes(packet), track.codec)))
        except av.error.FFmpegError as exc:
            raise SgtuiError(f"{path}: subtitle track {track.number} cannot be read "
                             f"({exc.strerror or exc}); the file is damaged") from exc
        header = bytes(stream.codec_context.extradata or b"").decode("utf-8", "replace")
    what = f"{path} track {track.number}"
    if track.codec in ("ass", "ssa"):
        return parse_subtitles(_ass_script(header, events), "ass", "utf-8", what)
    srt = "\n".join(f"{i}\n{_srt_time_text(a)} --> {_srt_time_text(b)}\n{t}\n"
                    for i, (a, b, t) in enumerate(events, 1))
    return parse_subtitles(srt, "srt", "utf-8", what)


def _packet_text(data: bytes, codec: str) -> str:
    if codec == "mov_text":
        n = int.from_bytes(data[:2], "big") if len(data) >= 2 else 0
        return data[2:2 + n].decode("utf-8", "replace")
    return data.decode("utf-8", "replace").rstrip("\x00")


def _ass_script(header: str, events: list[tuple[int, int, str]]) -> str:
    """A full ASS script from a track header and its packets."""
    lines = []
    for start, end, text in events:
        if text.startswith("Dialogue:"):  # old muxers store whole event lines
            lines.append(text.strip())
            continue
        # Matroska: ReadOrder, Layer, Style, Name, MarginL, MarginR, MarginV, Effect, Text
        f = text.split(",", 8)
        if len(f) < 9:
            continue
        layer, rest = f[1], ",".join(f[2:])
        lines.append(f"Dialogue: {layer},{_ass_time_text(start)},{_ass_time_text(end)},{rest}")
    head = header.strip()
    if "[events]" not in head.lower():
        head += ("\n\n[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, "
                 "MarginV, Effect, Text")
    return head + "\n" + "\n".join(lines) + "\n"
