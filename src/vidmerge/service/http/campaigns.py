"""/v1/campaigns: a CSV of customers in, a CSV of their links out (for MA tools that import
contacts from files rather than call a webhook)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, File, Form, Header, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel

from vidmerge.errors import InvalidInput, TooLarge
from vidmerge.plan import GIF, MP4, POSTER
from vidmerge.records import MAX_INTEGER, CampaignRecord
from vidmerge.service import campaigns, csvfile, ids
from vidmerge.service.csvfile import Cell
from vidmerge.service.http.api import management, problem_responses
from vidmerge.service.http.delivery import image_size
from vidmerge.service.http.email import email_html
from vidmerge.service.http.limits import parse_json

router = APIRouter(prefix="/v1/campaigns")
RESULT_COLUMNS = ["row", "external_id", "page_url", "mp4_url", "poster_url", "gif_url", "email_html", "status", "error"]
MAX_MAPPING = 200  # columns a mapping may name


class RowError(BaseModel):
    row: int  # as a spreadsheet numbers it: the header is row 1
    column: str
    reason: str


class UploadOut(BaseModel):
    campaign_id: str
    rows: int
    valid: int
    invalid: int
    unchanged: int = 0  # rows equal to the campaign's current ones: nothing new to render
    errors: list[RowError]  # every bad row (the first 1000 problems)
    ignored_columns: list[str]  # columns no input takes
    encoding: str


class CampaignOut(BaseModel):
    campaign_id: str
    template_id: str
    template_version: int
    status: str  # created | running | done
    total: int  # good rows
    done: int
    failed: int
    erased: int
    invalid: int
    eta_seconds: float | None  # while running, from the pace so far
    encoding: str
    uploads: int


@router.post("", status_code=201, response_model=UploadOut,
             responses={200: {"model": UploadOut, "description": "this file was uploaded before"},
                        **problem_responses(401, 404, 413, 422)})  # fmt: skip
async def upload_campaign(
    request: Request,
    template_id: str = Form(..., min_length=1, max_length=128),
    file: UploadFile = File(..., description="the CSV: UTF-8 (with or without BOM) or Shift_JIS/CP932"),
    mapping: str | None = Form(None, max_length=20_000, description='JSON {"column": "input"}'),
    template_version: int | None = Form(None, ge=1, le=MAX_INTEGER),
    encoding: str | None = Form(None, max_length=32, description="default: found from the file"),
    campaign_id: str | None = Form(None, max_length=32, description="add these rows to that campaign"),
    authorization: str | None = Header(None),
) -> JSONResponse:
    """Every row is checked now; the answer lists each bad one (row, column, reason). Nothing
    renders until `POST /v1/campaigns/{id}/start`. The same file again is the same campaign;
    with `campaign_id`, rows are added (a row whose `external_id` is there already replaces it
    only when its values changed or it had failed)."""
    management(request, authorization)
    rt = request.app.state.rt
    ids.check(template_id, "template_id")
    ids.check(campaign_id, "campaign_id")
    content = await read_upload(file, rt.settings.max_campaign_bytes)
    run = functools.partial(
        campaigns.upload, rt, template_id, content, version=template_version, mapping=parse_mapping(mapping),
        encoding=csvfile.encoding_name(encoding) if encoding else None, campaign_id=campaign_id,
    )  # fmt: skip
    done = await run_in_threadpool(run)
    if campaign_id is not None and done.campaign.started_at is not None:
        request.app.state.launcher.launch(done.campaign.id)  # rows added to a running campaign render now
    body = UploadOut(campaign_id=done.campaign.id, rows=done.rows, valid=done.valid, invalid=done.invalid,
                     unchanged=done.unchanged, errors=[RowError(**e) for e in done.errors],
                     ignored_columns=done.ignored_columns, encoding=done.campaign.encoding)  # fmt: skip
    return JSONResponse(body.model_dump(), status_code=201 if done.created else 200)


async def read_upload(file: UploadFile, limit: int) -> bytes:
    chunks, size = [], 0
    while chunk := await file.read(1 << 20):
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"upload exceeds {limit} bytes", where="file")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_mapping(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    found = parse_json(text.encode("utf-8"), where="mapping")
    if not isinstance(found, dict) or not all(isinstance(v, str) for v in found.values()):
        raise InvalidInput('must be a JSON object {"column": "input"}', where="mapping")
    for column, name in found.items():
        ids.check_text(column, "mapping")
        ids.check_text(name, f"mapping.{column}")
    if len(found) > MAX_MAPPING:
        raise InvalidInput(f"more than {MAX_MAPPING} columns", where="mapping")
    return found


def _out(request: Request, campaign: CampaignRecord) -> CampaignOut:
    return CampaignOut(**campaigns.progress(request.app.state.rt, campaign))


@router.post(
    "/{campaign_id}/start", status_code=202, response_model=CampaignOut, responses=problem_responses(401, 404, 409)
)
def start_campaign(request: Request, campaign_id: str, authorization: str | None = Header(None)) -> CampaignOut:
    """Render the campaign's good rows on the bulk lane (webhooks keep priority). Starting a
    started campaign changes nothing."""
    management(request, authorization)
    campaign = campaigns.start(request.app.state.rt, campaign_id)
    request.app.state.launcher.launch(campaign.id)
    return _out(request, campaign)


@router.get("/{campaign_id}", response_model=CampaignOut, responses=problem_responses(401, 404))
def get_campaign(request: Request, campaign_id: str, authorization: str | None = Header(None)) -> CampaignOut:
    management(request, authorization)
    return _out(request, campaigns.get(request.app.state.rt, campaign_id))


@router.get("/{campaign_id}/results.csv", response_class=StreamingResponse, responses=problem_responses(401, 404, 422))
def campaign_results(
    request: Request,
    campaign_id: str,
    encoding: str | None = Query(None, max_length=32, description="default: the upload's"),
    status: str | None = Query(None, max_length=100, description="only rows in these states, comma-separated"),
    authorization: str | None = Header(None),
) -> StreamingResponse:
    """Per row: its `row` in the upload, `external_id`, the links, `email_html`, `status` and
    `error` (in Japanese in a CP932 file), ready to import into the MA tool (links work at once:
    the page plays while the video renders)."""
    management(request, authorization)
    return results_csv(request, campaigns.get(request.app.state.rt, campaign_id), encoding, status)


def results_csv(
    request: Request, campaign: CampaignRecord, encoding: str | None, status: str | None, lang: str | None = None
) -> StreamingResponse:
    """The results as a download (the API's and the console's). Reasons are in `lang`; by
    default in Japanese in a CP932 file (what a Japanese tool imports), else in English."""
    charset = csvfile.encoding_name(encoding) if encoding else campaign.encoding
    lang = lang or ("ja" if charset == "cp932" else "en")
    wanted = {s.strip() for s in status.split(",") if s.strip()} if status else None
    _check_encodable(request.app.state.rt, campaign, charset, lang)  # before the first byte: a 422, never half a file
    filename = f"campaign-{campaign.id}-results.csv"
    media_type = f"text/csv; charset={charset.removesuffix('-sig')}"
    return StreamingResponse(csvfile.write(_lines(request, campaign, wanted, lang), charset), media_type=media_type,
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})  # fmt: skip


def _lines(request: Request, campaign: CampaignRecord, wanted: set[str] | None, lang: str) -> Iterator[list[Cell]]:
    rt = request.app.state.rt
    width, height = image_size(rt.registry.loaded(campaign.template_id, campaign.template_version), GIF)
    yield list(RESULT_COLUMNS)
    for r in campaigns.results(rt, campaign, wanted):
        if r.render is None:
            yield [r.row, r.external_id, "", "", "", "", "", r.status, r.said(lang)]
            continue
        page = f"{rt.settings.base_url}/v/{r.render.token}"
        yield [r.row, r.external_id, page, f"{page}/{MP4}", f"{page}/{POSTER}", f"{page}/{GIF}",
               email_html(page, f"{page}/{GIF}", width, height), r.status, r.said(lang)]  # fmt: skip


def _check_encodable(rt: Any, campaign: CampaignRecord, charset: str, lang: str) -> None:
    """The only cells that are not ASCII come from the uploads (an upload in UTF-8 asked back in
    CP932 may hold a character CP932 has not)."""
    for r in campaigns.results(rt, campaign):
        try:
            (r.external_id + r.said(lang)).encode(charset)
        except UnicodeEncodeError:
            raise InvalidInput(f"external_id {r.external_id!r} (or its error) cannot be written in {charset}",
                               where="encoding") from None  # fmt: skip


@router.delete("/{campaign_id}", responses=problem_responses(401, 404))
def erase_campaign(request: Request, campaign_id: str, authorization: str | None = Header(None)) -> dict[str, Any]:
    """Erasure by campaign: every render made for it (files, segments no other render uses,
    records) and its rows. An audit entry remains."""
    management(request, authorization)
    rt = request.app.state.rt
    return {"erased": campaigns.erase(rt, campaigns.get(rt, campaign_id))}
