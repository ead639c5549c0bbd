"""Marketo webhook: a JSON payload written from tokens (`{"template_id": "…", "name":
{{lead.First Name}}, "external_id": {{lead.Id}}}`), the shared secret in a custom header; the
answer is flat with ASCII keys, for the webhook's response mappings (`page_url` → a lead field)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from vidmerge.errors import InvalidInput
from vidmerge.service.http.integrations.base import configured, render, same
from vidmerge.service.http.limits import parse_json, read_body

router = APIRouter(prefix="/v1/integrations/marketo", tags=["integrations"], include_in_schema=False)


@router.post("/webhook")
async def webhook(request: Request, x_vidmerge_marketo_secret: str | None = Header(None)) -> JSONResponse:
    rt = request.app.state.rt
    same(x_vidmerge_marketo_secret, configured(rt.settings.marketo_secret))
    body = await read_body(request, rt.settings.max_webhook_bytes)
    payload = parse_json(body)
    if not isinstance(payload, dict):
        raise InvalidInput("the webhook's template must be a JSON object", where="body")
    fields: dict[str, Any] = dict(payload)
    external_id = fields.pop("external_id", None)
    rendered = await run_in_threadpool(
        render, request, "marketo", fields, external_id=None if external_id is None else str(external_id)[:255],
        request_id=None, body=body,
    )  # fmt: skip
    flat = {k: ",".join(v) if isinstance(v, list) else v for k, v in rendered.flat().items()}
    return JSONResponse(flat, status_code=202 if rendered.created else 200)
