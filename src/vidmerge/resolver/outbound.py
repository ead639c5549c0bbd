"""Where a template's outbound requests (http_lookup) may go: public addresses only.

A template names its lookup URL; the operator decides what it may reach. Every request is
checked on the address its host resolves to, and sent to that very address (the Host header and
TLS server name keep the name), so a DNS answer cannot switch to an internal address between the
check and the connection. Loopback, private, link-local (cloud metadata at 169.254.169.254),
shared, reserved and multicast addresses are refused, IPv4 and IPv6 alike, unless the operator
allow-lists the host (`VIDMERGE_OUTBOUND_ALLOW`, set once at start-up with `allow`).

`request` is the one place that makes an outbound request (lookups, webhook deliveries, the MA
pushers). Each has one total deadline, name resolution included, and a byte cap on the answer:
the body is streamed and the request stops at the cap (a Content-Length past it is refused
before any of the body is read). httpx's timeouts are per read, so a server dripping a byte
within each of them could hold a request for ever; a watchdog shuts the connection's socket at
the deadline, which ends the read in progress, and the deadline is checked between chunks.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as ResolveTimeout
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

MAX_ANSWER_BYTES = 1_000_000  # the default cap on an answer's body
_allowed: frozenset[str] = frozenset()
# getaddrinfo has no timeout of its own: it runs here, and the caller waits only its deadline
_resolver = ThreadPoolExecutor(max_workers=4, thread_name_prefix="vidmerge-resolve")


class Failed(Exception):
    """An outbound request gave no usable answer; the reason names no address nor URL."""


class Refused(Failed):
    """The destination is not allowed."""


class TooLarge(Failed):
    """The answer's body is longer than the request's byte cap."""


class Late(Failed):
    """The request's total deadline passed before its answer was complete."""


def allow(hosts: tuple[str, ...] | list[str] | frozenset[str]) -> None:
    """The hosts the operator trusts despite the address rules (a CRM on a private network)."""
    global _allowed
    _allowed = frozenset(h.strip().lower() for h in hosts if h.strip())


def allowed() -> frozenset[str]:
    return _allowed


@dataclass(frozen=True)
class Target:
    """Where to connect (`url`, with the checked address), and what to tell the server."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, str] = field(default_factory=dict)


def target(url: str, timeout: float = 5.0) -> Target:
    """The request target for `url`, or Refused when its host resolves to an internal address
    (or does not resolve within `timeout` seconds)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        raise Refused("no host")
    if host in _allowed:
        return Target(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = _public_address(host, port, timeout)
    netloc = f"[{address}]" if address.version == 6 else str(address)
    if parts.port:
        netloc += f":{parts.port}"
    pinned = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    ascii_host = host.encode("idna").decode("ascii")
    extensions = {"sni_hostname": ascii_host} if parts.scheme == "https" else {}
    host_header = ascii_host if ":" not in ascii_host else f"[{ascii_host}]"
    return Target(pinned, {"Host": f"{host_header}:{parts.port}" if parts.port else host_header}, extensions)


@dataclass(frozen=True)
class Answer:
    """A complete answer: its status, headers and body (at most the request's byte cap)."""

    status: int
    headers: httpx.Headers
    content: bytes

    def json(self) -> Any:
        """The body as JSON; Failed when it is compressed (asked for without) or not JSON."""
        if self.headers.get("content-encoding", "identity").lower() != "identity":
            raise Failed("compressed answers are not accepted")  # it would expand past the cap
        try:
            return json.loads(self.content)
        except (ValueError, RecursionError):
            raise Failed("answer is not JSON") from None


def request(method: str, url: str, *, deadline: float, max_bytes: int = MAX_ANSWER_BYTES,
            headers: Mapping[str, str] | None = None, **kwargs: Any) -> Answer:  # fmt: skip
    """One request to `url` on its checked address, over within `deadline` seconds in all (Late),
    its answer's body refused past `max_bytes` (TooLarge); Refused, or httpx's errors for a
    connection that failed otherwise. Redirects are not followed (one could lead anywhere)."""
    ends = time.monotonic() + deadline
    pinned = target(url, timeout=deadline)
    # identity only: a compressed answer would expand past the cap before the cap could see it
    sent = {**(headers or {}), "Accept-Encoding": "identity", **pinned.headers}
    watchdog = _Watchdog(ends)
    extensions = {**pinned.extensions, "trace": watchdog.trace}
    try:
        # no single wait outlasts the deadline either: any timeout is the deadline passing
        with (
            httpx.Client(timeout=_left(ends, deadline), follow_redirects=False) as client,
            client.stream(method, pinned.url, headers=sent, extensions=extensions, **kwargs) as response,
        ):
            content = _body(response, ends, deadline, max_bytes)
    except httpx.HTTPError as exc:
        if watchdog.fired or isinstance(exc, httpx.TimeoutException):
            raise Late(_late(deadline)) from None
        raise
    finally:
        watchdog.cancel()
    if watchdog.fired:  # a body without a length ends with its connection: the watchdog's end is no end
        raise Late(_late(deadline))
    return Answer(response.status_code, response.headers, content)


def _body(response: httpx.Response, ends: float, deadline: float, max_bytes: int) -> bytes:
    """The raw body (never decoded here), refused past `max_bytes` as soon as that is known."""
    announced = response.headers.get("content-length", "")
    if announced.isdigit() and int(announced) > max_bytes:
        raise TooLarge(f"answer over {max_bytes} bytes")
    chunks, size = [], 0
    for chunk in response.iter_raw():
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge(f"answer over {max_bytes} bytes")
        if time.monotonic() > ends:
            raise Late(_late(deadline))
        chunks.append(chunk)
    return b"".join(chunks)


def _left(ends: float, deadline: float) -> float:
    left = ends - time.monotonic()
    if left <= 0:
        raise Late(_late(deadline))
    return left


def _late(deadline: float) -> str:
    return f"no complete answer within {deadline:g} s"


class _Watchdog:
    """Shuts the request's socket at its deadline, which wakes the read waiting on it."""

    def __init__(self, ends: float) -> None:
        self.fired = False
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, ends - time.monotonic()), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpx's `trace` extension: the socket, once connected (and again once TLS wraps it)."""
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            with self._lock:
                self._socket = info["return_value"].get_extra_info("socket")
                if self.fired:
                    self._shut()

    def cancel(self) -> None:
        self._timer.cancel()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            self._shut()

    def _shut(self) -> None:
        if self._socket is None:
            return
        # the plain socket's shutdown, also under TLS: the reader sees the end of the stream (an
        # OSError: closed meanwhile)
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self._socket, socket.SHUT_RDWR)


def _public_address(host: str, port: int, timeout: float) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        infos = _resolver.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM).result(timeout)
    except ResolveTimeout:
        raise Refused("host did not resolve in time") from None
    except (OSError, UnicodeError):
        raise Refused("host does not resolve") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses or not all(_public(a) for a in addresses):
        raise Refused("destination is not a public address")
    return addresses[0]


NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Public, and so is any IPv4 address an IPv6 one carries (mapped, 6to4, NAT64, compatible):
    those reach the IPv4 network, metadata address included, through a gateway."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return _public(embedded)
        if address.is_site_local:
            return False
    return address.is_global and not address.is_multicast


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in net for net in (*NAT64, IPV4_COMPATIBLE)) and int(address) > 0xFFFF:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None
