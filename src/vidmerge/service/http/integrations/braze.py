"""Braze Connected Content: Braze calls at send time, for every recipient and every message part
that holds the tag (GET with query parameters, or POST), drops answers slower than 2 s and may call
again for the same recipient. So the answer is flat JSON, the same for the same recipient's same
fields (one render, however often Braze asks), accepted on the bulk lane: the call itself never
waits for an encode. Authenticated with `Authorization: Bearer <VIDMERGE_BRAZE_TOKEN>` (`:headers`)."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from vidmerge.errors import InvalidInput
from vidmerge.service.http.integrations.base import configured, render, same
from vidmerge.service.http.limits import parse_json, read_body

router = APIRouter(prefix="/v1/integrations/braze", tags=["integrations"], include_in_schema=False)


@router.api_route("/connected-content", methods=["GET", "POST"])
async def connected_content(request: Request, authorization: str | None = Header(None)) -> JSONResponse:
    rt = request.app.state.rt
    token = configured(rt.settings.braze_token)
    same(authorization.removeprefix("Bearer ").strip() if authorization else None, token)
    body = await read_body(request, rt.settings.max_webhook_bytes)
    fields = {**dict(request.query_params), **_body_fields(body, request.headers.get("content-type", ""))}
    external_id = fields.pop("external_id", None)
    if not external_id:  # without the recipient, two customers with equal fields would share a render
        raise InvalidInput("`external_id` (the recipient, e.g. {{${user_id}}}) is required", where="external_id")
    # the recipient's fields are the request: Braze asking again for them is the same render
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str).encode()
    rendered = await run_in_threadpool(
        render, request, "braze", fields, external_id=str(external_id)[:255],
        request_id=f"braze:{external_id}:{hashlib.sha256(canonical).hexdigest()}", body=canonical, priority="bulk",
    )  # fmt: skip
    return JSONResponse(rendered.flat(status=False))


def _body_fields(body: bytes, content_type: str) -> dict[str, Any]:
    if not body:
        return {}
    if content_type.startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    payload = parse_json(body)
    if not isinstance(payload, dict):
        raise InvalidInput("a POST body must be a JSON object", where="body")
    return payload
