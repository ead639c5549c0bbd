"""Writes into the MA tools' own records, per template version (`push:` in template.yaml):

    HubSpot  contact properties through the CRM objects API (PATCH /crm/v3/objects/contacts/{id}):
             `vidmerge_percent_watched` (the furthest milestone of the render's viewers),
             `vidmerge_last_viewed_at`, `vidmerge_cta_clicked`; the contact is the render's
             `external_id` (its record id, or the property `id_property` names, e.g. email)
    Marketo  a custom activity on the lead (POST /rest/v1/activities/external.json), the lead
             being the render's `external_id`; the access token from /identity/oauth/token

Credentials are the operator's (`VIDMERGE_HUBSPOT_TOKEN`; `VIDMERGE_MARKETO_URL`,
`VIDMERGE_MARKETO_CLIENT_ID`, `VIDMERGE_MARKETO_CLIENT_SECRET`), never the template's. Each push
is a delivery of `webhooks.py`: stored first, retried with backoff, at least once. Each call ends
within TIMEOUT seconds and reads at most ANSWER_BYTES of the answer (resolver/outbound.py).
"""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import quote

from vidmerge.records import DeliveryRecord, EventRecord, RenderRecord
from vidmerge.resolver import outbound
from vidmerge.service.runtime import Runtime

TOOLS = ("hubspot", "marketo")
TIMEOUT = 10.0  # seconds for a whole call, its complete answer included
ANSWER_BYTES = 256 * 1024  # the tools answer a few hundred bytes of JSON


class PushError(Exception):
    """The tool refused or failed this push in a way worth trying again."""


def takers(rt: Runtime, render: RenderRecord, event: EventRecord) -> list[str]:
    """The tools this template version pushes this event to (configured, with a contact to name)."""
    if not render.external_id:
        return []
    push = rt.registry.loaded(render.template_id, render.template_version).template.manifest.push
    found = []
    if push.hubspot is not None and event.type in push.hubspot.events and rt.settings.hubspot_token:
        found.append("hubspot")
    if push.marketo is not None and event.type in push.marketo.events and rt.settings.marketo_url:
        found.append("marketo")
    return found


def push(rt: Runtime, delivery: DeliveryRecord) -> int:
    """One attempt; the tool's HTTP status (PushError when it answered 200 with a failure)."""
    render = rt.db.renders.get(delivery.render_id)
    if render is None:
        return 204  # erased meanwhile: nothing to say about it any more
    push_config = rt.registry.loaded(render.template_id, render.template_version).template.manifest.push
    if delivery.target == "hubspot" and push_config.hubspot is not None:
        return _hubspot(rt, render, delivery.payload["data"], push_config.hubspot.id_property)
    if delivery.target == "marketo" and push_config.marketo is not None:
        return _marketo(rt, render, delivery.payload["data"], push_config.marketo.activity_type_id)
    return 204


def _hubspot(rt: Runtime, render: RenderRecord, data: dict[str, Any], id_property: str | None) -> int:
    properties: dict[str, str] = {}
    if data["event"] == "play":
        properties["vidmerge_last_viewed_at"] = data["at"]
    elif data["event"] == "progress":
        properties["vidmerge_percent_watched"] = str(rt.db.events.furthest(render.id))
    elif data["event"] == "cta_click":
        properties["vidmerge_cta_clicked"] = "true"
    if not properties:
        return 204
    base = rt.settings.hubspot_api.rstrip("/")
    url = f"{base}/crm/v3/objects/contacts/{_segment(render.external_id or '')}"
    params = {"idProperty": id_property} if id_property else None
    headers = {"Authorization": f"Bearer {rt.settings.hubspot_token}", "Content-Type": "application/json"}
    return _send("PATCH", url, headers, params=params, json={"properties": properties}).status


def _marketo(rt: Runtime, render: RenderRecord, data: dict[str, Any], activity_type_id: int) -> int:
    if not (render.external_id or "").isdigit():
        return 204  # Marketo's leads are numbered: an id that is no lead id is not pushed
    activity = {
        "leadId": int(render.external_id or 0), "activityDate": data["at"], "activityTypeId": activity_type_id,
        "primaryAttributeValue": render.template_id,
        "attributes": [{"name": "event", "value": data["event"]},
                       {"name": "milestone", "value": str(data["milestone"] or "")}],
    }  # fmt: skip
    token = _MARKETO_TOKENS.get(rt)
    url = f"{rt.settings.marketo_url.rstrip('/')}/rest/v1/activities/external.json"
    response = _send("POST", url, {"Authorization": f"Bearer {token}"}, json={"input": [activity]})
    body = response.json() if response.status == 200 else {}
    if response.status == 200 and not body.get("success"):
        codes = {str(e.get("code")) for e in body.get("errors", [])}
        if codes & {"601", "602"}:  # the access token is invalid or expired: a new one next time
            _MARKETO_TOKENS.forget()
        raise PushError(f"Marketo refused the activity ({', '.join(sorted(codes)) or 'no code'})")
    return response.status


class _Tokens:
    """Marketo's access token, kept until shortly before it expires."""

    def __init__(self) -> None:
        self._token: tuple[str, float] | None = None
        self._lock = threading.Lock()

    def get(self, rt: Runtime) -> str:
        with self._lock:
            if self._token is None or self._token[1] < time.monotonic():
                url = f"{rt.settings.marketo_url.rstrip('/')}/identity/oauth/token"
                params = {"grant_type": "client_credentials", "client_id": rt.settings.marketo_client_id,
                          "client_secret": rt.settings.marketo_client_secret}  # fmt: skip
                answer = _send("GET", url, {}, params=params)
                if answer.status != 200 or "access_token" not in answer.json():
                    raise PushError(f"Marketo gave no access token (HTTP {answer.status})")
                body = answer.json()
                self._token = (body["access_token"], time.monotonic() + float(body.get("expires_in", 3600)) - 60)
            return self._token[0]

    def forget(self) -> None:
        with self._lock:
            self._token = None


_MARKETO_TOKENS = _Tokens()


def _send(method: str, url: str, headers: dict[str, str], **kwargs: Any) -> outbound.Answer:
    return outbound.request(method, url, headers=headers, deadline=TIMEOUT, max_bytes=ANSWER_BYTES, **kwargs)


def _segment(value: str) -> str:
    return quote(value, safe="")
