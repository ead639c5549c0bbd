"""Page events the HTTP layer stores, and hands to the receivers that take them."""

from __future__ import annotations

import logging

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from vidmerge.records import EventRecord, RenderRecord
from vidmerge.service import analytics, webhooks

log = logging.getLogger("vidmerge.events")


async def server_event(
    request: Request, record: RenderRecord, kind: str, detail: str, session: str | None = None
) -> None:
    """An impression or a click the server saw, stored and pushed to the receivers."""
    added = await run_in_threadpool(analytics.server_event, request.app.state.rt.db, record, kind, detail, session)
    await publish(request, record, added)


async def publish(request: Request, record: RenderRecord, events: list[EventRecord]) -> None:
    """Deliveries for the receivers that take these events, stored, then sent on the queue (a
    broker that is down leaves them to the sweep)."""
    ids = await run_in_threadpool(webhooks.fan_out, request.app.state.rt, record, events)
    for delivery_id in ids:
        try:
            request.app.state.queue.deliver(delivery_id)
        except Exception as exc:
            log.warning("delivery %s stored, not sent now (%s); the sweep sends it", delivery_id, type(exc).__name__)
