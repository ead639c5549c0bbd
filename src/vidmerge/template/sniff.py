"""What a file really is, from its first bytes: for refusals that say "is a GIF image, not a font".

Only a name for messages: the checks that decide (fontTools and FreeType, Pillow, PyAV) read the
whole file. A file whose first bytes match nothing known is "text" when they decode as UTF-8.
"""

from __future__ import annotations

from pathlib import Path

FONT_MAGIC = (b"\x00\x01\x00\x00", b"OTTO", b"true", b"ttcf")  # TrueType, CFF OpenType, Mac TrueType, collection
HEAD_BYTES = 64

_KNOWN: tuple[tuple[bytes, int, str], ...] = (  # (magic, offset, what it is)
    (b"\x00\x01\x00\x00", 0, "a TrueType font"),
    (b"OTTO", 0, "an OpenType font"),
    (b"true", 0, "a TrueType font"),
    (b"ttcf", 0, "a font collection"),
    (b"wOFF", 0, "a WOFF web font"),
    (b"wOF2", 0, "a WOFF2 web font"),
    (b"\x89PNG\r\n\x1a\n", 0, "a PNG image"),
    (b"\xff\xd8\xff", 0, "a JPEG image"),
    (b"WEBP", 8, "a WebP image"),
    (b"GIF8", 0, "a GIF image"),
    (b"BM", 0, "a BMP image"),
    (b"II*\x00", 0, "a TIFF image"),
    (b"MM\x00*", 0, "a TIFF image"),
    (b"<svg", 0, "an SVG image"),
    (b"<?xml", 0, "an XML document"),
    (b"%PDF", 0, "a PDF document"),
    (b"PK\x03\x04", 0, "a zip archive"),
    (b"ftyp", 4, "an MP4/MOV video"),
    (b"\x1aE\xdf\xa3", 0, "a Matroska/WebM video"),
    (b"ID3", 0, "an MP3 audio file"),
    (b"OggS", 0, "an Ogg audio file"),
    (b"RIFF", 0, "a RIFF (WAV/AVI) file"),
    (b"#EXTM3U", 0, "an HLS playlist"),
    (b"\x7fELF", 0, "an executable"),
    (b"MZ", 0, "a Windows executable"),
)


def head(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(HEAD_BYTES)


def describe(data: bytes) -> str:
    """ "a GIF image", "text", "unrecognised data": what the first bytes of a file say it is."""
    for magic, offset, what in _KNOWN:
        if data[offset : offset + len(magic)] == magic:
            return what
    if not data:
        return "an empty file"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:  # a multi-byte character cut at the end of the head is text still
        return "text" if exc.start >= len(data) - 3 and exc.reason == "unexpected end of data" else "unrecognised data"
    return "text"


def is_font(data: bytes) -> bool:
    return data[:4] in FONT_MAGIC
