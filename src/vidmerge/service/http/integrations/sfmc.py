"""Salesforce Marketing Cloud, Journey Builder custom activity. Journey Builder reads
`config.json`, then POSTs `execute` once per contact with a JWT body (HS256, the installed
package's signing secret) whose claims carry `inArguments` (a list of one-key objects, merged
here), `keyValue` (the contact key) and the activity's ids; the answer is the declared
`outArguments` as a flat object. `save`, `validate`, `publish` and `stop` answer 200 `{}`."""

from __future__ import annotations

from typing import Any

import jwt
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from vidmerge.errors import InvalidInput, Unauthorized
from vidmerge.service.http.integrations.base import URL_FIELDS, configured, render
from vidmerge.service.http.limits import read_body

router = APIRouter(prefix="/v1/integrations/sfmc", tags=["integrations"], include_in_schema=False)
OUT_ARGUMENTS = ("render_id", *URL_FIELDS)


def claims(body: bytes, secret: str) -> dict[str, Any]:
    """The JWT's claims, or Unauthorized (a forged, expired or otherwise signed body)."""
    try:
        decoded = jwt.decode(body.strip(), secret, algorithms=["HS256"], options={"require": []})
    except (jwt.PyJWTError, ValueError, RecursionError) as exc:  # its header is parsed before the check
        raise Unauthorized(f"the JWT does not verify ({type(exc).__name__})", where="body") from None
    if not isinstance(decoded, dict):
        raise Unauthorized("the JWT carries no claims", where="body")
    return decoded


@router.post("/execute")
async def execute(request: Request) -> JSONResponse:
    rt = request.app.state.rt
    secret = configured(rt.settings.sfmc_jwt_secret)
    body = await read_body(request, rt.settings.max_webhook_bytes)
    call = claims(body, secret)
    arguments = call.get("inArguments")
    if not isinstance(arguments, list) or not all(isinstance(a, dict) for a in arguments):
        raise InvalidInput("`inArguments` must be a list of objects", where="inArguments")
    fields: dict[str, Any] = {k: v for argument in arguments for k, v in argument.items()}
    contact = call.get("keyValue")
    activity = call.get("activityInstanceId") or call.get("activityId") or ""
    rendered = await run_in_threadpool(
        render, request, "sfmc", fields, external_id=None if contact is None else str(contact)[:255],
        request_id=f"sfmc:{activity}:{contact}" if contact is not None else None, body=body,
    )  # fmt: skip
    flat = rendered.flat()
    return JSONResponse({f"vidmerge_{name}": flat[name] for name in OUT_ARGUMENTS})


@router.post("/{step}")
async def lifecycle(request: Request, step: str) -> JSONResponse:
    """save, validate, publish, stop: the journey's configuration is ours to accept (200)."""
    rt = request.app.state.rt
    secret = configured(rt.settings.sfmc_jwt_secret)
    if step not in ("save", "validate", "publish", "stop"):
        raise InvalidInput(f"unknown step {step!r}", where="step")
    body = await read_body(request, rt.settings.max_webhook_bytes)
    if body.strip():
        claims(body, secret)
    return JSONResponse({})


@router.get("/config.json")
def config(request: Request) -> JSONResponse:
    rt = request.app.state.rt
    configured(rt.settings.sfmc_jwt_secret)
    base = f"{rt.settings.base_url}/v1/integrations/sfmc"
    out = [{f"vidmerge_{name}": ""} for name in OUT_ARGUMENTS]
    return JSONResponse({
        "workflowApiVersion": "1.1",
        "metaData": {"category": "message"},
        "type": "REST",
        "lang": {"en-US": {"name": "vidmerge video", "description": "A personalized video for each contact"},
                 "ja-JP": {"name": "vidmerge 動画", "description": "お客様ごとのパーソナライズ動画"}},
        "arguments": {"execute": {
            "inArguments": [{"template_id": ""}, {"name": "{{Contact.Attribute.Name}}"}],
            "outArguments": out,
            "url": f"{base}/execute", "useJwt": True, "timeout": 10000, "retryCount": 3, "retryDelay": 1000,
        }},
        "configurationArguments": {step: {"url": f"{base}/{step}", "useJwt": True}
                                   for step in ("save", "validate", "publish", "stop")},
        "schema": {"arguments": {"execute": {"outArguments": [
            {f"vidmerge_{name}": {"dataType": "Text", "direction": "out", "access": "visible"}}
            for name in OUT_ARGUMENTS
        ]}}},
    })  # fmt: skip
