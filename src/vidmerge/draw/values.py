"""The values as drawn: each slot's expression evaluated over a customer's resolved data.

What is drawn is decided here, once, at accept: the text with its final formatting, the number,
the image file. Every character is checked against the slot's font, so a name the font cannot
draw is an error in the webhook's answer, not a box in the video.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from vidmerge.errors import InvalidInput
from vidmerge.plan import Drawn
from vidmerge.template import fonts

if TYPE_CHECKING:
    from vidmerge.template.bundle import Template

MAX_TEXT = 500  # characters drawn in one slot; longer text is rejected, not silently cut


def drawn_values(template: Template, context: Mapping[str, object]) -> dict[str, Drawn]:
    """Evaluate each slot's expression over the resolved context; check every glyph."""
    return {slot.id: slot.drawn(template.expressions[slot.id], context, template) for slot in template.slots}


def check_text(text: str, font: Path, where: str) -> None:
    """Text a slot may draw: not too long, and every character in the font."""
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"text is {len(text)} characters; at most {MAX_TEXT}", where=where)
    fonts.check_drawable(text, font, where=where)
