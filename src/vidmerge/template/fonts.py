"""Which font file a slot uses, and whether that font can draw a given text.

Fonts are either shipped with vidmerge (``vidmerge/assets/fonts/``, package data: a Noto Sans
CJK JP subset covering JIS X 0208/0213; see its README) or carried in a template bundle.

Glyph coverage is read from the font's own ``cmap`` table by a small pure-Python reader
(formats 4 and 12), because Pillow draws a missing character silently as a box ("tofu")
and has no API to ask whether a glyph exists. A missing glyph must be an error, not a box.
"""

from __future__ import annotations

import functools
import mmap
import struct
import unicodedata
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from fontTools.ttLib import TTFont
from PIL import ImageFont

import vidmerge
from vidmerge.errors import BundleError, GlyphError
from vidmerge.template import sniff

# Package data: the same place in a checkout, an editable install and a wheel.
# Tests and deployments may point elsewhere by assigning this attribute.
SHIPPED_DIR: Path = Path(vidmerge.__file__).resolve().parent / "assets" / "fonts"

DEFAULT_FONT = "NotoSansJP-Bold"
ALIASES = {"default": DEFAULT_FONT}
FONT_SUFFIXES = (".otf", ".ttf", ".ttc", ".otc")
Data = bytes | mmap.mmap  # a font file's bytes, read or mapped


def known_fonts() -> list[str]:
    """Keys of the shipped fonts (file stems), plus the aliases that name one of them."""
    names = sorted(p.stem for p in SHIPPED_DIR.glob("*") if p.suffix.lower() in FONT_SUFFIXES)
    return names + sorted(alias for alias, target in ALIASES.items() if target in names)


def font_path(name: str, *, bundle_dir: Path | None = None, where: str = "font") -> Path:
    """The file of a shipped font key (or alias), else of a font file inside the bundle.

    A bundle path is relative to the bundle and may not leave it; a shipped key is a bare name
    (`/usr/share/fonts/x` or `../x` would otherwise be joined onto the shipped folder). Anything
    else is a BundleError naming the font, so a bad manifest is rejected at upload, not at render.
    """
    parts = PurePosixPath(name).parts
    if name.startswith(("/", "\\")) or ".." in parts or "\\" in name or ":" in name:
        raise BundleError(f"{name!r} must be a shipped font name or a path inside the bundle", where=where)
    key = ALIASES.get(name, name)
    for suffix in FONT_SUFFIXES if len(parts) == 1 else ():
        shipped = SHIPPED_DIR / f"{key}{suffix}"
        if shipped.is_file():
            return shipped
    if bundle_dir is not None:
        found = _bundle_font(name, bundle_dir)
        if found is not None:
            return found
    choices = ", ".join(known_fonts()) or "none shipped"
    raise BundleError(
        f"unknown font {name!r}: not a shipped font ({choices}) nor a font file in the bundle",
        where=where,
    )


def _bundle_font(name: str, bundle_dir: Path) -> Path | None:
    root = bundle_dir.resolve()
    candidate = (root / name).resolve()
    if Path(name).is_absolute() or not candidate.is_relative_to(root):
        return None
    if candidate.suffix.lower() not in FONT_SUFFIXES or not candidate.is_file():
        return None
    return candidate


def load(path: Path) -> None:
    """Check a font at upload and read its character map now: a file that is not a font, that
    FreeType cannot draw with, whose `cmap` names glyphs it lacks or whose letters have no ink
    fails the upload (naming the file), and the first customer's webhook after a start does not
    pay for the parse (a fifth of a second for CJK)."""
    path = Path(path)
    data = sniff.head(path)
    if not sniff.is_font(data):
        what = sniff.describe(data)
        raise BundleError(f"is {what}, not a font (OpenType, TrueType or a collection)", where=path.name)
    _parse(path)
    _check_ink(path, _cmap(path))  # the cmap bounded by the glyph count before it is expanded


def _parse(path: Path) -> None:
    """fontTools reads the tables every drawing needs (the cmap is left to `_cmap`, bounded)."""
    try:
        with TTFont(path, lazy=True, fontNumber=0) as font:
            for tag in ("head", "hhea", "maxp"):
                _ = font[tag]  # reading a table parses it (KeyError when absent)
            outlines = any(tag in font for tag in ("glyf", "CFF ", "CFF2"))
    except Exception as exc:  # fontTools raises whatever its parsers meet (struct.error, TTLibError…)
        raise BundleError(f"not a readable font ({type(exc).__name__}: {exc})", where=path.name) from None
    if not outlines:
        raise BundleError("has no glyph outlines (no glyf or CFF table)", where=path.name)


# Characters that must have ink in any font that claims them (a name drawn with blanks is
# blank), and how many more of the font's letters and digits are tried, spread over its cmap.
INK_PROBES = "AHaz09あアン田中様"
INK_SAMPLE = 32


def _check_ink(path: Path, cmap: frozenset[int]) -> None:
    """FreeType (which draws) opens the font, and the letters it claims have outlines."""
    try:
        font = ImageFont.truetype(str(path), 48, layout_engine=ImageFont.Layout.BASIC)
        blank = [ch for ch in _ink_sample(cmap) if font.getmask(ch).getbbox() is None]
    except (OSError, ValueError) as exc:
        raise BundleError(f"FreeType cannot draw with it ({exc})", where=path.name) from None
    if blank:
        listed = ", ".join(describe(ch) for ch in blank[:5])
        raise BundleError(f"its cmap claims characters it has no outline for ({listed}): they would draw blank",
                          where=path.name)  # fmt: skip


def _ink_sample(cmap: frozenset[int]) -> list[str]:
    letters = sorted(cp for cp in cmap if unicodedata.category(chr(cp))[0] in "LN" and not _blank_by_design(cp))
    spread = letters[:: max(1, len(letters) // INK_SAMPLE)][:INK_SAMPLE]
    return list(dict.fromkeys([ch for ch in INK_PROBES if ord(ch) in cmap] + [chr(cp) for cp in spread]))


def _blank_by_design(cp: int) -> bool:
    """Letters drawn with no ink on purpose (HANGUL FILLER, BRAILLE PATTERN BLANK)."""
    name = unicodedata.name(chr(cp), "")
    return "FILLER" in name or "BLANK" in name


def missing_glyphs(text: str, path: Path) -> list[str]:
    """Characters of ``text`` (whitespace aside) the font has no glyph for, first seen first."""
    cmap = _cmap(Path(path))
    return [ch for ch in dict.fromkeys(text) if not ch.isspace() and ord(ch) not in cmap]


def describe(ch: str) -> str:
    """``U+1F600 '😀'``: how a character is named in error messages."""
    return f"U+{ord(ch):04X} {ch!r}"


def check_drawable(text: str, path: Path, *, where: str) -> None:
    """Raise GlyphError naming every character of ``text`` the font cannot draw."""
    missing = missing_glyphs(text, path)
    if missing:
        listed = ", ".join(describe(ch) for ch in missing)
        raise GlyphError(f"no glyph in font {Path(path).name} for {listed}", where=where)


@functools.cache
def _cmap(path: Path) -> frozenset[int]:
    """Every codepoint mapped by the font's Unicode cmap subtables (cached: hot path)."""
    try:
        if path.stat().st_size > MAX_FONT_BYTES:
            raise BundleError(f"font file larger than {MAX_FONT_BYTES} bytes", where=path.name)
        with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return _read_cmap(data)  # mapped: only the pages read count, not a hostile font's megabytes
    except (struct.error, KeyError, ValueError) as exc:  # ValueError: an empty file
        raise BundleError(f"not a readable font: {exc}", where=path.name) from exc


def _read_cmap(data: Data) -> frozenset[int]:
    tables = _table_directory(data)
    start = tables[b"cmap"]
    (glyphs,) = struct.unpack_from(">H", data, tables[b"maxp"] + 4)
    (count,) = struct.unpack_from(">H", data, start + 2)
    records = [struct.unpack_from(">HHI", data, start + 4 + 8 * i) for i in range(count)]
    unicode = sorted({start + offset for platform, encoding, offset in records if _unicode(platform, encoding)})
    _bounded_work((n for at in unicode for n in _claims(data, at, glyphs)), glyphs)  # before expanding any
    codepoints: set[int] = set()
    for at in unicode:
        codepoints |= _read_subtable(data, at, glyphs)
    return frozenset(codepoints)


def _unicode(platform: int, encoding: int) -> bool:
    return platform == 0 or (platform == 3 and encoding in (1, 10))


def _table_directory(data: Data) -> dict[bytes, int]:
    """Offsets of the tables of an OpenType file (first face of a collection)."""
    base = 0
    if data[:4] == b"ttcf":
        (base,) = struct.unpack_from(">I", data, 12)
    (num_tables,) = struct.unpack_from(">H", data, base + 4)
    tables = {}
    for i in range(num_tables):
        tag, _checksum, offset, _length = struct.unpack_from(">4sIII", data, base + 12 + 16 * i)
        tables[tag] = offset
    return tables


MAX_FONT_BYTES = 64 << 20  # a full CJK font is about 20 MB
MAX_CODEPOINT = 0x10FFFF
# Codepoints a font's subtables may claim in all, per glyph it has: real fonts claim fewer
# characters than they have glyphs (Noto CJK 0.7, DejaVu 0.95); a few share one glyph (spaces).
CMAP_PER_GLYPH = 4
CMAP_SLACK = 256


def _bounded_work(claims: Iterator[int], glyphs: int) -> None:
    """A cmap claiming far more characters than the font has glyphs is malformed (or hostile:
    every code point mapped to one blank glyph): it would take seconds and hundreds of
    megabytes to expand, so it is refused before expanding, counting no further than the limit."""
    limit, claimed = CMAP_PER_GLYPH * glyphs + CMAP_SLACK, 0
    for n in claims:
        claimed += n
        if claimed > limit:
            raise struct.error(f"cmap claims more than {limit} characters for a font of {glyphs} glyphs")


def _claims(data: Data, at: int, glyphs: int) -> Iterator[int]:
    """How many codepoints each segment or group of a subtable claims (one at least), without
    expanding; a format-12 group mapping to glyphs the font does not have is refused."""
    (fmt,) = struct.unpack_from(">H", data, at)
    if fmt == 4:
        segs = struct.unpack_from(">H", data, at + 6)[0] // 2
        ends = struct.unpack_from(f">{segs}H", data, at + 14)
        starts = struct.unpack_from(f">{segs}H", data, at + 16 + 2 * segs)
        yield from (max(1, e - s + 1) for s, e in zip(starts, ends, strict=True))
    elif fmt == 12:
        for first, last, glyph in _groups(data, at):
            if last > MAX_CODEPOINT or glyph + max(0, last - first) >= glyphs:
                raise struct.error(f"cmap maps U+{first:04X}–U+{last:04X} to glyphs the font does not have "
                                   f"(it has {glyphs})")  # fmt: skip
            yield max(1, last - first + 1)


def _groups(data: Data, at: int) -> Iterator[tuple[int, int, int]]:
    """A format-12 subtable's groups: as many as it says, and no more than the file holds."""
    (count,) = struct.unpack_from(">I", data, at + 12)
    count = min(count, max(0, (len(data) - at - 16) // 12))
    return (struct.unpack_from(">III", data, at + 16 + 12 * i) for i in range(count))


def _read_subtable(data: Data, at: int, glyphs: int) -> set[int]:
    (fmt,) = struct.unpack_from(">H", data, at)
    if fmt == 4:
        return _format4(data, at, glyphs)
    if fmt == 12:
        return _format12(data, at)
    return set()  # formats 0/2/6/13/14 never carry anything our fonts need


def _format4(data: Data, at: int, glyphs: int) -> set[int]:
    (seg_x2,) = struct.unpack_from(">H", data, at + 6)
    segs = seg_x2 // 2
    ends = struct.unpack_from(f">{segs}H", data, at + 14)
    starts = struct.unpack_from(f">{segs}H", data, at + 16 + seg_x2)
    deltas = struct.unpack_from(f">{segs}h", data, at + 16 + 2 * seg_x2)
    range_at = at + 16 + 3 * seg_x2
    offsets = struct.unpack_from(f">{segs}H", data, range_at)
    found: set[int] = set()
    for i in range(segs):
        for cp in range(starts[i], ends[i] + 1):
            if cp == 0xFFFF:
                continue
            if offsets[i] == 0:
                glyph = (cp + deltas[i]) & 0xFFFF
            else:
                glyph_at = range_at + 2 * i + offsets[i] + 2 * (cp - starts[i])
                (glyph,) = struct.unpack_from(">H", data, glyph_at)
                glyph = (glyph + deltas[i]) & 0xFFFF if glyph else 0
            if glyph >= glyphs:
                raise struct.error(f"cmap maps U+{cp:04X} to glyph {glyph}; the font has {glyphs}")
            if glyph:
                found.add(cp)
    return found


def _format12(data: Data, at: int) -> set[int]:
    found: set[int] = set()
    for first, last, glyph in _groups(data, at):
        # a group starting at glyph 0 maps its first codepoint to .notdef: not a glyph
        found.update(range(first + (glyph == 0), last + 1))
    return found
