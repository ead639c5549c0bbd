"""What the console shows of a template before customers get it: a storyboard (a frame of each
segment, the slots' boxes, the personalized seconds), each slot drawn with given values over its
base frame (no encode), and the edge-case matrix: customers a marketer would not think of (the
longest name, one character, each rare kanji, every choice, the limits), each with what to look at:
text cut or shrunk, broken over lines, or too small to read on a phone.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
from PIL import Image

from vidmerge.draw.layers import slot_state
from vidmerge.draw.slots.text import TextSlot, text_style
from vidmerge.draw.typography import layout
from vidmerge.engine.loaded import LoadedVersion
from vidmerge.engine.pipeline import personalize
from vidmerge.errors import InvalidInput
from vidmerge.plan import Drawn
from vidmerge.storage import local_copy

THUMB_WIDTH = 480
# A customer per rare kanji, where fonts and normalisation fail: 𠮷 (U+20BB7), 髙, 﨑 and 塚 (U+FA10)
RARE = ("𠮷野", "髙橋", "山﨑", "\ufa10本")
PHONE_WIDTH = 390  # CSS px: the video across a phone's screen
MIN_PHONE_PX = 14  # text smaller than this there is hard to read


# -- frames ---------------------------------------------------------------------------------------


_FRAMES: OrderedDict[tuple[str, float], Image.Image] = OrderedDict()  # (prepared key, t) -> picture
_FRAMES_LOCK = threading.Lock()


def base_frame(loaded: LoadedVersion, t: float) -> Image.Image:
    """The base clip's picture at `t` seconds, decoded from its prepared segment (a few kept)."""
    key = (loaded.prepared.key, round(t, 3))
    with _FRAMES_LOCK:
        if key in _FRAMES:
            _FRAMES.move_to_end(key)
            return _FRAMES[key].copy()
    p = loaded.prepared
    index = max(i for i in range(len(p.segments)) if p.window(i)[0] <= t + 1e-9)
    with local_copy(loaded.storage, p.segments[index].key) as path:
        picture = _decode(path, t - p.window(index)[0])
    with _FRAMES_LOCK:
        _FRAMES[key] = picture
        while len(_FRAMES) > 64:
            _FRAMES.popitem(last=False)
    return picture.copy()


def _decode(path: Path, at: float) -> Image.Image:
    """The frame shown `at` seconds into a segment (its last one if `at` is past the end)."""
    found = None
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        first = None
        for frame in container.decode(stream):
            if frame.time is None:
                continue
            first = frame.time if first is None else first
            if found is not None and frame.time - first > at + 1e-6:
                break
            found = frame
    if found is None:
        raise InvalidInput("the segment has no picture", where="preview")
    return found.to_image().convert("RGB")


def thumbnail(image: Image.Image, width: int = THUMB_WIDTH) -> bytes:
    height = round(image.height * width / image.width)
    out = io.BytesIO()
    image.resize((width, height), Image.Resampling.LANCZOS).save(out, "JPEG", quality=82)
    return out.getvalue()


# -- the storyboard -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Box:
    slot_id: str
    kind: str
    left: float  # percentages of the frame
    top: float
    width: float
    height: float


@dataclass(frozen=True)
class Panel:
    index: int
    start: float
    end: float
    personalized: bool
    boxes: list[Box]


def storyboard(loaded: LoadedVersion) -> list[Panel]:
    """A panel per segment: its window, whether customers' renders encode it, the slots in it."""
    p, slots = loaded.prepared, loaded.template.slots
    panels = []
    for i in range(len(p.segments)):
        start, end = p.window(i)
        shown = [s for s in slots if p.shows(s, i)]
        boxes = [Box(s.id, s.kind, 100 * s.box.x / p.width, 100 * s.box.y / p.height, 100 * s.box.w / p.width,
                     100 * s.box.h / p.height) for s in shown]  # fmt: skip
        panels.append(Panel(i, start, end, bool(shown), boxes))
    return panels


def panel_frame(loaded: LoadedVersion, index: int) -> bytes:
    start, end = loaded.prepared.window(index)
    return thumbnail(base_frame(loaded, (start + end) / 2))


# -- one customer ---------------------------------------------------------------------------------


def shown_at(loaded: LoadedVersion, slot_id: str) -> float:
    """When a slot shows its whole value at full strength: the end of its window, before it fades."""
    slot = next(s for s in loaded.template.slots if s.id == slot_id)
    return max(slot.start, slot.end - slot.style.fade_out - 2 / float(loaded.prepared.fps))


def slot_picture(loaded: LoadedVersion, slot_id: str, drawn: Drawn) -> bytes:
    """The slot drawn with its value over the base frame of its window (no encode)."""
    slot = next(s for s in loaded.template.slots if s.id == slot_id)
    t = shown_at(loaded, slot_id)
    frame = base_frame(loaded, t).convert("RGBA")
    state = slot_state(slot, drawn, t)
    if state is not None:
        pixels = slot.picture(state[0], drawn, loaded.template)
        frame.alpha_composite(pixels, dest=(slot.box.x, slot.box.y))
    return thumbnail(frame.convert("RGB"))


# -- the edge-case matrix -------------------------------------------------------------------------


Said = tuple[str, dict[str, Any]]  # (what, its details): the console words it in the marketer's language


@dataclass
class Case:
    name: Said  # what the row tries: ("longest", {"field": "name", "n": 40}), ("value", {...}), ...
    data: dict[str, Any]
    drawn: dict[str, Drawn] = field(default_factory=dict)
    flags: list[Said] = field(default_factory=list)  # what a marketer must look at
    error: str | None = None  # the row could not be drawn at all (a missing glyph or image, bad data)


def cases(loaded: LoadedVersion) -> list[Case]:
    """The rows, generated from the input specification, each drawn and flagged."""
    rows = [Case(("defaults", {}), {})]
    for f in loaded.template.spec.fields:
        if f.type == "string":
            rows += [Case(("longest", {"field": f.name, "n": f.max_length}), {f.name: "髙" * f.max_length}),
                     Case(("one_char", {"field": f.name}), {f.name: "林"}),
                     *(Case(("rare", {"field": f.name, "value": name[: f.max_length]}), {f.name: name[: f.max_length]})
                       for name in RARE)]  # fmt: skip
        for value in f.allowed or ():
            rows.append(Case(("value", {"field": f.name, "value": value}), {f.name: value}))
        for label, value in (("minimum", f.min), ("maximum", f.max)):
            if value is not None and f.type in ("integer", "number"):
                rows.append(Case((label, {"field": f.name, "value": value}), {f.name: value}))
    for row in rows:
        _draw(loaded, row)
    return rows


def _draw(loaded: LoadedVersion, case: Case) -> None:
    try:
        person = personalize(loaded, case.data)
    except InvalidInput as exc:
        case.error, case.flags = str(exc), [("cannot", {})]
        return
    case.drawn = dict(person.drawn)
    computed = {k: v for k, v in person.context.items() if k in loaded.template.spec.computed_names}
    case.flags = [*_text_flags(loaded, person.drawn), *_computed_flags(computed)]


def small_text(loaded: LoadedVersion, drawn: Mapping[str, Drawn]) -> list[Said]:
    """The text slots drawn smaller than MIN_PHONE_PX once the video fills a phone's width."""
    return [f for f in _text_flags(loaded, drawn) if f[0] == "small"]


def _text_flags(loaded: LoadedVersion, drawn: Mapping[str, Drawn]) -> list[Said]:
    found: list[Said] = []
    to_phone = PHONE_WIDTH / loaded.prepared.width
    for slot in loaded.template.slots:
        if not isinstance(slot, TextSlot) or not drawn[slot.id].text.strip():
            continue
        style = text_style(loaded.template.fonts[slot.id], slot.style)
        lay = layout(drawn[slot.id].text, style, slot.box.w, slot.box.h)
        floor = min(style.min_size or max(1, style.size // 2), style.size)
        if lay.truncated:
            found.append(("ellipsis", {"slot": slot.id}))
        elif lay.size <= floor:
            found.append(("min_size", {"slot": slot.id}))
        if len(lay.lines) > 1:
            found.append(("lines", {"slot": slot.id, "n": len(lay.lines)}))
        if lay.size * to_phone < MIN_PHONE_PX:
            found.append(("small", {"slot": slot.id, "px": f"{lay.size * to_phone:.1f}", "min": MIN_PHONE_PX}))
    return found


def _computed_flags(context: Mapping[str, Any]) -> list[Said]:
    """Computed values (or their figures) at zero or below: does the video still read right?"""
    found: list[Said] = []
    for name, value in context.items():
        figures = value.items() if isinstance(value, Mapping) else [("", value)]
        for key, number in figures:
            if isinstance(number, int | float) and not isinstance(number, bool) and number <= 0:
                found.append(("computed", {"name": f"{name}{'.' + key if key else ''}", "value": number}))
    return found
