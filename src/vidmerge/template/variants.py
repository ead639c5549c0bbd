"""Variation sequences: whether a font draws 辻 + U+E0100 (the two-dot 辻) as its own glyph.

A variation selector after a character asks for one form of it (Ideographic Variation
Sequences, U+E0100..E01EF, registered in the Adobe-Japan1 collection; standardized ones,
U+FE00..FE0F). A font lists the sequences it draws in its ``cmap`` format 14 subtable; the
shipped Noto Sans CJK JP subsets keep that table. Text with a selector is drawn with HarfBuzz
(Pillow's Raqm layout), which picks the variant glyph; a sequence the font does not list would
be drawn as the base character, so it is refused instead (draw/values.py).
"""

from __future__ import annotations

import functools
import re
import struct
from pathlib import Path

from PIL import features

from vidmerge.errors import GlyphError
from vidmerge.template.fonts import _table_directory

VARIATION_SELECTORS = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]")
SEQUENCES = re.compile("(.)([\ufe00-\ufe0f\U000e0100-\U000e01ef])", re.DOTALL)
TEXT_PRESENTATION = "\ufe0e"  # asks for the text (not emoji) form: what is drawn anyway
MAX_SEQUENCES = 1 << 20  # a CJK font lists about 15,000; more is malformed or hostile


def has_selector(text: str) -> bool:
    return VARIATION_SELECTORS.search(text) is not None


def base_form(text: str) -> str:
    """The text without its variation selectors (they have no glyph of their own in the cmap)."""
    return VARIATION_SELECTORS.sub("", text)


def shaping_available() -> bool:
    """Whether Pillow has Raqm (HarfBuzz with FriBiDi), which draws variant glyphs."""
    return bool(features.check("raqm"))


def describe(base: str, selector: str) -> str:
    """``辻+U+E0100``: how a sequence is named in error messages."""
    return f"{base}+U+{ord(selector):04X}"


def missing_variants(text: str, path: Path) -> list[tuple[str, str]]:
    """(base, selector) sequences of ``text`` the font does not draw as their own form, first
    seen first."""
    listed = _sequences(Path(path))
    found = dict.fromkeys(
        (base, selector)
        for base, selector in SEQUENCES.findall(text)
        if selector != TEXT_PRESENTATION and (ord(base), ord(selector)) not in listed
    )
    return list(found)


def check_shaping(text: str, *, where: str) -> None:
    """Raise GlyphError when ``text`` asks for a variant form and Pillow cannot lay it out."""
    if has_selector(text.replace(TEXT_PRESENTATION, "")) and not shaping_available():
        raise GlyphError("variant forms need Pillow with Raqm (libraqm and libfribidi installed)", where=where)


@functools.cache
def _sequences(path: Path) -> frozenset[tuple[int, int]]:
    """Every (base, selector) pair the font's format 14 subtable lists, default or not."""
    data = path.read_bytes()
    try:
        return frozenset(pair for at in _format14_tables(data) for pair in _read_format14(data, at))
    except (struct.error, KeyError):
        return frozenset()  # fonts.load has refused unreadable fonts; a bad table draws no variant


def _format14_tables(data: bytes) -> list[int]:
    start = _table_directory(data)[b"cmap"]
    (count,) = struct.unpack_from(">H", data, start + 2)
    records = (struct.unpack_from(">HHI", data, start + 4 + 8 * i) for i in range(count))
    tables = (start + offset for _platform, _encoding, offset in records)
    return [at for at in tables if struct.unpack_from(">H", data, at)[0] == 14]


def _read_format14(data: bytes, at: int) -> set[tuple[int, int]]:
    (count,) = struct.unpack_from(">I", data, at + 6)
    pairs: set[tuple[int, int]] = set()
    for i in range(min(count, 256 + 16)):  # there are 272 selectors
        record = at + 10 + 11 * i
        selector = int.from_bytes(data[record : record + 3], "big")
        default, non_default = struct.unpack_from(">II", data, record + 3)
        bases = _default_uvs(data, at + default) if default else []
        bases += _non_default_uvs(data, at + non_default) if non_default else []
        pairs.update((base, selector) for base in bases)
        if len(pairs) > MAX_SEQUENCES:
            raise struct.error(f"format 14 lists more than {MAX_SEQUENCES} sequences")
    return pairs


def _default_uvs(data: bytes, at: int) -> list[int]:
    """Bases whose default glyph is the form asked for (ranges of up to 256 characters)."""
    bases: list[int] = []
    for entry in _entries(data, at, 4):
        first = int.from_bytes(entry[:3], "big")
        bases.extend(range(first, first + entry[3] + 1))
        if len(bases) > MAX_SEQUENCES:
            raise struct.error(f"format 14 lists more than {MAX_SEQUENCES} sequences")
    return bases


def _non_default_uvs(data: bytes, at: int) -> list[int]:
    """Bases drawn with a glyph of their own for this selector."""
    return [int.from_bytes(entry[:3], "big") for entry in _entries(data, at, 5)]


def _entries(data: bytes, at: int, size: int) -> list[bytes]:
    """A counted array's entries: as many as it says, and no more than the file holds."""
    (count,) = struct.unpack_from(">I", data, at)
    count = min(count, max(0, (len(data) - at - 4) // size))
    return [data[at + 4 + size * i : at + 4 + size * (i + 1)] for i in range(count)]
