"""HubSpot custom workflow action: HubSpot POSTs `{callbackId, origin, context, object,
inputFields}`; the answer's `outputFields` carry the links to the next actions (an email's
tokens), with `hs_execution_state` SUCCESS, or FAIL_CONTINUE and the reason for bad data.

Requests are signed with the app's client secret: `X-HubSpot-Signature-v3` (base64 HMAC-SHA256
of method, URI, body and `X-HubSpot-Request-Timestamp` in ms, within 5 minutes), or the older v2
(`X-HubSpot-Signature`, hex SHA-256 of secret, method, URI and body) that custom actions also send.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from vidmerge.errors import InvalidInput, NotFound, Unauthorized
from vidmerge.service.http.integrations.base import configured, public_url, render
from vidmerge.service.http.limits import parse_json, read_body

router = APIRouter(prefix="/v1/integrations/hubspot", tags=["integrations"], include_in_schema=False)
TOLERANCE_MS = 5 * 60 * 1000
# the escapes HubSpot decodes in the URI it signs (and no others)
DECODED = {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'", "%28": "(",
           "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";"}  # fmt: skip


def check_signature(secret: str, method: str, uri: str, body: bytes, headers: dict[str, str | None]) -> None:
    v3, timestamp = headers.get("v3"), headers.get("timestamp")
    if v3 is not None and timestamp is not None:
        if (
            not (timestamp.isdigit() and len(timestamp) <= 16)
            or abs(time.time() * 1000 - int(timestamp)) > TOLERANCE_MS
        ):
            raise Unauthorized("X-HubSpot-Request-Timestamp is outside 5 minutes", where="X-HubSpot-Request-Timestamp")
        for escape, char in DECODED.items():
            uri = uri.replace(escape, char).replace(escape.lower(), char)
        signed = method.encode() + uri.encode() + body + timestamp.encode()
        expected = base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest())
        if hmac.compare_digest(expected, v3.encode("utf-8", "replace")):
            return
    v2 = headers.get("v2")
    if v2 is not None and headers.get("version") == "v2":
        expected = hashlib.sha256(secret.encode() + method.encode() + uri.encode() + body).hexdigest().encode()
        if hmac.compare_digest(expected, v2.encode("utf-8", "replace")):
            return
    raise Unauthorized("the HubSpot signature does not match", where="X-HubSpot-Signature-v3")


@router.post("/action")
async def action(
    request: Request,
    x_hubspot_signature_v3: str | None = Header(None),
    x_hubspot_request_timestamp: str | None = Header(None),
    x_hubspot_signature: str | None = Header(None),
    x_hubspot_signature_version: str | None = Header(None),
) -> JSONResponse:
    rt = request.app.state.rt
    secret = configured(rt.settings.hubspot_app_secret)
    body = await read_body(request, rt.settings.max_webhook_bytes)
    headers = {"v3": x_hubspot_signature_v3, "timestamp": x_hubspot_request_timestamp, "v2": x_hubspot_signature,
               "version": x_hubspot_signature_version}  # fmt: skip
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
        return JSONResponse({"outputFields": {"hs_execution_state": "FAIL_CONTINUE", "vidmerge_error": str(exc)}})
    flat = rendered.flat()
    outputs: dict[str, Any] = {f"vidmerge_{k}": ",".join(v) if isinstance(v, list) else v for k, v in flat.items()}
    return JSONResponse({"outputFields": {**outputs, "hs_execution_state": "SUCCESS"}})


def _contact(call: dict[str, Any]) -> str | None:
    obj, origin = call.get("object"), call.get("origin")
    if isinstance(obj, dict) and obj.get("objectId") is not None:
        portal = origin.get("portalId") if isinstance(origin, dict) else None
        return f"hubspot:{portal}:{obj.get('objectType', 'CONTACT')}:{obj['objectId']}"[:255]
    return None
