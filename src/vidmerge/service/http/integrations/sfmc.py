"""Salesforce Marketing Cloud, Journey Builder custom activity. Journey Builder reads
`config.json`, then POSTs `execute` once per contact with a JWT body (HS256, the installed
package's signing secret) whose claims carry `inArguments` (a list of one-key objects, merged
here), `keyValue` (the contact key) and the activity's ids; the answer is the declared
`outArguments` as a flat object (the links, the email snippet and the GIF's size). `save`,
`validate`, `publish` and `stop` answer 200 `{}` to a JWT signed the same way. Every JWT must carry
`iat` and `exp` and be at most MAX_AGE_SECONDS old: a captured one is not good for ever.

The same contact at the same activity with the same `inArguments` is the same render, however the
call is signed: Journey Builder signs each retry anew."""

from __future__ import annotations

import time
from typing import Any

import jwt
from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse

from vidmerge.errors import InvalidInput, Unauthorized
from vidmerge.service.http.integrations import sfmc_page
from vidmerge.service.http.integrations.base import (
    EMAIL_FIELDS,
    ERRORS,
    URL_FIELDS,
    Links,
    body_schema,
    by_meaning,
    configured,
    external,
    prefixed,
    render,
)
from vidmerge.service.http.limits import read_body

router = APIRouter(prefix="/v1/integrations/sfmc", tags=["integrations"])
OUT_ARGUMENTS = ("render_id", *URL_FIELDS, *EMAIL_FIELDS)
SfmcOut = prefixed("SfmcOut", {name: Links.model_fields[name] for name in OUT_ARGUMENTS})
JWT_BODY = body_schema("application/jwt", schema={
    "type": "string", "description": "an HS256 JWT signed with the package's JWT signing secret, with `iat` and `exp`: "
    "its claims carry `inArguments`, `keyValue` (the contact key) and the journey's and activity's ids"})  # fmt: skip
NUMBERS = ("gif_width", "gif_height")  # out arguments of dataType Number; the others are Text
MAX_AGE_SECONDS = 60 * 60  # how long after its `iat` a JWT is taken, whatever its `exp` says
# What makes two execute calls the same, with the fields: the journey, the activity, the contact's
# entry (a retry carries the same ids, signed anew)
CALL_IDS = ("journeyId", "activityId", "activityObjectID", "activityInstanceId", "definitionInstanceId", "keyValue")


def claims(body: bytes, secret: str) -> dict[str, Any]:
    """The JWT's claims, or Unauthorized (a forged, expired, too old or otherwise signed body)."""
    try:
        decoded = jwt.decode(body.strip(), secret, algorithms=["HS256"], options={"require": ["exp", "iat"]})
    except jwt.MissingRequiredClaimError as exc:
        raise Unauthorized(f"the JWT has no `{exc.claim}` (`iat` and `exp` are required)", where="body") from None
    except (jwt.PyJWTError, ValueError, RecursionError) as exc:  # its header is parsed before the check
        raise Unauthorized(f"the JWT does not verify ({type(exc).__name__})", where="body") from None
    if not isinstance(decoded, dict):
        raise Unauthorized("the JWT carries no claims", where="body")
    if time.time() - int(decoded["iat"]) > MAX_AGE_SECONDS:  # PyJWT checked it is one, not in the future
        raise Unauthorized(f"the JWT was issued more than {MAX_AGE_SECONDS} s ago (`iat`)", where="body")
    return decoded


@router.post("/execute", response_model=SfmcOut, responses=ERRORS, openapi_extra=JWT_BODY)
async def execute(request: Request) -> JSONResponse:
    """Once per contact: the render's links and email snippet as the activity's out arguments."""
    rt = request.app.state.rt
    secret = configured(rt.settings.sfmc_jwt_secret)
    body = await read_body(request, rt.settings.max_webhook_bytes)
    call = claims(body, secret)
    arguments = call.get("inArguments")
    if not isinstance(arguments, list) or not all(isinstance(a, dict) for a in arguments):
        raise InvalidInput("`inArguments` must be a list of objects", where="inArguments")
    fields: dict[str, Any] = {k: v for argument in arguments for k, v in argument.items()}
    contact = external(call.get("keyValue"), "keyValue")
    request_id, meaning = by_meaning("sfmc", [call.get(k) for k in CALL_IDS], fields)
    rendered = await run_in_threadpool(
        render, request, "sfmc", fields, external_id=contact,
        request_id=request_id if contact is not None else None, body=meaning,
    )  # fmt: skip
    flat = rendered.flat()
    return JSONResponse({f"vidmerge_{name}": flat[name] for name in OUT_ARGUMENTS})


@router.post("/{step}", response_model=dict[str, Any], responses=ERRORS, openapi_extra=JWT_BODY)
async def lifecycle(
    request: Request, step: str = Path(description="save, validate, publish or stop", examples=["save"])
) -> JSONResponse:
    """save, validate, publish, stop: the journey's configuration is ours to accept (200)."""
    rt = request.app.state.rt
    secret = configured(rt.settings.sfmc_jwt_secret)
    if step not in ("save", "validate", "publish", "stop"):
        raise InvalidInput(f"unknown step {step!r}", where="step")
    claims(await read_body(request, rt.settings.max_webhook_bytes), secret)
    return JSONResponse({})


@router.get("/index.html", include_in_schema=False)
def configuration_page(request: Request) -> HTMLResponse:
    """What the canvas opens to configure the activity: the template and its field mapping."""
    rt = request.app.state.rt
    configured(rt.settings.sfmc_jwt_secret)
    return sfmc_page.page(rt.db.templates.all())


@router.get("/config.json", response_model=dict[str, Any], responses={404: ERRORS[404]})
def config(request: Request) -> JSONResponse:
    """The activity's `config.json`: Journey Builder reads it from the package's endpoint URL."""
    rt = request.app.state.rt
    configured(rt.settings.sfmc_jwt_secret)
    base = f"{rt.settings.base_url}/v1/integrations/sfmc"
    out = [{f"vidmerge_{name}": ""} for name in OUT_ARGUMENTS]
    return JSONResponse({
        "workflowApiVersion": "1.1",
        "metaData": {"category": "message", "icon": f"{rt.settings.base_url}{sfmc_page.ICON}", "isConfigured": False},
        "userInterfaces": {"configModal": {"height": 640, "width": 800, "fullscreen": False}},
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
            {f"vidmerge_{name}": {"dataType": "Number" if name in NUMBERS else "Text", "direction": "out",
                                  "access": "visible"}}
            for name in OUT_ARGUMENTS
        ]}}},
    })  # fmt: skip
