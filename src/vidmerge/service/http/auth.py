"""Caller authentication: Stripe-style webhook signatures and bearer API keys.

Signature header: `X-Vidmerge-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`.
Several secrets may be configured (rotation); several v1 values may be sent. Comparisons are
constant-time. With nothing configured the server is open (local use) and says so at start-up.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vidmerge.errors import Unauthorized

TOLERANCE_SECONDS = 300


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify_signature(header: str | None, body: bytes, secrets: Sequence[str], *, now: float | None = None) -> None:
    if not header:
        raise Unauthorized("missing X-Vidmerge-Signature", where="X-Vidmerge-Signature")
    timestamp, candidates = _parse(header)
    current = time.time() if now is None else now
    if abs(current - timestamp) > TOLERANCE_SECONDS:
        raise Unauthorized("timestamp outside the 300 s tolerance", where="X-Vidmerge-Signature")
    signed = f"{timestamp}.".encode() + body
    for secret in secrets:
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        # bytes, not str: compare_digest refuses non-ASCII str (a 500 instead of a 401)
        if any(hmac.compare_digest(expected.encode(), c.encode("utf-8", "replace")) for c in candidates):
            return
    raise Unauthorized("signature does not match", where="X-Vidmerge-Signature")


def signed_timestamp(header: str) -> int:
    """The `t=` of a signature header (however its parts are written: a replay that reorders or
    pads them is the same request)."""
    return _parse(header)[0]


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isascii() and value.isdigit() and len(value) <= 12:  # not "²"
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise Unauthorized("malformed signature header (want t=…,v1=…)", where="X-Vidmerge-Signature")
    return timestamp, candidates


def bearer(header: str | None) -> str | None:
    if header and header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None


def check_api_key(header: str | None, keys: Sequence[str]) -> None:
    """Management endpoints: a valid bearer key when keys are configured."""
    if not keys:
        return
    token = bearer(header)
    if token is None or not any(hmac.compare_digest(token.encode(), k.encode()) for k in keys):
        raise Unauthorized("a valid API key is required (Authorization: Bearer …)", where="Authorization")


def check_webhook(
    signature: str | None, authorization: str | None, body: bytes, secrets: Sequence[str], keys: Sequence[str]
) -> str:
    """The render webhook: a signature (when secrets are set) or a bearer API key. Returns the
    caller's scope for its idempotency keys: which API key (a fingerprint, never the key),
    `webhook` for a signed call, `open` when no credential is configured."""
    if not secrets and not keys:
        return "open"
    token = bearer(authorization)
    if token is not None and keys and any(hmac.compare_digest(token.encode(), k.encode()) for k in keys):
        return "key:" + hashlib.sha256(token.encode()).hexdigest()[:32]
    if secrets:
        verify_signature(signature, body, secrets)
        return "webhook"
    raise Unauthorized("a valid API key is required (Authorization: Bearer …)", where="Authorization")


class UploadGuard:
    """Checks the API key and the declared size of an upload (a template, a campaign's CSV)
    before its body is read; `limits` maps each upload path to its largest size.

    FastAPI parses a multipart body (spooling the file to disk) before the endpoint runs, so a
    check inside the endpoint would come after an anonymous caller had filled the disk. A body
    without Content-Length (Transfer-Encoding: chunked) is counted as it streams: past the limit
    the app is told the client left, and its answer is replaced by the 413.
    """

    def __init__(self, app: ASGIApp, *, keys: Sequence[str], limits: Mapping[str, int]) -> None:
        self.app, self.keys, self.limits = app, tuple(keys), dict(limits)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limits.get(scope["path"].rstrip("/")) if scope["type"] == "http" else None
        if limit is not None and scope["method"] == "POST":
            refusal = self._refusal(Headers(scope=scope), limit)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
            await self._counted(scope, receive, send, limit + MULTIPART_SLACK)
            return
        await self.app(scope, receive, send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        read, over, answered = 0, False, False

        async def counting() -> Message:
            nonlocal read, over
            message = await receive()
            read += len(message.get("body", b""))
            if read > limit and not over:
                over = True
                return {"type": "http.disconnect"}  # the app stops reading (and spooling) here
            return message

        async def answering(message: Message) -> None:
            nonlocal answered
            if not over:
                await send(message)
            elif not answered:
                answered = True
                await _too_large(limit - MULTIPART_SLACK)(scope, receive, send)

        await self.app(scope, counting, answering)
        if over and not answered:
            await _too_large(limit - MULTIPART_SLACK)(scope, receive, send)

    def _refusal(self, headers: Headers, limit: int) -> JSONResponse | None:
        try:
            check_api_key(headers.get("authorization"), self.keys)
        except Unauthorized as exc:
            return _problem(401, exc.title, exc.message, exc.where)
        length = headers.get("content-length", "")
        if length.isascii() and length.isdigit() and int(length) > limit + MULTIPART_SLACK:
            return _too_large(limit)
        return None


MULTIPART_SLACK = 1 << 20  # a multipart body's headers and boundaries around the file


def _too_large(limit: int) -> JSONResponse:
    return _problem(413, "Upload too large", f"upload exceeds the limit of {limit} bytes", "file")


def _problem(status: int, title: str, detail: str, where: str) -> JSONResponse:
    body = {
        "type": "about:blank", "title": title, "status": status, "detail": detail, "retryable": False,
        "problems": [{"where": where, "reason": detail}],
    }  # fmt: skip
    return JSONResponse(body, status_code=status, media_type="application/problem+json")
