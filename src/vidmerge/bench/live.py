"""The live half of `vidmerge bench`: a real `vidmerge serve` on its embedded defaults, driven
over HTTP on loopback.

    TTFP      webhook POST -> playlist and first segment bytes in hand, fresh customers, p50/p95
    viewers   N fresh customers at once, each playing from t=0 at 1x: stalls and stall seconds
    repeat    the same request again: latency, and how many segments it encoded (must be 0)
    MA tools  webhook latency under 50 concurrent calls, and CSV campaigns (bench/campaign.py)
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from vidmerge.bench import campaign, mixed
from vidmerge.bench.viewers import crowd, percentile, summary, ttfp_series


@contextmanager
def server(root: Path, *, workers: int = 2) -> Iterator[tuple[str, int]]:
    """`vidmerge serve` in a subprocess on a free loopback port; yields its base URL and pid."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "VIDMERGE_PORT": str(port), "VIDMERGE_DATA_DIR": str(root / "data"),
           "VIDMERGE_WORKERS": str(workers), "VIDMERGE_LOG_LEVEL": "WARNING"}  # fmt: skip
    root.mkdir(parents=True, exist_ok=True)
    log = (root / "serve.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "vidmerge", "serve"], env=env, stdout=log, stderr=log,
                            start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:  # the figures are taken: no reason to lose them
            print("vidmerge serve did not stop within 60 s of SIGTERM; killed", file=sys.stderr)
            proc.kill()
            proc.wait()
        log.close()


def _wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("vidmerge serve exited during start-up; see serve.log")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("vidmerge serve did not answer /healthz within 60 s")


def upload(url: str, bundle: Path) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "bundle.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
            for path in sorted(bundle.rglob("*")):
                if path.is_file():
                    zf.write(path, path.relative_to(bundle).as_posix())
        with archive.open("rb") as f:
            answer = httpx.post(f"{url}/v1/templates", files={"file": f}, timeout=600)
    answer.raise_for_status()
    template = answer.json()
    return str(wait_ready(url, template["id"], template["version"])["id"])


def wait_ready(url: str, template_id: str, version: int, timeout: float = 900) -> dict[str, Any]:
    """The version's record once the workers have prepared it (upload answers before that)."""
    deadline = time.monotonic() + timeout
    while True:
        record = httpx.get(f"{url}/v1/templates/{template_id}", params={"version": version}, timeout=30).json()
        if record["status"] == "ready":
            return dict(record)
        if record["status"] == "failed" or time.monotonic() > deadline:
            raise RuntimeError(f"template {template_id} v{version}: {record['status']} ({record.get('error')})")
        time.sleep(0.5)


def fresh(data: Mapping[str, Any]) -> Any:
    """Customers whose drawn values are all new: nothing of theirs is cached."""

    def make(i: int) -> dict[str, Any]:
        tag = uuid.uuid4().hex[:6]
        return {**data, "name": f"{data.get('name', '顧客')}{tag}", "monthly_kwh": 250 + (int(tag, 16) % 9000) / 10}

    return make


def encodes(url: str) -> float:
    """Segments this server has encoded so far (its Prometheus counter)."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    found = re.findall(r'^vidmerge_segments_total\{source="rendered"\} ([0-9.e+]+)$', text, re.M)
    return sum(float(v) for v in found)


def wait_done(url: str, render_ids: list[str], timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    for render_id in render_ids:
        while httpx.get(f"{url}/v1/renders/{render_id}", timeout=10).json()["status"] not in ("done", "failed"):
            if time.monotonic() > deadline:
                raise RuntimeError("renders did not finish in time")
            time.sleep(0.25)


def live_figures(
    bundle: Path, data: Mapping[str, Any], root: Path, *, ttfp_n: int = 10, viewers: int = 4,
    campaign_rows: int = 20, webhook_calls: int = 50, bulk_rows: int = 40, mixed_rows: int = 24,
) -> dict[str, Any]:  # fmt: skip
    with server(root) as (url, pid):
        template_id = upload(url, bundle)
        make = fresh(data)
        series = asyncio.run(ttfp_series(url, template_id, make, ttfp_n, pause=0.5))
        ttfps = [v.ttfp for v in series]
        wait_done(url, [v.render_id for v in series])  # the crowd starts on a quiet server
        crowds = crowd_ramp(url, template_id, make, viewers)
        body, key = {"template_id": template_id, "data": dict(data)}, {"Idempotency-Key": uuid.uuid4().hex}
        first = httpx.post(f"{url}/v1/renders", json=body, headers=key, timeout=60)
        wait_done(url, [first.json()["render_id"]])
        before = encodes(url)
        t0 = time.perf_counter()
        again = httpx.post(f"{url}/v1/renders", json=body, headers=key, timeout=60)  # the MA tool retries
        repeat_latency = time.perf_counter() - t0
        time.sleep(1.0)  # anything a repeat set in motion would show in the counter by now
        repeat_encodes = encodes(url) - before
        ma = ma_figures(url, template_id, data, pid, root / "data" / "objects", rows=campaign_rows, calls=webhook_calls)
        if mixed_rows:
            ma["mixed"] = [mixed.mixed(url, template_id, data, make, pid, background=kind, rows=mixed_rows)
                           for kind in ("campaign", "bulk_webhooks")]  # fmt: skip
        if bulk_rows:  # last: the campaign is erased unfinished
            ma["crowd_during_campaign"] = campaign.viewers_during(url, template_id, data, make, bulk_rows, 4)
    return {
        "ttfp_p50": round(percentile(ttfps, 50), 3),
        "ttfp_p95": round(percentile(ttfps, 95), 3),
        "ttfp_samples": len(ttfps),
        "crowd": crowds[0],
        "crowds": crowds,
        "viewers_asked": viewers,
        "max_viewers_without_stalls": max((c["viewers"] for c in crowds if c["stalls"] == 0), default=0),
        "repeat_latency": round(repeat_latency, 4),
        "repeat_same_urls": again.json()["render_id"] == first.json()["render_id"],
        "repeat_encodes": repeat_encodes,
        **ma,
    }


def crowd_ramp(url: str, template_id: str, make: Any, most: int) -> list[dict[str, Any]]:
    """Crowds of fresh viewers from t=0, each on a quiet server: 4, 8, 16, ... up to `most`
    (and `most` itself), until one stalls. The first is the 4-viewer crowd the targets read."""
    sizes = sorted({n for n in (4, 8, 16, 32, 64, 128) if n < most} | {most})
    found = []
    for n in sizes:
        people = asyncio.run(crowd(url, template_id, make, n))
        wait_done(url, [v.render_id for v in people])
        found.append(summary(people))
        if found[-1]["stalls"]:
            break
    return found


def ma_figures(
    url: str, template_id: str, data: Mapping[str, Any], pid: int, objects: Path, *, rows: int, calls: int
) -> dict[str, Any]:
    """Webhook latency under `calls` concurrent calls, then a campaign alone with new values and
    one with repeating values (each on a quiet server: the one before has finished)."""
    webhook, made = campaign.webhook_latency(url, template_id, fresh(data), calls=calls)
    wait_done(url, made)
    found: dict[str, Any] = {"webhook": webhook}
    for key, repeating in (("campaign_new", False), ("campaign_repeating", True)):
        if rows:
            customers = campaign.rows(data, rows, repeating=repeating)
            found[key] = campaign.campaign(url, template_id, customers, pid, objects)
    return found
