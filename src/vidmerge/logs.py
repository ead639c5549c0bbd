"""Structured logs: one JSON object per line, with the request id, never a payload value.

    {"ts": "...", "level": "INFO", "logger": "vidmerge.http", "msg": "request",
     "request_id": "3f9c1a2b7d4e", "method": "GET", "path": "/v/AbC12x…/index.m3u8", "status": 200, "ms": 3.1}

What keeps personal data out:
- messages carry ids (render, template, request), never values; that is a rule for callers;
- request lines log the path only (no query string: `?external_id=` is personal) with the
  token of a private link cut to its first 6 characters;
- an exception is logged as its type and traceback frames, not its message (messages of data
  errors quote the offending value);
- uvicorn's own access log is switched off (it prints full paths and query strings).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
import time
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_request_id: ContextVar[str] = ContextVar("vidmerge_request_id", default="")
_TOKEN = re.compile(r"(/v/)([A-Za-z0-9_-]{1,6})[A-Za-z0-9_-]*")
_FIELDS = ("render_id", "template_id", "method", "path", "status", "ms")
log = logging.getLogger("vidmerge.http")


def short_path(path: str) -> str:
    """A request path safe to log: `/v/<token>/…` keeps only the token's first 6 characters."""
    return _TOKEN.sub(lambda m: f"{m.group(1)}{m.group(2)}…", path)


def request_id() -> str:
    return _request_id.get()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if rid := _request_id.get():
            out["request_id"] = rid
        for key in _FIELDS:
            if key in record.__dict__:
                out[key] = record.__dict__[key]
        if record.exc_info and record.exc_info[0] is not None:
            out["exc_type"] = record.exc_info[0].__name__
            out["traceback"] = "".join(traceback.format_tb(record.exc_info[2]))
        return json.dumps(out, ensure_ascii=False, default=str)


def configure(level: str = "INFO") -> None:
    """Send every log record (ours, uvicorn's, celery's) to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("httpx", "httpcore"):  # they log request URLs, query values (customer data) included
        logging.getLogger(name).setLevel(logging.WARNING)


class RequestLog:
    """ASGI middleware: a request id per request (echoed as `X-Request-Id`) and one log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = secrets.token_hex(6)
        reset = _request_id.set(rid)
        status = 500
        began = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            ms = round((time.perf_counter() - began) * 1000, 1)
            extra = {"method": scope["method"], "path": short_path(scope["path"]), "status": status, "ms": ms}
            log.info("request", extra=extra)
            _request_id.reset(reset)
