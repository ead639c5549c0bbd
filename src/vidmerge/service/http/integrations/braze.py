"""Braze Connected Content: Braze calls at send time, for every recipient and every message part
that holds the tag (GET with query parameters, or POST), drops answers slower than 2 s and may call
again for the same recipient. So the answer is flat JSON, the same for the same recipient's same
fields (one render, however often Braze asks), accepted on the bulk lane: the call itself never
waits for an encode. Authenticated with `Authorization: Bearer <VIDMERGE_BRAZE_TOKEN>` (`:headers`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import Field

from vidmerge.errors import InvalidInput
from vidmerge.service.http.integrations.base import (
    ERRORS,
    Links,
    ToolFields,
    body_schema,
    by_meaning,
    configured,
    external,
    render,
    same,
)
from vidmerge.service.http.limits import parse_json, read_body

router = APIRouter(prefix="/v1/integrations/braze", tags=["integrations"])


class BrazeAnswer(Links):
    """The same for the same recipient's fields, however often Braze asks (no status: it changes)."""

    ignored_fields: list[str] = Field(description="fields of the call no input of the template takes")
    defaulted_inputs: list[str] = Field(description="inputs the call left out: their default is drawn")


QUERY = {"parameters": [
    {"name": "template_id", "in": "query", "schema": {"type": "string"}, "description": "the template"},
    {"name": "external_id", "in": "query", "schema": {"type": "string", "maxLength": 255},
     "description": "the recipient, `{{${user_id}}}`; required here or in the body"},
]}  # fmt: skip
FORM = body_schema("application/json", "application/x-www-form-urlencoded", schema=ToolFields.model_json_schema())


@router.get("/connected-content", response_model=BrazeAnswer, responses=ERRORS, openapi_extra=QUERY)
@router.post("/connected-content", response_model=BrazeAnswer, responses=ERRORS, openapi_extra={**QUERY, **FORM})
async def connected_content(
    request: Request, authorization: str | None = Header(None, description="Bearer VIDMERGE_BRAZE_TOKEN")
) -> JSONResponse:
    """Braze Connected Content, at send time: the fields in the query (GET) or the body (POST),
    the template's inputs among them by name (docs/integrations/braze.md)."""
    rt = request.app.state.rt
    token = configured(rt.settings.braze_token)
    same(bearer(authorization), token)
    body = await read_body(request, rt.settings.max_webhook_bytes)
    fields = {**dict(request.query_params), **_body_fields(body, request.headers.get("content-type", ""))}
    external_id = external(fields.pop("external_id", None) or None, "external_id")
    if external_id is None:  # without the recipient, two customers with equal fields would share a render
        raise InvalidInput("`external_id` (the recipient, e.g. {{${user_id}}}) is required", where="external_id")
    # the recipient's fields are the request: Braze asking again for them is the same render
    request_id, canonical = by_meaning("braze", [external_id], fields)
    rendered = await run_in_threadpool(
        render, request, "braze", fields, external_id=external_id, request_id=request_id, body=canonical,
        priority="bulk",
    )  # fmt: skip
    return JSONResponse(rendered.flat(status=False))


def bearer(authorization: str | None) -> str | None:
    """The token of `Authorization: Bearer <token>` (the scheme is case-insensitive, RFC 9110);
    None for any other header, which then does not match."""
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _body_fields(body: bytes, content_type: str) -> dict[str, Any]:
    if not body:
        return {}
    if content_type.startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    payload = parse_json(body)
    if not isinstance(payload, dict):
        raise InvalidInput("a POST body must be a JSON object", where="body")
    return payload
