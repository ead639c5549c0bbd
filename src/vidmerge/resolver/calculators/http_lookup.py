"""http_lookup: extra fields fetched from a CRM/CDP endpoint, with a declared fallback.

Manifest::

    crm:
      calculator: http_lookup
      url: https://crm.example.com/api/contacts      # static: data never builds the URL
      query: {email: "{{ email }}"}                  # per render; sent as query parameters
      method: GET                                    # or POST (query sent as a JSON body)
      fields: [rank, last_visit]                     # keys picked from the JSON object answer
      timeout: 2.0                                   # seconds per attempt, in all
      retries: 1                                     # extra attempts on network errors and 5xx
      deadline: 5.0                                  # seconds for the whole lookup, attempts included
      fallback: {rank: 一般, last_visit: null}        # used when every attempt fails

The answer is data, never a template; string values are cleaned like customer input, and only
the declared `fields` are kept. The destination must resolve to a public address unless the
operator allow-lists its host (resolver/outbound.py, which makes the request); redirects are not
followed; the answer is streamed and refused past MAX_BYTES; each attempt ends at its timeout and
the whole lookup at its deadline, however slowly the server answers. Without a `fallback`, a
failed lookup raises Transient (retryable). A 4xx answer is not retried. The explanation records
attempts, status and why a fallback was used, never a connection detail.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

import httpx

from vidmerge.errors import BundleError, Transient
from vidmerge.resolver import outbound
from vidmerge.resolver.calculators import reject_unknown_keys
from vidmerge.resolver.text import clean_text

MAX_BYTES = 1_000_000
_PARAMS = {"url", "method", "fields", "timeout", "retries", "deadline", "fallback", "headers"}


class LookupFailed(Exception):
    """One attempt failed; `retry` says whether another attempt can help."""

    def __init__(self, reason: str, *, retry: bool, status: int | None = None):
        super().__init__(reason)
        self.retry = retry
        self.status = status


@dataclass(frozen=True)
class HttpLookup:
    name: ClassVar[str] = "http_lookup"
    inputs: ClassVar[tuple[str, ...]] = ("query",)

    url: str
    method: str
    fields: tuple[str, ...]
    timeout: float
    retries: int
    deadline: float
    fallback: Mapping[str, Any] | None
    headers: Mapping[str, str]
    where: str

    @classmethod
    def from_params(cls, params: Mapping[str, Any], base_dir: Path, where: str) -> Self:
        reject_unknown_keys(params, _PARAMS, where)
        return cls(
            url=_url(params.get("url"), f"{where}.url"),
            method=_choice(params.get("method", "GET"), ("GET", "POST"), f"{where}.method"),
            fields=_fields(params.get("fields"), f"{where}.fields"),
            timeout=_positive(params.get("timeout", 2.0), float, f"{where}.timeout"),
            retries=int(_positive(params.get("retries", 1), int, f"{where}.retries", zero=True)),
            deadline=_positive(params.get("deadline", 5.0), float, f"{where}.deadline"),
            fallback=_mapping(params.get("fallback"), f"{where}.fallback"),
            headers={str(k): str(v) for k, v in (_mapping(params.get("headers"), where) or {}).items()},
            where=where,
        )

    def compute(self, inputs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        query = {str(k): "" if v is None else str(v) for k, v in (inputs.get("query") or {}).items()}
        steps: dict[str, Any] = {"url": self.url, "method": self.method, "attempts": 0}
        started = time.monotonic()
        try:
            answer = self._fetch(query, steps)
        except LookupFailed as exc:
            steps["elapsed_ms"] = round((time.monotonic() - started) * 1000)
            return self._fallback(str(exc), steps)
        steps.update(elapsed_ms=round((time.monotonic() - started) * 1000), fallback_used=False)
        return self._pick(answer), steps

    def _fetch(self, query: Mapping[str, str], steps: dict[str, Any]) -> Mapping[str, Any]:
        deadline = time.monotonic() + self.deadline
        for attempt in range(self.retries + 1):
            steps["attempts"] = attempt + 1
            try:
                return self._once(query, steps, deadline)
            except LookupFailed as exc:
                if not exc.retry or attempt == self.retries:
                    raise
                time.sleep(min(0.1 * 2**attempt, 1.0, max(0.0, deadline - time.monotonic())))
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(self, query: Mapping[str, str], steps: dict[str, Any], deadline: float) -> Mapping[str, Any]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LookupFailed("deadline passed", retry=False)
        options: dict[str, Any] = {"params": dict(query)} if self.method == "GET" else {"json": dict(query)}
        try:
            answer = outbound.request(
                self.method, self.url, headers=dict(self.headers), deadline=min(self.timeout, remaining),
                max_bytes=MAX_BYTES, **options,
            )  # fmt: skip
        except outbound.Late:  # this attempt's time, or the whole lookup's, is up
            if remaining <= self.timeout:
                raise LookupFailed("deadline passed", retry=False) from None
            raise LookupFailed("attempt timed out", retry=True) from None
        except outbound.Failed as exc:
            raise LookupFailed(str(exc), retry=False) from None
        except httpx.HTTPError as exc:
            raise LookupFailed(f"{type(exc).__name__}", retry=True) from None
        steps["status"] = answer.status
        _check_status(answer.status)
        try:
            return _json_object(answer.json())
        except outbound.Failed as exc:
            raise LookupFailed(str(exc), retry=False) from None

    def _pick(self, answer: Mapping[str, Any]) -> dict[str, Any]:
        spare = self.fallback or {}
        return {name: _clean(answer.get(name, spare.get(name))) for name in self.fields}

    def _fallback(self, reason: str, steps: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        if self.fallback is None:
            raise Transient(f"lookup failed: {reason}", where=self.where)
        steps.update(fallback_used=True, fallback_reason=reason)
        return {name: self.fallback.get(name) for name in self.fields}, steps


def _check_status(status: int) -> None:
    if 300 <= status < 400:
        raise LookupFailed(f"HTTP {status}: redirects are not followed", retry=False)
    if status >= 400:
        raise LookupFailed(f"HTTP {status}", retry=status >= 500 or status == 429)


def _json_object(answer: Any) -> Mapping[str, Any]:
    if not isinstance(answer, dict):
        raise LookupFailed("answer is not a JSON object", retry=False)
    return answer


def _clean(value: Any) -> Any:
    return clean_text(value) if isinstance(value, str) else value


def _url(raw: Any, where: str) -> str:
    if not isinstance(raw, str) or not raw.startswith(("http://", "https://")):
        raise BundleError("must be an http:// or https:// URL", where=where)
    if "{{" in raw or "{%" in raw:
        raise BundleError("must be static; put per-render values in `query`", where=where)
    if "@" in urlsplit(raw).netloc:
        raise BundleError("must not carry credentials; put them in `headers`", where=where)
    return raw


def _choice(raw: Any, choices: tuple[str, ...], where: str) -> str:
    if raw not in choices:
        raise BundleError(f"must be one of: {', '.join(choices)}", where=where)
    return str(raw)


def _fields(raw: Any, where: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw or not all(isinstance(f, str) and f.isidentifier() for f in raw):
        raise BundleError("must be a non-empty list of field names", where=where)
    return tuple(raw)


def _positive(raw: Any, kind: type, where: str, *, zero: bool = False) -> Any:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw < 0 or (raw == 0 and not zero):
        raise BundleError("must be a positive number" if not zero else "must be 0 or more", where=where)
    return kind(raw)


def _mapping(raw: Any, where: str) -> Mapping[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise BundleError("must be a mapping", where=where)
    return dict(raw)
