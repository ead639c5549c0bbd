"""Which font file a slot uses, and whether that font can draw a given text.

Fonts are either shipped with vidmerge (``vidmerge/assets/fonts/``, package data: a Noto Sans
CJK JP subset covering JIS X 0208/0213; see its README) or carried in a template bundle.

Glyph coverage is read from the font's own ``cmap`` table by a small pure-Python reader
(formats 4 and 12), because Pillow draws a missing character silently as a box ("tofu")
and has no API to ask whether a glyph exists. A missing glyph must be an error, not a box.
"""

from __future__ import annotations

import functools
import struct
from pathlib import Path

import vidmerge
from vidmerge.errors import BundleError, GlyphError

# Package data: the same place in a checkout, an editable install and a wheel.
# Tests and deployments may point elsewhere by assigning this attribute.
SHIPPED_DIR: Path = Path(vidmerge.__file__).resolve().parent / "assets" / "fonts"

DEFAULT_FONT = "NotoSansJP-Bold"
ALIASES = {"default": DEFAULT_FONT}
FONT_SUFFIXES = (".otf", ".ttf", ".ttc", ".otc")


def known_fonts() -> list[str]:
    """Keys of the shipped fonts (file stems), plus the aliases that name one of them."""
    names = sorted(p.stem for p in SHIPPED_DIR.glob("*") if p.suffix.lower() in FONT_SUFFIXES)
    return names + sorted(alias for alias, target in ALIASES.items() if target in names)


def font_path(name: str, *, bundle_dir: Path | None = None, where: str = "font") -> Path:
    """The file of a shipped font key (or alias), else of a font file inside the bundle.

    A bundle path is relative to the bundle and may not leave it. Anything else is a
    BundleError naming the font, so a bad manifest is rejected at upload, not at render.
    """
    key = ALIASES.get(name, name)
    for suffix in FONT_SUFFIXES:
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
    """Read the font's character map now: an unreadable font fails the upload, and the first
    customer's webhook after a start does not pay for the parse (a fifth of a second for CJK)."""
    _cmap(Path(path))


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
        return _read_cmap(path.read_bytes())
    except (struct.error, KeyError) as exc:
        raise BundleError(f"not a readable font: {exc}", where=path.name) from exc


def _read_cmap(data: bytes) -> frozenset[int]:
    start = _table_directory(data)[b"cmap"]
    (count,) = struct.unpack_from(">H", data, start + 2)
    records = [struct.unpack_from(">HHI", data, start + 4 + 8 * i) for i in range(count)]
    unicode = sorted({start + offset for platform, encoding, offset in records if _unicode(platform, encoding)})
    _bounded_work(sum(_claimed(data, at) for at in unicode))  # the whole font's work, before any
    codepoints: set[int] = set()
    for at in unicode:
        codepoints |= _read_subtable(data, at)
    return frozenset(codepoints)


def _unicode(platform: int, encoding: int) -> bool:
    return platform == 0 or (platform == 3 and encoding in (1, 10))


def _table_directory(data: bytes) -> dict[bytes, int]:
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
MAX_CMAP_WORK = 1 << 21  # codepoints a font's subtables may claim in all: Unicode has 1.1 million


def _bounded_work(claimed: int) -> None:
    """A cmap claiming more codepoints than Unicode holds is malformed (or hostile): it would
    take minutes and gigabytes to expand, so it is refused before expanding."""
    if claimed > MAX_CMAP_WORK:
        raise struct.error(f"cmap claims {claimed} codepoints")


def _claimed(data: bytes, at: int) -> int:
    """How many codepoints a subtable claims (every group counts one at least), without expanding."""
    (fmt,) = struct.unpack_from(">H", data, at)
    if fmt == 4:
        segs = struct.unpack_from(">H", data, at + 6)[0] // 2
        ends = struct.unpack_from(f">{segs}H", data, at + 14)
        starts = struct.unpack_from(f">{segs}H", data, at + 16 + 2 * segs)
        return sum(max(1, e - s + 1) for s, e in zip(starts, ends, strict=True))
    if fmt == 12:
        return sum(max(1, min(last, MAX_CODEPOINT) - first + 1) for first, last, _ in _groups(data, at))
    return 0


def _groups(data: bytes, at: int) -> list[tuple[int, int, int]]:
    """A format-12 subtable's groups: as many as it says, and no more than the file holds."""
    (count,) = struct.unpack_from(">I", data, at + 12)
    count = min(count, max(0, (len(data) - at - 16) // 12))
    return [struct.unpack_from(">III", data, at + 16 + 12 * i) for i in range(count)]


def _read_subtable(data: bytes, at: int) -> set[int]:
    (fmt,) = struct.unpack_from(">H", data, at)
    if fmt == 4:
        return _format4(data, at)
    if fmt == 12:
        return _format12(data, at)
    return set()  # formats 0/2/6/13/14 never carry anything our fonts need


def _format4(data: bytes, at: int) -> set[int]:
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
            if glyph:
                found.add(cp)
    return found


def _format12(data: bytes, at: int) -> set[int]:
    found: set[int] = set()
    for first, last, glyph in _groups(data, at):
        last = min(last, MAX_CODEPOINT)
        # a group starting at glyph 0 maps its first codepoint to .notdef: not a glyph
        found.update(range(first + (glyph == 0), last + 1))
    return found
