"""The template manifest (`template.yaml`): every field, its type and its default.

A manifest is data, validated once at load. Expressions are Jinja2 strings evaluated in the
resolver's sandbox; nothing here is executed. See docs/templates.md for the prose version.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError, field_validator

from vidmerge.draw.slots import KINDS, Slot
from vidmerge.errors import BundleError, Problem

MANIFEST = "template.yaml"  # the manifest's file name at the top of a bundle


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
    play_overlay: bool = False  # a ▶ button over the middle of the email GIF and the poster
    # The lower renditions of the adaptive ladder by their short side: a landscape clip's height,
    # a portrait one's width (a 9:16 clip's 360 is 360×640); the base clip's own size is the top
    # one. None: AUTO_LADDER's below the clip's short side.
    ladder: tuple[int, ...] | None = Field(None, max_length=4)

    @field_validator("ladder")
    @classmethod
    def _ladder(cls, heights: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if heights is None:
            return None
        if any(h < 90 or h > 2160 or h % 2 for h in heights):
            raise ValueError("each rung (a short side) must be even, from 90 to 2160")
        if len(set(heights)) != len(heights):
            raise ValueError("each rung once")
        return tuple(sorted(heights))


# The lower renditions offered where below the base clip's short side (Apple's HLS ladder's
# heights, for a portrait clip its widths).
# The lowest is where players start: at 234p a personalized segment costs about a fifth of the
# 720p one, so a crowd of fresh viewers gets its first segments in time (docs/bench.md).
AUTO_LADDER = (234, 360, 540, 720)


CTA_PLACEHOLDERS = ("external_id", "template_id", "campaign_id")  # what a call to action's URL may carry
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class Cta(_Model):
    """The call to action under the video and on its end card; clicks go through `/v/{token}/go`."""

    label: str = Field(min_length=1, max_length=40)
    url: str = Field(min_length=1, max_length=2000)  # http(s); may hold {external_id} and the like

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("must be an absolute http(s) URL")
        if "{" in parts.netloc:
            raise ValueError("the host is the template's: placeholders go in the path or the query")
        rest = _PLACEHOLDER.sub("", url)
        if set(_PLACEHOLDER.findall(url)) - set(CTA_PLACEHOLDERS) or "{" in rest or "}" in rest:
            raise ValueError(f"placeholders may be {', '.join('{' + p + '}' for p in CTA_PLACEHOLDERS)} only")
        return url

    def target(self, values: Mapping[str, str | None]) -> str:
        """The URL with its placeholders filled, each value percent-encoded (never a new host)."""
        return _PLACEHOLDER.sub(lambda m: quote(values.get(m.group(1)) or "", safe=""), self.url)


class Page(_Model):
    """The landing page. Title and description are what link previews show: keep them generic
    (no name, no value; they are plain text, never evaluated)."""

    title: str = Field("あなただけの動画", min_length=1, max_length=100)
    description: str = Field("あなたのために用意した動画です。", max_length=300)
    lang: Literal["ja", "en"] = "ja"
    brand_color: str = Field("#111827", pattern=r"^#[0-9a-fA-F]{6}$")
    logo: str | None = None  # an image, relative to assets/ as an image slot's `src` ("assets/" first also works)
    cta: Cta | None = None

    @property
    def logo_asset(self) -> str | None:
        """The logo relative to assets/: `logo.png`, or `assets/logo.png` as templates wrote it before."""
        return None if self.logo is None else self.logo.removeprefix("assets/")


Pushed = Literal["play", "progress", "replay", "cta_click"]  # events a tool's record may take


class HubSpotPush(_Model):
    events: tuple[Pushed, ...] = ("play", "progress", "cta_click")
    id_property: str | None = Field(None, pattern=r"^[a-z0-9_]{1,100}$")  # e.g. email; None: the record id


class MarketoPush(_Model):
    activity_type_id: int = Field(ge=1, le=2**31 - 1)  # the custom activity type the Marketo admin created
    events: tuple[Pushed, ...] = ("play", "progress", "cta_click")


class Push(_Model):
    """Page events written into the MA tool's own records (service/pushers.py)."""

    hubspot: HubSpotPush | None = None
    marketo: MarketoPush | None = None


MAX_SLOTS = 100
# what calls /v1/renders or an adapter, or the columns of a campaign's CSV
Tool = Literal["webhook", "hubspot", "braze", "sfmc", "marketo", "csv"]


class Manifest(_Model):
    """A template's manifest. Build it with `parse_manifest`, which validates each slot with the
    model of its kind first (a plain `Slot` here accepts only slots already validated)."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    version: int = Field(1, ge=1, le=2**31 - 1)  # fits an INTEGER column everywhere
    title: str = ""
    base: str = "base.mp4"  # the base clip, relative to the bundle
    output: Output = Output()
    page: Page = Page()
    push: Push = Push()
    inputs: dict[str, Any] = Field(default_factory=dict)  # the resolver's input fields
    computed: dict[str, Any] = Field(default_factory=dict)  # the resolver's computed values
    # how an MA tool's field names fill the inputs, where they differ ({hubspot: {firstname: name}});
    # without one a field fills the input of the same name
    mappings: dict[Tool, dict[str, str]] = Field(default_factory=dict)
    slots: tuple[SerializeAsAny[Slot], ...]  # each validated by its kind (draw/slots/)

    @field_validator("slots")
    @classmethod
    def _some_slots(cls, slots: tuple[Any, ...]) -> tuple[Any, ...]:
        if not slots:
            raise ValueError("a template needs at least one slot")
        return slots


def parse_manifest(raw: object, *, where: str = MANIFEST) -> Manifest:
    """Validate a loaded YAML document; every problem names its field path."""
    if not isinstance(raw, dict):
        raise BundleError("must be a mapping of fields", where=where)
    slots, problems = _slots(raw.get("slots"), where)
    try:
        manifest = Manifest.model_validate({**raw, "slots": slots})
    except ValidationError as exc:
        problems += [
            Problem(f"{where}: {_dotted(raw, e['loc'])}", e["msg"])
            for e in exc.errors()
            if not (problems and e["loc"][:1] == ("slots",))  # a bad slot is reported by itself
        ]
    if problems:
        raise BundleError("; ".join(map(str, problems)), problems=problems)
    return manifest


def _slots(raw: object, where: str) -> tuple[object, list[Problem]]:
    """Each slot validated by the model of its kind; the problems, each at `slots[id].field`."""
    if not isinstance(raw, list):
        return raw, []  # the manifest model says what is wrong with it
    if len(raw) > MAX_SLOTS:  # each slot is drawn for every customer: refused before any is read
        return raw, [Problem(f"{where}: slots", f"has {len(raw)} slots, more than {MAX_SLOTS}")]
    slots, problems = [], []
    for index, entry in enumerate(raw):
        slot_id = entry.get("id") if isinstance(entry, dict) else None
        at = f"{where}: slots[{slot_id or index}]"
        kind = KINDS.get(str(entry.get("kind"))) if isinstance(entry, dict) else None
        if kind is None:
            problems.append(Problem(f"{at}.kind", f"must be one of {', '.join(sorted(KINDS))}"))
            continue
        try:
            slots.append(kind.model_validate(entry))
        except ValidationError as exc:
            problems += [Problem(f"{at}.{_dotted(entry, e['loc'])}", e["msg"]) for e in exc.errors()]
    return slots, problems


def _dotted(raw: dict[str, Any], loc: tuple[Any, ...]) -> str:
    """`slots[greeting].end` rather than pydantic's `slots.0.end`: list items by their id."""
    parts: list[str] = []
    node: Any = raw
    for item in loc:
        if isinstance(item, int) and isinstance(node, list | tuple) and item < len(node) and parts:
            node = node[item]
            slot_id = node.get("id") if isinstance(node, dict) else None
            parts[-1] += f"[{slot_id or item}]"
            continue
        parts.append(str(item))
        node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts)
