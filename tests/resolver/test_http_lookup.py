"""http_lookup against a real local HTTP server started by the test (never the network)."""

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from vidmerge.errors import BundleError, Transient
from vidmerge.resolver import load_spec
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

    def log_message(self, *args: Any) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the client gave up on /slow before the answer: expected


@pytest.fixture
def server() -> Iterator[str]:
    Handler.hits = {}
    httpd = QuietServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


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


@pytest.mark.parametrize(("path", "reason"), [("/slow", "ReadTimeout"), ("/missing", "HTTP 404")])
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
    ],
)
def test_bad_params(params: dict[str, Any], where: str) -> None:
    with pytest.raises(BundleError) as info:
        HttpLookup.from_params(params, Path("."), "computed.crm")
    assert info.value.where == where
