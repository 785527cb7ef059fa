"""How recognised words and voice activity become lines (sgtui.media.asr_lines)."""

from __future__ import annotations

from sgtui.media.asr_lines import MAX_LINE_S, Line, Word, make_lines


def _words(*spec: tuple[float, float, str]) -> list[Word]:
    return [Word(a, b, t) for a, b, t in spec]


def _spans(lines: list[Line]) -> list[tuple[float, float, str]]:
    return [(round(ln.start, 2), round(ln.end, 2), ln.text(True)) for ln in lines]


def test_each_speech_stretch_is_a_line_with_its_edges_and_words() -> None:
    words = _words((1.1, 1.5, " Hello"), (1.5, 1.9, " there."), (3.05, 3.6, " Hi!"))
    lines = make_lines(words, [(3.0, 3.7), (1.0, 2.0)])
    assert _spans(lines) == [(1.0, 2.0, "Hello there."), (3.0, 3.7, "Hi!")]


def test_a_stretch_without_words_is_dropped() -> None:
    lines = make_lines(_words((1.1, 1.9, " Yes.")), [(1.0, 2.0), (5.0, 6.5)])
    assert _spans(lines) == [(1.0, 2.0, "Yes.")]


def test_a_long_pause_between_words_splits_a_stretch() -> None:
    words = _words((1.0, 1.8, " One"), (1.8, 2.4, " two."), (3.4, 4.0, " Three"),
                   (4.0, 4.9, " four."))
    lines = make_lines(words, [(0.9, 5.0)])
    assert [ln.text(True) for ln in lines] == ["One two.", "Three four."]
    assert lines[0].start == 0.9 and lines[1].end == 5.0
    assert lines[0].end <= 2.5 and lines[1].start >= 3.3  # cut inside the pause


def test_a_stretch_over_the_longest_line_is_cut_at_its_widest_gap() -> None:
    words = [Word(t, t + 0.45, " la") for t in [i * 0.5 for i in range(40)]]
    words[20] = Word(10.1, 10.5, " la")  # the widest gap: 9.95 .. 10.1
    lines = make_lines(words, [(0.0, 20.0)])
    assert len(lines) == 2 and all(ln.end - ln.start <= MAX_LINE_S for ln in lines)
    assert 9.9 <= lines[0].end <= 10.1


def test_a_fragment_under_half_a_second_joins_its_close_neighbour() -> None:
    words = _words((1.0, 2.4, " I was saying"), (2.75, 3.0, " so."), (6.0, 6.3, " Huh?"))
    lines = make_lines(words, [(1.0, 2.5), (2.7, 3.1), (6.0, 6.35)])
    # "so." (0.4 s, 0.2 s after) is merged; "Huh?" stands alone, nobody is near it
    assert _spans(lines) == [(1.0, 3.1, "I was saying so."), (6.0, 6.35, "Huh?")]


def test_a_word_voice_activity_missed_still_makes_a_line() -> None:
    lines = make_lines(_words((1.0, 1.6, " Hey"), (4.0, 4.8, " you")), [(0.95, 1.7)])
    assert _spans(lines) == [(0.95, 1.7, "Hey"), (4.0, 4.8, "you")]


def test_unspaced_scripts_join_words_without_spaces() -> None:
    lines = make_lines(_words((0.0, 0.3, "日本"), (0.3, 0.6, "統計")), [(0.0, 0.7)])
    assert lines[0].text(False) == "日本統計"


def test_a_segments_first_word_goes_where_its_second_half_is() -> None:
    # Whisper stretches a segment's first word back over the silence before it
    words = [Word(1.0, 2.9, " brother Bob."), Word(2.9, 3.7, " The", lead=True),
             Word(3.7, 4.5, " rainbow.")]
    lines = make_lines(words, [(1.0, 3.1), (3.5, 4.6)])
    assert _spans(lines) == [(1.0, 3.1, "brother Bob."), (3.5, 4.6, "The rainbow.")]


def test_a_new_recogniser_segment_starts_a_new_line_even_without_a_pause() -> None:
    # two speakers 0.2 s apart: voice activity hears one stretch, Whisper two sentences
    words = [Word(1.0, 1.5, " Are"), Word(1.5, 2.9, " you coming?"),
             Word(2.9, 3.6, " No,", lead=True), Word(3.6, 4.4, " later.")]
    lines = make_lines(words, [(1.0, 4.5)])
    assert [ln.text(True) for ln in lines] == ["Are you coming?", "No, later."]
    assert 2.9 <= lines[0].end == lines[1].start <= 3.25


def test_a_sentence_end_inside_a_segment_starts_a_new_line() -> None:
    # Whisper ran two speakers' sentences into one segment; the full stop still cuts
    words = [Word(1.0, 2.0, " Beyond the"), Word(2.0, 2.6, " horizon."),
             Word(2.8, 3.5, " A difference"), Word(3.5, 4.2, " indeed.")]
    lines = make_lines(words, [(1.0, 4.3)])
    assert [ln.text(True) for ln in lines] == ["Beyond the horizon.", "A difference indeed."]
    assert 2.6 <= lines[0].end <= lines[1].start <= 2.8
