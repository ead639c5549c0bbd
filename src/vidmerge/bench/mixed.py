"""The mixed scenario of `vidmerge bench`: bulk work encoding (a CSV campaign, or an MA tool's
send: renders accepted on the bulk lane, as Braze Connected Content's are) when webhook renders
and fresh viewers arrive, the moment the product is sold for.

    renders   time from each webhook's answer to its render done, p50/p95 (every one must end)
    viewers   the fresh viewers' stalls, as the crowd reports them (bench/viewers.py)
    bulk      how many of its renders were done when the others arrived, when the last webhook
              render was done, and how long it took in all (it must keep going)
    stopped   the longest any ffmpeg of the server stayed stopped (SIGSTOP, state T) in a row
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from vidmerge.bench import campaign
from vidmerge.bench.viewers import Viewer, crowd, percentile, summary

SETTLE = 5.0  # seconds the bulk work runs before the others arrive: its encoders hold the CPUs
GIVE_UP = 600.0  # seconds: a render or bulk work not done by then is reported as not done


def mixed(
    url: str, template_id: str, data: Mapping[str, Any], make: Any, server_pid: int, *, background: str,
    rows: int = 24, renders: int = 6, viewers: int = 4,
) -> dict[str, Any]:  # fmt: skip
    """`background` ("campaign": a `rows`-row CSV campaign; "bulk_webhooks": `rows` renders
    accepted on the bulk lane) started, then `renders` webhook renders and `viewers` fresh
    viewers at once."""
    bulk = _Bulk(url, template_id, data, rows, background)
    time.sleep(SETTLE)
    stopped = _Stopped(server_pid)
    before = bulk.done()
    people, waits = asyncio.run(_arrive(url, template_id, make, renders, viewers))
    during = bulk.done()
    finished = bulk.wait()
    stopped.stop()
    finished_waits = [w for w in waits if w is not None]
    return {
        "background": background, "rows": rows, "renders": renders,
        "render_done_p50_s": round(percentile(finished_waits, 50), 2) if finished_waits else None,
        "render_done_p95_s": round(percentile(finished_waits, 95), 2) if finished_waits else None,
        "renders_not_done": waits.count(None),
        "viewers": summary(people) if people else None,
        "bulk_done_before": before, "bulk_done_during": during,
        "bulk_seconds": finished, "longest_stopped_s": round(stopped.longest, 1),
    }  # fmt: skip


async def _arrive(
    url: str, template_id: str, make: Any, renders: int, viewers: int
) -> tuple[list[Viewer], list[float | None]]:
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        posts = [_render_until_done(client, template_id, make(1000 + i)) for i in range(renders)]
        people, waits = await asyncio.gather(crowd(url, template_id, make, viewers), asyncio.gather(*posts))
    return people, list(waits)


async def _render_until_done(client: httpx.AsyncClient, template_id: str, data: dict[str, Any]) -> float | None:
    """Seconds from the webhook's answer to the render done; None if it was not within GIVE_UP."""
    answer = await client.post("/v1/renders", json={"template_id": template_id, "data": data})
    answer.raise_for_status()
    began = time.monotonic()
    while time.monotonic() - began < GIVE_UP:
        status = (await client.get(f"/v1/renders/{answer.json()['render_id']}")).json()["status"]
        if status in ("done", "failed"):
            return round(time.monotonic() - began, 2) if status == "done" else None
        await asyncio.sleep(0.25)
    return None


class _Bulk:
    """The bulk work: a started campaign, or `rows` renders on the bulk lane."""

    def __init__(self, url: str, template_id: str, data: Mapping[str, Any], rows: int, kind: str) -> None:
        self.url, self.began = url, time.monotonic()
        customers = campaign.rows(data, rows, repeating=False)
        if kind == "campaign":
            self.path: str | None = campaign.start(url, template_id, customers)
            self.ids: list[str] = []
        else:
            self.path, self.ids = None, [_bulk_render(url, template_id, row) for row in customers]

    def done(self) -> int:
        if self.path is not None:
            return int(httpx.get(self.path, timeout=60).json()["done"])
        states = [httpx.get(f"{self.url}/v1/renders/{i}", timeout=60).json()["status"] for i in self.ids]
        return states.count("done")

    def wait(self) -> float | None:
        """Seconds from its start to its last render done; None if not within GIVE_UP."""
        total = len(self.ids) if self.path is None else int(httpx.get(self.path, timeout=60).json()["total"])
        while self.done() < total:
            if time.monotonic() - self.began > GIVE_UP:
                return None
            time.sleep(1.0)
        return round(time.monotonic() - self.began, 1)


def _bulk_render(url: str, template_id: str, row: Mapping[str, Any]) -> str:
    """One render on the bulk lane, as an MA tool's send makes it (Braze Connected Content's)."""
    data = {k: v for k, v in row.items() if k != "external_id"}
    body = {"template_id": template_id, "data": data, "external_id": row["external_id"], "priority": "bulk"}
    answer = httpx.post(f"{url}/v1/renders", json=body, timeout=60)
    answer.raise_for_status()
    return str(answer.json()["render_id"])


class _Stopped:
    """The longest run of samples (twice a second) in which one ffmpeg of the server was stopped."""

    def __init__(self, pid: int) -> None:
        self.pid, self.longest, self._since = pid, 0.0, dict[int, float]()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(0.5):
            now, stopped = time.monotonic(), set(_stopped_children(self.pid))
            self._since = {p: self._since.get(p, now) for p in stopped}
            self.longest = max([self.longest, *(now - t for t in self._since.values())])

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def _stopped_children(pid: int) -> list[int]:
    """The server's child processes in state T (stopped)."""
    found = []
    for tasks in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children = [int(c) for c in tasks.read_text().split()]
        except OSError:
            continue
        for child in children:
            try:
                state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if state == "T":
                found.append(child)
    return found
