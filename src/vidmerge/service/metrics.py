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
        self.segments = Counter("vidmerge_segments", "Dynamic segments by source", ["source"], registry=r)
        self.queue_depth = Gauge("vidmerge_queue_depth", "Renders waiting in the embedded queue", registry=r)
        self.cache_hits = Counter("vidmerge_cache_hits", "Requests answered from cache", ["kind"], registry=r)


METRICS = Metrics()
