"""The template manifest (`template.yaml`): every field, its type and its default.

A manifest is data, validated once at load. Expressions are Jinja2 strings evaluated in the
resolver's sandbox; nothing here is executed. See docs/templates.md for the prose version.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import BundleError, Problem

Colour = Annotated[str, Field(pattern=r"^#([0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Box(_Model):
    """Where a slot is drawn, in pixels of the output frame."""

    x: int = Field(ge=0)
    y: int = Field(ge=0)
    w: int = Field(gt=0)
    h: int = Field(gt=0)


class Style(_Model):
    font: str = "default"  # a shipped font key, or a font file inside the bundle
    size: int = Field(48, gt=0, le=400)
    min_size: int = Field(0, ge=0)  # 0: size // 2; text shrinks down to this, then gets an ellipsis
    color: Colour = "#ffffff"
    stroke_width: int = Field(0, ge=0, le=20)
    stroke_color: Colour = "#000000"
    shadow: tuple[int, int] | None = None  # offset in pixels
    shadow_color: Colour = "#00000099"
    align: Literal["left", "center", "right"] = "center"
    valign: Literal["top", "middle", "bottom"] = "middle"
    max_lines: int = Field(2, ge=1, le=10)
    line_spacing: float = Field(1.2, ge=0.8, le=3.0)
    background: Colour | None = None  # a box behind the text
    fade_in: float = Field(0.0, ge=0)  # seconds
    fade_out: float = Field(0.0, ge=0)


class _Slot(_Model):
    id: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
    start: float = Field(ge=0)  # seconds; the window is [start, end)
    end: float = Field(gt=0)
    box: Box
    style: Style = Style()

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, end: float, info: Any) -> float:
        start = info.data.get("start")
        if start is not None and end <= start:
            raise ValueError("must be greater than start")
        return end


class TextSlot(_Slot):
    kind: Literal["text"]
    text: str = Field(min_length=1, max_length=2000)  # expression, e.g. "{{ name | honorific }}"


class NumberSlot(_Slot):
    kind: Literal["number"]
    value: str = Field(min_length=1)  # expression giving a number
    format: Literal["yen", "man", "comma", "percent", "plain"] = "yen"
    count_up: float = Field(0.0, ge=0)  # seconds of counting up from 0 at the window start
    prefix: str = ""  # literal text before the number
    suffix: str = ""


class ImageSlot(_Slot):
    kind: Literal["image"]
    src: str = Field(min_length=1)  # expression giving a path inside the bundle's assets
    fit: Literal["contain", "cover"] = "contain"


Slot = Annotated[TextSlot | NumberSlot | ImageSlot, Field(discriminator="kind")]


class Gif(_Model):
    start: float | None = None  # None: half a second after the first slot appears
    duration: float = Field(3.0, gt=0, le=6)
    width: int = Field(400, ge=64, le=800)
    fps: int = Field(10, ge=2, le=15)


class Output(_Model):
    preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium"] = "veryfast"
    crf: int = Field(20, ge=0, le=51)
    segment_seconds: float = Field(2.0, ge=0.5, le=10)
    audio_bitrate: str = Field("128k", pattern=r"^\d{2,3}k$")
    poster_at: float | None = None  # None: the middle of the first slot's window
    link_expire_days: float | None = Field(None, gt=0)  # None: links never expire; else 404 after
    gif: Gif = Gif()


class Manifest(_Model):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    version: int = Field(1, ge=1)
    title: str = ""
    base: str = "base.mp4"  # the base clip, relative to the bundle
    output: Output = Output()
    inputs: dict[str, Any] = Field(default_factory=dict)  # the resolver's input fields
    computed: dict[str, Any] = Field(default_factory=dict)  # the resolver's computed values
    slots: tuple[Slot, ...]

    @field_validator("slots")
    @classmethod
    def _some_slots(cls, slots: tuple[Any, ...]) -> tuple[Any, ...]:
        if not slots:
            raise ValueError("a template needs at least one slot")
        return slots


def parse_manifest(raw: object, *, where: str = "template.yaml") -> Manifest:
    """Validate a loaded YAML document; every problem names its field path."""
    if not isinstance(raw, dict):
        raise BundleError("must be a mapping of fields", where=where)
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        problems = [Problem(_path(where, raw, e["loc"]), e["msg"]) for e in exc.errors()]
        raise BundleError("; ".join(map(str, problems)), problems=problems) from None


def _path(where: str, raw: dict[str, Any], loc: tuple[Any, ...]) -> str:
    """`template.yaml: slots[greeting].end` rather than pydantic's `slots.0.text.end`."""
    parts: list[str] = []
    node: Any = raw
    after_index = False
    for item in loc:
        if isinstance(item, int) and isinstance(node, list | tuple) and item < len(node):
            node = node[item]
            slot_id = node.get("id") if isinstance(node, dict) else None
            parts[-1] += f"[{slot_id or item}]"
            after_index = True
            continue
        if after_index and isinstance(node, dict) and node.get("kind") == item:
            after_index = False
            continue  # pydantic's discriminator tag, not a field
        after_index = False
        parts.append(str(item))
        node = node.get(item) if isinstance(node, dict) else None
    return f"{where}: {'.'.join(parts)}"
