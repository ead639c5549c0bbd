"""Small fonts built with fontTools for the upload checks: sane ones, and hostile ones."""

from __future__ import annotations

import io
import struct

import numpy as np
from fontTools.fontBuilder import FontBuilder
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTFont
from fontTools.ttLib.tables._g_l_y_f import Glyph
from fontTools.ttLib.tables.DefaultTable import DefaultTable

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _box() -> Glyph:
    pen = TTGlyphPen(None)
    pen.moveTo((100, 0))
    pen.lineTo((100, 700))
    pen.lineTo((500, 700))
    pen.lineTo((500, 0))
    pen.closePath()
    return pen.glyph()


def font_bytes(text: str = LETTERS, *, ink: bool = True, cmap: bytes | None = None) -> bytes:
    """A TrueType font with one glyph per character of `text`: a box, or empty (`ink=False`).
    `cmap` replaces its character map with these raw bytes (a hand-made, hostile one)."""
    names = {ord(ch): f"g{i}" for i, ch in enumerate(text)}
    glyphs = {".notdef": _box(), **{name: _box() if ink else TTGlyphPen(None).glyph() for name in names.values()}}
    fb = FontBuilder(1000, isTTF=True)
    fb.setupGlyphOrder(list(glyphs))
    fb.setupCharacterMap(names)
    fb.setupGlyf(glyphs)
    fb.setupHorizontalMetrics(dict.fromkeys(glyphs, (600, 0)))
    fb.setupHorizontalHeader(ascent=800, descent=-200)
    fb.setupNameTable({"familyName": "Test", "styleName": "Regular"})
    fb.setupOS2()
    fb.setupPost()
    if cmap is not None:
        raw = DefaultTable("cmap")
        raw.data = cmap
        fb.font["cmap"] = raw
    out = io.BytesIO()
    fb.font.save(out)
    return out.getvalue()


def format12_cmap(groups: np.ndarray) -> bytes:
    """A cmap table with one (3, 10) format-12 subtable of `groups` (rows: first, last, glyph)."""
    table = np.ascontiguousarray(groups, dtype=">u4").tobytes()
    subtable = struct.pack(">HHIII", 12, 0, 16 + len(table), 0, len(table) // 12) + table
    return struct.pack(">HHHHI", 0, 1, 3, 10, 12) + subtable


def every_code_point_font() -> bytes:
    """The hostile font of issue 25: two glyphs (.notdef and an empty one), and a cmap claiming
    every code point for the empty one, one group each (13 MB, as fontTools would write it)."""
    points = np.concatenate([np.arange(0x20, 0xD800), np.arange(0xE000, 0x110000)])
    return font_bytes("A", ink=False, cmap=format12_cmap(np.stack([points, points, np.ones_like(points)], axis=1)))


def broken_glyph_font(text: str, broken: str) -> bytes:
    """`font_bytes(text)` whose glyph for `broken` claims 60,000 points it does not hold: fontTools
    and FreeType open the font, other characters draw, that one fails ("invalid outline")."""
    data = bytearray(font_bytes(text))
    font = TTFont(io.BytesIO(bytes(data)))
    index = font.getGlyphID(font.getBestCmap()[ord(broken)])
    at = font.reader.tables["glyf"].offset + font["loca"][index]
    struct.pack_into(">hH", data, at, 1, 0)  # one contour…
    struct.pack_into(">H", data, at + 10, 60000)  # …ending at point 60,000
    return bytes(data)
