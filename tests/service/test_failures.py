"""Honest failures: a render that cannot succeed ends `failed` with a reason, instead of showing
`rendering` for ever and being requeued endlessly."""

from __future__ import annotations

import copy
import logging
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from support.fonts import LETTERS, broken_glyph_font
from support.media import SMALL_MANIFEST, make_clip, write_bundle, zip_folder
from support.server import segment_paths

from vidmerge.config import Settings
from vidmerge.errors import FFmpegError, NotReady, VerificationError
from vidmerge.service import renders
from vidmerge.service.app import create_app
from vidmerge.service.runtime import Runtime
from vidmerge.service.work import segments, tasks
from vidmerge.template.bundle import load_bundle

pytestmark = pytest.mark.slow


def _accepted(rt: Runtime, name: str) -> str:
    return renders.accept(rt.db, rt.registry, "small", {"name": name, "amount": 1}).record.id


def _failing(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    def encode(*args: object) -> bool:
        raise error

    monkeypatch.setattr(segments, "encode_segment", encode)


def test_a_segment_that_does_not_verify_fails_the_render_at_once(
    small_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    render_id = _accepted(small_runtime, "検証 失敗")
    _failing(monkeypatch, VerificationError("SPS/PPS differ from the mezzanine's", where="segment.ts"))
    assert tasks.run_render(small_runtime, render_id) == "failed"
    record = small_runtime.db.renders.get(render_id)
    assert record is not None and (record.status, record.error) == ("failed", "VerificationError at segment.ts")
    assert tasks.run_render(small_runtime, render_id) == "failed"  # a requeued message changes nothing


def test_transient_failures_are_retried_then_end_failed_with_a_reason(
    small_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    render_id = _accepted(small_runtime, "一時 失敗")
    _failing(monkeypatch, FFmpegError("segment 1: ffmpeg exited with 1", stderr_tail="/tmp/x: error"))
    for _ in range(tasks.MAX_ATTEMPTS - 1):
        with pytest.raises(FFmpegError):  # the queue retries these with backoff
            tasks.run_render(small_runtime, render_id)
        assert small_runtime.db.renders.get(render_id).status == "rendering"  # type: ignore[union-attr]
    assert tasks.run_render(small_runtime, render_id) == "failed"
    record = small_runtime.db.renders.get(render_id)
    assert record is not None and record.attempts == tasks.MAX_ATTEMPTS
    assert record.error == f"gave up after {tasks.MAX_ATTEMPTS} attempts (FFmpegError)"  # no stderr, no path


def test_waiting_for_another_renderer_is_not_a_failed_attempt(
    small_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    render_id = _accepted(small_runtime, "待機 中")
    _failing(monkeypatch, NotReady("segment 1 is still rendering", where="segment 1"))
    for _ in range(tasks.MAX_ATTEMPTS + 1):
        with pytest.raises(NotReady):
            tasks.run_render(small_runtime, render_id)
    assert small_runtime.db.renders.get(render_id).status == "rendering"  # type: ignore[union-attr]


def test_a_segment_that_does_not_verify_is_answered_503_and_logged_with_the_check_that_failed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The caller learns nothing of it; the log line says why (verify.py's words: no values)."""
    app = create_app(Settings(data_dir=tmp_path / "data"))
    why = "SPS/PPS differ from the mezzanine's: sample aspect ratio 1:1, the shared segment's 351:352"

    @app.get("/failing/seg/1.ts")
    async def failing() -> None:
        raise VerificationError(why, where="segment.ts")

    with TestClient(app) as client, caplog.at_level(logging.WARNING, logger="vidmerge"):
        answer = client.get("/failing/seg/1.ts")
    assert answer.status_code == 503 and "351" not in answer.text
    assert f"VerificationError on GET /failing/seg/1.ts: segment.ts ({why})" in caplog.text


def test_a_font_that_breaks_at_draw_time_fails_the_render_at_once_and_viewers_get_a_clear_error(
    tmp_path: Path,
) -> None:
    """Issue 25 (7): a bundle whose font passes the upload checks (fontTools and FreeType read it,
    its sampled letters have ink) but whose glyph for 林 is damaged. A render drawing 林 used to
    raise OSError inside the encode: `rendering` for ever, requeued, viewers' segments 500."""
    manifest = copy.deepcopy(SMALL_MANIFEST)
    manifest["slots"][0]["style"]["font"] = "assets/brand.ttf"
    font = broken_glyph_font(LETTERS + "お客様林", broken="林")
    bundle = write_bundle(tmp_path / "b", manifest, clip=make_clip(tmp_path / "clip.mp4"),
                          files={"assets/brand.ttf": font})  # fmt: skip
    load_bundle(bundle)  # passes the upload checks
    with TestClient(create_app(Settings(data_dir=tmp_path / "data")), raise_server_exceptions=False) as client:
        with zip_folder(bundle, tmp_path / "b.zip").open("rb") as f:
            assert client.post("/v1/templates", files={"file": ("b.zip", f)}).status_code in (200, 202)
        assert _polled(client, "/v1/templates/small", "ready")["status"] == "ready"
        r = client.post("/v1/renders", json={"template_id": "small", "data": {"name": "林"}}).json()
        status = _polled(client, f"/v1/renders/{r['render_id']}", "failed")
        assert (status["status"], status.get("error")) == ("failed", "DrawError at slots[greeting]: assets/brand.ttf")
        playlist = urlsplit(r["hls_url"]).path
        answer = client.get(segment_paths(client, playlist)[1])  # the greeting's segment, drawn just in time
        assert answer.status_code == 422, answer.text
        assert answer.json()["title"] == "Template cannot be drawn"
        assert answer.json()["problems"] == [
            {"where": "slots[greeting]: assets/brand.ttf", "reason": "assets/brand.ttf cannot be drawn (OSError)"}
        ]


def _polled(client: TestClient, path: str, until: str) -> dict[str, object]:
    """The resource once its status is `until` or settled elsewhere, or as it is after 60 s."""
    for _ in range(600):
        body: dict[str, object] = client.get(path).json()
        if body["status"] not in ("preparing", "accepted", "rendering") or body["status"] == until:
            return body
        threading.Event().wait(0.1)
    return body
