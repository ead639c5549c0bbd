"""Caller authentication: auth.py on its own, then a real `vidmerge serve` with secrets and keys
(VIDMERGE_WEBHOOK_SECRETS="s1,s2", VIDMERGE_API_KEYS="k1") and one with nothing configured."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.media import make_clip, write_bundle, zip_folder
from support.server import Api

from vidmerge.config import Settings
from vidmerge.errors import Unauthorized
from vidmerge.service.http.auth import check_api_key, check_webhook, sign, verify_signature
from vidmerge.service.http.console.session import Throttle

NOW = 1_750_000_000
BODY = b'{"template_id":"small","data":{"name":"x"}}'


# --- auth.py ------------------------------------------------------------------------------


@pytest.mark.parametrize("secret", ["s1", "s2"])
def test_a_signature_with_any_configured_secret_is_accepted(secret: str) -> None:
    verify_signature(sign(secret, BODY, NOW), BODY, ["s1", "s2"], now=NOW)


def test_a_signature_within_the_tolerance_is_accepted() -> None:
    verify_signature(sign("s1", BODY, NOW - 299), BODY, ["s1"], now=NOW)
    verify_signature(sign("s1", BODY, NOW + 299), BODY, ["s1"], now=NOW)


def test_one_good_v1_among_several_is_enough() -> None:
    good = sign("s1", BODY, NOW).split("v1=")[1]
    verify_signature(f"t={NOW},v1={'0' * 64},v1={good}", BODY, ["s1"], now=NOW)


@pytest.mark.parametrize(
    ("header", "body", "reason"),
    [
        (sign("wrong", BODY, NOW), BODY, "does not match"),
        (sign("s1", BODY, NOW), BODY + b" ", "does not match"),  # tampered body
        (sign("s1", BODY, NOW - 301), BODY, "tolerance"),  # replayed
        (sign("s1", BODY, NOW + 301), BODY, "tolerance"),  # from the future
        (sign("s1", BODY, NOW).replace(f"t={NOW}", f"t={NOW + 1}"), BODY, "does not match"),
    ],
    ids=["wrong-secret", "tampered-body", "too-old", "future", "timestamp-changed"],
)
def test_bad_signatures_are_refused(header: str, body: bytes, reason: str) -> None:
    with pytest.raises(Unauthorized, match=reason) as info:
        verify_signature(header, body, ["s1", "s2"], now=NOW)
    assert info.value.where == "X-Vidmerge-Signature"


@pytest.mark.parametrize(
    "header",
    ["", "garbage", "t=,v1=", "v1=abc", f"t={NOW}", "t=abc,v1=00", "t=²,v1=00", f"t={NOW},v1=é", f"t={'9' * 40},v1=00"],
    ids=[
        "empty",
        "garbage",
        "empty-values",
        "no-t",
        "no-v1",
        "t-not-a-number",
        "t-unicode-digit",
        "v1-non-ascii",
        "t-huge",
    ],
)
def test_malformed_signature_headers_are_unauthorized_never_a_crash(header: str) -> None:
    """`"²".isdigit()` is True and `hmac.compare_digest` raises TypeError on non-ASCII str: both
    used to escape as ValueError/TypeError (a 500) instead of a 401."""
    with pytest.raises(Unauthorized):
        verify_signature(header, BODY, ["s1"], now=NOW)


def test_api_keys() -> None:
    check_api_key(None, [])  # nothing configured: open
    check_api_key("Bearer k1", ["k0", "k1"])
    for header in (None, "", "Bearer", "Bearer k2", "Basic k1", "k1", "Bearer ké"):
        with pytest.raises(Unauthorized):
            check_api_key(header, ["k1"])


def test_webhook_takes_a_signature_or_a_bearer_key() -> None:
    check_webhook(None, None, BODY, [], [])  # open
    check_webhook(None, "Bearer k1", BODY, ["s1"], ["k1"])
    check_webhook(sign("s1", BODY), None, BODY, ["s1"], ["k1"])
    with pytest.raises(Unauthorized):
        check_webhook(None, "Bearer nope", BODY, ["s1"], ["k1"])
    with pytest.raises(Unauthorized):
        check_webhook(None, None, BODY, [], ["k1"])


def test_settings_read_secrets_keys_and_the_metrics_switch() -> None:
    s = Settings.from_env({"VIDMERGE_WEBHOOK_SECRETS": " s1, s2 ,", "VIDMERGE_API_KEYS": "k1"})
    assert (s.webhook_secrets, s.api_keys, s.metrics_public) == (("s1", "s2"), ("k1",), True)
    assert Settings.from_env({"VIDMERGE_METRICS_PUBLIC": "false"}).metrics_public is False


# --- a real server with secrets and keys ----------------------------------------------------


@pytest.fixture(scope="module")
def small_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("small")
    root = write_bundle(tmp / "bundle", clip=make_clip(tmp / "clip.mp4"))
    return zip_folder(root, tmp / "small.zip")


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory, small_zip: Path) -> Iterator[Api]:
    env = {"VIDMERGE_WEBHOOK_SECRETS": "s1,s2", "VIDMERGE_API_KEYS": "k1", "VIDMERGE_METRICS_PUBLIC": "false"}
    server = Api(tmp_path_factory.mktemp("secured"), env)
    server.start()
    server.client.headers["Authorization"] = "Bearer k1"
    server.post_template(small_zip)
    del server.client.headers["Authorization"]
    yield server
    server.stop()


def _post(api: Api, body: bytes, **headers: str | bytes) -> httpx.Response:
    return api.client.post("/v1/renders", content=body, headers={"content-type": "application/json", **headers})


def _body(name: str) -> bytes:
    return json.dumps({"template_id": "small", "data": {"name": name}}).encode()


def _is_401(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 401


@pytest.mark.slow
def test_signed_webhooks_with_either_secret_are_accepted(secured: Api) -> None:
    for secret in ("s1", "s2"):
        body = _body(f"signed {secret}")
        response = _post(secured, body, **{"X-Vidmerge-Signature": sign(secret, body)})
        assert response.status_code == 202, response.text


@pytest.mark.slow
def test_a_replayed_signed_webhook_is_the_same_request_and_never_revives_an_erased_render(secured: Api) -> None:
    body = _body("replayed")
    header = {"X-Vidmerge-Signature": sign("s1", body)}
    first = _post(secured, body, **header)
    replay = _post(secured, body, **header)  # within the 300 s tolerance
    padded = _post(secured, body, **{"X-Vidmerge-Signature": header["X-Vidmerge-Signature"] + ", v1=00"})
    assert padded.json()["render_id"] == first.json()["render_id"]  # the same signed request, reworded
    assert (first.status_code, replay.status_code) == (202, 200)
    assert replay.json()["render_id"] == first.json()["render_id"]
    resigned = _post(secured, body, **{"X-Vidmerge-Signature": sign("s1", body, int(time.time()) + 1)})
    assert resigned.status_code == 202  # signed anew: a new request (an Idempotency-Key ties retries)
    erase = secured.client.delete(f"/v1/renders/{first.json()['render_id']}", headers={"Authorization": "Bearer k1"})
    assert erase.status_code == 204
    after = _post(secured, body, **header)
    assert after.status_code == 409 and after.json()["problems"][0]["where"] == "X-Vidmerge-Signature"
    # an Idempotency-Key belongs to the credential that used it: the same key, other callers
    keyed = {"Idempotency-Key": "shared-key"}
    mine = _post(secured, _body("key one"), Authorization="Bearer k1", **keyed)
    signed = _body("key two")
    theirs = _post(secured, signed, **{"X-Vidmerge-Signature": sign("s2", signed)}, **keyed)
    assert (mine.status_code, theirs.status_code) == (202, 202)
    assert mine.json()["render_id"] != theirs.json()["render_id"]


@pytest.mark.slow
def test_bearer_key_is_accepted_on_the_webhook(secured: Api) -> None:
    response = _post(secured, _body("bearer"), Authorization="Bearer k1")
    assert response.status_code == 202, response.text


@pytest.mark.slow
def test_bad_webhook_credentials_get_401_problem_json(secured: Api) -> None:
    body = _body("refused")
    now = int(time.time())
    cases: list[dict[str, Any]] = [
        {},
        {"X-Vidmerge-Signature": sign("wrong", body)},
        {"X-Vidmerge-Signature": sign("s1", _body("something else"))},  # tampered body
        {"X-Vidmerge-Signature": sign("s1", body, now - 400)},
        {"X-Vidmerge-Signature": sign("s1", body, now + 400)},  # well outside 300 s, even on a slow machine
        {"X-Vidmerge-Signature": "t=yesterday,v1=beef"},
        {"X-Vidmerge-Signature": f"t={now},v1=\xe9".encode("latin-1")},  # latin-1 on the wire: was a 500
        {"Authorization": "Bearer k2"},
    ]
    for headers in cases:
        _is_401(_post(secured, body, **headers))
    # nothing refused was accepted: no render exists for that name
    secured.client.headers["Authorization"] = "Bearer k1"
    try:
        assert _post(secured, body).status_code == 202  # the first time this body is accepted
    finally:
        del secured.client.headers["Authorization"]


@pytest.mark.slow
def test_management_endpoints_require_the_key(secured: Api, small_zip: Path) -> None:
    accepted = _post(secured, _body("managed"), Authorization="Bearer k1").json()
    rid = accepted["render_id"]
    calls = [
        ("GET", "/v1/templates"),
        ("GET", "/v1/templates/small"),
        ("GET", f"/v1/renders/{rid}"),
        ("DELETE", "/v1/renders?external_id=nobody"),
        ("DELETE", f"/v1/renders/{rid}"),
        ("GET", "/metrics"),
    ]
    for method, path in calls:
        for headers in ({}, {"Authorization": "Bearer k2"}, {"Authorization": "k1"}):
            _is_401(secured.client.request(method, path, headers=headers))
    files = {"file": ("bundle.zip", small_zip.read_bytes(), "application/zip")}
    _is_401(secured.client.post("/v1/templates", files=files))
    ok = {"Authorization": "Bearer k1"}
    assert secured.client.get("/v1/templates", headers=ok).status_code == 200
    assert secured.client.get(f"/v1/renders/{rid}", headers=ok).status_code == 200
    assert "vidmerge_webhooks_total" in secured.client.get("/metrics", headers=ok).text
    assert secured.client.post("/v1/templates", files=files, headers=ok).status_code in (200, 202)
    assert secured.client.delete(f"/v1/renders/{rid}", headers=ok).status_code == 204
    assert secured.client.get("/healthz").status_code == 200  # liveness stays open


@pytest.mark.slow
def test_an_anonymous_upload_is_refused_before_its_body_is_read(secured: Api) -> None:
    """Headers announcing 10 GB and no body: the 401 comes at once. Without the guard FastAPI
    would wait for (and spool to disk) the whole multipart body before the endpoint ran."""
    port = int(secured.url.rsplit(":", 1)[1])
    head = (
        "POST /v1/templates HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 10737418240\r\n\r\n--x\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head.encode())
        answer = sock.recv(4096).decode("latin-1")
    assert answer.startswith("HTTP/1.1 401"), answer
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head.replace("Host:", "Authorization: Bearer k1\r\nHost:").encode())
        answer = sock.recv(4096).decode("latin-1")
    assert answer.startswith("HTTP/1.1 413"), answer


# --- a real server with nothing configured ---------------------------------------------------


@pytest.mark.slow
def test_an_open_server_says_so_loudly_and_stays_usable(tmp_path: Path) -> None:
    server = Api(tmp_path)
    server.start()
    try:
        assert "NO AUTHENTICATION" in server.log_tail(200)
        assert server.client.get("/v1/templates").status_code == 200
        assert server.client.get("/metrics").status_code == 200
        unknown = server.post_render({"template_id": "nope", "data": {}})
        assert unknown.status_code == 404  # reached the handler: no credentials asked
    finally:
        server.stop()


@pytest.mark.slow
def test_a_configured_server_does_not_warn(secured: Api) -> None:
    assert "NO AUTHENTICATION" not in secured.log_tail(500)
    assert secured.client.get("/metrics").status_code == 401  # VIDMERGE_METRICS_PUBLIC=false


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_webhook_secrets_without_api_keys_refuse_to_start(tmp_path: Path, command: str) -> None:
    """Half open (a signed webhook, but upload, render details and erasure open) is no option."""
    env = {
        **os.environ,
        "VIDMERGE_DATA_DIR": str(tmp_path),
        "VIDMERGE_WEBHOOK_SECRETS": "s1",
        "VIDMERGE_BROKER_URL": "redis://127.0.0.1:9/0",  # never reached: the check comes first
    }
    env.pop("VIDMERGE_API_KEYS", None)
    done = subprocess.run(
        [sys.executable, "-m", "vidmerge", command], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    problem = json.loads(done.stderr)
    assert problem["error"] == "ConfigError" and problem["problems"][0]["where"] == "VIDMERGE_API_KEYS"
    assert not (tmp_path / "vidmerge.db").exists()  # refused before anything was opened


# --- the console's sign-in throttle (console/session.py) ---------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_throttle_holds_a_key_past_its_limit_until_its_window_ends() -> None:
    clock = Clock()
    throttle = Throttle(3, window=900, clock=clock)
    for _ in range(3):
        assert throttle.wait("a") == 0
        throttle.failed("a")
        clock.now += 100
    assert (throttle.wait("a"), throttle.wait("b")) == (600, 0)  # the window began at the first failure
    clock.now += 599.5
    assert throttle.wait("a") == 1
    clock.now += 0.5
    assert throttle.wait("a") == 0
    throttle.failed("a")  # a new window: one failure in it
    assert throttle.wait("a") == 0


def test_a_throttle_keeps_a_bounded_number_of_keys() -> None:
    throttle = Throttle(1, size=100, clock=Clock())
    for i in range(10_000):
        throttle.failed(f"198.51.{i // 256}.{i % 256}")
    assert len(throttle._failures) == 100
    assert throttle.wait("198.51.39.15") == 900 and throttle.wait("198.51.0.0") == 0  # the oldest forgotten
