"""Text encoding of subtitle files: UTF-8 (with or without BOM), UTF-16, GB18030, Big5,
Shift-JIS and Windows-1252 are told apart; anything else is refused with a hint.

Order: an explicit ``--encoding`` wins; then a byte-order mark; then UTF-16 without a BOM
(NUL bytes in every other position); then strict UTF-8; then charset-normalizer limited
to the legacy encodings subtitle files really use (a narrow list keeps guesses honest).
"""

from __future__ import annotations

import codecs

from sgtui.errors import SgtuiError

LEGACY_ENCODINGS = ("gb18030", "big5", "shift_jis", "cp1252")


def decode_subtitle_bytes(data: bytes, encoding: str | None = None,
                          what: str = "subtitles") -> tuple[str, str]:
    """Return (text, encoding name) or raise a one-line SgtuiError."""
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError as exc:
            raise SgtuiError(f"--encoding {encoding!r} is not an encoding Python knows") from exc
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError as exc:
            raise SgtuiError(f"{what} is not valid {encoding} (byte {exc.start}); "
                             "try another --encoding") from exc
    for bom, enc in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                     (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                     (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return _strict(data, enc, what), enc
    bom_less = _utf16_without_bom(data)
    if bom_less:
        return _strict(data, bom_less, what), bom_less
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    if b"\x00" in data:
        raise SgtuiError(f"{what} looks binary (NUL bytes), not a subtitle file")
    import charset_normalizer

    best = charset_normalizer.from_bytes(data, cp_isolation=list(LEGACY_ENCODINGS)).best()
    if best is None or best.chaos > 0.2:
        raise SgtuiError(f"cannot tell the text encoding of {what} (not UTF-8/16, GB18030, "
                         "Big5, Shift-JIS or Windows-1252); pass --encoding NAME")
    enc = codecs.lookup(best.encoding).name
    return _strict(data, enc, what), enc


def _utf16_without_bom(data: bytes) -> str | None:
    sample = data[:4000]
    if len(sample) < 4:
        return None
    even_nul = sample[0::2].count(0) / len(sample[0::2])
    odd_nul = sample[1::2].count(0) / len(sample[1::2])
    if odd_nul > 0.3 and even_nul < 0.05:
        return "utf-16-le"
    if even_nul > 0.3 and odd_nul < 0.05:
        return "utf-16-be"
    return None


def _strict(data: bytes, enc: str, what: str) -> str:
    try:
        return data.decode(enc)
    except UnicodeDecodeError as exc:
        raise SgtuiError(f"{what} is damaged: not valid {enc} at byte {exc.start}; "
                         "fix the file or pass --encoding") from exc
