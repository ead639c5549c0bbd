"""Marketo webhook: a JSON payload written from tokens (`{"template_id": "…", "name":
{{lead.First Name}}, "external_id": {{lead.Id}}}`), the shared secret in a custom header; the
answer is flat with ASCII keys, for the webhook's response mappings (`page_url` → a lead field),
202 for a new render and 200 for a call made before (the same lead and fields: the same render)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from vidmerge.errors import InvalidInput
from vidmerge.service.http.integrations.base import (
    ERRORS,
    FlatAnswer,
    ToolFields,
    body_schema,
    by_meaning,
    configured,
    external,
    render,
    same,
)
from vidmerge.service.http.limits import parse_json, read_body

router = APIRouter(prefix="/v1/integrations/marketo", tags=["integrations"])


@router.post(
    "/webhook",
    status_code=202,
    response_model=FlatAnswer,
    responses={200: {"model": FlatAnswer, "description": "a call made before: the same render"}, **ERRORS},
    openapi_extra=body_schema("application/json", schema=ToolFields.model_json_schema()),
)
async def webhook(
    request: Request,
    x_vidmerge_marketo_secret: str | None = Header(None, description="VIDMERGE_MARKETO_SECRET"),
) -> JSONResponse:
    """Marketo's webhook (Admin → Webhooks), its payload written from lead tokens: a render,
    answered flat for the webhook's response mappings (docs/integrations/marketo.md)."""
    rt = request.app.state.rt
    same(x_vidmerge_marketo_secret, configured(rt.settings.marketo_secret))
    body = await read_body(request, rt.settings.max_webhook_bytes)
    payload = parse_json(body)
    if not isinstance(payload, dict):
        raise InvalidInput("the webhook's template must be a JSON object", where="body")
    fields: dict[str, Any] = dict(payload)
    external_id = external(fields.pop("external_id", None), "external_id")
    # Marketo may send the same call again (a retried step, a campaign run twice): the same lead
    # with the same fields is the same render (without a lead id, two calls are two customers)
    request_id, canonical = by_meaning("marketo", [external_id], fields) if external_id else (None, body)
    rendered = await run_in_threadpool(
        render, request, "marketo", fields, external_id=external_id, request_id=request_id, body=canonical,
    )  # fmt: skip
    flat = {k: ",".join(v) if isinstance(v, list) else v for k, v in rendered.flat().items()}
    return JSONResponse(flat, status_code=202 if rendered.created else 200)
