"""Where a template's outbound requests (http_lookup) may go: public addresses only.

A template names its lookup URL; the operator decides what it may reach. Every request is
checked on the address its host resolves to, and sent to that very address (the Host header and
TLS server name keep the name), so a DNS answer cannot switch to an internal address between the
check and the connection. Loopback, private, link-local (cloud metadata at 169.254.169.254),
shared, reserved and multicast addresses are refused, IPv4 and IPv6 alike, unless the operator
allow-lists the host (`VIDMERGE_OUTBOUND_ALLOW`, set once at start-up with `allow`).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as Late
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

_allowed: frozenset[str] = frozenset()
# getaddrinfo has no timeout of its own: it runs here, and the caller waits only its deadline
_resolver = ThreadPoolExecutor(max_workers=4, thread_name_prefix="vidmerge-resolve")


class Refused(Exception):
    """The destination is not allowed; the reason names no address."""


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


def request(method: str, url: str, *, headers: Mapping[str, str] | None = None, timeout: float = 10.0,
            **kwargs: Any) -> httpx.Response:  # fmt: skip
    """One request to `url` on its checked address (Refused, or httpx's errors); redirects are
    not followed (a redirect could lead anywhere)."""
    pinned = target(url, timeout=timeout)
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        return client.request(method, pinned.url, headers={**(headers or {}), **pinned.headers},
                              extensions=pinned.extensions, **kwargs)  # fmt: skip


def _public_address(host: str, port: int, timeout: float) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        infos = _resolver.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM).result(timeout)
    except Late:
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
