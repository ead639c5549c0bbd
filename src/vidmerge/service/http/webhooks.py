"""/v1/webhook-endpoints: where page events are pushed (Standard Webhooks), and what was sent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from vidmerge.errors import NotFound
from vidmerge.records import EndpointRecord
from vidmerge.service import ids, webhooks
from vidmerge.service.http.api import management, problem_responses

router = APIRouter(prefix="/v1/webhook-endpoints")
URL_PATTERN = "^https?://[^\\u0000-\\u001f\\u007f]*$"


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        min_length=8,
        max_length=2000,
        json_schema_extra={"pattern": URL_PATTERN},
        description="reachable at a public address (or a host in VIDMERGE_OUTBOUND_ALLOW): checked, 422",
    )
    events: list[str] | None = Field(None, max_length=20, description="default: play, progress, replay, cta_click")
    template_id: str | None = Field(
        None, max_length=128, description="only this template's events", json_schema_extra={"pattern": ids.PATTERN}
    )


class EndpointOut(BaseModel):
    id: str
    url: str
    events: list[str]
    template_id: str | None
    status: str  # active | disabled
    reason: str | None = None  # why it was disabled
    created_at: datetime
    deliveries: dict[str, int] = {}  # by status
    secret: str | None = None  # only in the answer that created it: keep it, it signs every delivery


class DeliveryOut(BaseModel):
    id: str  # the webhook-id
    type: str
    render_id: str
    status: str  # pending | delivered | failed
    attempts: int
    next_at: datetime | None
    last_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


def _out(endpoint: EndpointRecord, counts: dict[str, int], *, secret: bool = False) -> EndpointOut:
    return EndpointOut(id=endpoint.id, url=endpoint.url, events=list(endpoint.events), template_id=endpoint.template_id,
                       status=endpoint.status, reason=endpoint.reason, created_at=endpoint.created_at,
                       deliveries=counts, secret=endpoint.secret if secret else None)  # fmt: skip


@router.post("", status_code=201, response_model=EndpointOut, response_model_exclude_none=True,
             responses=problem_responses(401, 422))  # fmt: skip
async def create_endpoint(request: Request, body: EndpointIn, authorization: str | None = Header(None)) -> EndpointOut:
    """Register a receiver: its URL must reach a public address (or a host in
    VIDMERGE_OUTBOUND_ALLOW). The answer holds the signing secret, once."""
    management(request, authorization)
    endpoint = await run_in_threadpool(webhooks.register, body.url, body.events, body.template_id)
    request.app.state.rt.db.endpoints.add(endpoint)
    return _out(endpoint, {}, secret=True)


@router.get("", response_model=list[EndpointOut], response_model_exclude_none=True, responses=problem_responses(401))
def list_endpoints(request: Request, authorization: str | None = Header(None)) -> list[EndpointOut]:
    management(request, authorization)
    db = request.app.state.rt.db
    return [_out(e, db.deliveries.counts(e.id)) for e in db.endpoints.all()]


@router.get("/{endpoint_id}/deliveries", response_model=list[DeliveryOut], responses=problem_responses(401, 404))
def list_deliveries(request: Request, endpoint_id: str, authorization: str | None = Header(None)) -> list[Any]:
    """The newest 100 deliveries to the endpoint, with their status."""
    management(request, authorization)
    db = request.app.state.rt.db
    if db.endpoints.get(endpoint_id) is None:
        raise NotFound("no such endpoint", where=f"endpoint {endpoint_id}")
    return [
        DeliveryOut(
            id=d.id,
            type=d.payload.get("type", ""),
            render_id=d.render_id,
            status=d.status,
            attempts=d.attempts,
            next_at=d.next_at if d.status == "pending" else None,
            last_status=d.last_status,
            last_error=d.last_error,
            created_at=d.created_at,
            delivered_at=d.delivered_at,
        )  # fmt: skip
        for d in db.deliveries.of_target(endpoint_id)
    ]


@router.delete("/{endpoint_id}", status_code=204, responses=problem_responses(401, 404))
def delete_endpoint(request: Request, endpoint_id: str, authorization: str | None = Header(None)) -> Response:
    """No more deliveries: the endpoint and its deliveries go."""
    management(request, authorization)
    if not request.app.state.rt.db.endpoints.delete(endpoint_id):
        raise NotFound("no such endpoint", where=f"endpoint {endpoint_id}")
    return Response(status_code=204)
