"""Number slots: an expression giving a number, formatted the Japanese way (yen, 万/億, commas),
optionally counting up from zero at the start of the window."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar, Literal

from PIL import Image
from pydantic import Field

from vidmerge.draw.slots.base import Box, Bundle, Slot, register
from vidmerge.draw.slots.text import text_pixels, text_style
from vidmerge.draw.typography import TextStyle, layout
from vidmerge.draw.values import check_text
from vidmerge.errors import ExpressionError
from vidmerge.plan import Drawn
from vidmerge.resolver.formatters import format_number

if TYPE_CHECKING:
    from vidmerge.resolver import Expression


@register
class NumberSlot(Slot):
    kind: Literal["number"]
    value: str = Field(min_length=1)  # expression giving a number
    format: Literal["yen", "man", "comma", "percent", "plain"] = "yen"
    count_up: float = Field(0.0, ge=0)  # seconds of counting up from 0 at the window start
    prefix: str = ""  # literal text before the number
    suffix: str = ""

    source_field: ClassVar[str] = "value"

    def formatted(self, number: float) -> str:
        return f"{self.prefix}{format_number(number, self.format)}{self.suffix}"

    def drawn(self, expression: Expression, context: Mapping[str, object], bundle: Bundle) -> Drawn:
        number = _as_number(expression.evaluate(context), self.where)
        text = self.formatted(number)
        check_text(text, bundle.fonts[self.id], self.where)
        return Drawn(self.id, text, number=number)

    def content(self, drawn: Drawn, t: float) -> str:
        if self.count_up <= 0 or drawn.number is None:
            return drawn.text
        progress = min(1.0, (t - self.start) / self.count_up)
        eased = 1 - (1 - progress) ** 3
        return self.formatted(drawn.number * eased if progress < 1 else drawn.number)

    def picture(self, content: str, drawn: Drawn, bundle: Bundle) -> Image.Image:
        style = text_style(bundle.fonts[self.id], self.style)
        if self.count_up > 0:
            style = _fixed_size(style, drawn.text, self.box)
        return text_pixels(content, style, self.box.w, self.box.h)


def _as_number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ExpressionError(f"expected a number, got {type(value).__name__}", where=where)
    try:
        return float(value)
    except ValueError:
        raise ExpressionError(f"expected a number, got {value!r}", where=where) from None


def _fixed_size(style: TextStyle, final: str, box: Box) -> TextStyle:
    """Count-up frames keep the size chosen for the final value, so the figure never jumps."""
    size = layout(final, style, box.w, box.h).size
    return replace(style, size=size, min_size=size)
