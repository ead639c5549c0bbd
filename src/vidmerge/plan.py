"""The render plan: a pure value saying which segments a render needs and what each one draws.

Building it does no I/O. A dynamic segment's storage key is the hash of what makes its pixels:
the prepared template version, the segment index and the values drawn in it. Two customers
whose drawn values agree in a segment share that segment; a repeated request renders nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from .manifest import Slot
from .prepare import Prepared

RENDERER_VERSION = "1"  # bump when the drawing code changes pixels, to invalidate cached segments


@dataclass(frozen=True)
class Drawn:
    """A slot's value as it will be drawn: the final text, number or image."""

    slot_id: str
    text: str  # the final text (for numbers: formatted with prefix and suffix; images: the path)
    number: float | None = None  # numbers only, for count-up frames
    asset_digest: str = ""  # images only: hash of the image file


@dataclass(frozen=True)
class SegmentPlan:
    index: int
    start: float  # nominal seconds on the segment grid
    end: float
    frames: int
    pts0: int
    key: str  # storage key: the shared segment when static, the content key when dynamic
    draws: tuple[Drawn, ...] = ()

    @property
    def dynamic(self) -> bool:
        return bool(self.draws)


@dataclass(frozen=True)
class RenderPlan:
    template_id: str
    template_version: int
    prepared_key: str
    segments: tuple[SegmentPlan, ...]
    values_hash: str  # the content key of the whole render

    @property
    def dynamic(self) -> tuple[SegmentPlan, ...]:
        return tuple(s for s in self.segments if s.dynamic)


def visible(slot: Slot, start: float, end: float) -> bool:
    """Whether the slot's window [slot.start, slot.end) touches [start, end)."""
    return slot.start < end and slot.end > start


def make_plan(
    template_id: str,
    version: int,
    prepared: Prepared,
    slots: tuple[Slot, ...],
    drawn: Mapping[str, Drawn],
) -> RenderPlan:
    segments = tuple(_segment(prepared, i, slots, drawn) for i in range(len(prepared.segments)))
    values_hash = _hash([prepared.key, RENDERER_VERSION, *(s.key for s in segments)])
    return RenderPlan(template_id, version, prepared.key, segments, values_hash)


def _segment(prepared: Prepared, index: int, slots: tuple[Slot, ...], drawn: Mapping[str, Drawn]) -> SegmentPlan:
    info = prepared.segments[index]
    start, end = prepared.window(index)
    draws = tuple(drawn[s.id] for s in slots if visible(s, start, end))
    key = info.key
    if draws:
        digest = _hash([prepared.key, RENDERER_VERSION, index, *(asdict(d) for d in draws)])
        key = f"dyn/{prepared.key}/{digest}.ts"
    return SegmentPlan(index, start, end, info.frames, info.pts0, key, draws)


def _hash(parts: list[object]) -> str:
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:40]
