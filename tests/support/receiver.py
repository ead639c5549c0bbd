"""A local HTTP server standing in for a webhook receiver, HubSpot's API or Marketo's."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """A local HTTP server; `answer(request)` gives each request's status. Keeps every request.
    With `stream`, the body is its chunks, written one by one without a length (a receiver that
    answers a lot, or slowly); `sent` counts the bytes written before the client hung up."""

    def __init__(
        self, answer: Callable[[dict[str, Any]], int], stream: Callable[[], Iterable[bytes]] | None = None
    ) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answer = answer
        self.stream = stream
        self.sent = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                request = {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                receiver.requests.append(request)
                status = receiver.answer(request)
                if receiver.stream is not None:
                    return self._stream(status, receiver.stream())
                payload = receiver.reply(request) if status == 200 else b"{}"
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _stream(self, status: int, chunks: Iterable[bytes]) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("connection", "close")  # the body ends when the connection does
                self.end_headers()
                try:
                    for chunk in chunks:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                        receiver.sent += len(chunk)
                except OSError:
                    pass  # the client hung up: what the tests are about

            do_POST = do_GET = do_PATCH = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reply(self, request: dict[str, Any]) -> bytes:
        if request["path"].startswith("/identity/oauth/token"):
            return json.dumps({"access_token": "mkto-token", "token_type": "bearer", "expires_in": 3599}).encode()
        if request["path"].startswith("/rest/v1/activities/external.json"):
            return json.dumps({"requestId": "1", "success": True, "result": [{"id": 1, "status": "added"}]}).encode()
        return b"{}"

    def close(self) -> None:
        """Stop serving and close the socket (a listening socket left open would take
        connections and never answer them)."""
        self.server.shutdown()
        self.server.server_close()
