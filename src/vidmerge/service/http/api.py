"""/v1: template management and the MA webhook (`POST /v1/renders`)."""

from __future__ import annotations

import functools
import hashlib
import logging
import tempfile
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, File, Header, Query, Request, Response, UploadFile
from fastapi import Path as Path_
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vidmerge.errors import InvalidInput, NotFound, Problem, TooLarge
from vidmerge.plan import GIF, MP4, PLAYLIST, POSTER
from vidmerge.records import MAX_INTEGER, Claim, RenderRecord, TemplateRecord
from vidmerge.service import ids, renders
from vidmerge.service.http.auth import check_api_key, check_webhook, signed_timestamp
from vidmerge.service.http.delivery import image_size
from vidmerge.service.http.email import email_html
from vidmerge.service.http.limits import parse_json, read_body
from vidmerge.service.metrics import METRICS
from vidmerge.template.captions import CAPTIONS

log = logging.getLogger("vidmerge.api")
router = APIRouter(prefix="/v1")


class RenderRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template_id: str = Field(min_length=1, max_length=128, json_schema_extra={"pattern": ids.PATTERN})
    template_version: int | None = Field(None, ge=1, le=MAX_INTEGER, description="default: the newest ready version")
    data: dict[str, Any] = Field(default_factory=dict)
    external_id: str | None = Field(None, max_length=255, json_schema_extra={"pattern": ids.PATTERN})
    priority: Literal["interactive", "bulk"] = "interactive"


class RenderOut(BaseModel):
    render_id: str
    status: str
    template_id: str
    template_version: int
    external_id: str | None = None
    page_url: str
    hls_url: str
    mp4_url: str
    poster_url: str
    gif_url: str
    captions_url: str | None = None  # the WebVTT captions; None when the template has none
    values: dict[str, str] | None = None
    email_html: str | None = None  # a snippet for any email client: the GIF, linked to the page
    gif_width: int | None = None  # the email GIF's size in pixels (the snippet's <img> has it too)
    gif_height: int | None = None
    warnings: list[str] | None = None  # what is drawn otherwise than written (a variant by its base character)
    ignored_fields: list[str] | None = None  # fields of the request no input takes
    defaulted_inputs: list[str] | None = None  # inputs the request left out: their default is drawn
    explanations: dict[str, Any] | None = None
    timings: dict[str, Any] | None = None
    error: str | None = None


class ProblemOut(BaseModel):
    """RFC 9457 problem details (`application/problem+json`), the body of every error. Each of
    `problems` names where (`data.monthly_kwh`, `slots[greeting].end`, `body`, a header) and why."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    retryable: bool | None = None
    problems: list[dict[str, str]] | None = None


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error answers of an operation, as OpenAPI sees them."""
    schema = ProblemOut.model_json_schema()
    return {
        s: {"description": "a problem", "content": {"application/problem+json": {"schema": schema}}} for s in statuses
    }


class TemplateOut(BaseModel):
    id: str
    version: int
    status: str  # preparing | ready | failed
    state: str = "active"  # active (new renders use it) | inactive
    error: str | None = None  # why preparing failed
    progress: dict[str, int] | None = None  # while preparing: {"segments": 4, "of": 15}
    title: str = ""
    duration: float = 0.0
    segments: int = 0
    inputs: list[dict[str, Any]] = []
    slots: list[dict[str, Any]] = []
    personalized: dict[str, Any] | None = None  # {"segments": [1, 2, ...], "seconds": 14.0, "of_seconds": 30.0}
    warnings: list[str] = []


def _template_out(r: TemplateRecord) -> TemplateOut:
    m = r.manifest
    progress = m.get("progress") if r.status == "preparing" else None
    return TemplateOut(
        id=r.id, version=r.version, status=r.status, state=r.state, error=r.error, progress=progress,
        title=m.get("title", ""), duration=r.duration,
        segments=r.segment_count, inputs=m.get("inputs", []), slots=m.get("slots", []),
        personalized=m.get("personalized"), warnings=m.get("warnings", []),
    )  # fmt: skip


def render_out(
    request: Request, r: RenderRecord, *, detail: bool = False, fitted: renders.Fitted | None = None
) -> RenderOut:
    base = f"{request.app.state.rt.settings.base_url}/v/{r.token}"
    loaded = request.app.state.rt.registry.loaded(r.template_id, r.template_version)
    width, height = image_size(loaded, GIF)
    return RenderOut(
        render_id=r.id, status=r.status, template_id=r.template_id, template_version=r.template_version,
        external_id=r.external_id, page_url=base, hls_url=f"{base}/{PLAYLIST}", mp4_url=f"{base}/{MP4}",
        poster_url=f"{base}/{POSTER}", gif_url=f"{base}/{GIF}",
        captions_url=f"{base}/{CAPTIONS}" if loaded.template.captions is not None else None,
        email_html=email_html(base, f"{base}/{GIF}", width, height), gif_width=width, gif_height=height,
        values=renders.values(r) if detail else None, warnings=renders.warnings(r) or None,
        explanations=r.resolved.get("explanations") if detail else None,
        timings=r.timings if detail else None, error=r.error if detail else None,
        ignored_fields=fitted.ignored if fitted else None, defaulted_inputs=fitted.defaulted if fitted else None,
    )  # fmt: skip


def management(request: Request, authorization: str | None) -> None:
    check_api_key(authorization, request.app.state.rt.settings.api_keys)


@router.post(
    "/templates", status_code=202, response_model=TemplateOut,
    responses={200: {"model": TemplateOut, "description": "this version, uploaded before"},
               **problem_responses(401, 409, 413, 422, 503)},
)  # fmt: skip
async def upload_template(
    request: Request,
    file: UploadFile = File(...),
    active: bool = Query(True, description="false: uploaded inactive, activated later"),
    authorization: str | None = Header(None),
) -> JSONResponse:
    """Upload a zipped template bundle (multipart field `file`): validated and stored at once,
    answered `202` with status `preparing`; the workers prepare it (`GET /v1/templates/{id}`
    shows the progress, then `ready`, or `failed` with the reason)."""
    management(request, authorization)
    record, new = await store_bundle(request, file, active=active)
    return JSONResponse(_template_out(record).model_dump(), status_code=202 if new else 200)


async def store_bundle(request: Request, file: UploadFile, *, active: bool) -> tuple[TemplateRecord, bool]:
    """Validate and store an uploaded bundle, and send it to be prepared (the API's and the
    console's upload): the record, and whether it is new."""
    rt = request.app.state.rt
    rt.check_space()
    with tempfile.TemporaryDirectory(prefix="vidmerge-upload-") as tmp:
        archive = Path(tmp) / "bundle.zip"
        await _save_upload(file, archive, rt.settings.max_bundle_bytes)
        record, new = await run_in_threadpool(functools.partial(rt.registry.upload, archive, active=active))
    if new:
        try:
            request.app.state.queue.prepare(record.id, record.version)
        except Exception as exc:  # the broker is down: the sweep sends it again once it is stale
            log.warning("template %s v%d stored but not sent to prepare (%s)", record.id, record.version,
                        type(exc).__name__)  # fmt: skip
    return record, new


async def _save_upload(file: UploadFile, dest: Path, limit: int) -> None:
    size = 0
    with dest.open("wb") as out:
        while chunk := await file.read(1 << 20):
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"upload exceeds the limit of {limit} bytes", where="file")
            out.write(chunk)


@router.post(
    "/templates/{template_id}/versions/{version}/{action}",
    response_model=TemplateOut,
    responses=problem_responses(401, 404, 422),
)
def change_template_state(
    request: Request,
    template_id: str,
    version: int = Path_(ge=1, le=MAX_INTEGER),
    action: Literal["activate", "deactivate"] = Path_(),
    authorization: str | None = Header(None),
) -> TemplateOut:
    """`activate`: new renders use this version (the newest active one when none is named);
    `deactivate`: no new renders. Renders made from it keep working either way."""
    management(request, authorization)
    state = "active" if action == "activate" else "inactive"
    return _template_out(request.app.state.rt.registry.set_state(template_id, version, state))


@router.delete(
    "/templates/{template_id}/versions/{version}", status_code=204, responses=problem_responses(401, 404, 422)
)
def delete_template_version(
    request: Request,
    template_id: str,
    version: int = Path_(ge=1, le=MAX_INTEGER),
    authorization: str | None = Header(None),
) -> Response:
    """No longer listed nor used by new renders; renders made from it keep working until they are
    erased or expire (its bundle and shared segments stay for them)."""
    management(request, authorization)
    request.app.state.rt.registry.set_state(template_id, version, "deleted")
    return Response(status_code=204)


@router.get("/templates", response_model=list[TemplateOut], responses=problem_responses(401))
def list_templates(request: Request, authorization: str | None = Header(None)) -> list[TemplateOut]:
    management(request, authorization)
    return [_template_out(r) for r in request.app.state.rt.db.templates.all()]


@router.get("/templates/{template_id}", response_model=TemplateOut, responses=problem_responses(401, 404, 422))
def get_template(
    request: Request,
    template_id: str,
    version: int | None = Query(None, ge=1, le=MAX_INTEGER),
    authorization: str | None = Header(None),
) -> TemplateOut:
    management(request, authorization)
    return _template_out(request.app.state.rt.registry.record(template_id, version, ready=False))


@router.post(
    "/renders",
    status_code=202,
    response_model=RenderOut,
    responses={200: {"model": RenderOut, "description": "a retry of an accepted request"},
               **problem_responses(401, 404, 409, 413, 422, 503)},
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": RenderRequest.model_json_schema()}}}},
)  # fmt: skip
async def create_render(
    request: Request,
    x_vidmerge_signature: str | None = Header(None),
    authorization: str | None = Header(None),
    idempotency_key: str | None = Header(None, max_length=255),
) -> JSONResponse:
    """The MA webhook. Answers at once with every URL; the video renders in the background."""
    rt = request.app.state.rt
    body = await read_body(request, rt.settings.max_webhook_bytes)  # bounded before anything else
    scope = check_webhook(x_vidmerge_signature, authorization, body, rt.settings.webhook_secrets, rt.settings.api_keys)
    rt.check_space()  # accepted work is never lost: none is accepted that could not be written
    req = _parse_render(body)
    ids.check(req.template_id, "body.template_id")
    ids.check(req.external_id, "body.external_id")
    ids.check(idempotency_key, "header.idempotency-key")
    fitted = await run_in_threadpool(
        renders.fit, rt.registry, req.template_id, req.template_version, "webhook", req.data
    )
    accepted = await run_in_threadpool(
        renders.accept, rt.db, rt.registry, req.template_id, fitted.data, version=req.template_version,
        external_id=req.external_id, claims=_claims(scope, body, idempotency_key, x_vidmerge_signature),
        priority=req.priority,
    )  # fmt: skip
    enqueue(request, accepted)
    out = render_out(request, accepted.record, fitted=fitted)
    answer = {**out.model_dump(exclude_none=True), "captions_url": out.captions_url}  # null said, not left out
    return JSONResponse(answer, status_code=202 if accepted.created else 200)


def _claims(scope: str, body: bytes, idempotency_key: str | None, signature: str | None) -> list[Claim]:
    """What makes this request the same as an earlier one: its Idempotency-Key within the caller's
    scope, and the signature of a signed webhook (a replay within the tolerance), each bound to
    the body's hash."""
    body_hash = hashlib.sha256(body).hexdigest()
    claims = [Claim(scope, idempotency_key, body_hash)] if idempotency_key else []
    if signature and scope == "webhook":  # verified: what was signed is the timestamp and the body
        signed = f"{signed_timestamp(signature)}.".encode() + body
        claims.append(Claim(renders.SIGNATURE_SCOPE, hashlib.sha256(signed).hexdigest(), body_hash))
    return claims


def _parse_render(body: bytes) -> RenderRequest:
    try:
        return RenderRequest.model_validate(parse_json(body))
    except ValidationError as exc:
        problems = [Problem("body." + ".".join(str(x) for x in e["loc"]), e["msg"]) for e in exc.errors()]
        raise InvalidInput("; ".join(map(str, problems)), problems=problems) from None


def enqueue(request: Request, accepted: renders.Accepted) -> None:
    """Hand a new render to the queue (if the broker is down, the sweep enqueues it later)."""
    record = accepted.record
    if not accepted.created:
        METRICS.accepted.labels("cached").inc()
        METRICS.cache_hits.labels("render").inc()
        return
    METRICS.accepted.labels("created").inc()
    try:
        request.app.state.queue.enqueue(record.id, record.priority)
    except Exception as exc:
        log.warning("render %s accepted but not enqueued (%s); the sweep will retry", record.id, type(exc).__name__)


@router.get("/renders/{render_id}", response_model=RenderOut, responses=problem_responses(401, 404))
def get_render(request: Request, render_id: str, authorization: str | None = Header(None)) -> RenderOut:
    management(request, authorization)
    return render_out(request, renders.load(request.app.state.rt.db, render_id), detail=True)


@router.delete("/renders/{render_id}", status_code=204, responses=problem_responses(401, 404))
def delete_render(request: Request, render_id: str, authorization: str | None = Header(None)) -> None:
    """Erase a render: every derived object and its record. An audit entry remains."""
    management(request, authorization)
    rt = request.app.state.rt
    renders.erase(rt.db, rt.registry, renders.load(rt.db, render_id))


@router.delete("/renders", status_code=200, responses=problem_responses(401, 404, 422))
def delete_by_external_id(
    request: Request, external_id: str, authorization: str | None = Header(None)
) -> dict[str, int]:
    """Erase every render of one customer (`?external_id=`): the right to be forgotten. Their
    campaign rows keep no identifier or value either (each stays an anonymous `erased` count)."""
    management(request, authorization)
    rt = request.app.state.rt
    erased = renders.erase_external(rt.db, rt.registry, external_id)
    if not erased.renders and not erased.rows:
        raise NotFound("no renders or campaign rows for this external_id", where="external_id")
    return {"erased": erased.renders}
