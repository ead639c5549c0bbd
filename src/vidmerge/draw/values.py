"""The values as drawn: each slot's expression evaluated over a customer's resolved data.

What is drawn is decided here, once, at accept: the text with its final formatting, the number,
the image file. Every character is checked against the slot's font, so a name the font cannot
draw is an error in the webhook's answer, not a box in the video; so is every variant form
(辻 + U+E0100), which is drawn as itself or refused, never as its base character.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from vidmerge.draw import hints
from vidmerge.errors import GlyphError, InvalidInput
from vidmerge.plan import Drawn
from vidmerge.template import fonts, variants

if TYPE_CHECKING:
    from vidmerge.template.bundle import Template

MAX_TEXT = 500  # characters drawn in one slot; longer text is rejected, not silently cut


def drawn_values(template: Template, context: Mapping[str, object]) -> dict[str, Drawn]:
    """Evaluate each slot's expression over the resolved context; check every glyph."""
    return {slot.id: slot.drawn(template.expressions[slot.id], context, template) for slot in template.slots}


def check_text(text: str, font: Path, where: str, fields: Mapping[str, str] | None = None) -> None:
    """Text a slot may draw: not too long, every character in the font, and every variant
    form (辻 + U+E0100) in the font's variation sequences.

    A refusal names the input field (of ``fields``: name -> value) that holds what cannot be
    drawn, else the slot, and suggests a fix (「张 → 張 で描けます」, a font to add)."""
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"text is {len(text)} characters; at most {MAX_TEXT}", where=where)
    chars = fonts.missing_glyphs(variants.base_form(text), font)
    forms = variants.missing_variants(text, font)
    if chars or forms:
        found = [(ch, f"{fonts.describe(ch)} ({hints.character_hint(ch, font)})") for ch in chars]
        found += [(base + vs, f"{variants.describe(base, vs)} ({hints.form_hint(base)})") for base, vs in forms]
        listed = "; ".join(reason for _, reason in found)
        holders = [f"data.{name}" for name, value in (fields or {}).items() if any(part in value for part, _ in found)]
        reason = f"cannot be drawn with font {Path(font).name} ({where}): {listed}"
        raise GlyphError(reason, where=", ".join(holders) or where)
    variants.check_shaping(text, where=where)


def warnings(values: Mapping[str, str]) -> list[str]:
    """What a render draws otherwise than written (slot id -> text as drawn), without the text.

    Nothing today: a variant form is drawn as itself or refused at accept (check_text)."""
    return []
