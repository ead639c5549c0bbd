"""HubSpot custom workflow action: HubSpot POSTs `{callbackId, origin, context, object,
inputFields}`; the answer's `outputFields` carry the links to the next actions (an email's
tokens), with `hs_execution_state` SUCCESS, or FAIL_CONTINUE and the reason for bad data.

Requests are signed with the app's client secret: `X-HubSpot-Signature-v3` (base64 HMAC-SHA256
of method, URI, body and `X-HubSpot-Request-Timestamp` in ms, within 5 minutes). The older v1/v2
signatures (`X-HubSpot-Signature`, sent beside v3) sign no time: a captured request would be good
for ever, so they are not taken.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any, Literal

from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, create_model

from vidmerge.errors import InvalidInput, NotFound, Unauthorized
from vidmerge.service import reasons
from vidmerge.service.http.integrations.base import (
    ERRORS,
    FlatAnswer,
    body_schema,
    configured,
    external,
    prefixed,
    public_url,
    render,
)
from vidmerge.service.http.limits import parse_json, read_body

router = APIRouter(prefix="/v1/integrations/hubspot", tags=["integrations"])
TOLERANCE_MS = 5 * 60 * 1000
# the escapes HubSpot decodes in the URI it signs (and no others)
DECODED = {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'", "%28": "(",
           "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";"}  # fmt: skip


def check_signature(secret: str, method: str, uri: str, body: bytes, headers: dict[str, str | None]) -> None:
    """The v3 signature (`headers`: "v3" and "timestamp"), or Unauthorized naming the header."""
    v3, timestamp = headers.get("v3"), headers.get("timestamp")
    if v3 is None:
        raise Unauthorized("X-HubSpot-Signature-v3 is required (v1/v2 signatures are not taken)",
                           where="X-HubSpot-Signature-v3")  # fmt: skip
    if (
        timestamp is None
        or not (timestamp.isdigit() and len(timestamp) <= 16)
        or (abs(time.time() * 1000 - int(timestamp)) > TOLERANCE_MS)
    ):
        where = "X-HubSpot-Request-Timestamp"
        raise Unauthorized(f"{where} is missing or outside 5 minutes", where=where)
    for escape, char in DECODED.items():
        uri = uri.replace(escape, char).replace(escape.lower(), char)
    signed = method.encode() + uri.encode() + body + timestamp.encode()
    expected = base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest())
    if not hmac.compare_digest(expected, v3.encode("utf-8", "replace")):
        raise Unauthorized("the HubSpot signature does not match", where="X-HubSpot-Signature-v3")


class HubSpotCall(BaseModel):
    """A custom workflow action's execution request, as HubSpot sends it."""

    callbackId: str = Field(description="HubSpot's id of this execution: a retry with it is the same render")
    origin: dict[str, Any] = Field({}, description="`portalId`, `actionDefinitionId`, …")
    context: dict[str, Any] = Field({}, description="`source`, `workflowId`")
    object: dict[str, Any] = Field({}, description="`objectId` and `objectType`: the recipient (its external id)")
    inputFields: dict[str, Any] = Field(description="`template_id` and the template's inputs (or their mapped names)")


HubSpotOutputs = prefixed(
    "HubSpotOutputs", FlatAnswer.model_fields, optional=True,
    hs_execution_state=(Literal["SUCCESS", "FAIL_CONTINUE"], Field(description="FAIL_CONTINUE: bad data, the "
                                                                               "workflow goes on")),
    vidmerge_error=(str | None, Field(None, description="with FAIL_CONTINUE: what was wrong, naming the field")),
)  # fmt: skip


HubSpotAnswer = create_model("HubSpotAnswer", outputFields=(HubSpotOutputs, ...))


@router.post(
    "/action", response_model=HubSpotAnswer, responses=ERRORS,
    openapi_extra=body_schema("application/json", schema=HubSpotCall.model_json_schema()),
)  # fmt: skip
async def action(
    request: Request,
    x_hubspot_signature_v3: str | None = Header(None, description="base64 HMAC-SHA256 with the app's client secret"),
    x_hubspot_request_timestamp: str | None = Header(None, description="milliseconds, within 5 minutes"),
) -> JSONResponse:
    """HubSpot's custom workflow action (docs/integrations/hubspot.md): the render's links and
    email snippet as output fields; bad data answers FAIL_CONTINUE with the reason."""
    rt = request.app.state.rt
    secret = configured(rt.settings.hubspot_app_secret)
    body = await read_body(request, rt.settings.max_webhook_bytes)
    headers = {"v3": x_hubspot_signature_v3, "timestamp": x_hubspot_request_timestamp}
    check_signature(secret, request.method, public_url(request), body, headers)
    call = parse_json(body)
    if not isinstance(call, dict) or not isinstance(call.get("inputFields"), dict):
        raise InvalidInput("HubSpot's body must carry `inputFields`", where="body.inputFields")
    try:
        rendered = await run_in_threadpool(
            render, request, "hubspot", call["inputFields"], external_id=_contact(call),
            request_id=str(call.get("callbackId") or "") or None, body=body,
        )  # fmt: skip
    except (InvalidInput, NotFound) as exc:  # the data or the template: the workflow goes on, told why
        said = await run_in_threadpool(reasons.for_tool, rt, "hubspot", call["inputFields"], exc)  # in Japanese
        return JSONResponse({"outputFields": {"hs_execution_state": "FAIL_CONTINUE", "vidmerge_error": said}})
    flat = rendered.flat()
    outputs: dict[str, Any] = {f"vidmerge_{k}": ",".join(v) if isinstance(v, list) else v for k, v in flat.items()}
    return JSONResponse({"outputFields": {**outputs, "hs_execution_state": "SUCCESS"}})


def _contact(call: dict[str, Any]) -> str | None:
    obj, origin = call.get("object"), call.get("origin")
    if isinstance(obj, dict) and obj.get("objectId") is not None:
        portal = origin.get("portalId") if isinstance(origin, dict) else None
        return external(f"hubspot:{portal}:{obj.get('objectType', 'CONTACT')}:{obj['objectId']}", "object.objectId")
    return None
