"""Text slots: an expression rendered to text (names, honorifics, plan names), laid out with
Japanese line breaking (draw/typography.py)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from PIL import Image
from pydantic import Field

from vidmerge.draw.slots.base import Bundle, Slot, Style, register
from vidmerge.draw.typography import TextStyle, draw_text
from vidmerge.draw.values import check_text
from vidmerge.plan import Drawn

if TYPE_CHECKING:
    from vidmerge.resolver import Expression


@register
class TextSlot(Slot):
    kind: Literal["text"]
    text: str = Field(min_length=1, max_length=2000)  # expression, e.g. "{{ name | honorific }}"

    source_field: ClassVar[str] = "text"

    def drawn(self, expression: Expression, context: Mapping[str, object], bundle: Bundle) -> Drawn:
        text = expression.render(context)
        fields = {name: value for name in sorted(expression.names) if isinstance(value := context.get(name), str)}
        check_text(text, bundle.fonts[self.id], self.where, fields)
        return Drawn(self.id, text)

    def picture(self, content: str, drawn: Drawn, bundle: Bundle) -> Image.Image:
        return text_pixels(content, text_style(bundle.fonts[self.id], self.style), self.box.w, self.box.h)


def text_style(font: Path, style: Style) -> TextStyle:
    """The manifest's style as the typography engine takes it."""
    return TextStyle(
        font=font,
        size=style.size,
        color=style.color,
        stroke_width=style.stroke_width,
        stroke_color=style.stroke_color,
        shadow=style.shadow,
        shadow_color=style.shadow_color,
        align=style.align,
        valign=style.valign,
        max_lines=style.max_lines,
        min_size=style.min_size,
        line_spacing=style.line_spacing,
        background=style.background,
    )


@functools.lru_cache(maxsize=16)  # a segment's fade states reuse one; a slot's picture is ~0.5 MB at 720p
def text_pixels(text: str, style: TextStyle, w: int, h: int) -> Image.Image:
    return draw_text(text, style, w, h).convert("RGBA")
