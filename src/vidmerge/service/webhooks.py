"""Page events pushed to the MA tool: webhook endpoints signed per the Standard Webhooks
specification, and the tools' own APIs (`pushers.py`).

Each event a receiver takes becomes a delivery with a stable id (`webhook-id`, what the receiver
de-duplicates by), stored before anything is sent: at least once. An attempt is made at once;
a failed one again after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, then every 12 h until three
days have passed (`VIDMERGE_WEBHOOK_RETRY_SCALE` shrinks the schedule for tests). Whoever sends
claims the delivery first (one sender at a time); the sweep sends again what is due, so a
message lost with its process is not lost. An endpoint answering 410 Gone is disabled. An
attempt ends within TIMEOUT seconds in all, however slowly the receiver answers, and its answer
is read up to ANSWER_BYTES (a longer one fails the attempt: resolver/outbound.py).
Payloads carry ids, the event and its time: never a value drawn.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from standardwebhooks.webhooks import Webhook

from vidmerge.errors import InvalidInput, NotFound
from vidmerge.records import DeliveryRecord, EndpointRecord, EventRecord, RenderRecord, utcnow
from vidmerge.resolver import outbound
from vidmerge.service import ids, pushers
from vidmerge.service.runtime import Runtime

log = logging.getLogger("vidmerge.webhooks")
EVENT_TYPES = ("impression", "play", "progress", "pause", "replay", "cta_click", "error", "ttff", "stall", "gave_up")
DEFAULT_EVENTS = ("play", "progress", "replay", "cta_click")
RETRY_SECONDS = (5, 300, 1800, 7200, 18000, 36000, 36000, 43200, 43200, 43200)
GIVE_UP = timedelta(days=3)
LEASE_SECONDS = 60.0  # a sender's hold on a delivery (longer than an attempt's timeout)
TIMEOUT = 10.0  # seconds for a whole attempt: connecting, sending and the complete answer
ANSWER_BYTES = 64 * 1024  # a receiver acknowledges; its body is not used


def register(url: str, events: Sequence[str] | None, template_id: str | None) -> EndpointRecord:
    """A new endpoint (not stored yet) with a generated secret, its URL checked now against the
    outbound-address rules (and again at every delivery)."""
    ids.check(template_id, "template_id")
    ids.check(url, "url")
    if not url.startswith(("https://", "http://")):
        raise InvalidInput("must be an http(s) URL", where="url")
    try:
        urlsplit(url).port  # noqa: B018 (parsing it checks it: a port past 65535, a broken [IPv6])
    except ValueError as exc:
        raise InvalidInput(f"not a valid URL: {exc}", where="url") from None
    try:
        outbound.target(url)
    except outbound.Refused as exc:
        raise InvalidInput(f"not allowed: {exc}", where="url") from None
    chosen = list(events) if events else list(DEFAULT_EVENTS)
    unknown = sorted(set(chosen) - set(EVENT_TYPES))
    if unknown:
        raise InvalidInput(f"unknown event types {unknown}; known: {', '.join(EVENT_TYPES)}", where="events")
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    return EndpointRecord(id="ep_" + secrets.token_hex(12), url=url, secret=secret, events=chosen,
                          template_id=template_id, status="active", created_at=utcnow())  # fmt: skip


def fan_out(rt: Runtime, render: RenderRecord, events: Sequence[EventRecord]) -> list[str]:
    """Store a delivery for each event and receiver that takes it; their ids, to send now."""
    if not events:
        return []
    made = []
    endpoints = [e for e in rt.db.endpoints.active() if e.template_id in (None, render.template_id)]
    for event in events:
        body = payload(render, event)
        made += [_delivery(e.id, render, body) for e in endpoints if event.type in e.events]
        made += [_delivery(tool, render, body) for tool in pushers.takers(rt, render, event)]
    if made:
        rt.db.deliveries.add(made)
    return [d.id for d in made]


def _delivery(target: str, render: RenderRecord, body: dict[str, Any]) -> DeliveryRecord:
    return DeliveryRecord(id="msg_" + secrets.token_hex(16), target=target, render_id=render.id, payload=body,
                          status="pending", attempts=0, next_at=utcnow(), created_at=utcnow())  # fmt: skip


def payload(render: RenderRecord, event: EventRecord) -> dict[str, Any]:
    """What a receiver gets: ids, the event, its milestone and time (Standard Webhooks' shape)."""
    at = event.at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    data = {"render_id": render.id, "external_id": render.external_id, "template_id": render.template_id,
            "template_version": render.template_version, "campaign_id": render.campaign_id, "event": event.type,
            "milestone": event.milestone, "at": at}  # fmt: skip
    return {"type": f"video.{event.type}", "timestamp": at, "data": data}


def deliver(rt: Runtime, delivery_id: str) -> str:
    """One attempt, if the delivery is due and this sender wins it. Returns what happened."""
    delivery = rt.db.deliveries.claim(delivery_id, LEASE_SECONDS)
    if delivery is None:
        return "not due"
    try:
        status = pushers.push(rt, delivery) if delivery.target in pushers.TOOLS else _post(rt, delivery)
    except (httpx.HTTPError, pushers.PushError) as exc:
        return _retry(rt, delivery, None, type(exc).__name__)
    except outbound.Failed as exc:  # refused, too long an answer, too late: its reason names no address
        return _retry(rt, delivery, None, f"{type(exc).__name__}: {exc}")
    except NotFound as exc:  # the endpoint is gone or disabled
        rt.db.deliveries.result(delivery.id, status="failed", last_error=exc.message)
        return "failed"
    if 200 <= status < 300:
        rt.db.deliveries.result(delivery.id, status="delivered", attempts=delivery.attempts + 1, last_status=status,
                                last_error=None, delivered_at=utcnow())  # fmt: skip
        return "delivered"
    if status == 410 and delivery.target not in pushers.TOOLS:
        rt.db.deliveries.result(delivery.id, attempts=delivery.attempts + 1, last_status=status)
        rt.db.endpoints.disable(delivery.target, "the endpoint answered 410 Gone")
        log.warning("webhook endpoint %s disabled: it answered 410", delivery.target)
        return "disabled"
    return _retry(rt, delivery, status, f"HTTP {status}")


def _post(rt: Runtime, delivery: DeliveryRecord) -> int:
    endpoint = rt.db.endpoints.get(delivery.target)
    if endpoint is None or endpoint.status != "active":
        raise NotFound("the endpoint is gone or disabled", where="endpoint")
    body = json.dumps(delivery.payload, ensure_ascii=False, separators=(",", ":"))
    now = datetime.now(UTC)
    headers = {
        "webhook-id": delivery.id, "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(endpoint.secret).sign(delivery.id, now, body),
        "content-type": "application/json", "user-agent": "vidmerge-webhooks",
    }  # fmt: skip
    answer = outbound.request("POST", endpoint.url, headers=headers, content=body.encode(), deadline=TIMEOUT,
                              max_bytes=ANSWER_BYTES)  # fmt: skip
    return answer.status


def _retry(rt: Runtime, delivery: DeliveryRecord, status: int | None, error: str) -> str:
    attempts = delivery.attempts + 1
    delay = RETRY_SECONDS[min(attempts, len(RETRY_SECONDS)) - 1] * rt.settings.webhook_retry_scale
    next_at = utcnow() + timedelta(seconds=delay)
    if next_at - delivery.created_at > GIVE_UP * max(rt.settings.webhook_retry_scale, 1e-6):
        rt.db.deliveries.result(delivery.id, status="failed", attempts=attempts, last_status=status,
                                last_error=f"gave up after {attempts} attempts ({error})")  # fmt: skip
        return "failed"
    rt.db.deliveries.result(delivery.id, attempts=attempts, next_at=next_at, last_status=status, last_error=error)
    return "retry"
