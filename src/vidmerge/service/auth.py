"""Caller authentication: Stripe-style webhook signatures and bearer API keys.

Signature header: `X-Vidmerge-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`.
Several secrets may be configured (rotation); several v1 values may be sent. Comparisons are
constant-time. With nothing configured the server is open (local use) and says so at start-up.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence

from ..errors import Unauthorized

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
        if any(hmac.compare_digest(expected, c) for c in candidates):
            return
    raise Unauthorized("signature does not match", where="X-Vidmerge-Signature")


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
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
) -> None:
    """The render webhook: a signature (when secrets are set) or a bearer API key."""
    if not secrets and not keys:
        return
    token = bearer(authorization)
    if token is not None and keys and any(hmac.compare_digest(token.encode(), k.encode()) for k in keys):
        return
    if secrets:
        verify_signature(signature, body, secrets)
        return
    check_api_key(authorization, keys)
