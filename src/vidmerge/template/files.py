"""Every file a template uses is checked by its content at upload, against what its name says.

A font is an OpenType, TrueType or collection file that fontTools and FreeType read and whose
`cmap` is honest (fonts.load); an image is the format its suffix names (under assets/, a file
with another suffix is still one of the allowed images: an image slot's `src` may name any
file there); YAML, CSV and WebVTT are UTF-8 text. The base clip is probed on its own
(media.probe_video). A refusal names the file and what it really is ("is a GIF image, not a
font"), so a GIF saved as `x.ttf` fails the upload instead of every render that draws with it.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from vidmerge.errors import BundleError, MediaRejected
from vidmerge.template import fonts, sniff
from vidmerge.template.media import probe_image

IMAGE_SUFFIXES = {".png": "a PNG image", ".jpg": "a JPEG image", ".jpeg": "a JPEG image", ".webp": "a WebP image"}
TEXT_SUFFIXES = (".yaml", ".yml", ".csv", ".vtt")


def check(path: Path, *, asset: bool) -> None:
    """Raise BundleError (or MediaRejected) naming `path` when its content is not what its name
    says; `asset`: the file is under assets/."""
    suffix = path.suffix.lower()
    if suffix in fonts.FONT_SUFFIXES:
        fonts.load(path)
    elif asset or suffix in IMAGE_SUFFIXES:
        _check_image(path, IMAGE_SUFFIXES.get(suffix))
    elif suffix in TEXT_SUFFIXES:
        _check_text(path)


def _check_image(path: Path, expected: str | None) -> None:
    what = sniff.describe(sniff.head(path))
    if what not in IMAGE_SUFFIXES.values() or expected not in (None, what):
        wanted = expected or "a PNG, JPEG or WebP image"
        raise MediaRejected(f"is {what}, not {wanted}", where=path.name)
    probe_image(path)


def _check_text(path: Path) -> None:
    bad = _first_non_utf8(path)
    if bad is not None:
        what = sniff.describe(sniff.head(path))
        found = f"is {what}" if what not in ("text", "unrecognised data") else f"has a byte at {bad} that is not UTF-8"
        raise BundleError(f"{found}, not UTF-8 text; save it as UTF-8", where=path.name)


def _first_non_utf8(path: Path) -> int | None:
    """The offset of the first byte that is not UTF-8, read in blocks (a file's end cut inside
    a character counts as its length)."""
    decoder, at = codecs.getincrementaldecoder("utf-8")(), 0
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                return at + exc.start
            at += len(block)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return at
    return None
