"""What a render's page saw, and the figures marketers read.

Events come from two places: the page's player sends beacons (`play`, `progress` milestones,
`pause`, `replay`, `error`, and the quality figures `ttff`, `stall` and `gave_up`) under a random id
per page load; the server itself records `impression`s (the page fetched, by a person or a
link-preview bot, or its poster or GIF fetched, as an email client or its proxy does when the
email opens) and `cta_click`s (the call to action's redirect). Nothing identifies the viewer: no
cookie, no address, no user agent is stored, and no value drawn. Bots are recognised by their user
agent: what they fetch is an impression, never a view.

Figures: impressions, views (sessions that played), unique sessions, the completion funnel
(sessions reaching 25/50/75/95/100 %), CTA clicks and rate, time to first frame p50/p95, the
stall rate (sessions that stalled, per view) and stall seconds, and how many gave up while waiting
(sessions that left during a stall or before their first frame, per page session: such a wait
never ends, so it is never a `stall`).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func

from vidmerge.errors import InvalidInput
from vidmerge.records import Database, EventRecord, RenderRecord, utcnow
from vidmerge.service import csvfile
from vidmerge.service.metrics import METRICS

BEACON_TYPES = ("play", "progress", "pause", "replay", "error", "ttff", "stall", "gave_up")
ONCE = {"play", "progress", "ttff", "gave_up"}  # once per page session (a milestone once each)
MILESTONES = (25, 50, 75, 95, 100)
MAX_BEACON_BYTES = 8 * 1024
MAX_BEACON_EVENTS = 32
MAX_EVENTS_PER_RENDER = 2000  # a page played many times over still fits; a flood does not
MAX_VALUE = {"ttff": 600_000.0, "stall": 3600.0, "gave_up": 3600.0}  # ms to the first frame; seconds waited
WAITED_FOR = ("start", "stall")  # gave_up: before the first frame, or in a stall
SESSION = re.compile(r"^[A-Za-z0-9_-]{8,40}$")
DETAIL = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
# Link previews (chat apps, social networks), search crawlers and mail image proxies.
BOTS = re.compile(
    r"bot\b|bot/|crawler|spider|preview|facebookexternalhit|facebookcatalog|slack|twitterbot|linkedinbot|"
    r"discord|whatsapp|telegram|line/|skypeuripreview|googleimageproxy|ggpht\.com|yahoomailproxy|"
    r"outlook-iOS|microsoft office|ms-office|headlesschrome|curl/|wget/|python-|go-http-client",
    re.IGNORECASE,
)


def is_bot(user_agent: str | None) -> bool:
    """A link-preview bot, crawler, mail proxy or script, by its user agent (none: a bot too)."""
    return not user_agent or bool(BOTS.search(user_agent))


@dataclass(frozen=True)
class Beacon:
    session: str
    events: list[dict[str, Any]]


def parse_beacon(raw: object) -> Beacon:
    """A beacon's JSON, checked field by field (its size was bounded before parsing)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("session"), str) or not SESSION.match(raw["session"]):
        raise InvalidInput("must be 8-40 letters, digits, - or _", where="session")
    events = raw.get("events")
    if not isinstance(events, list) or not 1 <= len(events) <= MAX_BEACON_EVENTS:
        raise InvalidInput(f"must be a list of 1 to {MAX_BEACON_EVENTS} events", where="events")
    return Beacon(raw["session"], [_event(e, f"events[{n}]") for n, e in enumerate(events)])


def _event(raw: object, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict) or raw.get("type") not in BEACON_TYPES:
        raise InvalidInput(f"type must be one of {', '.join(BEACON_TYPES)}", where=f"{where}.type")
    kind = raw["type"]
    event: dict[str, Any] = {"type": kind}
    if kind == "progress":
        if raw.get("milestone") not in MILESTONES:
            raise InvalidInput(f"must be one of {MILESTONES}", where=f"{where}.milestone")
        event["milestone"] = raw["milestone"]
    if kind in MAX_VALUE:
        value = raw.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_VALUE[kind]:
            raise InvalidInput(f"must be a number from 0 to {MAX_VALUE[kind]:g}", where=f"{where}.value")
        event["value"] = float(value)
    if kind == "error":
        detail = raw.get("detail", "unknown")
        event["detail"] = detail if isinstance(detail, str) and DETAIL.match(detail) else "unknown"
    if kind == "gave_up":
        if raw.get("detail") not in WAITED_FOR:
            raise InvalidInput(f"must be one of {', '.join(WAITED_FOR)}", where=f"{where}.detail")
        event["detail"] = raw["detail"]
    return event


def record(db: Database, render: RenderRecord, beacon: Beacon) -> list[EventRecord]:
    """Store a beacon's events (a `once` event its session sent before is skipped); returns those
    that were new. A render past MAX_EVENTS_PER_RENDER takes no more."""
    room = MAX_EVENTS_PER_RENDER - db.events.count(render.id)
    events = [_record(render, beacon.session, **e) for e in beacon.events[: max(0, room)]]
    added = db.events.add(events) if events else []
    for event in added:
        _observe(event)
    return added


def server_event(
    db: Database, render: RenderRecord, kind: str, detail: str, session: str | None = None
) -> list[EventRecord]:
    """An impression or a CTA click, seen by the server (in the page's session when it sent one)."""
    if db.events.count(render.id) >= MAX_EVENTS_PER_RENDER:
        return []
    valid = session if session and SESSION.match(session) else None
    return db.events.add([_record(render, valid, type=kind, detail=detail)])


def _record(render: RenderRecord, session: str | None, **event: Any) -> EventRecord:
    kind = event["type"]
    once = None
    if kind in ONCE and session is not None:
        once = f"{kind}:{event.get('milestone', '')}" if kind == "progress" else kind
    return EventRecord(render_id=render.id, template_id=render.template_id, template_version=render.template_version,
                       campaign_id=render.campaign_id, session=session, once=once, at=utcnow(), **event)  # fmt: skip


def _observe(event: EventRecord) -> None:
    if event.type == "play":
        METRICS.views.inc()
    elif event.type == "ttff" and event.value is not None:
        METRICS.ttff.observe(event.value / 1000)
    elif event.type == "stall" and event.value is not None:
        METRICS.stalls.inc()
        METRICS.stall_seconds.inc(event.value)


# -- figures --------------------------------------------------------------------------------------

GROUPS = {
    "template_version": EventRecord.template_version,
    "campaign": EventRecord.campaign_id,
    "render": EventRecord.render_id,
    "day": func.date(EventRecord.at),
}


@dataclass(frozen=True)
class Filters:
    template_id: str | None = None
    campaign_id: str | None = None
    render_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None

    def where(self) -> list[Any]:
        found: list[Any] = []
        for column, value in ((EventRecord.template_id, self.template_id), (EventRecord.campaign_id, self.campaign_id),
                              (EventRecord.render_id, self.render_id)):  # fmt: skip
            if value is not None:
                found.append(column == value)
        if self.start is not None:
            found.append(EventRecord.at >= self.start)
        if self.end is not None:
            found.append(EventRecord.at < self.end)
        return found


def report(db: Database, filters: Filters, group: str | None = None) -> list[dict[str, Any]]:
    """The figures under `filters`: one row in all (zeros when nothing happened), or one per
    `group` (a key of GROUPS) where something happened."""
    key = GROUPS[group] if group else None
    where = filters.where()
    rows: dict[Any, dict[str, Any]] = {}
    for g, kind, milestone, n, sessions, total in db.events.counts(where, key):
        row = rows.setdefault(g, _empty())
        _add(row, kind, milestone, n, sessions, total)
    for g, n in db.events.sessions(where, key):
        rows.setdefault(g, _empty())["sessions"] = n
    ttff: dict[Any, list[float]] = {}
    for g, value in db.events.values(where, key, "ttff"):
        ttff.setdefault(g, []).append(value)
    return [_figures(row, ttff.get(g, []), {group: _plain(g)} if group else {}) for g, row in sorted(
        rows.items(), key=lambda item: str(item[0]))]  # fmt: skip


def _empty() -> dict[str, Any]:
    return {"impressions": 0, "views": 0, "sessions": 0,
            "funnel": dict.fromkeys(MILESTONES, 0), "cta_clicks": 0, "replays": 0, "pauses": 0, "errors": 0,
            "stalls": 0, "stalled_sessions": 0, "stall_seconds": 0.0, "gave_up": 0}  # fmt: skip


def _add(row: dict[str, Any], kind: str, milestone: int | None, n: int, sessions: int, total: float) -> None:
    if kind == "impression":
        row["impressions"] += n
    elif kind == "play":
        row["views"] += sessions
    elif kind == "progress" and milestone in row["funnel"]:
        row["funnel"][milestone] += sessions
    elif kind == "cta_click":
        row["cta_clicks"] += n
    elif kind in ("replay", "pause", "error"):
        row[f"{kind}s"] += n
    elif kind == "stall":
        row["stalls"] += n
        row["stalled_sessions"] += sessions
        row["stall_seconds"] += total
    elif kind == "gave_up":
        row["gave_up"] += sessions


def _figures(row: dict[str, Any], ttff: list[float], key: Mapping[str, Any]) -> dict[str, Any]:
    views = row["views"]
    out = {**key, **row, "funnel": {str(m): n for m, n in row["funnel"].items()}}
    out["completion_rate"] = _rate(row["funnel"][100], views)
    out["cta_rate"] = _rate(row["cta_clicks"], views)
    out["stall_rate"] = _rate(row["stalled_sessions"], views)
    out["stall_seconds"] = round(row["stall_seconds"], 3)
    # per page session, not per view: who gave up before the first frame never became a view
    out["gave_up_rate"] = _rate(row["gave_up"], row["sessions"])
    out["ttff_ms_p50"], out["ttff_ms_p95"] = _percentile(ttff, 50), _percentile(ttff, 95)
    return out


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _percentile(values: Sequence[float], p: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 1)
    return round(statistics.quantiles(values, n=100, method="inclusive")[p - 1], 1)


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def purge_events(db: Database, days: float) -> int:
    """Retention: events older than `days` go."""
    return db.events.purge_before(utcnow() - timedelta(days=days))


def columns(group: str | None) -> list[str]:
    """The CSV header of a report: the group, then every figure (the funnel flattened)."""
    return ([group] if group else []) + [
        "impressions", "views", "sessions", *(f"reached_{m}" for m in MILESTONES), "completion_rate", "cta_clicks",
        "cta_rate", "replays", "pauses", "errors", "ttff_ms_p50", "ttff_ms_p95", "stalls", "stalled_sessions",
        "stall_rate", "stall_seconds", "gave_up", "gave_up_rate",
    ]  # fmt: skip


def csv_row(row: Mapping[str, Any], header: Sequence[str]) -> list[csvfile.Cell]:
    """The figures stay numbers (written as they are), the group's key (an id, a day) text: see
    `csvfile.cell`."""
    flat = {**row, **{f"reached_{m}": n for m, n in row["funnel"].items()}}
    return [flat.get(name) for name in header]
