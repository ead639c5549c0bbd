"""The email snippet of every render, and the placeholder pictures an email gets while its
render is still running (answered at once: never a wait or a 404)."""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from support.media import make_clip, write_bundle, zip_folder

from vidmerge.config import Settings
from vidmerge.service.app import create_app
from vidmerge.service.work import tasks

pytestmark = pytest.mark.slow


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Renders wait until the test lets them go."""
    release = threading.Event()
    real = tasks.run_render

    def waiting(rt: Any, render_id: str) -> str:
        assert release.wait(60)
        return real(rt, render_id)

    monkeypatch.setattr(tasks, "run_render", waiting)
    yield release
    release.set()


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    bundle = zip_folder(write_bundle(tmp_path / "b", clip=make_clip(tmp_path / "clip.mp4")), tmp_path / "b.zip")
    with TestClient(create_app(Settings(data_dir=tmp_path / "data"))) as client:
        with bundle.open("rb") as f:
            client.post("/v1/templates", files={"file": ("b.zip", f)})
        for _ in range(600):
            if client.get("/v1/templates/small").json()["status"] == "ready":
                break
            threading.Event().wait(0.1)
        yield client


def test_every_render_carries_an_email_snippet_for_any_client(client: TestClient) -> None:
    r = client.post("/v1/renders", json={"template_id": "small", "data": {"name": "田中"}}).json()
    html = r["email_html"]
    assert html.startswith("<table") and "<video" not in html and "<script" not in html
    assert f'<a href="{r["page_url"]}"' in html
    image = re.search(r'<img src="([^"]+)" width="(\d+)" height="(\d+)" alt="([^"]+)"', html)
    assert image is not None and image.group(1) == r["gif_url"]
    assert (image.group(2), image.group(3)) == ("400", "226")  # the GIF's width, the video's shape
    assert "田中" not in html  # the name is in the picture, never in the markup


def test_poster_and_gif_answer_at_once_with_a_placeholder_while_rendering(
    client: TestClient, held: threading.Event
) -> None:
    r = client.post("/v1/renders", json={"template_id": "small", "data": {"name": "途中"}}).json()
    for key, fmt, size in (("poster_url", "JPEG", (320, 180)), ("gif_url", "GIF", (400, 226))):
        answer = client.get(urlsplit(r[key]).path)
        assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store", key
        with Image.open(io.BytesIO(answer.content)) as im:
            assert (im.format, im.size) == (fmt, size), key
    placeholder = client.get(urlsplit(r["poster_url"]).path).content
    held.set()
    for _ in range(600):
        if client.get(f"/v1/renders/{r['render_id']}").json()["status"] == "done":
            break
        threading.Event().wait(0.1)
    final = client.get(urlsplit(r["poster_url"]).path)
    assert (
        final.status_code == 200 and final.content != placeholder and "no-store" not in final.headers["cache-control"]
    )
