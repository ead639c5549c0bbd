"""Simulated viewers for `vidmerge bench`: fresh customers who open their link at once.

Each viewer calls the webhook, fetches the playlist (with a ladder, its lowest rendition's, where
the page's player starts), then fetches segments in order the way a player with a generous buffer
does, and plays at 1x from the moment the first segment arrives. With a ladder it climbs as a
player on a fast network does: one rendition up for the next segment while it holds CLIMB_BUFFER
seconds ahead of the playhead; a refused segment (429: not ready in time) is asked for one
rendition down, and the refused rendition is not climbed to for PENALTY seconds (hls.js's
errorPenaltyExpireMs in the page's player).
A stall is a segment arriving after the playhead reached it; its length is how late it was.
Time to first playable (TTFP) is webhook POST -> playlist and first segment bytes in hand.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

CLIMB_BUFFER = 4.0  # seconds of video ahead of the playhead before asking for a higher rendition
PENALTY = 8.0  # seconds a refused rendition is not climbed to again


@dataclass
class Viewer:
    render_id: str = ""
    ttfp: float = 0.0
    webhook: float = 0.0
    stalls: int = 0
    stall_seconds: float = 0.0
    segment_waits: list[float] = field(default_factory=list)
    renditions: set[str] = field(default_factory=set)  # the ladder's renditions played ("top" without one)
    refused: int = 0  # segments refused as not ready in time (asked for again lower)
    stalled: list[str] = field(default_factory=list)  # "<index>@<rendition>" of each stall


async def watch(client: httpx.AsyncClient, template_id: str, data: dict[str, Any], *, play: bool = True) -> Viewer:
    viewer = Viewer()
    t0 = time.perf_counter()
    answer = await client.post("/v1/renders", json={"template_id": template_id, "data": data})
    answer.raise_for_status()
    viewer.webhook = time.perf_counter() - t0
    viewer.render_id = answer.json()["render_id"]
    hls_url = answer.json()["hls_url"]
    playlist = (await client.get(hls_url)).text
    rungs = [hls_url]
    if "#EXT-X-STREAM-INF" in playlist:  # a ladder: its lowest rendition, listed first, as the page's player starts
        rungs = [url for url, _ in _segments(playlist, hls_url.rsplit("/", 1)[0])]
        playlist = (await client.get(rungs[0])).text
    segments = _segments(playlist, rungs[0].rsplit("/", 1)[0])
    await _fetch(client, segments[0][0])
    viewer.ttfp = time.perf_counter() - t0
    if play:
        ladder = [segments] + [_segments((await client.get(u)).text, u.rsplit("/", 1)[0]) for u in rungs[1:]]
        await _play(client, ladder, viewer)
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


async def _fetch(client: httpx.AsyncClient, url: str) -> bool:
    """The segment's bytes: True once in hand, False when refused (429: a lower rendition's)."""
    for _ in range(30):  # the server answers 503 + Retry-After while a segment is still rendering
        response = await client.get(url)
        if response.status_code == 429:
            return False
        if response.status_code != 503:
            response.raise_for_status()
            return True
        await asyncio.sleep(float(response.headers.get("retry-after", "1")))
    raise RuntimeError(f"segment never became ready: {url}")


async def _play(client: httpx.AsyncClient, ladder: list[list[tuple[str, float]]], viewer: Viewer) -> None:
    """Fetch the segments after the first in order, climbing the ladder (lowest first)."""
    start = time.perf_counter()
    rung, barred = 0, [0.0] * len(ladder)  # per rendition: refused, not climbed to before then
    playhead_due = ladder[0][0][1]  # media time at which the next segment is needed
    viewer.renditions.add(_rendition(ladder[0][0][0], ladder))
    for index in range(1, len(ladder[0])):
        ahead = playhead_due - (time.perf_counter() - start - viewer.stall_seconds)
        if rung + 1 < len(ladder) and ahead >= CLIMB_BUFFER and time.perf_counter() >= barred[rung + 1]:
            rung += 1
        while not await _fetch(client, ladder[rung][index][0]):  # the lowest is never refused
            viewer.refused += 1
            barred[rung] = time.perf_counter() + PENALTY
            rung -= 1
        url, duration = ladder[rung][index]
        viewer.renditions.add(_rendition(url, ladder))
        arrived = time.perf_counter() - start - viewer.stall_seconds
        late = arrived - playhead_due
        viewer.segment_waits.append(round(late, 3))
        if late > 0:
            viewer.stalls += 1
            viewer.stall_seconds += late
            viewer.stalled.append(f"{index}@{_rendition(url, ladder)}")
        playhead_due += duration


def _rendition(url: str, ladder: list[list[tuple[str, float]]]) -> str:
    """The rendition of a segment's URL (.../r/<rendition>/seg/<n>.ts); "top" without a ladder."""
    return url.rsplit("/", 3)[1] if len(ladder) > 1 else "top"


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
        "renditions": sorted({r for v in viewers for r in v.renditions} - {"top"}, key=lambda r: int(r.rstrip("p"))),
        "refused": sum(v.refused for v in viewers),
        "stalled_segments": dict(sorted(Counter(s for v in viewers for s in v.stalled).items())),
    }
