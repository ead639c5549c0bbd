"""A bounded load run against a live server: concurrent webhook calls, each retried several times.

`calls` requests stand for `unique` customer requests, each sent several times at once with its
Idempotency-Key, as an MA tool retries (asyncio + httpx on loopback). Every accepted call of one
request must come back with the same render id: that is what "rendered exactly once" looks like
from the caller's side (the test checks the server side).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx


@dataclass(frozen=True)
class LoadReport:
    calls: int
    unique: int
    accepted: int  # 200 or 202
    created: int  # 202: a new render
    errors: int  # anything else, transport errors included
    p50_ms: float
    p99_ms: float
    seconds: float
    renders: Mapping[int, frozenset[str]] = field(repr=False)  # value index -> render ids seen
    error_samples: tuple[str, ...] = ()

    @property
    def exactly_once(self) -> bool:
        return len(self.renders) == self.unique and all(len(ids) == 1 for ids in self.renders.values())


async def run_load(
    base_url: str,
    template_id: str,
    *,
    calls: int = 200,
    unique: int = 20,
    headers: Mapping[str, str] | None = None,
    data_field: str = "name",
    timeout: float = 60.0,
) -> LoadReport:
    """Fire `calls` webhook requests at once; return latencies, errors and render ids per value."""
    run = uuid.uuid4().hex[:8]
    limits = httpx.Limits(max_connections=calls, max_keepalive_connections=calls)
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout, limits=limits) as client:
        began = time.perf_counter()
        results = await asyncio.gather(
            *(_call(client, template_id, n, n % unique, run, data_field, headers or {}) for n in range(calls))
        )
        seconds = time.perf_counter() - began
    return _report(results, calls, unique, seconds)


async def _call(
    client: httpx.AsyncClient,
    template_id: str,
    n: int,
    value: int,
    run: str,
    data_field: str,
    headers: Mapping[str, str],
) -> tuple[int, float, int, str]:
    """(value index, latency ms, status or -1, render id or error text)."""
    body = json.dumps({"template_id": template_id, "data": {data_field: f"load {run} {value}"}})
    sent = {"content-type": "application/json", "Idempotency-Key": f"load-{run}-{value}", **headers}
    t0 = time.perf_counter()
    try:
        response = await client.post("/v1/renders", content=body, headers=sent)
    except httpx.HTTPError as exc:
        return value, (time.perf_counter() - t0) * 1000, -1, type(exc).__name__
    ms = (time.perf_counter() - t0) * 1000
    if response.status_code in (200, 202):
        return value, ms, response.status_code, str(response.json()["render_id"])
    return value, ms, response.status_code, response.text[:200]


def _report(results: list[tuple[int, float, int, str]], calls: int, unique: int, seconds: float) -> LoadReport:
    latencies = sorted(ms for _, ms, _, _ in results)
    renders: dict[int, set[str]] = {}
    errors: list[str] = []
    for value, _, status, text in results:
        if status in (200, 202):
            renders.setdefault(value, set()).add(text)
        else:
            errors.append(f"{status}: {text}")
    return LoadReport(
        calls=calls,
        unique=unique,
        accepted=sum(1 for r in results if r[2] in (200, 202)),
        created=sum(1 for r in results if r[2] == 202),
        errors=len(errors),
        p50_ms=round(statistics.median(latencies), 1),
        p99_ms=round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1),
        seconds=round(seconds, 3),
        renders={k: frozenset(v) for k, v in renders.items()},
        error_samples=tuple(errors[:5]),
    )
