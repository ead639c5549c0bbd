"""Console sign-in: an API key exchanged for a session cookie (HttpOnly, SameSite=Strict, 8 h),
and a CSRF token per session on every form.

Sessions are stateless: the cookie is `expiry.nonce.signature`, signed with a key derived from
the configured API keys (so every API process accepts it, and removing a key ends the sessions
it signed). Without API keys the server is open (a laptop): the console needs no sign-in and
signs with a key of this process.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence

from fastapi import Request
from fastapi.responses import Response

from vidmerge.errors import Unauthorized
from vidmerge.service.http.auth import check_api_key

COOKIE = "vidmerge_console"
LIFETIME = 8 * 3600
_PROCESS_KEY = secrets.token_bytes(32)


def _key(api_keys: Sequence[str]) -> bytes:
    if not api_keys:
        return _PROCESS_KEY
    return hashlib.sha256(b"vidmerge-console\0" + "\0".join(sorted(api_keys)).encode()).digest()


def _sign(key: bytes, text: str) -> str:
    return base64.urlsafe_b64encode(hmac.new(key, text.encode(), hashlib.sha256).digest()).decode().rstrip("=")


def sign_in(response: Response, api_key: str, api_keys: Sequence[str], *, secure: bool) -> None:
    """Check the key (Unauthorized naming `api_key`) and set the session cookie."""
    try:
        check_api_key(f"Bearer {api_key}", api_keys)
    except Unauthorized:
        raise Unauthorized("this API key is not valid here", where="api_key") from None
    body = f"{int(time.time()) + LIFETIME}.{secrets.token_urlsafe(16)}"
    value = f"{body}.{_sign(_key(api_keys), body)}"
    response.set_cookie(COOKIE, value, max_age=LIFETIME, httponly=True, samesite="strict", secure=secure,
                        path="/console")  # fmt: skip


def sign_out(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/console")


def session(request: Request) -> str | None:
    """The session's nonce when the cookie is valid (or the server is open), else None."""
    keys = request.app.state.rt.settings.api_keys
    value = request.cookies.get(COOKIE, "")
    parts = value.split(".")
    live = len(parts) == 3 and parts[0].isdigit() and int(parts[0]) > time.time()
    if live and hmac.compare_digest(parts[2], _sign(_key(keys), f"{parts[0]}.{parts[1]}")):
        return parts[1]
    return "open" if not keys else None


def csrf_token(request: Request, nonce: str) -> str:
    return _sign(_key(request.app.state.rt.settings.api_keys), f"csrf\0{nonce}")


def check_csrf(request: Request, nonce: str, token: str | None) -> None:
    if not token or not hmac.compare_digest(token, csrf_token(request, nonce)):
        raise Unauthorized("the form's CSRF token is missing or wrong: reload the page", where="csrf")
