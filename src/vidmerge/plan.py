"""The render plan and the prepared-template values it is built from: pure values, no I/O.

A prepared template version (`Prepared`) is the mezzanine cut on a fixed segment grid. A render
plan says which of its segments a render needs and what each one draws. A dynamic segment's
storage key is the hash of what makes its pixels: the prepared template version, the segment
index and the values drawn in it. Two customers whose drawn values agree in a segment share that
segment; a repeated request renders nothing.

This module imports nothing heavy (no PyAV, boto3, FastAPI, SQLAlchemy or Celery): the webhook
plans with it, and so can any tool.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from fractions import Fraction
from typing import Protocol

RENDERER_VERSION = "1"  # bump when the drawing code changes pixels, to invalidate cached segments
TS_CLOCK = 90_000  # MPEG-TS timestamps tick at 90 kHz

# The files every render publishes beside its HLS playlist, and their content types.
MP4, POSTER, GIF, PLAYLIST = "video.mp4", "poster.jpg", "email.gif", "index.m3u8"
OUTPUTS = {MP4: "video/mp4", POSTER: "image/jpeg", GIF: "image/gif"}


@dataclass(frozen=True)
class SegmentInfo:
    index: int
    frames: int
    pts0: int  # first video presentation timestamp, 90 kHz ticks
    key: str  # storage key of the shared (unpersonalized) segment


@dataclass(frozen=True)
class Rendition:
    """A lower rung of the adaptive ladder: the mezzanine's picture scaled down, encoded with its
    settings on the same segment grid (every segment the same frames at the same timestamps)."""

    name: str  # "360p" (its short side): its folder under the prepared key, and its name in URLs
    width: int
    height: int
    bandwidth: int  # bits per second, as the master playlist states it (prepare.py)
    codecs: str  # RFC 6381 codecs of its segments
    segments: tuple[SegmentInfo, ...]


@dataclass(frozen=True)
class Prepared:
    """A template version's mezzanine: its encoder settings and its shared segments; and the lower
    renditions of its ladder (none for a version prepared before there were any).

    `rendition(name)` gives a rendition as a Prepared of its own (key `<key>/<name>`), so planning,
    encoding and verifying a rendition's segments is the same code as the top one's."""

    key: str
    width: int
    height: int
    fps_num: int
    fps_den: int
    gop: int  # frames per segment
    preset: str
    crf: int
    audio_bitrate: str
    segments: tuple[SegmentInfo, ...]
    bandwidth: int = 0
    codecs: str = ""
    renditions: tuple[Rendition, ...] = ()

    @property
    def name(self) -> str:
        """By the short side, as a rung of the ladder is chosen: a 9:16 clip's 360p is 360×640."""
        return f"{min(self.width, self.height)}p"

    @property
    def ladder(self) -> tuple[Prepared, ...]:
        """Every rendition as a Prepared, the lowest first and this one (the top) last."""
        return (*(self._view(r) for r in self.renditions), self)

    def rendition(self, name: str) -> Prepared | None:
        return next((p for p in self.ladder if p.name == name), None)

    def _view(self, r: Rendition) -> Prepared:
        return replace(self, key=f"{self.key}/{r.name}", width=r.width, height=r.height, segments=r.segments,
                       bandwidth=r.bandwidth, codecs=r.codecs, renditions=())  # fmt: skip

    @property
    def fps(self) -> Fraction:
        return Fraction(self.fps_num, self.fps_den)

    @property
    def frames(self) -> int:
        return sum(s.frames for s in self.segments)

    @property
    def duration(self) -> float:
        return float(self.frames / self.fps)

    def start(self, index: int) -> float:
        """Nominal start of a segment in seconds (the grid, not container timestamps)."""
        return float(index * self.gop / self.fps)

    def window(self, index: int) -> tuple[float, float]:
        """[start, end) of a segment in seconds."""
        start = self.start(index)
        return start, start + float(self.segments[index].frames / self.fps)

    def shows(self, slot: Timed, index: int) -> bool:
        """Whether any frame of segment `index` shows the slot."""
        return visible(slot, self.start(index), self.segments[index].frames, self.fps)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Prepared:
        raw = json.loads(text)
        raw["segments"] = _segments(raw["segments"])
        raw["renditions"] = tuple(Rendition(**{**r, "segments": _segments(r["segments"])})
                                  for r in raw.get("renditions", ()))  # fmt: skip
        return cls(**raw)


def _segments(raw: list[dict[str, object]]) -> tuple[SegmentInfo, ...]:
    return tuple(SegmentInfo(**s) for s in raw)  # type: ignore[arg-type]


class Timed(Protocol):
    """What the plan needs of a slot: its id and its window [start, end) in seconds."""

    @property
    def id(self) -> str: ...
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...


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


def visible(slot: Timed, first: float, frames: int, fps: Fraction) -> bool:
    """Whether one of `frames` frames from `first` on (at `fps`) falls in the slot's window
    [slot.start, slot.end): the frame times the layers draw at (draw/layers.py), so at 29.97 fps
    a slot starting at 2.0 s does not touch the segment whose last frame is at 1.969 s, although
    the grid's boundary is at 2.002 s."""
    return _visible(slot.start, slot.end, first, frames, fps)


@functools.lru_cache(maxsize=4096)  # the same for every render of a version: a webhook plans each segment
def _visible(start: float, end: float, first: float, frames: int, fps: Fraction) -> bool:
    n = max(0, math.ceil((start - first) * fps) - 1)
    while n < frames and first + float(n / fps) < start:
        n += 1
    return n < frames and first + float(n / fps) < end


def make_plan(
    template_id: str,
    version: int,
    prepared: Prepared,
    slots: Sequence[Timed],
    drawn: Mapping[str, Drawn],
) -> RenderPlan:
    segments = tuple(_segment(prepared, i, slots, drawn) for i in range(len(prepared.segments)))
    values_hash = content_hash([prepared.key, RENDERER_VERSION, *(s.key for s in segments)])
    return RenderPlan(template_id, version, prepared.key, segments, values_hash)


def _segment(prepared: Prepared, index: int, slots: Sequence[Timed], drawn: Mapping[str, Drawn]) -> SegmentPlan:
    info = prepared.segments[index]
    start, end = prepared.window(index)
    draws = tuple(drawn[s.id] for s in slots if prepared.shows(s, index))
    key = info.key
    if draws:
        digest = content_hash([prepared.key, RENDERER_VERSION, index, *(asdict(d) for d in draws)])
        key = f"dyn/{prepared.key}/{digest}.ts"
    return SegmentPlan(index, start, end, info.frames, info.pts0, key, draws)


def content_hash(parts: list[object]) -> str:
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:40]
