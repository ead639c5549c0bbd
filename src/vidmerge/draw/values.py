"""The values as drawn: each slot's expression evaluated over a customer's resolved data.

What is drawn is decided here, once, at accept: the text with its final formatting, the number,
the image file. Every character is checked against the slot's font, so a name the font cannot
draw is an error in the webhook's answer, not a box in the video.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from vidmerge.errors import InvalidInput
from vidmerge.plan import Drawn
from vidmerge.template import fonts

if TYPE_CHECKING:
    from vidmerge.template.bundle import Template

MAX_TEXT = 500  # characters drawn in one slot; longer text is rejected, not silently cut
# Standardized and ideographic variation selectors (葛 + U+E0100). The text is drawn without
# OpenType layout, so every variant is drawn by its base character, with a warning on the render.
VARIATION_SELECTORS = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]")


def drawn_values(template: Template, context: Mapping[str, object]) -> dict[str, Drawn]:
    """Evaluate each slot's expression over the resolved context; check every glyph."""
    return {slot.id: slot.drawn(template.expressions[slot.id], context, template) for slot in template.slots}


def check_text(text: str, font: Path, where: str) -> None:
    """Text a slot may draw: not too long, and every character in the font (a variation
    selector is not drawn: its base character is)."""
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"text is {len(text)} characters; at most {MAX_TEXT}", where=where)
    fonts.check_drawable(base_form(text), font, where=where)


def base_form(text: str) -> str:
    """The text as it is drawn: variation selectors dropped, their base characters kept."""
    return VARIATION_SELECTORS.sub("", text)


def warnings(values: Mapping[str, str]) -> list[str]:
    """What a render draws otherwise than written (slot id -> text as drawn), without the text."""
    found = []
    for slot_id, text in values.items():
        for selector in dict.fromkeys(VARIATION_SELECTORS.findall(text)):
            found.append(f"slots[{slot_id}]: variation selector U+{ord(selector):04X} not drawn; the base character is")
    return found
