"""The marketer's console under /console/: server-rendered pages (Jinja2), a small script of our
own, no build step, no third-party request, a strict Content-Security-Policy; Japanese with an
English switch. Sign-in, CSRF and sessions: `session.py`. What the pages show of a template:
service/preview.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from vidmerge.engine.pipeline import personalize
from vidmerge.errors import InvalidInput, NotFound, TooMany, Unauthorized, VidmergeError
from vidmerge.records import TemplateRecord
from vidmerge.service import analytics, campaigns, preview, renders
from vidmerge.service.http.api import enqueue, store_bundle
from vidmerge.service.http.campaigns import parse_mapping, read_upload, results_csv
from vidmerge.service.http.console import session
from vidmerge.service.http.console.words import WORDS

router = APIRouter(prefix="/console", include_in_schema=False)
PAGES = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape())
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {"Content-Security-Policy": CSP, "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
           "X-Frame-Options": "DENY"}  # fmt: skip
LANG_COOKIE = "vidmerge_lang"
FONTS = Path(__file__).parents[3] / "assets" / "fonts"
MAX_DATA = 4096  # bytes of a preview's data in its URL


class SignIn(Exception):
    """No session: the page sends the browser to sign in."""


def _lang(request: Request) -> str:
    return "en" if request.cookies.get(LANG_COOKIE) == "en" else "ja"


def _nonce(request: Request) -> str:
    nonce = session.session(request)
    if nonce is None:
        raise SignIn()
    return nonce


def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    nonce = session.session(request)
    lang = _lang(request)
    html = PAGES.get_template(name).render(
        t=WORDS[lang], lang=lang, csrf=session.csrf_token(request, nonce) if nonce else "", signed_in=bool(nonce),
        open_server=not request.app.state.rt.settings.api_keys, path=request.url.path, **context,
    )  # fmt: skip
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def back(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=HEADERS)


# -- signing in -----------------------------------------------------------------------------------


@router.get("/login")
def login_form(request: Request, next: str = "/console/") -> Response:
    return _login_page(request, next)


def _login_page(request: Request, next: str, status: int = 200, error: VidmergeError | None = None) -> Response:
    def render(token: str) -> Response:
        answer = page(request, "login.html", status=status, next=_local(next), login_csrf=token,
                      error=error.message if error else None)  # fmt: skip
        if error is not None and error.status == 429:
            answer.headers["Retry-After"] = str(error.retry_after)
        return answer

    return session.with_login_token(request, render)


@router.post("/login")
def login(request: Request, api_key: str = Form("", max_length=512), next: str = Form("/console/"),
          csrf: str = Form("", max_length=128)) -> Response:  # fmt: skip
    response = back(_local(next))
    try:
        session.check_login_token(request, csrf)
        session.sign_in(request, response, api_key)
    except (Unauthorized, TooMany) as exc:
        return _login_page(request, next, exc.status, exc)
    return response


@router.post("/logout")
def logout(request: Request, csrf: str = Form("")) -> Response:
    session.check_csrf(request, _nonce(request), csrf)
    response = back("/console/login")
    session.sign_out(request, response)
    return response


@router.get("/lang/{lang}")
def switch_language(request: Request, lang: str, next: str = "/console/") -> Response:
    response = back(_local(next))
    response.set_cookie(LANG_COOKIE, "en" if lang == "en" else "ja", max_age=365 * 86400, samesite="strict",
                        path="/console")  # fmt: skip
    return response


def _local(url: str) -> str:
    """Only a console page: a sign-in link never sends the browser elsewhere."""
    return url if url.startswith("/console/") and not url.startswith("/console//") else "/console/"


@router.get("/font.otf")
def font() -> FileResponse:
    """The shipped Japanese font, for machines without one (downloaded only where needed)."""
    return FileResponse(FONTS / "NotoSansJP-Regular.otf", media_type="font/otf",
                        headers={"Cache-Control": "public, max-age=604800"})  # fmt: skip


# -- templates ------------------------------------------------------------------------------------


@router.get("/")
def home(request: Request) -> Response:
    _nonce(request)
    return back("/console/templates")


@router.get("/templates")
def templates(request: Request) -> HTMLResponse:
    _nonce(request)
    return _templates_page(request)


def _templates_page(request: Request, status: int = 200, problems: list[dict[str, str]] | None = None) -> HTMLResponse:
    versions = request.app.state.rt.db.templates.all()
    preparing = any(v.status == "preparing" for v in versions)
    return page(request, "templates.html", status=status, versions=versions, preparing=preparing,
                problems=problems or [], actives=_actives(versions))  # fmt: skip


def _actives(versions: list[TemplateRecord]) -> dict[str, list[int]]:
    """Each template's ready and active versions: more than one, and the console offers to switch."""
    found: dict[str, list[int]] = {}
    for v in versions:
        if v.status == "ready" and v.state == "active":
            found.setdefault(v.id, []).append(v.version)
    return found


@router.post("/templates")
async def upload(
    request: Request, file: UploadFile = File(...), csrf: str = Form(""), active: bool = Form(False)
) -> Response:
    session.check_csrf(request, _nonce(request), csrf)
    try:
        await store_bundle(request, file, active=active)
    except InvalidInput as exc:
        return _templates_page(request, status=422, problems=_problems(exc))
    return back("/console/templates")


def _version(request: Request, template_id: str, version: int) -> tuple[TemplateRecord, Any]:
    rt = request.app.state.rt
    record = rt.registry.record(template_id, version, ready=False)
    if record.status != "ready":
        raise NotFound("not found")
    return record, rt.registry.loaded(template_id, version)


@router.get("/templates/{template_id}/{version}")
def template_page(request: Request, template_id: str, version: int, render: str | None = None) -> HTMLResponse:
    """The storyboard, a form of the inputs (the sample's values), each slot drawn with them, and
    the whole video rendered on request."""
    _nonce(request)
    waiting = request.app.state.rt.registry.record(template_id, version, ready=False)
    if waiting.status == "preparing":  # its progress, reloaded until it is ready
        return page(request, "preparing.html", record=waiting)
    record, loaded = _version(request, template_id, version)
    data = _form_data(request, loaded)
    fields = loaded.template.spec.describe()
    try:
        person = personalize(loaded, data)
        problem = None
    except InvalidInput as exc:
        person, problem = None, str(exc)
    rendered = request.app.state.rt.db.renders.by_token(render) if render else None
    flagged = [c for c in preview.cases(loaded) if c.flags] if record.state != "active" else []
    versions = [v for v in request.app.state.rt.db.templates.all() if v.id == template_id]
    return page(request, "template.html", record=record, template=loaded.template, fields=fields, data=data,
                panels=preview.storyboard(loaded), person=person, problem=problem, query=_data_query(data),
                rendered=rendered, flagged=flagged, personalized=record.manifest.get("personalized") or {},
                small=preview.small_text(loaded, person.drawn) if person else [], actives=_actives(versions),
                newest=max(v.version for v in versions if v.status == "ready"))  # fmt: skip


def _form_data(request: Request, loaded: Any) -> dict[str, Any]:
    """The inputs from the query (a submitted preview form), else the template's sample values."""
    names = set(loaded.template.spec.field_names)
    given = {k: v for k, v in request.query_params.items() if k in names}
    if given or request.query_params.get("preview"):
        return {k: v for k, v in given.items() if v != ""}
    sample = loaded.template.root / "sample.json"
    if sample.is_file() and sample.stat().st_size < MAX_DATA:
        raw = json.loads(sample.read_text(encoding="utf-8"))
        return {k: v for k, v in raw.items() if k in names} if isinstance(raw, dict) else {}
    return {}


def _data_query(data: dict[str, Any]) -> str:
    return quote(json.dumps(data, ensure_ascii=False, separators=(",", ":")), safe="")


@router.get("/templates/{template_id}/{version}/edges")
def edges(request: Request, template_id: str, version: int) -> HTMLResponse:
    """The edge-case matrix: each generated customer, drawn, with what to look at."""
    _nonce(request)
    record, loaded = _version(request, template_id, version)
    rows = [(case, _data_query(case.data)) for case in preview.cases(loaded)]
    return page(request, "edges.html", record=record, template=loaded.template, rows=rows)


@router.get("/templates/{template_id}/{version}/frames/{index}.jpg")
async def frame(request: Request, template_id: str, version: int, index: int) -> Response:
    _nonce(request)
    _, loaded = _version(request, template_id, version)
    if not 0 <= index < len(loaded.prepared.segments):
        raise NotFound("not found")
    jpeg = await run_in_threadpool(preview.panel_frame, loaded, index)
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


@router.get("/templates/{template_id}/{version}/slots/{slot_id}.jpg")
async def slot(request: Request, template_id: str, version: int, slot_id: str, data: str = "{}") -> Response:
    """One slot drawn with the data (JSON in the query) over its base frame: no encode."""
    _nonce(request)
    _, loaded = _version(request, template_id, version)
    if slot_id not in {s.id for s in loaded.template.slots} or len(data.encode()) > MAX_DATA:
        raise NotFound("not found")
    try:
        values = json.loads(data)
        person = await run_in_threadpool(personalize, loaded, values if isinstance(values, dict) else {})
    except (ValueError, VidmergeError):
        return Response(status_code=422, headers={"Cache-Control": "no-store"})
    jpeg = await run_in_threadpool(preview.slot_picture, loaded, slot_id, person.drawn[slot_id])
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=600"})


@router.post("/templates/{template_id}/{version}/render")
async def render(request: Request, template_id: str, version: int) -> Response:
    """The whole video with the form's values, as a customer would get it (tagged as a preview)."""
    form = await request.form()
    session.check_csrf(request, _nonce(request), str(form.get("csrf", "")))
    rt = request.app.state.rt
    _, loaded = _version(request, template_id, version)
    names = set(loaded.template.spec.field_names)
    data = {k: str(v) for k, v in form.items() if k in names and str(v) != ""}
    accepted = await run_in_threadpool(lambda: renders.accept(rt.db, rt.registry, template_id, data, version=version,
                                                               external_id="console-preview"))  # fmt: skip
    enqueue(request, accepted)
    query = urlencode({**data, "render": accepted.record.token, "preview": "1"})
    return back(f"/console/templates/{template_id}/{version}?{query}")


@router.get("/renders/{token}/status")
def render_status(request: Request, token: str) -> JSONResponse:
    _nonce(request)
    record = request.app.state.rt.db.renders.by_token(token)
    if record is None or record.external_id != "console-preview":
        raise NotFound("not found")
    return JSONResponse({"status": record.status}, headers={"Cache-Control": "no-store"})


# -- campaigns ------------------------------------------------------------------------------------


@router.get("/campaigns")
def campaigns_page(request: Request) -> HTMLResponse:
    _nonce(request)
    return _campaigns_page(request)


def _campaigns_page(request: Request, status: int = 200, problems: list[dict[str, str]] | None = None) -> HTMLResponse:
    """The campaigns (each with the version it uses), and the upload form: an option per active
    version, valued `id/version`, with its inputs (the page's script maps the CSV's columns to them)."""
    rt = request.app.state.rt
    ready = [v for v in rt.db.templates.all() if v.status == "ready" and v.state == "active"]
    inputs = {f"{v.id}/{v.version}": [f["name"] for f in v.manifest.get("inputs", [])] for v in ready}
    listed = [campaigns.progress(rt, c) for c in rt.db.campaigns.recent()]
    in_use = {k: max(v) for k, v in _actives(ready).items()}  # what a render without a version gets
    return page(request, "campaigns.html", status=status, versions=ready, listed=listed, problems=problems or [],
                inputs=json.dumps(inputs, ensure_ascii=False), in_use=in_use)  # fmt: skip


def _picked(template: str) -> tuple[str, int | None]:
    """The picker's `id/version`; an id alone is its newest active version."""
    template_id, _, version = template.partition("/")
    if version and not version.isdigit():
        raise InvalidInput(f"the version {version!r} is not a number", where="template_id")
    return template_id, int(version) if version else None


def _problems(exc: VidmergeError) -> list[dict[str, str]]:
    """What a refused upload shows, each problem at the field it names."""
    return [{"where": p.where, "reason": p.reason} for p in exc.problems] or [{"where": "", "reason": str(exc)}]


@router.post("/campaigns")
async def campaign_upload(
    request: Request, template_id: str = Form(..., max_length=128), file: UploadFile = File(...),
    mapping: str = Form("", max_length=20_000), csrf: str = Form(""),
) -> Response:  # fmt: skip
    session.check_csrf(request, _nonce(request), csrf)
    rt = request.app.state.rt
    try:
        content = await read_upload(file, rt.settings.max_campaign_bytes)
        parsed = parse_mapping(mapping)
        picked, version = _picked(template_id)
        done = await run_in_threadpool(lambda: campaigns.upload(rt, picked, content, version=version, mapping=parsed))
    except (InvalidInput, NotFound) as exc:  # NotFound: a template gone since the page was shown
        return _campaigns_page(request, status=422, problems=_problems(exc))
    return back(f"/console/campaigns/{done.campaign.id}")


@router.get("/campaigns/{campaign_id}")
def campaign_page(request: Request, campaign_id: str) -> HTMLResponse:
    """Its progress (live), its bad rows, start, and the results to download."""
    _nonce(request)
    rt = request.app.state.rt
    campaign = campaigns.get(rt, campaign_id)
    invalid = list(campaigns.results(rt, campaign, {"invalid"}))
    return page(request, "campaign.html", campaign=campaign, progress=campaigns.progress(rt, campaign),
                invalid=invalid[:500])  # fmt: skip


@router.get("/campaigns/{campaign_id}/progress")
def campaign_progress(request: Request, campaign_id: str) -> JSONResponse:
    _nonce(request)
    rt = request.app.state.rt
    return JSONResponse(campaigns.progress(rt, campaigns.get(rt, campaign_id)), headers={"Cache-Control": "no-store"})


@router.post("/campaigns/{campaign_id}/start")
def campaign_start(request: Request, campaign_id: str, csrf: str = Form("")) -> Response:
    session.check_csrf(request, _nonce(request), csrf)
    campaign = campaigns.start(request.app.state.rt, campaign_id)
    request.app.state.launcher.launch(campaign.id)
    return back(f"/console/campaigns/{campaign.id}")


@router.get("/campaigns/{campaign_id}/results.csv")
def campaign_download(request: Request, campaign_id: str, status: str | None = None) -> Response:
    _nonce(request)
    return results_csv(request, campaigns.get(request.app.state.rt, campaign_id), None, status, _lang(request))


# -- analytics ------------------------------------------------------------------------------------


@router.get("/analytics")
def analytics_page(request: Request, template_id: str = "", campaign_id: str = "") -> HTMLResponse:
    """Per template and campaign: the funnel, views by day, the CTA rate and the quality figures,
    drawn as SVG on the server."""
    _nonce(request)
    rt = request.app.state.rt
    filters = analytics.Filters(template_id or None, campaign_id or None)
    total = analytics.report(rt.db, filters)[0]
    days = analytics.report(rt.db, filters, "day")
    templates_seen = sorted({v.id for v in rt.db.templates.all()})
    return page(request, "analytics.html", total=total, days=days, template_id=template_id, campaign_id=campaign_id,
                templates=templates_seen, campaigns_seen=[c.id for c in rt.db.campaigns.recent()],
                peak=max([d["views"] for d in days] + [1]))  # fmt: skip


@router.post("/templates/{template_id}/{version}/{action}")  # last: /render above is matched first
def change(request: Request, template_id: str, version: int, action: str, csrf: str = Form("")) -> Response:
    session.check_csrf(request, _nonce(request), csrf)
    states = {"activate": "active", "switch": "active", "deactivate": "inactive", "delete": "deleted"}
    if action not in states:
        raise NotFound("not found")
    if action == "switch":
        _switch(request.app.state.rt, template_id, version)
    else:
        request.app.state.rt.registry.set_state(template_id, version, states[action])
    return back("/console/templates" if action == "delete" else f"/console/templates/{template_id}/{version}")


def _switch(rt: Any, template_id: str, version: int) -> None:
    """This ready version active and the template's others inactive: one version in use, not two
    side by side (renders made from the others keep working)."""
    if rt.registry.record(template_id, version, ready=False).status != "ready":
        raise InvalidInput(f"version {version} is not ready yet: it cannot take over", where="version")
    rt.registry.set_state(template_id, version, "active")
    for other in _actives(rt.db.templates.all()).get(template_id, []):
        if other != version:
            rt.registry.set_state(template_id, other, "inactive")
