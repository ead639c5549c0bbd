"""Real vidmerge processes for service tests: `vidmerge serve` and `vidmerge worker`.

api = start_api(tmp, env)          # a real uvicorn process on a free port
api.post_template(bundle_zip)      # upload and prepare
r = api.post_render({...})         # the webhook
api.wait_done(r["render_id"])
"""

from __future__ import annotations

import json
import re
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx

from support.services import ProcessFixture, free_port

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "demo"  # `vidmerge demo demo` (make demo) writes it; the demo fixtures do too
VIDMERGE = [sys.executable, "-m", "vidmerge"]


def uris(playlist: str) -> list[str]:
    """The URIs of an HLS playlist, master or media, in order."""
    return [line for line in playlist.splitlines() if line and not line.startswith("#")]


def segment_paths(client: httpx.Client, playlist_path: str, rung: int = -1) -> list[str]:
    """The segment paths of a render's HLS stream: of its media playlist, or of a master
    playlist's variant `rung` (its list order: the lowest first, the top last)."""
    text = client.get(playlist_path).text
    if "#EXT-X-STREAM-INF" in text:
        playlist_path = f"{playlist_path.rsplit('/', 1)[0]}/{uris(text)[rung]}"
        text = client.get(playlist_path).text
    base = playlist_path.rsplit("/", 1)[0]
    return [f"{base}/{name}" for name in uris(text)]


def get_segment(client: httpx.Client, path: str, first: str, tries: int = 30) -> httpx.Response:
    """A segment as a player gets it: one refused as not ready in time (429: the server is busy
    with earlier viewers' segments) is asked for again a second later, in a new viewing (its
    rendition's `first` segment asked for first: the playhead back at the start)."""
    answer = client.get(path)
    for _ in range(tries):
        if answer.status_code != 429:
            break
        time.sleep(1.0)
        client.get(first)
        answer = client.get(path)
    return answer


def zip_bundle(folder: Path, dest: Path) -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.name.endswith(".part.mp4"):
                zf.write(path, path.relative_to(folder).as_posix())
    return dest


class Api(ProcessFixture):
    def __init__(self, workdir: Path, env: dict[str, str] | None = None) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.data = workdir / "data"
        full_env = {
            "VIDMERGE_PORT": str(port),
            "VIDMERGE_DATA_DIR": str(workdir / "data"),
            "VIDMERGE_REQUEUE_AFTER_SECONDS": "8",
            **(env or {}),
        }
        super().__init__(
            [*VIDMERGE, "serve"], port=port, env=full_env, log_path=workdir / "api.log",
            ready=lambda: httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200,
            startup_timeout=60,
        )  # fmt: skip
        self.client = httpx.Client(base_url=self.url, timeout=120)

    def post_template(self, archive: Path, timeout: float = 300) -> dict[str, Any]:
        """Upload (answered at once, `preparing`) and wait until the workers have prepared it."""
        with archive.open("rb") as f:
            response = self.client.post("/v1/templates", files={"file": ("bundle.zip", f, "application/zip")})
        assert response.status_code in (200, 202), response.text
        template = response.json()
        deadline = time.monotonic() + timeout
        while template["status"] == "preparing" and time.monotonic() < deadline:
            time.sleep(0.2)
            query = {"version": template["version"]}
            template = self.client.get(f"/v1/templates/{template['id']}", params=query).json()
        assert template["status"] == "ready", template
        return dict(template)

    def post_render(self, body: dict[str, Any], **headers: str) -> httpx.Response:
        return self.client.post(
            "/v1/renders", content=json.dumps(body), headers={"content-type": "application/json", **headers}
        )

    def wait_done(self, render_id: str, timeout: float = 180) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body = self.client.get(f"/v1/renders/{render_id}").json()
            if body["status"] in ("done", "failed"):
                return dict(body)
            time.sleep(0.25)
        raise AssertionError(f"render {render_id} not done in {timeout} s:\n{self.log_tail()}")


class Worker(ProcessFixture):
    """A `vidmerge worker` (Celery, concurrency 1) on `queues` (default: every lane). Ready once
    Celery logs `<node>@host ready.` since this start: a restarted worker appends to the same log,
    whose old tail already says so."""

    def __init__(self, workdir: Path, name: str, env: dict[str, str], queues: str = "") -> None:
        super().__init__(
            [*VIDMERGE, "worker", "--concurrency", "1", *(["--queues", queues] if queues else [])],
            env={"VIDMERGE_DATA_DIR": str(workdir / name), **env},
            log_path=workdir / f"{name}.log",
            ready=self._logged_ready,
            startup_timeout=60,
        )
        self._log_offset = 0

    def start(self) -> None:
        if not self.running:
            self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        super().start()

    def _logged_ready(self) -> bool:
        with self.log_path.open("rb") as log:
            log.seek(self._log_offset)
            return re.search(rb"\S+@\S+ ready\.", log.read()) is not None
