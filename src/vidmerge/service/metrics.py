"""Prometheus metrics, in a registry of our own (several apps in one test process stay apart)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.renders = Counter("vidmerge_renders", "Renders by final status", ["status"], registry=r)
        self.accepted = Counter("vidmerge_webhooks", "Render requests by outcome", ["outcome"], registry=r)
        self.render_seconds = Histogram(
            "vidmerge_render_seconds", "Seconds to render and package one video", registry=r,
            buckets=(0.5, 1, 2, 4, 8, 16, 32, 64, 128),
        )  # fmt: skip
        self.segments = Counter(
            "vidmerge_segments", "Dynamic segments: rendered (once per encode), cached (a render found it made), "
            "just_in_time (a viewer waited for it), refused (a rendition's that could not be ready in time)",
            ["source"], registry=r,
        )  # fmt: skip
        self.encoder_idle = Gauge(
            "vidmerge_encoder_idle_seconds", "Seconds since a segment encode started or ended, while segments wait",
            registry=r,
        )  # fmt: skip
        self.encoder_stalls = Counter(
            "vidmerge_encoder_stalls", "Times the watchdog found no encode progressing while segments waited "
            "(and recovered: bulk work continued, the running encodes set aside)", registry=r,
        )  # fmt: skip
        self.queue_depth = Gauge("vidmerge_queue_depth", "Renders waiting in the embedded queue", registry=r)
        self.cache_hits = Counter("vidmerge_cache_hits", "Requests answered from cache", ["kind"], registry=r)
        self.views = Counter("vidmerge_views", "Page sessions that played the video", registry=r)
        self.ttff = Histogram(
            "vidmerge_time_to_first_frame_seconds", "Viewers' time from page load to the first frame", registry=r,
            buckets=(0.25, 0.5, 1, 2, 4, 8, 16),
        )  # fmt: skip
        self.stalls = Counter("vidmerge_stalls", "Playback stalls viewers reported", registry=r)
        self.stall_seconds = Counter("vidmerge_stall_seconds", "Seconds viewers waited in stalls", registry=r)


METRICS = Metrics()
