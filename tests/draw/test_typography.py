"""Text set into a box: kinsoku line breaking, shrink-to-fit, ellipsis, pixels."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vidmerge.draw import typography
from vidmerge.draw.typography import NO_END, NO_START, TextStyle, break_lines, draw_text, layout
from vidmerge.template.fonts import font_path

FONT = font_path("default")
STYLE = TextStyle(font=FONT, size=48, stroke_width=3)


def by_count(limit: int):  # one "character cell" per character: exact, font-independent tests
    return lambda s: len(s) <= limit


def assert_kinsoku(lines: list[str] | tuple[str, ...]) -> None:
    for before, after in zip(lines, lines[1:], strict=False):
        assert after[:1] not in NO_START, (before, after)
        assert before[-1:] not in NO_END, (before, after)


# --- break_lines -----------------------------------------------------------------------------


def test_a_line_never_starts_with_closing_punctuation() -> None:
    lines = break_lines("あいうえ。かきくけこ", by_count(4))
    assert lines == ["あいう", "え。かき", "くけこ"]


def test_prolonged_sound_mark_and_small_kana_stay_with_their_kana() -> None:
    lines = break_lines("コンピューターショップ", by_count(3))
    assert_kinsoku(lines)
    assert "".join(lines) == "コンピューターショップ"
    assert all(line[0] not in "ーュョッ" for line in lines)


def test_a_line_never_ends_with_an_opening_bracket() -> None:
    lines = break_lines("ああ「いい」うう", by_count(3))
    assert lines == ["ああ", "「い", "い」う", "う"]


def test_closing_bracket_then_period_are_kept_together() -> None:
    lines = break_lines("ようこそ「田中様」。", by_count(8))
    assert lines == ["ようこそ「田中", "様」。"]


def test_latin_words_are_not_broken() -> None:
    assert break_lines("Smart Plan saves money", by_count(11)) == ["Smart Plan", "saves money"]


def test_a_word_wider_than_the_box_is_broken() -> None:
    assert break_lines("Supercalifragilistic", by_count(8)) == ["Supercal", "ifragili", "stic"]


def test_explicit_newlines_force_breaks() -> None:
    assert break_lines("田中様\nこんにちは", by_count(20)) == ["田中様", "こんにちは"]
    assert break_lines("a\n\nb", by_count(20)) == ["a", "", "b"]


def test_max_lines_stops_early_on_huge_text() -> None:
    lines = break_lines("あ" * 100_000, by_count(10), max_lines=2)
    assert lines == ["あ" * 10] * 3


def test_leading_spaces_are_dropped_at_a_break() -> None:
    assert break_lines("ab cd", by_count(2)) == ["ab", "cd"]


# --- layout ----------------------------------------------------------------------------------


def test_short_text_keeps_its_size() -> None:
    lay = layout("田中様", STYLE, 600, 120)
    assert lay == typography.Layout(48, ("田中様",), False)


def test_long_text_shrinks_before_it_is_cut() -> None:
    text = "スマートプランなら年間12,340円お得です"
    lay = layout(text, STYLE, 400, 140)
    assert 24 <= lay.size < 48
    assert not lay.truncated
    assert "".join(lay.lines) == text
    assert len(lay.lines) <= STYLE.max_lines
    assert layout(text, STYLE, 400, 140).size == lay.size  # pure and deterministic


def _width_at(text: str, size: int) -> int:
    return int(typography._font(FONT, size).getlength(text))


@pytest.mark.parametrize("tail", [1, 2, 3])
def test_a_word_is_not_split_whatever_the_length_of_its_tail(tail: int) -> None:
    text = "田中 太郎様、こんにちは"
    width = _width_at(text[:-tail], 48) + 2 * STYLE.stroke_width + 2  # at 48 px the tail would wrap
    at_full = typography._attempt(text, STYLE, 48, typography._frame(STYLE, width, 140))
    assert at_full == (text[:-tail], text[-tail:])  # the old choice: 「こんに」/「ちは」 with a 3-character tail
    lay = layout(text, STYLE, width, 140)
    assert lay == typography.Layout(48, ("田中 太郎様、", "こんにちは"), False)


@pytest.mark.parametrize(
    ("text", "chars", "max_lines", "lines"),
    [
        ("いつもありがとうございます", 5, 2, ("いつもありがとう", "ございます")),  # was いつもありがと / う…
        ("いつもありがとうございます", 5, 3, ("いつも", "ありがとう", "ございます")),  # was いつもあり / がとう…
        ("今月のご利用金額は12,345円です", 6, 2, ("今月のご利用金額は", "12,345円です")),  # was 今月のご利用金額 / は…
    ],
)
def test_lines_break_between_phrases(text: str, chars: int, max_lines: int, lines: tuple[str, ...]) -> None:
    style = replace(STYLE, max_lines=max_lines)
    width = _width_at(text[:chars], 48) + 2 * STYLE.stroke_width + 2
    lay = layout(text, style, width, 300)
    assert lay.lines == lines and not lay.truncated
    # the drawn image is the one with the breaks written out at the same size
    fixed = replace(style, size=lay.size, min_size=lay.size)
    drawn = np.asarray(draw_text(text, style, width, 300))
    assert np.array_equal(drawn, np.asarray(draw_text("\n".join(lines), fixed, width, 300)))
    assert alpha(draw_text(text, style, width, 300)).any()


def test_a_latin_word_is_not_cut_when_a_smaller_size_fits_it_whole() -> None:
    word = "Wolfeschlegelsteinhausenbergerdorffvoral"  # 40 letters
    width = _width_at(word, 30) + 2 * STYLE.stroke_width + 2  # whole from 30 px down, not at 48
    lay = layout(word, STYLE, width, 140)
    assert lay.lines == (word,) and lay.size >= 30
    name = f"{word} 様"
    assert any(word in line for line in layout(name, STYLE, width, 140).lines)


def test_a_long_name_in_the_demo_greeting_box_is_set_whole_without_a_lone_line() -> None:
    style = TextStyle(font=FONT, size=76, stroke_width=4, shadow=(3, 3), max_lines=2)
    text = (
        "寿限無寿限無五劫の擦り切れ海砂利水魚の水行末雲来末風来末食う寝る処に住む処やぶら小路の藪柑子"[:40]
        + "様、こんにちは"
    )
    lay = layout(text, style, 1000, 200)
    assert not lay.truncated and "".join(lay.lines) == text
    assert all(len(line) > 2 for line in lay.lines)


def test_an_opening_bracket_never_ends_a_line_even_before_a_space() -> None:
    lines = break_lines("お名前は「 田中 」です", by_count(5))
    assert_kinsoku(lines)
    assert all(not line.rstrip().endswith("「") for line in lines), lines


def test_too_long_text_is_cut_with_an_ellipsis_at_min_size() -> None:
    lay = layout("寿限無" * 200, STYLE, 600, 140)
    assert lay.truncated
    assert lay.size == 24
    assert len(lay.lines) == 2
    assert lay.lines[-1].endswith("…")


def test_min_size_and_custom_ellipsis_are_honoured() -> None:
    style = replace(STYLE, min_size=40, ellipsis="...", max_lines=1)
    lay = layout("寿限無" * 50, style, 600, 200)
    assert (lay.size, lay.truncated, len(lay.lines)) == (40, True, 1)
    assert lay.lines[0].endswith("...")


@pytest.mark.parametrize("max_lines", [1, 2, 3])
def test_max_lines_is_honoured(max_lines: int) -> None:
    style = replace(STYLE, max_lines=max_lines)
    lay = layout("ご契約ありがとうございます。" * 10, style, 500, 1000)
    assert len(lay.lines) == max_lines


def test_box_height_limits_the_lines() -> None:
    style = replace(STYLE, max_lines=5)
    lay = layout("ご契約ありがとうございます。" * 10, style, 500, 50)
    assert len(lay.lines) == 1


def test_empty_text_has_no_lines() -> None:
    assert layout("  \n ", STYLE, 300, 100).lines == ()


# --- draw_text -----------------------------------------------------------------------------


def alpha(image) -> np.ndarray:
    return np.asarray(image)[:, :, 3]


def test_render_is_exact_size_rgba_with_ink() -> None:
    image = draw_text("田中様", STYLE, 400, 100)
    assert image.mode == "RGBA"
    assert image.size == (400, 100)
    assert (alpha(image) == 255).sum() > 500
    assert alpha(image)[0, 0] == 0


def test_empty_text_renders_transparent() -> None:
    assert alpha(draw_text("", STYLE, 50, 20)).max() == 0


def test_stroke_colour_and_fill_colour_both_appear() -> None:
    style = replace(STYLE, color="#ff0000", stroke_color="#0000ff", stroke_width=4)
    pixels = np.asarray(draw_text("田", style, 120, 120)).reshape(-1, 4)
    opaque = pixels[pixels[:, 3] == 255]
    assert ((opaque[:, 0] == 255) & (opaque[:, 2] == 0)).any()  # fill
    assert ((opaque[:, 2] == 255) & (opaque[:, 0] == 0)).any()  # stroke


def test_shadow_is_semi_transparent_and_offset() -> None:
    style = replace(STYLE, stroke_width=0, shadow=(6, 6), shadow_color="#00000080")
    a = alpha(draw_text("■", style, 120, 120))
    assert ((a > 100) & (a < 160)).sum() > 50  # the shadow peeking out: half transparent


@pytest.mark.parametrize(("align", "valign"), [("left", "top"), ("right", "bottom"), ("center", "middle")])
def test_alignment_moves_the_ink(align: str, valign: str) -> None:
    style = replace(STYLE, align=align, valign=valign, stroke_width=0)
    ys, xs = np.nonzero(alpha(draw_text("田", style, 400, 200)))
    cx, cy = xs.mean() / 400, ys.mean() / 200
    expect = {"left": 0.06, "center": 0.5, "right": 0.94, "top": 0.12, "middle": 0.5}
    expect["bottom"] = 0.88
    assert abs(cx - expect[align]) < 0.08
    assert abs(cy - expect[valign]) < 0.1


def test_background_plate_fills_the_box_behind_text() -> None:
    style = replace(STYLE, background="#20408080", color="#ffffff", stroke_width=0)
    pixels = np.asarray(draw_text("田", style, 200, 100))
    assert tuple(pixels[0, 0]) == (0x20, 0x40, 0x80, 0x80)
    assert (pixels[:, :, 3] == 255).any()  # the text itself is opaque over the plate
    assert alpha(draw_text(" ", style, 20, 20)).max() == 0  # no plate without text


def test_bad_alignment_is_rejected() -> None:
    with pytest.raises(ValueError):
        draw_text("a", replace(STYLE, align="justify"), 10, 10)


HOSTILE = [
    'O\'Brien: "quoted" \\backslash\\ ,comma;',
    "%{pts} %{localtime} %{eif\\:n\\:d}",
    "{{ 7*7 }} {% raw %} ${HOME} $(rm -rf /)",
    "drawtext=text='x':fontfile=/etc/passwd",
    "田" * 10_000,
    "Wolfeschlegelsteinhausenbergerdorff" * 300,
    "𠮷野 髙橋 﨑山 塚本 德川 草彅",
    "\n\n\n",
    "\t \u3000",
    "「「「「「「「「「「",
    "。。。。。。。。。。。。。。。。。。。。。。。。。。",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_strings_render_without_error(text: str) -> None:
    image = draw_text(text, STYLE, 640, 120)
    assert image.size == (640, 120)
    lay = layout(text, STYLE, 640, 120)
    assert len(lay.lines) <= STYLE.max_lines


def test_special_characters_are_drawn_as_characters() -> None:
    plain = alpha(draw_text("77", STYLE, 400, 100))
    template = alpha(draw_text("{{ 7*7 }}", STYLE, 400, 100))
    assert (template > 0).sum() > (plain > 0).sum()  # drawn as typed, not evaluated to 49


# --- properties ------------------------------------------------------------------------------

ALPHABET = "あいうえおかきくけこ田中様年円お得漢字ーっゃュッ、。！」』）「『（ ABCxyz019,.!?"
NARROW = TextStyle(font=FONT, size=32, max_lines=3, min_size=20)


def no_group_wider_than(text: str, size: int, width: int) -> bool:
    """Kinsoku can only be kept when no unbreakable group is wider than the box."""
    font = typography._font(FONT, size)
    groups = [g for paragraph in text.split("\n") for g in typography._groups(paragraph)]
    return all(font.getlength(g.strip()) <= width for g in groups)


@settings(max_examples=150, deadline=None)
@given(text=st.text(alphabet=ALPHABET, max_size=80), width=st.integers(220, 700))
def test_layout_keeps_max_lines_and_kinsoku(text: str, width: int) -> None:
    lay = layout(text, NARROW, width, 400)
    assert len(lay.lines) <= NARROW.max_lines
    if not lay.truncated:
        assert "".join(lay.lines).replace(" ", "") == text.replace(" ", "")
    if no_group_wider_than(text, lay.size, width):
        assert_kinsoku(lay.lines)


@settings(max_examples=150, deadline=None)
@given(text=st.text(alphabet=ALPHABET + "\n", max_size=120), limit=st.integers(3, 12))
def test_break_lines_keeps_every_character_and_kinsoku(text: str, limit: int) -> None:
    lines = break_lines(text, by_count(limit))
    assert "".join(lines).replace(" ", "") == text.replace(" ", "").replace("\n", "")
    assert all(len(line) <= limit for line in lines)
    if all(len(g.strip()) <= limit for p in text.split("\n") for g in typography._groups(p)):
        for paragraph in text.split("\n"):
            assert_kinsoku(break_lines(paragraph, by_count(limit)))
