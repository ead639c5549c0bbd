"""Console sign-in: an API key exchanged for a session cookie (HttpOnly, SameSite=Strict, 8 h),
and a CSRF token per session on every form.

Sessions are signed, not stored: the cookie is `expiry.nonce.signature`, signed with a key
derived from the configured API keys (so every API process accepts it, and removing a key ends
the sessions it signed). Signing out revokes the nonce in the database until the cookie would
have expired, so a copy of the cookie ends with it on every process. Without API keys the server
is open (a laptop): the console needs no sign-in and signs with a key of this process.

The sign-in form carries a CSRF token too, before there is a session: a random seed in a cookie
of its own (double submit) and the form's token, the seed signed with the same key.

Failed sign-ins are throttled, counted in this process's memory: per client address, and for
the console as a whole (an attacker changing addresses); past either limit sign-in answers 429
with Retry-After until the window ends, whatever the key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import math
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from fastapi import Request
from fastapi.responses import Response

from vidmerge.errors import TooMany, Unauthorized
from vidmerge.service.http.auth import check_api_key

COOKIE = "vidmerge_console"
LOGIN_COOKIE = "vidmerge_login"  # the sign-in form's CSRF seed
LIFETIME = 8 * 3600
THROTTLE_WINDOW = 900.0  # seconds over which failed sign-ins are counted
ADDRESS_FAILURES = 10  # per client address and window
CONSOLE_FAILURES = 100  # from all addresses together, per window
_PROCESS_KEY = secrets.token_bytes(32)
log = logging.getLogger("vidmerge.console")


class Throttle:
    """Failures counted per key in fixed windows; past `limit` in a window the key waits for its
    end. At most `size` keys are kept (the least recently failed are forgotten first)."""

    def __init__(self, limit: int, window: float = THROTTLE_WINDOW, size: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.limit, self.window, self.size, self.clock = limit, window, size, clock
        self._failures: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def wait(self, key: str) -> int:
        """Seconds before `key` may try again; 0: now."""
        with self._lock:
            began, count = self._failures.get(key, (0.0, 0))
        left = began + self.window - self.clock()
        return math.ceil(left) if count >= self.limit and left > 0 else 0

    def failed(self, key: str) -> None:
        now = self.clock()
        with self._lock:
            began, count = self._failures.pop(key, (now, 0))
            if now - began >= self.window:
                began, count = now, 0
            self._failures[key] = (began, count + 1)
            while len(self._failures) > self.size:
                self._failures.popitem(last=False)


_ADDRESSES = Throttle(ADDRESS_FAILURES)
_CONSOLE = Throttle(CONSOLE_FAILURES)


def _key(api_keys: Sequence[str]) -> bytes:
    if not api_keys:
        return _PROCESS_KEY
    return hashlib.sha256(b"vidmerge-console\0" + "\0".join(sorted(api_keys)).encode()).digest()


def _sign(key: bytes, text: str) -> str:
    return base64.urlsafe_b64encode(hmac.new(key, text.encode(), hashlib.sha256).digest()).decode().rstrip("=")


def _secure(request: Request) -> bool:
    return request.app.state.rt.settings.base_url.startswith("https://")


def _same(given: str, expected: str) -> bool:
    """Constant-time, and bytes: compare_digest refuses a non-ASCII str (a 500 instead of a 401)."""
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())


def sign_in(request: Request, response: Response, api_key: str) -> None:
    """Check the key and set the session cookie: TooMany (with its Retry-After) while this
    address or the console is throttled, Unauthorized naming `api_key` for a wrong key."""
    address = request.client.host if request.client else "-"
    wait = max(_ADDRESSES.wait(address), _CONSOLE.wait(""))
    if wait:
        log.warning("console sign-in throttled: too many failed sign-ins (retry in %d s)", wait)
        refusal = TooMany(f"too many failed sign-ins: try again in {wait} s", where="api_key")
        refusal.retry_after = wait
        raise refusal
    keys = request.app.state.rt.settings.api_keys
    try:
        check_api_key(f"Bearer {api_key}", keys)
    except Unauthorized:
        _ADDRESSES.failed(address)
        _CONSOLE.failed("")
        log.info("console sign-in failed: the API key is not valid")
        raise Unauthorized("this API key is not valid here", where="api_key") from None
    body = f"{int(time.time()) + LIFETIME}.{secrets.token_urlsafe(16)}"
    value = f"{body}.{_sign(_key(keys), body)}"
    response.set_cookie(COOKIE, value, max_age=LIFETIME, httponly=True, samesite="strict", secure=_secure(request),
                        path="/console")  # fmt: skip


def sign_out(request: Request, response: Response) -> None:
    """End the session everywhere: its nonce is revoked until its cookie would have expired."""
    signed = _signed(request)
    if signed is not None:
        expiry, nonce = signed
        request.app.state.rt.db.sign_outs.add(nonce, datetime.fromtimestamp(expiry, UTC))
    response.delete_cookie(COOKIE, path="/console")


def _signed(request: Request) -> tuple[int, str] | None:
    """(expiry, nonce) of a session cookie that is ours and not expired, revoked or not."""
    parts = request.cookies.get(COOKIE, "").split(".")
    live = len(parts) == 3 and parts[0].isdigit() and len(parts[0]) <= 12 and int(parts[0]) > time.time()
    keys = request.app.state.rt.settings.api_keys
    if live and _same(parts[2], _sign(_key(keys), f"{parts[0]}.{parts[1]}")):
        return int(parts[0]), parts[1]
    return None


def session(request: Request) -> str | None:
    """The session's nonce when the cookie is valid and not signed out (or the server is open),
    else None."""
    signed = _signed(request)
    if signed is not None and not request.app.state.rt.db.sign_outs.revoked(signed[1]):
        return signed[1]
    return "open" if not request.app.state.rt.settings.api_keys else None


def with_login_token(request: Request, render: Callable[[str], Response]) -> Response:
    """The sign-in form, rendered with its CSRF token, and the cookie holding the token's seed."""
    seed = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(16)
    response = render(_login_token(request, seed))
    response.set_cookie(LOGIN_COOKIE, seed, max_age=LIFETIME, httponly=True, samesite="strict",
                        secure=_secure(request), path="/console/login")  # fmt: skip
    return response


def check_login_token(request: Request, token: str | None) -> None:
    """A sign-in must come from our form: its token is the seed in its cookie, signed."""
    seed = request.cookies.get(LOGIN_COOKIE, "")
    if not seed or not token or not _same(token, _login_token(request, seed)):
        raise Unauthorized("the form's CSRF token is missing or wrong: reload the page", where="csrf")


def _login_token(request: Request, seed: str) -> str:
    return _sign(_key(request.app.state.rt.settings.api_keys), f"login\0{seed}")


def csrf_token(request: Request, nonce: str) -> str:
    return _sign(_key(request.app.state.rt.settings.api_keys), f"csrf\0{nonce}")


def check_csrf(request: Request, nonce: str, token: str | None) -> None:
    if not token or not _same(token, csrf_token(request, nonce)):
        raise Unauthorized("the form's CSRF token is missing or wrong: reload the page", where="csrf")
