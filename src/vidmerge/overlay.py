"""Overlay layers: slot values drawn with Pillow into RGBA frames for one segment.

User text only ever becomes pixels here; ffmpeg receives raw RGBA pictures on stdin and never
sees the text. Each segment gets one layer covering the union of its visible slots' boxes.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path, PurePosixPath
from typing import cast

from PIL import Image

from . import fonts
from .bundle import Template
from .errors import BundleError, ExpressionError, InvalidInput
from .manifest import Box, ImageSlot, NumberSlot, Slot, Style
from .media import IMAGE_FORMATS
from .plan import Drawn, SegmentPlan
from .resolver.formatters import format_number
from .typography import TextStyle, layout, render_text

MAX_TEXT = 500  # characters drawn in one slot; longer text is rejected, not silently cut


# --- values as drawn ------------------------------------------------------------------------


def drawn_values(template: Template, context: Mapping[str, object]) -> dict[str, Drawn]:
    """Evaluate each slot's expression over the resolved context; check every glyph."""
    return {slot.id: _drawn(template, slot, context) for slot in template.slots}


def _drawn(template: Template, slot: Slot, context: Mapping[str, object]) -> Drawn:
    expr = template.expressions[slot.id]
    where = f"slots[{slot.id}]"
    if isinstance(slot, NumberSlot):
        value = expr.evaluate(context)
        number = _as_number(value, where)
        text = f"{slot.prefix}{format_number(number, slot.format)}{slot.suffix}"
        _check_text(text, template.fonts[slot.id], where)
        return Drawn(slot.id, text, number=number)
    if isinstance(slot, ImageSlot):
        path = asset_path(template.root, expr.render(context), where)
        return Drawn(slot.id, str(path.relative_to(template.root)), asset_digest=_file_digest(path))
    text = expr.render(context)
    _check_text(text, template.fonts[slot.id], where)
    return Drawn(slot.id, text)


def _as_number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ExpressionError(f"expected a number, got {type(value).__name__}", where=where)
    try:
        return float(value)
    except ValueError:
        raise ExpressionError(f"expected a number, got {value!r}", where=where) from None


def _check_text(text: str, font: Path, where: str) -> None:
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"text is {len(text)} characters; at most {MAX_TEXT}", where=where)
    fonts.check_drawable(text, font, where=where)


def asset_path(root: Path, relative: str, where: str) -> Path:
    rel = PurePosixPath(relative.strip())
    if rel.is_absolute() or ".." in rel.parts or "\\" in relative or not rel.parts:
        raise ExpressionError(f"image path {relative!r} must stay inside assets/", where=where)
    path = root / "assets" / rel
    if not path.is_file():
        raise BundleError(f"image {relative!r} is not in the bundle's assets", where=where)
    return path


@functools.cache
def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


# --- frames --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    """Where a segment's layer goes, and its pictures: only those that differ from the one
    before, each shown from a frame number (counted from the layer's first frame) until the next.
    A layer that fades in and then holds is a dozen pictures, not one per frame."""

    box: Box
    pictures: Iterator[bytes]  # raw RGBA, box-sized
    shown_from: tuple[int, ...]

    def pts_expr(self, offset: int) -> str:
        """An ffmpeg setpts expression that puts picture N at its frame number plus offset."""
        terms = [f"N+{offset}"]
        for n, (before, at) in enumerate(itertools.pairwise(self.shown_from), start=1):
            if at - before > 1:
                terms.append(f"{at - before - 1}*gte(N\\,{n})")
        return "+".join(terms)


def segment_layer(template: Template, seg: SegmentPlan, fps: Fraction) -> Layer:
    slots = [s for s in template.slots if any(d.slot_id == s.id for d in seg.draws)]
    drawn = {d.slot_id: d for d in seg.draws}
    times = [seg.start + float(n / fps) for n in range(seg.frames)]
    return _layer(template, slots, drawn, times)


def timeline_layer(template: Template, drawn: Mapping[str, Drawn], fps: Fraction, frames: int) -> Layer:
    """One layer over the whole clip (the full-render fallback and the F baseline)."""
    return _layer(template, list(template.slots), drawn, [float(n / fps) for n in range(frames)])


def _layer(template: Template, slots: list[Slot], drawn: Mapping[str, Drawn], times: list[float]) -> Layer:
    box = _union([s.box for s in slots])
    states = [tuple(slot_state(slot, drawn[slot.id], t) for slot in slots) for t in times]
    changes = tuple(n for n, state in enumerate(states) if n == 0 or state != states[n - 1])
    pictures = (_compose(template, slots, drawn, box, states[n]) for n in changes)
    return Layer(box, pictures, changes)


def _union(boxes: list[Box]) -> Box:
    x0, y0 = min(b.x for b in boxes), min(b.y for b in boxes)
    x1, y1 = max(b.x + b.w for b in boxes), max(b.y + b.h for b in boxes)
    # even offsets and sizes keep the overlay on chroma sample boundaries
    x0, y0 = x0 - x0 % 2, y0 - y0 % 2
    return Box(x=x0, y=y0, w=x1 - x0 + (x1 - x0) % 2, h=y1 - y0 + (y1 - y0) % 2)


def slot_state(slot: Slot, drawn: Drawn, t: float) -> tuple[str, float] | None:
    """What a slot shows at time t: (text or image, opacity), or None when hidden."""
    if not slot.start <= t < slot.end:
        return None
    alpha = _fade(slot.style, t - slot.start, slot.end - t)
    if isinstance(slot, NumberSlot) and slot.count_up > 0 and drawn.number is not None:
        progress = min(1.0, (t - slot.start) / slot.count_up)
        eased = 1 - (1 - progress) ** 3
        shown = drawn.number * eased if progress < 1 else drawn.number
        text = f"{slot.prefix}{format_number(shown, slot.format)}{slot.suffix}"
        return text, alpha
    return drawn.text, alpha


def _fade(style: Style, since_start: float, until_end: float) -> float:
    alpha = 1.0
    if style.fade_in > 0:
        alpha = min(alpha, since_start / style.fade_in)
    if style.fade_out > 0:
        alpha = min(alpha, until_end / style.fade_out)
    return round(max(0.0, min(1.0, alpha)), 3)


def _compose(
    template: Template,
    slots: list[Slot],
    drawn: Mapping[str, Drawn],
    box: Box,
    state: tuple[object, ...],
) -> bytes:
    canvas = Image.new("RGBA", (box.w, box.h), (0, 0, 0, 0))
    for slot, shown in zip(slots, state, strict=True):
        if shown is None:
            continue
        content, alpha = cast(tuple[str, float], shown)
        pixels = slot_pixels(template, slot, content, drawn[slot.id].text)
        if alpha < 1.0:
            pixels = pixels.copy()
            pixels.putalpha(pixels.getchannel("A").point(lambda a, k=alpha: round(a * k)))
        canvas.alpha_composite(pixels, dest=(slot.box.x - box.x, slot.box.y - box.y))
    return canvas.tobytes()


def slot_pixels(template: Template, slot: Slot, content: str, final: str) -> Image.Image:
    if isinstance(slot, ImageSlot):
        return _image_pixels(template.root / content, slot.box.w, slot.box.h, slot.fit)
    style = _text_style(template.fonts[slot.id], slot.style)
    if isinstance(slot, NumberSlot) and slot.count_up > 0:
        style = _fixed_size(style, final, slot.box)
    return _text_pixels(content, style, slot.box.w, slot.box.h)


def _fixed_size(style: TextStyle, final: str, box: Box) -> TextStyle:
    """Count-up frames keep the size chosen for the final value, so the figure never jumps."""
    size = layout(final, style, box.w, box.h).size
    return replace(style, size=size, min_size=size)


def _text_style(font: Path, style: Style) -> TextStyle:
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


@functools.lru_cache(maxsize=256)
def _text_pixels(text: str, style: TextStyle, w: int, h: int) -> Image.Image:
    return render_text(text, style, w, h).convert("RGBA")


@functools.lru_cache(maxsize=64)
def _image_pixels(path: Path, w: int, h: int, fit: str) -> Image.Image:
    with Image.open(path, formats=IMAGE_FORMATS) as im:
        im = im.convert("RGBA")
        scale = (min if fit == "contain" else max)(w / im.width, h / im.height)
        size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
        im = im.resize(size, Image.Resampling.LANCZOS)
        canvas = Image.new("RGBA", (w, h), (0, 0, 0, 0))
        canvas.paste(im, ((w - size[0]) // 2, (h - size[1]) // 2))
    return canvas
