"""What MA tools need of a live server, in `vidmerge bench`:

webhook   `calls` concurrent webhook calls for new customers while renders run: latency
          p50/p99 (Braze drops answers slower than 2 s; the target is p99 under 0.5 s)
campaign  an N-row CSV campaign of the workload: renders per hour and CPU seconds per render
          (the server and every ffmpeg it ran), once with every row's values new, once with
          the plan values repeating across rows (their segments are shared)
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from vidmerge.bench.loadtest import run_load
from vidmerge.bench.viewers import crowd, summary

Row = Callable[[int], dict[str, Any]]


def webhook_latency(url: str, template_id: str, make: Row, calls: int = 50) -> tuple[dict[str, Any], list[str]]:
    """`calls` new customers at once, with renders already running (two started just before):
    the latencies, and every render id (to wait for before the next measure)."""
    running = [
        httpx.post(f"{url}/v1/renders", json={"template_id": template_id, "data": make(i)}, timeout=60).json()
        for i in range(2)
    ]
    time.sleep(1.0)  # their encoders are running now
    report = asyncio.run(run_load(url, template_id, calls=calls, unique=calls))
    made = [r["render_id"] for r in running] + sorted({i for ids in report.renders.values() for i in ids})
    return {"calls": calls, "p50_ms": report.p50_ms, "p99_ms": report.p99_ms, "errors": report.errors}, made


def campaign(url: str, template_id: str, rows: list[dict[str, Any]], server_pid: int, objects: Path) -> dict[str, Any]:
    """Upload the rows as a CSV, start, wait for the last render; pace, CPU and the bytes the
    server's object store (`objects`) keeps per render."""
    cpu_before, began, stored_before = cpu_seconds(server_pid), time.monotonic(), stored(objects)
    peak = _PeakRss(server_pid)
    path = start(url, template_id, rows)
    while (state := httpx.get(path, timeout=60).json())["status"] != "done":
        time.sleep(1.0)
    seconds, cpu = time.monotonic() - began, cpu_seconds(server_pid) - cpu_before
    peak.stop()
    grown = {top: size - stored_before.get(top, 0) for top, size in stored(objects).items()}
    personal = grown.get("dyn", 0) + grown.get("pic", 0)  # its own segments, poster and GIF
    return {
        "rows": len(rows), "seconds": round(seconds, 1), "failed": state["failed"],
        "renders_per_hour": round(state["done"] / seconds * 3600), "cpu_s_per_render": round(cpu / len(rows), 2),
        "stored_bytes_per_render": round(sum(grown.values()) / len(rows)),
        "personal_bytes_per_render": round(personal / len(rows)),
        "stored_bytes_ratio": round(sum(grown.values()) / personal, 3) if personal else None,
        "server_peak_rss_mb": peak.mb,
    }  # fmt: skip


class _PeakRss:
    """The server process's peak resident memory while the campaign's rows wait and render,
    sampled twice a second (its ffmpeg children not included: they are bounded per encode)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.mb, self._done = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(0.5):
            with open(f"/proc/{self.pid}/status") as f:
                kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))
            self.mb = max(self.mb, kb // 1024)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def stored(objects: Path) -> dict[str, int]:
    """Bytes in a local object store by top folder: dyn (personalized segments), pic (posters and
    GIFs), renders (a render's own files: an MP4 assembled on request, a full render's), and the
    prepared templates'."""
    sizes: dict[str, int] = {}
    for path in objects.rglob("*"):
        if path.is_file():
            top = path.relative_to(objects).parts[0]
            sizes[top] = sizes.get(top, 0) + path.stat().st_size
    return sizes


def viewers_during(
    url: str, template_id: str, data: Mapping[str, Any], make: Row, n: int, viewers: int
) -> dict[str, Any]:
    """`viewers` fresh viewers from t=0 while an `n`-row campaign (new values) renders on the
    bulk lane, started a few seconds before: their stalls (interactive must never wait for
    bulk). The campaign is erased after, unfinished."""
    path = start(url, template_id, rows(data, n, repeating=False))
    time.sleep(5.0)  # its encoders hold the CPUs now
    people = asyncio.run(crowd(url, template_id, make, viewers))
    done = httpx.get(path, timeout=60).json()["done"]
    httpx.delete(path, timeout=600).raise_for_status()
    return {**summary(people), "campaign_rows": n, "campaign_done_meanwhile": done}


def start(url: str, template_id: str, rows: list[dict[str, Any]]) -> str:
    """Upload the rows as a campaign's CSV and start it; the campaign's URL."""
    upload = httpx.post(f"{url}/v1/campaigns", data={"template_id": template_id},
                        files={"file": ("rows.csv", _csv(rows), "text/csv")}, timeout=600)  # fmt: skip
    upload.raise_for_status()
    path = f"{url}/v1/campaigns/{upload.json()['campaign_id']}"
    httpx.post(f"{path}/start", timeout=60).raise_for_status()
    return path


def rows(data: Mapping[str, Any], n: int, *, repeating: bool) -> list[dict[str, Any]]:
    """`n` customers, each with a new name; usage new for each, or one of three (repeating)."""
    run = uuid.uuid4().hex[:6]
    found = []
    for i in range(n):
        kwh = (300, 420, 600)[i % 3] if repeating else 250 + (i * 7919 % 9000) / 10
        found.append({**data, "external_id": f"bench-{run}-{i}", "name": f"顧客{run}{i}", "monthly_kwh": kwh})
    return found


def _csv(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and of the children it has waited for (every ffmpeg it ran)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime
