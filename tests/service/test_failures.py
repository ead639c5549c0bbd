"""Honest failures: a render that cannot succeed ends `failed` with a reason, instead of showing
`rendering` for ever and being requeued endlessly."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from vidmerge.config import Settings
from vidmerge.errors import FFmpegError, NotReady, VerificationError
from vidmerge.service import renders
from vidmerge.service.app import create_app
from vidmerge.service.runtime import Runtime
from vidmerge.service.work import segments, tasks

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
