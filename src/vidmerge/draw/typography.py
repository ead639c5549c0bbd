"""Text set into a box: choose a size, break lines the Japanese way, draw with Pillow.

``layout`` is pure (text + style + box -> size and lines) and cached; ``draw_text`` draws that
layout into a transparent RGBA image of exactly the box size. User text is only ever drawn
here, as pixels: ``:`` ``'`` ``\\`` ``%{pts}`` ``{{ 7*7 }}`` are characters, nothing more.

Line breaking follows the basics of JIS X 4051 (kinsoku shori): closing brackets, punctuation,
small kana, the prolonged sound mark and iteration marks never start a line; opening brackets
never end one. Latin words are kept whole unless one word is wider than the box. Of the sizes
that fit, the largest that breaks only between phrases (文節, found by BudouX's Japanese model,
shipped inside its wheel: 「いつも / ありがとう / ございます」) and leaves no line of one or two
characters wins (「田中 太郎様、こんに」/「ちは」 becomes 「田中 太郎様、」/「こんにちは」), then the
largest that cuts no Latin word and leaves no such line, else the largest. Call
``fonts.check_drawable`` before drawing: a character missing from the font would be a box.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path

import budoux
from PIL import Image, ImageColor, ImageDraw, ImageFont

from vidmerge.template.fonts import missing_glyphs
from vidmerge.template.variants import VARIATION_SELECTORS, has_selector

NO_START = frozenset(
    "、。，．,.・：；？！:;?!‼⁇⁈⁉‐゠–〜～ー"
    "」』）】〕〉》〙〗］｝〟”’»)]}｣"
    "ぁぃぅぇぉっゃゅょゎゕゖァィゥェォッャュョヮヵヶㇰㇱㇲㇳㇴㇵㇶㇷㇸㇹㇺㇻㇼㇽㇾㇿ"
    "ｧｨｩｪｫｬｭｮｯｰ｡､ゝゞヽヾ々〻…‥%％℃°′″゛゜"
)
NO_END = frozenset("「『（【〔〈《〘〖［｛〝“‘«([{｢")

ALIGN = {"left": 0.0, "center": 0.5, "right": 1.0}
VALIGN = {"top": 0.0, "middle": 0.5, "bottom": 1.0}


@dataclass(frozen=True)
class TextStyle:
    """How a slot's text looks. Sizes are pixels; colours are CSS hex (``#rrggbb[aa]``)."""

    font: Path
    size: int
    color: str = "#ffffff"
    stroke_width: int = 0
    stroke_color: str = "#000000"
    shadow: tuple[int, int] | None = None  # (dx, dy) offset of a drop shadow
    shadow_color: str = "#00000099"
    align: str = "center"  # left | center | right
    valign: str = "middle"  # top | middle | bottom
    max_lines: int = 2
    min_size: int = 0  # 0 means size // 2
    line_spacing: float = 1.2  # baseline-to-baseline distance, in multiples of the size
    ellipsis: str = "…"
    background: str | None = None  # a plate filling the whole box, behind non-empty text
    shaped: bool = False  # HarfBuzz layout; set by `layout` for text with a variation selector


@dataclass(frozen=True)
class Layout:
    size: int
    lines: tuple[str, ...]
    truncated: bool


@dataclass(frozen=True)
class _Frame:
    """The part of the box text may use once stroke and shadow have their room."""

    x: int
    y: int
    width: int
    height: int


# --- line breaking ---------------------------------------------------------------------------


def _no_start(ch: str) -> bool:
    return ch in NO_START or unicodedata.combining(ch) > 0 or VARIATION_SELECTORS.match(ch) is not None


def _is_cjk(ch: str) -> bool:
    """Characters that may be broken between one by one (kana, kanji, full-width forms)."""
    return ord(ch) >= 0x2E80 and not ch.isspace()


def _tokens(paragraph: str, phrases: bool) -> Iterable[str]:
    return _phrases(paragraph) if phrases else _characters(paragraph)


_SPACE_RUNS = re.compile(r"(\s+)")


@functools.cache
def _parser() -> budoux.Parser:
    return budoux.load_default_japanese_parser()  # the model is in the wheel: no download


@functools.lru_cache(maxsize=1024)
def _phrases(paragraph: str) -> tuple[str, ...]:
    """Whitespace runs and phrases (文節; Latin words), in order."""
    return tuple(token for phrase in _parser().parse(paragraph) for token in _SPACE_RUNS.split(phrase) if token)


def _characters(paragraph: str) -> Iterator[str]:
    """Whitespace runs, Latin words and single CJK characters, in order."""
    start = 0
    for i in range(1, len(paragraph) + 1):
        if i == len(paragraph) or _boundary(paragraph[i - 1], paragraph[i]):
            yield paragraph[start:i]
            start = i


def _boundary(prev: str, ch: str) -> bool:
    if prev.isspace() or ch.isspace():
        return prev.isspace() != ch.isspace()
    return _is_cjk(prev) or _is_cjk(ch)


def _groups(paragraph: str, phrases: bool = False) -> list[str]:
    """Tokens glued so that a break between two groups never breaks a kinsoku rule."""
    groups: list[str] = []
    for token in _tokens(paragraph, phrases):
        if groups and groups[-1].rstrip()[-1:] in NO_END:  # 「 田中: the space does not free the bracket
            groups[-1] += token
        elif groups and _no_start(token[0]):
            if groups[-1].isspace() and len(groups) > 1:
                space = groups.pop()
                groups[-1] += space
            groups[-1] += token
        else:
            groups.append(token)
    return groups


def _hard_cut(group: str, fits: Callable[[str], bool]) -> int:
    """Where to split a group wider than the box: as late as fits, kinsoku permitting."""
    lo, hi = 1, len(group) - 1  # the longest prefix that fits, at least one character
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(group[:mid]) else (lo, mid - 1)
    for cut in range(lo, 0, -1):
        if group[cut - 1] not in NO_END and not _no_start(group[cut]):
            return cut
    return lo


class WordTooWide(Exception):
    """A Latin word (or a phrase) does not fit the line width whole (raised when words may not
    be cut)."""


def _paragraph_lines(paragraph: str, fits: Callable[[str], bool], cut_words: bool, phrases: bool) -> Iterator[str]:
    line = ""
    for group in _groups(paragraph, phrases):
        if fits(line + group):
            line += group
            continue
        if line.strip():
            yield line.rstrip()
        line = ""
        group = group.lstrip()
        if group and not fits(group) and not cut_words and (phrases or not all(map(_is_cjk, group.rstrip()))):
            raise WordTooWide(group)
        while group and not fits(group):
            cut = _hard_cut(group, fits)
            yield group[:cut]
            group = group[cut:]
        line = group
    yield line.rstrip()


def _iter_lines(text: str, fits: Callable[[str], bool], cut_words: bool, phrases: bool) -> Iterator[str]:
    for paragraph in text.replace("\r\n", "\n").split("\n"):
        yield from _paragraph_lines(paragraph.replace("\t", " "), fits, cut_words, phrases)


def break_lines(
    text: str,
    fits: Callable[[str], bool],
    *,
    max_lines: int | None = None,
    cut_words: bool = True,
    phrases: bool = False,
) -> list[str]:
    """Break ``text`` into lines that each satisfy ``fits`` (greedy, with kinsoku).

    ``"\\n"`` forces a break. With ``max_lines``, stops after ``max_lines + 1`` lines: enough
    to know that the text overflows without breaking all of a 10,000-character name. A Latin
    word wider than a line is cut where it must, or, with ``cut_words=False``, WordTooWide.
    With ``phrases``, Japanese breaks only between phrases (文節), as Latin between words.
    """
    lines = _iter_lines(text, fits, cut_words, phrases)
    return list(lines if max_lines is None else islice(lines, max_lines + 1))


# --- layout ----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _font(path: Path, size: int, shaped: bool = False) -> ImageFont.FreeTypeFont:
    # The basic layout engine is the same on every machine, so equal inputs draw equal pixels.
    # It ignores the cmap's variation sequences: text with a selector (辻 + U+E0100) is laid out by
    # HarfBuzz, which draws the variant glyph (values.check_text refused what the font lacks).
    engine = ImageFont.Layout.RAQM if shaped else ImageFont.Layout.BASIC
    return ImageFont.truetype(str(path), size, layout_engine=engine)


def _shaping(text: str, style: TextStyle) -> TextStyle:
    return replace(style, shaped=True) if has_selector(text) and not style.shaped else style


@functools.lru_cache(maxsize=256)
def _extent(path: Path, size: int) -> tuple[int, int]:
    """(above, below) the baseline that a line's ink reaches, measured on tall glyphs."""
    probe = "国あÉÅgjpq|"
    missing = set(missing_glyphs(probe, path))
    probe = "".join(ch for ch in probe if ch not in missing) or "M"
    _left, top, _right, bottom = _font(path, size).getbbox(probe, anchor="ls")
    return math.ceil(-top), math.ceil(max(bottom, 0))


def _frame(style: TextStyle, width: int, height: int) -> _Frame:
    dx, dy = style.shadow or (0, 0)
    sw = style.stroke_width
    return _Frame(
        x=sw + max(0, -dx),
        y=sw + max(0, -dy),
        width=max(1, width - 2 * sw - abs(dx)),
        height=max(1, height - 2 * sw - abs(dy)),
    )


def _pitch(style: TextStyle, size: int) -> int:
    return max(1, round(size * style.line_spacing))


def _lines_that_fit(style: TextStyle, size: int, height: int) -> int:
    above, below = _extent(style.font, size)
    spare = height - (above + below)
    return 0 if spare < 0 else min(style.max_lines, 1 + spare // _pitch(style, size))


def _width_test(style: TextStyle, size: int, width: int) -> Callable[[str], bool]:
    font = _font(style.font, size, style.shaped)
    return lambda s: font.getlength(s) <= width


def _attempt(
    text: str, style: TextStyle, size: int, frame: _Frame, *, cut_words: bool = True, phrases: bool = False
) -> tuple[str, ...] | None:
    limit = _lines_that_fit(style, size, frame.height)
    if limit < 1:
        return None
    fits = _width_test(style, size, frame.width)
    try:
        lines = break_lines(text, fits, max_lines=limit, cut_words=cut_words, phrases=phrases)
    except WordTooWide:
        return None
    return tuple(lines) if len(lines) <= limit else None


ORPHAN = 2  # a line of this many characters or fewer, below others, reads as left behind (「は」)


def _well_broken(text: str, style: TextStyle, size: int, frame: _Frame, phrases: bool) -> tuple[str, ...] | None:
    """The lines at `size` when they cut no Latin word (nor phrase, with `phrases`) and leave no
    line of one or two characters (unless the text asked for its lines with a newline); else None."""
    lines = _attempt(text, style, size, frame, cut_words=False, phrases=phrases)
    if lines is None or "\n" in text or len(lines) < 2:
        return lines
    return None if any(len(line.strip()) <= ORPHAN for line in lines) else lines


def _truncate(text: str, style: TextStyle, size: int, frame: _Frame) -> tuple[str, ...]:
    limit = max(1, _lines_that_fit(style, size, frame.height))
    fits = _width_test(style, size, frame.width)
    lines = break_lines(text, fits, max_lines=limit)[:limit]
    last = lines[-1]
    while last and not fits(last.rstrip() + style.ellipsis):
        last = last[:-1]
    last = last.rstrip()
    while last and last[-1] in NO_END:
        last = last[:-1]
    return (*lines[:-1], last + style.ellipsis)


@functools.lru_cache(maxsize=1024)
def layout(text: str, style: TextStyle, width: int, height: int) -> Layout:
    """The largest size in [min_size, size] at which ``text`` fits the box, and its lines.

    When even ``min_size`` overflows, the text is set at ``min_size`` and its last visible
    line ends with ``style.ellipsis``.
    """
    text, style = text.strip(), _shaping(text, style)
    floor = low = min(style.min_size or max(1, style.size // 2), style.size)
    frame = _frame(style, width, height)
    if not text:
        return Layout(style.size, (), False)
    found = _largest_fit(text, style, frame, low)
    if found is None:
        return Layout(floor, _truncate(text, style, floor, frame), True)
    if len(found[1]) == 1:  # one line: nothing was cut, nothing left alone (count-up figures, names)
        return Layout(found[0], found[1], False)
    for phrases in (True, False):  # the largest size that also breaks well, if any
        for size in range(found[0], floor - 1, -1):
            lines = _well_broken(text, style, size, frame, phrases)
            if lines is not None:
                return Layout(size, lines, False)
    return Layout(found[0], found[1], False)


def _largest_fit(text: str, style: TextStyle, frame: _Frame, low: int) -> tuple[int, tuple[str, ...]] | None:
    """The largest size in [low, style.size] at which the text fits, and its lines."""
    best = _attempt(text, style, style.size, frame)
    if best is not None:
        return style.size, best
    found: tuple[int, tuple[str, ...]] | None = None
    high = style.size - 1
    while low <= high:  # binary search
        mid = (low + high + 1) // 2
        lines = _attempt(text, style, mid, frame)
        if lines is not None:
            found, low = (mid, lines), mid + 1
        else:
            high = mid - 1
    return found


# --- drawing ---------------------------------------------------------------------------------


def _masks(lay: Layout, style: TextStyle, size: tuple[int, int]) -> tuple[Image.Image, ...]:
    """Alpha masks of the outline (fill and stroke together) and of the fill alone."""
    width, height = size
    frame = _frame(style, width, height)
    font = _font(style.font, lay.size, style.shaped)
    above, below = _extent(style.font, lay.size)
    pitch = _pitch(style, lay.size)
    block = above + below + pitch * (len(lay.lines) - 1)
    top = frame.y + round((frame.height - block) * VALIGN[style.valign])
    x = frame.x + round(frame.width * ALIGN[style.align])
    anchor = {"left": "ls", "center": "ms", "right": "rs"}[style.align]
    outline, fill = Image.new("L", size), Image.new("L", size)
    draw_outline, draw_fill = ImageDraw.Draw(outline), ImageDraw.Draw(fill)
    for i, line in enumerate(lay.lines):
        y = top + above + i * pitch
        draw_outline.text((x, y), line, 255, font, anchor, stroke_width=style.stroke_width)
        draw_fill.text((x, y), line, 255, font, anchor)
    return outline, fill


def _layer(mask: Image.Image, color: str) -> Image.Image:
    rgba = ImageColor.getcolor(color, "RGBA")
    assert isinstance(rgba, tuple)
    layer = Image.new("RGBA", mask.size, rgba[:3] + (0,))
    alpha = mask if rgba[3] == 255 else mask.point(lambda v: v * rgba[3] // 255)
    layer.putalpha(alpha)
    return layer


def draw_text(text: str, style: TextStyle, width: int, height: int) -> Image.Image:
    """``text`` drawn per ``layout`` on a transparent RGBA image of exactly width × height."""
    if style.align not in ALIGN or style.valign not in VALIGN:
        raise ValueError(f"bad alignment {style.align!r}/{style.valign!r}")
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    style = _shaping(text, style)
    lay = layout(text, style, width, height)
    if not lay.lines:
        return image
    if style.background is not None:
        image.paste(ImageColor.getcolor(style.background, "RGBA"), (0, 0, width, height))
    outline, fill = _masks(lay, style, (width, height))
    if style.shadow is not None:
        shadow = Image.new("L", outline.size)
        shadow.paste(outline, style.shadow)  # not ImageChops.offset: that wraps around
        image.alpha_composite(_layer(shadow, style.shadow_color))
    if style.stroke_width > 0:
        image.alpha_composite(_layer(outline, style.stroke_color))
    image.alpha_composite(_layer(fill, style.color))
    return image
