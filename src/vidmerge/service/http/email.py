"""What goes into an email: a snippet that works in every client (a table, the GIF or poster
linked to the page, alt text, explicit size; no `<video>`, no script), and placeholder pictures
answered at once while the render is still running (a mail proxy fetching the image at send time
never waits nor gets a 404)."""

from __future__ import annotations

import functools
import io
from html import escape

from PIL import Image

from vidmerge.engine.package import play_button

ALT = "動画を再生する"  # generic: no name, no value (the alt text shows where images are blocked)


def email_html(page_url: str, image_url: str, width: int, height: int) -> str:
    """A table-based snippet: the picture, linked to the page, at an explicit size."""
    page, image = escape(page_url, quote=True), escape(image_url, quote=True)
    return (
        f'<table role="presentation" cellpadding="0" cellspacing="0" border="0" width="{width}" '
        'style="border-collapse:collapse;"><tr><td>'
        f'<a href="{page}" target="_blank" style="text-decoration:none;">'
        f'<img src="{image}" width="{width}" height="{height}" alt="{ALT}" '
        f'style="display:block;border:0;outline:none;width:100%;max-width:{width}px;height:auto;">'
        "</a></td></tr></table>"
    )


@functools.lru_cache(maxsize=32)
def placeholder(width: int, height: int, fmt: str) -> bytes:
    """A dark frame with the engine's play button, `fmt` "JPEG" or "GIF", of the video's shape."""
    image = Image.new("RGB", (width, height), (17, 24, 39))
    diameter = max(16, min(width, height) // 3)
    with Image.open(io.BytesIO(play_button(diameter))) as button:
        image.paste(button, ((width - diameter) // 2, (height - diameter) // 2), button)
    out = io.BytesIO()
    image.save(out, fmt, quality=80) if fmt == "JPEG" else image.save(out, fmt)
    return out.getvalue()
