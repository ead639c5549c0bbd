"""Simulated viewers for `vidmerge bench`: fresh customers who open their link at once.

Each viewer calls the webhook, fetches the playlist (with a ladder, its lowest rendition's, where
the page's player starts; it does not climb), then fetches segments in order the way a player
with a generous buffer does, and plays at 1x from the moment the first segment arrives.
A stall is a segment arriving after the playhead reached it; its length is how late it was.
Time to first playable (TTFP) is webhook POST -> playlist and first segment bytes in hand.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Viewer:
    render_id: str = ""
    ttfp: float = 0.0
    webhook: float = 0.0
    stalls: int = 0
    stall_seconds: float = 0.0
    segment_waits: list[float] = field(default_factory=list)
    rendition: str = ""  # the ladder's rendition played ("" without a ladder)


async def watch(client: httpx.AsyncClient, template_id: str, data: dict[str, Any], *, play: bool = True) -> Viewer:
    viewer = Viewer()
    t0 = time.perf_counter()
    answer = await client.post("/v1/renders", json={"template_id": template_id, "data": data})
    answer.raise_for_status()
    viewer.webhook = time.perf_counter() - t0
    viewer.render_id = answer.json()["render_id"]
    hls_url = answer.json()["hls_url"]
    playlist = (await client.get(hls_url)).text
    if "#EXT-X-STREAM-INF" in playlist:  # a ladder: its lowest rendition, listed first, as the page's player starts
        hls_url = _segments(playlist, hls_url.rsplit("/", 1)[0])[0][0]
        viewer.rendition = hls_url.rsplit("/", 2)[1]
        playlist = (await client.get(hls_url)).text
    segments = _segments(playlist, hls_url.rsplit("/", 1)[0])
    await _fetch(client, segments[0][0])
    viewer.ttfp = time.perf_counter() - t0
    if play:
        await _play(client, segments, viewer)
    return viewer


def _segments(playlist: str, base: str) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    duration = 0.0
    for line in playlist.splitlines():
        if line.startswith("#EXTINF:"):
            duration = float(line[8:].split(",")[0])
        elif line and not line.startswith("#"):
            out.append((f"{base}/{line}", duration))
    return out


async def _fetch(client: httpx.AsyncClient, url: str) -> None:
    for _ in range(30):  # the server answers 503 + Retry-After while a segment is still rendering
        response = await client.get(url)
        if response.status_code != 503:
            response.raise_for_status()
            return
        await asyncio.sleep(float(response.headers.get("retry-after", "1")))
    raise RuntimeError(f"segment never became ready: {url}")


async def _play(client: httpx.AsyncClient, segments: list[tuple[str, float]], viewer: Viewer) -> None:
    start = time.perf_counter()
    playhead_due = segments[0][1]  # media time at which the next segment is needed
    for url, duration in segments[1:]:
        await _fetch(client, url)
        arrived = time.perf_counter() - start - viewer.stall_seconds
        late = arrived - playhead_due
        viewer.segment_waits.append(round(late, 3))
        if late > 0:
            viewer.stalls += 1
            viewer.stall_seconds += late
        playhead_due += duration


async def crowd(base_url: str, template_id: str, make_data: Callable[[int], dict[str, Any]], n: int) -> list[Viewer]:
    """n fresh viewers at once, each playing from t=0 at 1x."""
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        return list(await asyncio.gather(*(watch(client, template_id, make_data(i)) for i in range(n))))


async def ttfp_series(
    base_url: str, template_id: str, make_data: Callable[[int], dict[str, Any]], n: int, *, pause: float = 0.0
) -> list[Viewer]:
    """n fresh customers one after another, each stopping at its first segment (TTFP only)."""
    out: list[Viewer] = []
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        for i in range(n):
            out.append(await watch(client, template_id, make_data(i), play=False))
            await asyncio.sleep(pause)
    return out


def percentile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[max(0, min(98, round(q) - 1))]


def summary(viewers: list[Viewer]) -> dict[str, Any]:
    return {
        "viewers": len(viewers),
        "stalls": sum(v.stalls for v in viewers),
        "stall_seconds": round(sum(v.stall_seconds for v in viewers), 3),
        "ttfp_max": round(max(v.ttfp for v in viewers), 3),
        "worst_segment_margin": round(max((w for v in viewers for w in v.segment_waits), default=0.0), 3),
        "renditions": sorted({v.rendition for v in viewers if v.rendition}),
    }
