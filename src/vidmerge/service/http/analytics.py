"""The player's beacons (`POST /v/{token}/events`) and the figures (`GET /v1/analytics`)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from typing import Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse

from vidmerge.errors import InvalidInput, TooMany
from vidmerge.service import analytics, csvfile
from vidmerge.service.http.api import management, problem_responses
from vidmerge.service.http.events import publish
from vidmerge.service.http.limits import parse_json, read_body

router = APIRouter()
BEACONS_PER_MINUTE = 60  # per token and process: a page sends a few; a script that loops is cut off


class RateLimit:
    """A fixed window per key, for the keys seen lately (bounded memory)."""

    def __init__(self, per_minute: int, keys: int = 10_000) -> None:
        self.per_minute, self.keys = per_minute, keys
        self._windows: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            start, count = self._windows.pop(key, (now, 0))
            if now - start >= 60:
                start, count = now, 0
            self._windows[key] = (start, count + 1)
            while len(self._windows) > self.keys:
                self._windows.popitem(last=False)
            return count < self.per_minute


LIMIT = RateLimit(BEACONS_PER_MINUTE)


# what /openapi.json promises of `from` and `to` (a plain date, YYYY-MM-DD, is taken too)
MOMENT: dict[str, Any] = {
    "anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "format": "date"}, {"type": "null"}]
}


@router.post("/v/{token}/events", status_code=204, include_in_schema=False)
async def events(request: Request, token: str, user_agent: str | None = Header(None)) -> Response:
    """A beacon from the page's player: bounded, checked, and dropped quietly when it comes from
    a bot (a preview's script is no view)."""
    body = await read_body(request, analytics.MAX_BEACON_BYTES)
    if not LIMIT.allow(token):
        raise TooMany("too many events for this video", where="events")
    record, _, _ = await run_in_threadpool(request.app.state.plans.get, request, token)
    if analytics.is_bot(user_agent):
        return Response(status_code=204)
    beacon = analytics.parse_beacon(parse_json(body))
    added = await run_in_threadpool(analytics.record, request.app.state.rt.db, record, beacon)
    await publish(request, record, added)
    return Response(status_code=204)


@router.get("/v1/analytics", responses={200: {"content": {"text/csv": {}}}, **problem_responses(401, 422)})
def get_analytics(
    request: Request,
    template_id: str | None = Query(None, max_length=128),
    campaign_id: str | None = Query(None, max_length=32),
    render_id: str | None = Query(None, max_length=32),
    from_: str | None = Query(
        None, alias="from", max_length=40, description="ISO date or time (UTC), inclusive", json_schema_extra=MOMENT
    ),
    to: str | None = Query(
        None, max_length=40, description="ISO date (that day included) or time, exclusive", json_schema_extra=MOMENT
    ),
    group: Literal["template_version", "campaign", "render", "day"] | None = Query(None),
    accept: str | None = Header(None),
    authorization: str | None = Header(None),
) -> Any:
    """Impressions, views, sessions, the completion funnel, CTA clicks and rate, time to first
    frame p50/p95, stall rate and seconds, who gave up while waiting: in all, or per `group`.
    JSON, or CSV with `Accept: text/csv`."""
    management(request, authorization)
    filters = analytics.Filters(template_id, campaign_id, render_id, _when(from_, "from"), _when(to, "to", end=True))
    rows = analytics.report(request.app.state.rt.db, filters, group)
    if accept and "text/csv" in accept:
        header = analytics.columns(group)
        lines: list[list[csvfile.Cell]] = [list(header), *(analytics.csv_row(r, header) for r in rows)]
        return StreamingResponse(csvfile.write(lines, "utf-8"), media_type="text/csv; charset=utf-8")
    query = {"template_id": template_id, "campaign_id": campaign_id, "render_id": render_id, "from": from_, "to": to}
    return JSONResponse({"filters": {k: v for k, v in query.items() if v}, "group": group, "rows": rows})


def _when(text: str | None, where: str, *, end: bool = False) -> datetime | None:
    """A date (the day's start; for `to`, the next day's) or a time; naive means UTC."""
    if text is None:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day, clock(), UTC) + timedelta(days=1 if end else 0)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput("must be an ISO date (2026-12-01) or time", where=where) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
