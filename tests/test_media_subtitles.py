"""Subtitle reading: formats, encodings, cleaning, the style rule (sgtui.media.subtitles)."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from sgtui.errors import SgtuiError
from sgtui.media.subtitles import read_subtitles, select_styles, strip_markup

SRT = """1
00:00:01,000 --> 00:00:02,500
<i>Hello</i> there,
general Kenobi.

2
00:00:03,000 --> 00:00:03,000
zero length

3
00:00:05,000 --> 00:00:04,000
negative

4
00:00:06,000 --> 00:00:07,000
{\\an8}Top line

5
00:00:06,000 --> 00:00:07,000
{\\an8}Top line
"""

ASS_HEAD = """[Script Info]
ScriptType: v4.00+

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
Style: Default,Arial,20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,1,2,10,10,10,1
Style: Flashback,Arial,20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,1,2,10,10,10,1
Style: OP-Romaji,Arial,20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,1,2,10,10,10,1
Style: Typeset,Arial,20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,1,2,10,10,10,1
Style: Overlay,Arial,20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,1,2,10,10,10,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
"""

ASS_EVENTS = """Dialogue: 0,0:00:01.00,0:00:02.00,Default,Kyon,0,0,0,,Well,\\Nthat was {\\i1}odd{\\i0}.
Dialogue: 0,0:00:03.00,0:00:04.00,Default,Haruhi,0,0,0,,Listen!
Dialogue: 1,0:00:03.00,0:00:04.00,Default,Haruhi,0,0,0,,Listen!
Dialogue: 0,0:00:05.00,0:00:06.00,Flashback,,0,0,0,,Long ago...
Dialogue: 0,0:00:00.00,0:00:01.00,OP-Romaji,,0,0,0,,{\\k20}la {\\k20}la
Dialogue: 0,0:00:07.00,0:00:08.00,Overlay,,0,0,0,,{\\pos(10,10)}Clubroom
Dialogue: 0,0:00:08.00,0:00:09.00,Overlay,,0,0,0,,{\\move(1,1,2,2)}Station
Comment: 0,0:00:09.00,0:00:10.00,Default,,0,0,0,,a comment
Dialogue: 0,0:00:09.00,0:00:10.00,Default,,0,0,0,,{\\p1}m 0 0 l 10 10{\\p0}
"""

CJK = {
    "gb18030": "春日，你在做什么？我们今天去学校吧。这个问题很难回答，但是我会试试。",
    "big5": "春日，你在做什麼？我們今天去學校吧。這個問題很難回答，但是我會試試。",
    "shift_jis": "おはよう、涼宮さん。今日は部室に行くのか？キョン、遅いわよ！",
}


def _srt_of(text: str, n: int = 3) -> str:
    return "".join(f"{i}\n00:00:0{i},000 --> 00:00:0{i},900\n{text}\n\n" for i in range(1, n + 1))


def test_srt_is_cleaned_joined_and_reported(tmp_path: Path) -> None:
    p = tmp_path / "a.srt"
    p.write_text(SRT, encoding="utf-8")
    doc = read_subtitles(p)
    assert [c.text for c in doc.cues] == ["Hello there, general Kenobi.", "Top line"]
    assert (doc.cues[0].start_ms, doc.cues[0].end_ms) == (1000, 2500)
    assert doc.dropped_bad_times == 2
    assert doc.merged_duplicates == 1


def test_ass_keeps_style_and_name_and_drops_comments_and_drawings(tmp_path: Path) -> None:
    p = tmp_path / "a.ass"
    p.write_text(ASS_HEAD + ASS_EVENTS, encoding="utf-8")
    doc = read_subtitles(p)
    first = doc.cues[1]
    assert (first.text, first.style, first.actor) == ("Well, that was odd.", "Default", "Kyon")
    assert doc.merged_duplicates == 1  # the second "Listen!" layer
    assert all("comment" not in c.text and "m 0 0" not in c.text for c in doc.cues)


def test_default_style_rule_leaves_out_songs_and_signs(tmp_path: Path) -> None:
    p = tmp_path / "a.ass"
    p.write_text(ASS_HEAD + ASS_EVENTS, encoding="utf-8")
    cues, report = select_styles(read_subtitles(p))
    assert {c.style for c in cues} == {"Default", "Flashback"}
    kept = {s.name: s.kept for s in report}
    assert kept == {"Default": True, "Flashback": True, "OP-Romaji": False, "Overlay": False}


@pytest.mark.parametrize("name,dialogue", [
    ("Default - Top", True), ("Italics", True), ("Main", True), ("Narration", True),
    ("Flashback_Italics", True), ("Editor", True), ("Opinion", True),
    ("OP", False), ("ED English", False), ("OPJP", False), ("ED2", False), ("op-romaji", False),
    ("Signs-Fade", False), ("sign_white", False), ("TL Note", False), ("Song Lyrics", False),
    ("Eyecatch", False), ("Next Episode Preview", False), ("Credits", False),
])
def test_style_names_the_default_rule_recognises(tmp_path: Path, name: str, dialogue: bool) -> None:
    events = (f"Dialogue: 0,0:00:01.00,0:00:02.00,{name},,0,0,0,,one\n"
              "Dialogue: 0,0:00:03.00,0:00:04.00,Default,,0,0,0,,two\n")
    p = tmp_path / "a.ass"
    p.write_text(ASS_HEAD + events, encoding="utf-8")
    cues, _ = select_styles(read_subtitles(p))
    assert ("one" in [c.text for c in cues]) is dialogue


def test_style_and_exclude_style_choose_explicitly(tmp_path: Path) -> None:
    p = tmp_path / "a.ass"
    p.write_text(ASS_HEAD + ASS_EVENTS, encoding="utf-8")
    doc = read_subtitles(p)
    cues, _ = select_styles(doc, keep=["Overlay"])
    assert [c.text for c in cues] == ["Clubroom", "Station"]
    cues, _ = select_styles(doc, exclude=["Flashback"])
    assert {c.style for c in cues} == {"Default"}
    with pytest.raises(SgtuiError, match="not in the subtitles"):
        select_styles(doc, keep=["Nope"])


def test_most_common_style_kept_when_no_style_looks_like_dialogue(tmp_path: Path) -> None:
    events = ("Dialogue: 0,0:00:01.00,0:00:02.00,Signs,,0,0,0,,one\n"
              "Dialogue: 0,0:00:03.00,0:00:04.00,Signs,,0,0,0,,two\n"
              "Dialogue: 0,0:00:05.00,0:00:06.00,Title,,0,0,0,,three\n")
    p = tmp_path / "a.ass"
    p.write_text(ASS_HEAD + events, encoding="utf-8")
    cues, _ = select_styles(read_subtitles(p))
    assert [c.text for c in cues] == ["one", "two"]


def test_webvtt_with_voice_spans(tmp_path: Path) -> None:
    p = tmp_path / "a.vtt"
    p.write_text("WEBVTT\n\nNOTE a note\n\nid1\n00:01.000 --> 00:02.500 align:start\n"
                 "<v Roger>Hello <c.yellow>there</c>\nfriend\n\n"
                 "01:00:03.000 --> 01:00:04.000\nBye &amp; thanks\n", encoding="utf-8")
    doc = read_subtitles(p)
    assert [(c.start_ms, c.end_ms, c.text, c.actor) for c in doc.cues] == [
        (1000, 2500, "Hello there friend", "Roger"),
        (3603000, 3604000, "Bye & thanks", None),
    ]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be"])
def test_unicode_encodings_with_and_without_bom(tmp_path: Path, encoding: str) -> None:
    p = tmp_path / "a.srt"
    p.write_bytes(_srt_of(CJK["gb18030"]).encode(encoding))
    doc = read_subtitles(p)
    assert [c.text for c in doc.cues] == [CJK["gb18030"]] * 3


@pytest.mark.parametrize("encoding", ["gb18030", "big5", "shift_jis"])
def test_legacy_cjk_encodings_are_detected(tmp_path: Path, encoding: str) -> None:
    p = tmp_path / "a.ass"
    events = "".join(f"Dialogue: 0,0:00:0{i}.00,0:00:0{i}.90,Default,,0,0,0,,{CJK[encoding]}\n"
                     for i in range(1, 4))
    p.write_bytes((ASS_HEAD + events).encode(encoding))
    doc = read_subtitles(p)
    assert codecs.lookup(doc.encoding).name == codecs.lookup(encoding).name
    assert doc.cues[0].text == CJK[encoding]


def test_windows_1252_is_detected(tmp_path: Path) -> None:
    p = tmp_path / "a.srt"
    p.write_bytes(_srt_of("Café déjà vu, naïve façade — señor.").encode("cp1252"))
    assert read_subtitles(p).cues[0].text == "Café déjà vu, naïve façade — señor."


def test_unknown_encoding_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "a.srt"
    noise = bytes((i * 97 + 13) % 256 for i in range(600)).replace(b"\x00", b"\x01")
    p.write_bytes(_srt_of("x").encode() + noise)
    with pytest.raises(SgtuiError, match="encoding"):
        read_subtitles(p)


def test_explicit_encoding_wins_and_wrong_one_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "a.srt"
    p.write_bytes(_srt_of(CJK["big5"]).encode("big5"))
    assert read_subtitles(p, encoding="big5").cues[0].text == CJK["big5"]
    with pytest.raises(SgtuiError, match="not valid utf-8"):
        read_subtitles(p, encoding="utf-8")


@pytest.mark.parametrize("content", [b"", b"   \n\r\n", b"WEBVTT\n\n"])
def test_empty_subtitles_are_refused(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "a.vtt"
    p.write_bytes(content)
    with pytest.raises(SgtuiError, match="empty|no subtitle lines"):
        read_subtitles(p)


def test_markup_stripping_joins_cjk_without_spaces() -> None:
    assert strip_markup("{\\an8}你好\\N世界") == "你好世界"
    assert strip_markup("<b>Hi</b>\\Nthere\\hyou") == "Hi there you"


def test_ssa_v4_with_marked_field(tmp_path: Path, recwarn) -> None:
    p = tmp_path / "a.ssa"
    p.write_text(
        "[Script Info]\nScriptType: v4.00\n\n[V4 Styles]\nFormat: Name, Fontname, Fontsize, "
        "PrimaryColour, SecondaryColour, TertiaryColour, BackColour, Bold, Italic, BorderStyle, "
        "Outline, Shadow, Alignment, MarginL, MarginR, MarginV, AlphaLevel, Encoding\n"
        "Style: Default,Arial,20,16777215,255,0,0,0,0,1,2,1,2,10,10,10,0,1\n"
        "Style: Songs,Arial,20,16777215,255,0,0,0,0,1,2,1,2,10,10,10,0,1\n\n[Events]\n"
        "Format: Marked, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
        "Dialogue: Marked=0,0:00:01.00,0:00:02.00,Default,Kyon,0000,0000,0000,,Hello\\Nworld\n"
        "Dialogue: Marked=0,0:00:03.00,0:00:04.00,Songs,,0000,0000,0000,,la la\n",
        encoding="utf-8")
    doc = read_subtitles(p)
    assert doc.format == "ssa"
    cues, _ = select_styles(doc)
    assert [(c.text, c.style, c.actor) for c in cues] == [("Hello world", "Default", "Kyon")]
    assert not recwarn.list


def test_track_choice_prefers_dialogue_then_language() -> None:
    from sgtui.media.decode import SubtitleTrack
    from sgtui.media.embedded import choose_track

    tracks = (
        SubtitleTrack(0, 2, "hdmv_pgs_subtitle", "eng", None, False),
        SubtitleTrack(1, 3, "ass", "eng", "Signs & Songs", True),
        SubtitleTrack(2, 4, "ass", "eng", "Full Subtitles", True),
        SubtitleTrack(3, 5, "subrip", "jpn", None, True),
    )
    assert choose_track(tracks, None, None, "v").number == 2
    assert choose_track(tracks, None, "ja", "v").number == 3
    assert choose_track(tracks, None, "jpn", "v").number == 3
    assert choose_track(tracks, None, "fr", "v").number == 2  # no French: first dialogue track
    assert choose_track(tracks, 1, None, "v").number == 1  # an explicit --track wins
    with pytest.raises(SgtuiError, match="picture track"):
        choose_track(tracks, 0, None, "v")
    with pytest.raises(SgtuiError, match="no text subtitle track"):
        choose_track(tracks[:1], None, None, "v")
