"""Layers: the pictures laid over a segment's base frames, drawn with Pillow.

User text only ever becomes pixels here (each slot kind draws its own, draw/slots/); ffmpeg
receives raw RGBA pictures on stdin and never sees the text. Each segment gets one layer
covering the union of its visible slots' boxes, and only the pictures that change are sent.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import cast

from PIL import Image

from vidmerge.draw.slots import Box, Slot, Style
from vidmerge.errors import DrawError
from vidmerge.plan import Drawn, SegmentPlan
from vidmerge.template.bundle import Template


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
    """What a slot shows at time t: (its content, opacity), or None when hidden."""
    if not slot.start <= t < slot.end:
        return None
    return slot.content(drawn, t), _fade(slot.style, t - slot.start, slot.end - t)


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
        pixels = _picture(template, slot, content, drawn[slot.id])
        if alpha < 1.0:
            pixels = pixels.copy()
            pixels.putalpha(pixels.getchannel("A").point(lambda a, k=alpha: round(a * k)))
        canvas.alpha_composite(pixels, dest=(slot.box.x - box.x, slot.box.y - box.y))
    return canvas.tobytes()


def _picture(template: Template, slot: Slot, content: str, drawn: Drawn) -> Image.Image:
    """The slot's picture; a font or image Pillow cannot draw is a DrawError naming the slot and
    the file (a render that cannot be drawn fails at once, instead of being retried for ever)."""
    try:
        return slot.picture(content, drawn, template)
    except (OSError, ValueError) as exc:  # FreeType's "invalid outline", Pillow's UnidentifiedImageError…
        used = template.fonts[slot.id] if slot.uses_font else template.root / content
        name = used.relative_to(template.root).as_posix() if used.is_relative_to(template.root) else used.name
        reason = f"{name} cannot be drawn ({type(exc).__name__})"
        raise DrawError(reason, where=f"{slot.where}: {name}") from None
