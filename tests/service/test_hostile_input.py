"""Hostile input to the webhook: every bound holds before the work it guards, is answered with a
4xx naming the field, and the server keeps answering meanwhile."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support.server import Api

from vidmerge.config import Settings
from vidmerge.errors import FFmpegError, InvalidInput
from vidmerge.resolver.coerce import to_integer, to_number
from vidmerge.service.app import create_app
from vidmerge.service.http.limits import MAX_JSON_DEPTH, json_depth, parse_json

TEMPLATE = "electricity-savings"


def test_json_depth_is_counted_outside_strings() -> None:
    assert json_depth(b'{"a": [1, {"b": "[[[{{{"}]}') == 3
    assert json_depth(b'"\\"[[["') == 0
    with pytest.raises(InvalidInput, match="deeper"):
        parse_json(b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1))
    for constant in (
        b'{"n": NaN}',
        b'{"n": Infinity}',
        b'{"n": -Infinity}',
        b'{"n": 1e400}',
        b'{"n": ' + b"9" * 5000 + b"}",
    ):
        with pytest.raises(InvalidInput, match="not JSON"):
            parse_json(constant)


@pytest.mark.parametrize("raw", ["1e99999999", "-1e99999999", "1e-99999999", 10**30, "1" * 19, "1e18"])
def test_numbers_past_their_bounds_are_refused_before_conversion(raw: object) -> None:
    for coerce in (to_number, to_integer):
        with pytest.raises(ValueError, match="digits"):
            coerce(raw)


def test_numbers_within_their_bounds_are_kept() -> None:
    assert to_number("999999999999999999") == 999_999_999_999_999_999
    assert to_number("１２,３４０") == 12340 and to_number("0.5") == 0.5 and to_integer(0) == 0


@pytest.fixture
def api(demo_api: Api) -> Api:
    return demo_api


def _post(api: Api, body: bytes | Iterator[bytes], **headers: str) -> tuple[int, dict[str, object]]:
    response = api.client.post("/v1/renders", content=body, headers={"content-type": "application/json", **headers})
    assert api.client.get("/healthz").status_code == 200  # the server answers meanwhile
    return response.status_code, response.json()


def _where(problem: dict[str, object]) -> set[str]:
    return {p["where"] for p in problem["problems"]}  # type: ignore[attr-defined, index]


@pytest.mark.slow
def test_a_body_past_its_limit_is_refused_while_it_is_read(api: Api) -> None:
    big = json.dumps({"template_id": TEMPLATE, "data": {"name": "x" * 70_000}}).encode()
    assert _post(api, big)[0] == 413
    status, problem = _post(api, iter([big[:40_000], big[40_000:]]))  # chunked: no Content-Length
    assert status == 413 and _where(problem) == {"body"}


@pytest.mark.slow
def test_deep_json_and_json_constants_are_422_naming_the_body(api: Api) -> None:
    status, problem = _post(api, b'{"template_id": "x", "data": ' + b"[" * 5000 + b"]" * 5000 + b"}")
    assert status == 422 and _where(problem) == {"body"}
    status, problem = _post(api, json.dumps({"template_id": TEMPLATE, "data": {}}).encode()[:-1] + b', "x": NaN}')
    assert status == 422 and _where(problem) == {"body"}


@pytest.mark.slow
def test_a_huge_exponent_is_422_naming_the_field_and_freezes_nothing(api: Api) -> None:
    body = json.dumps({"template_id": TEMPLATE, "data": {"monthly_kwh": "1e99999999"}}).encode()
    status, problem = _post(api, body)
    assert status == 422 and _where(problem) == {"data.monthly_kwh"}


@pytest.mark.slow
def test_versions_out_of_an_integer_column_are_422_not_500(api: Api) -> None:
    body = json.dumps({"template_id": TEMPLATE, "template_version": 2**40, "data": {}}).encode()
    status, problem = _post(api, body)
    assert status == 422 and _where(problem) == {"body.template_version"}
    response = api.client.get(f"/v1/templates/{TEMPLATE}", params={"version": 2**40})
    assert response.status_code == 422


def test_internal_failures_keep_their_details_for_the_log(caplog: pytest.LogCaptureFixture) -> None:
    """ffmpeg's stderr, paths and a link's whole token never reach a caller or the log line."""
    app = create_app(Settings())
    token = "T" * 32

    @app.get("/v/{token}/test/ffmpeg")
    def ffmpeg_fails(token: str) -> None:
        raise FFmpegError("segment 3: ffmpeg exited with 1", stderr_tail="/var/lib/vidmerge/objects/x.ts: error")

    @app.get("/v/{token}/test/boom")
    def unexpected(token: str) -> None:
        raise RuntimeError("a bug")

    client = TestClient(app, raise_server_exceptions=False)
    with caplog.at_level(logging.INFO):
        failed = client.get(f"/v/{token}/test/ffmpeg")
        crashed = client.get(f"/v/{token}/test/boom")
    assert failed.status_code == 503 and failed.headers["retry-after"]
    assert "/var/lib" not in failed.text and "exited" not in failed.text
    assert crashed.status_code == 500 and "a bug" not in crashed.text
    ours = [r for r in caplog.records if r.name.startswith("vidmerge")]  # not the test client's own
    logged = "\n".join(f"{logging.Formatter().format(r)} {getattr(r, 'path', '')}" for r in ours)
    assert token not in logged and "TTTTTT…" in logged and "unexpected error" in logged


def test_a_full_disk_refuses_new_work_with_503_and_shows_in_readyz(tmp_path: Path) -> None:
    """Below its free-space reserve the server takes no webhook and no upload (accepted work is
    never lost half-written); /readyz says why, /healthz still answers."""
    reserve = (shutil.disk_usage(tmp_path).free >> 20) + 1024  # as if the disk were nearly full
    for min_free, expected in ((reserve, 503), (0, 200)):
        app = create_app(Settings(data_dir=tmp_path / f"data-{min_free}", min_free_mb=min_free))
        with TestClient(app, raise_server_exceptions=False) as client:
            ready = client.get("/readyz")
            assert client.get("/healthz").status_code == 200
            assert ready.status_code == expected, ready.text
            if expected == 200:
                assert ready.json()["checks"]["disk"] == "ok"
                continue
            assert ready.json()["checks"]["disk"] == "unavailable: DiskFull"
            render = client.post("/v1/renders", json={"template_id": TEMPLATE, "data": {}})
            upload = client.post("/v1/templates", files={"file": ("b.zip", b"PK", "application/zip")})
            for answer in (render, upload):
                assert answer.status_code == 503 and answer.headers["retry-after"] == "60", answer.text
                assert answer.json()["title"] == "Storage full" and "MB" not in answer.text
