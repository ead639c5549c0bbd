"""http_lookup against a real local HTTP server started by the test (never the network)."""

import gzip
import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from vidmerge import logs
from vidmerge.errors import BundleError, Transient
from vidmerge.resolver import load_spec, outbound
from vidmerge.resolver.calculators.http_lookup import HttpLookup


class Handler(BaseHTTPRequestHandler):
    hits: dict[str, int] = {}

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        url = urlparse(self.path)
        self.hits[url.path] = self.hits.get(url.path, 0) + 1
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/flaky" and self.hits[url.path] == 1:
            return self._send(503, b"{}")
        if url.path == "/slow":
            time.sleep(0.5)
        if url.path == "/missing":
            return self._send(404, b"{}")
        if url.path == "/text":
            return self._send(200, b"not json")
        if url.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/ok")
            self.send_header("Content-Length", "0")
            return self.end_headers()
        if url.path == "/huge":
            return self._send(200, b'{"rank": "' + b"x" * 2_000_000 + b'"}')
        if url.path == "/gzip":  # a small answer that would expand (a zip bomb's shape)
            body = gzip.compress(b'{"rank": "' + b"x" * 100 + b'"}')
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            return self.wfile.write(body)  # type: ignore[return-value]
        if url.path == "/drip":  # a byte at a time: every read is within the timeout
            return self._drip(0.1)
        if url.path == "/stall":  # a byte, then silence longer than the lookup's deadline
            return self._drip(2.0)
        body = {
            "rank": "ゴールド\u202e",
            "points": 1200,
            "echo": query.get("email"),
            "x": "{{ 7*7 }}",
        }
        self._send(200, json.dumps(body).encode())

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _drip(self, every: float) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        for _ in range(100):
            self.wfile.write(b" ")
            self.wfile.flush()
            time.sleep(every)

    def log_message(self, *args: Any) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the client gave up on /slow before the answer: expected


@pytest.fixture
def internal_server() -> Iterator[str]:
    """A lookup server on loopback, which template lookups may not reach by default."""
    Handler.hits = {}
    httpd = QuietServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def server(internal_server: str) -> Iterator[str]:
    """The same server, allow-listed by the operator (VIDMERGE_OUTBOUND_ALLOW=127.0.0.1)."""
    outbound.allow(["127.0.0.1"])
    yield internal_server
    outbound.allow([])


def lookup(url: str, **params: Any) -> HttpLookup:
    base = {"url": url, "fields": ["rank", "points", "echo", "x"], "timeout": 0.2}
    return HttpLookup.from_params({**base, **params}, Path("."), "computed.crm")


def test_fields_are_fetched_and_cleaned(server: str) -> None:
    value, why = lookup(f"{server}/ok").compute({"query": {"email": "a@example.com"}})
    assert value == {"rank": "ゴールド", "points": 1200, "echo": "a@example.com", "x": "{{ 7*7 }}"}
    assert why["fallback_used"] is False and why["attempts"] == 1 and why["status"] == 200


def test_a_5xx_is_retried(server: str) -> None:
    value, why = lookup(f"{server}/flaky", retries=1).compute({"query": {}})
    assert value["points"] == 1200 and why["attempts"] == 2


@pytest.mark.parametrize(("path", "reason"), [("/slow", "attempt timed out"), ("/missing", "HTTP 404")])
def test_declared_fallback_is_used(server: str, path: str, reason: str) -> None:
    calc = lookup(f"{server}{path}", retries=1, fallback={"rank": "一般", "points": 0})
    value, why = calc.compute({"query": {}})
    assert value == {"rank": "一般", "points": 0, "echo": None, "x": None}
    assert why["fallback_used"] is True and why["fallback_reason"] == reason
    assert why["attempts"] == (2 if path == "/slow" else 1)  # a 404 is not retried


def test_no_fallback_means_transient(server: str) -> None:
    with pytest.raises(Transient) as info:
        lookup(f"{server}/text", retries=0).compute({"query": {}})
    assert info.value.retryable and info.value.where == "computed.crm"


def test_through_the_manifest(server: str, tmp_path: Path) -> None:
    computed = {
        "crm": {
            "calculator": "http_lookup",
            "url": f"{server}/ok",
            "query": {"email": "{{ email }}"},
            "fields": ["rank", "echo"],
        },
        "line": "{{ crm.rank }}会員の{{ crm.echo }}様",
    }
    spec = load_spec({"email": "string"}, computed, base_dir=tmp_path)
    resolved = spec.resolve({"email": "b@example.com"})
    assert resolved.context["line"] == "ゴールド会員のb@example.com様"
    assert resolved.explanations["crm"]["inputs"] == {"query": {"email": "b@example.com"}}


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ({"url": "ftp://x", "fields": ["a"]}, "computed.crm.url"),
        ({"url": "http://x/{{ id }}", "fields": ["a"]}, "computed.crm.url"),
        ({"url": "http://x", "fields": []}, "computed.crm.fields"),
        ({"url": "http://x", "fields": ["a"], "timeout": 0}, "computed.crm.timeout"),
        ({"url": "http://x", "fields": ["a"], "method": "PUT"}, "computed.crm.method"),
        ({"url": "http://x", "fields": ["a"], "cookie": 1}, "computed.crm.cookie"),
        ({"url": "http://user:secret@x", "fields": ["a"]}, "computed.crm.url"),
    ],
)
def test_bad_params(params: dict[str, Any], where: str) -> None:
    with pytest.raises(BundleError) as info:
        HttpLookup.from_params(params, Path("."), "computed.crm")
    assert info.value.where == where


FALLBACK = {"rank": "一般", "points": 0}


@pytest.mark.parametrize(
    "url",
    ["http://localhost:9/ok", "http://[::1]:9/ok", "http://169.254.169.254/latest/meta-data", "http://10.0.0.1/",
     "http://192.168.1.1/", "http://0.0.0.0:9/", "http://[::ffff:127.0.0.1]:9/", "http://100.64.0.1/",
     "http://[64:ff9b::a9fe:a9fe]/", "http://[2002:a9fe:a9fe::]/", "http://[fec0::1]/", "http://[::7f00:1]/"],
)  # fmt: skip
def test_internal_destinations_are_refused_without_connecting(url: str) -> None:
    value, why = lookup(url, fallback=FALLBACK).compute({"query": {"email": "a@example.com"}})
    assert why["fallback_used"] is True and why["fallback_reason"] == "destination is not a public address"
    assert value["rank"] == "一般"


def test_loopback_is_reached_only_once_the_operator_allows_it(internal_server: str) -> None:
    _, why = lookup(f"{internal_server}/ok", fallback=FALLBACK).compute({"query": {}})
    assert why["fallback_reason"] == "destination is not a public address" and Handler.hits == {}
    outbound.allow(["127.0.0.1"])
    try:
        value, why = lookup(f"{internal_server}/ok").compute({"query": {}})
    finally:
        outbound.allow([])
    assert value["points"] == 1200


def test_a_public_name_is_pinned_to_the_address_that_was_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    def resolve(host: str, port: int, **kwargs: Any) -> list[Any]:
        assert host == "crm.example.jp" and port == 443
        return [(0, 0, 0, "", ("203.0.113.7", port)), (0, 0, 0, "", ("8.8.8.8", port))]

    monkeypatch.setattr(outbound.socket, "getaddrinfo", resolve)
    with pytest.raises(outbound.Refused):  # 203.0.113.0/24 is a documentation range, not public
        outbound.target("https://crm.example.jp/api?x=1")
    monkeypatch.setattr(outbound.socket, "getaddrinfo", lambda h, p, **k: [(0, 0, 0, "", ("8.8.4.4", p))])
    target = outbound.target("https://crm.example.jp/api?x=1")
    assert target.url == "https://8.8.4.4/api?x=1"
    assert target.headers == {"Host": "crm.example.jp"} and target.extensions == {"sni_hostname": "crm.example.jp"}
    idn = outbound.target("https://例え.jp:8443/api")  # the name as DNS and TLS know it
    assert idn.url == "https://8.8.4.4:8443/api" and idn.headers == {"Host": "xn--r8jz45g.jp:8443"}
    assert idn.extensions == {"sni_hostname": "xn--r8jz45g.jp"}


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/redirect", "HTTP 302: redirects are not followed"),
        ("/huge", "answer over 1000000 bytes"),
        ("/gzip", "compressed answers are not accepted"),
    ],
)
def test_redirects_and_oversized_answers_fail_without_being_followed(server: str, path: str, reason: str) -> None:
    _, why = lookup(f"{server}{path}", fallback=FALLBACK).compute({"query": {}})
    assert why["fallback_reason"] == reason
    assert "/ok" not in Handler.hits


def test_a_dripping_server_meets_one_total_deadline(server: str) -> None:
    _, why = lookup(f"{server}/drip", timeout=5.0, deadline=0.5, retries=0, fallback=FALLBACK).compute({"query": {}})
    assert why["fallback_reason"] == "deadline passed"
    assert why["elapsed_ms"] < 5000  # the server would drip for 10 s


def test_a_read_waiting_past_the_deadline_ends_at_it(server: str) -> None:
    """A byte, then 2 s of silence: the read waiting for the next byte is within the 5 s timeout
    but not within the 0.5 s deadline, and ends at the deadline, not when the silence does."""
    _, why = lookup(f"{server}/stall", timeout=5.0, deadline=0.5, retries=0, fallback=FALLBACK).compute({"query": {}})
    assert why["fallback_reason"] == "deadline passed"
    assert why["elapsed_ms"] < 1500


def test_a_slow_dns_answer_meets_the_deadline_too(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    def slow(host: str, port: int, **kwargs: Any) -> list[Any]:
        release.wait(30)  # a resolver that does not answer
        return [(0, 0, 0, "", ("8.8.4.4", port))]

    monkeypatch.setattr(outbound.socket, "getaddrinfo", slow)
    try:
        calc = lookup("https://crm.example.jp/api", deadline=0.5, retries=0, fallback=FALLBACK)
        _, why = calc.compute({"query": {}})
    finally:
        release.set()
    assert why["fallback_reason"] == "host did not resolve in time"
    assert why["elapsed_ms"] < 10_000  # the resolver would have held it for 30 s


def test_lookup_urls_with_customer_values_never_reach_the_log(server: str, caplog: pytest.LogCaptureFixture) -> None:
    logs.configure("DEBUG")  # as `vidmerge serve` sets logging up (it replaces the root handlers)
    root = logging.getLogger()
    root.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.DEBUG):
            logging.getLogger("vidmerge.probe").debug("captured")
            lookup(f"{server}/ok").compute({"query": {"email": "secret-value@example.com"}})
    finally:
        root.removeHandler(caplog.handler)
        logs.configure("INFO")
    assert "captured" in caplog.text and "secret-value" not in caplog.text  # httpx logs the URL at INFO
