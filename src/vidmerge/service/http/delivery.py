"""Public token URLs: the landing page, the playlist, segments and the finished files.

Everything here is addressed by the render's unguessable token. Unknown and erased tokens get
the same 404. A dynamic segment that is not rendered yet is rendered now (single flight) or
waited for; the playlist is complete from the moment the webhook answered.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections import OrderedDict

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from vidmerge.engine.loaded import LoadedVersion
from vidmerge.engine.package import master_playlist, playlist, start_pts, subtitles_playlist
from vidmerge.engine.pipeline import Personalized, in_rendition
from vidmerge.errors import InvalidInput, NotFound, NotReady, TooMany
from vidmerge.plan import GIF, OUTPUTS, PLAYLIST, POSTER, RenderPlan
from vidmerge.records import RenderRecord
from vidmerge.service import analytics, renders
from vidmerge.service.http.email import placeholder
from vidmerge.service.http.events import server_event
from vidmerge.service.http.page import GO, LOGO, csp, landing_page, style
from vidmerge.service.metrics import METRICS
from vidmerge.service.runtime import Runtime
from vidmerge.template import captions
from vidmerge.template.captions import CAPTIONS
from vidmerge.template.media import image_type

router = APIRouter()
PRIVATE = {"Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex, nofollow", "Cache-Control": "private"}
CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "Content-Length, Content-Range"}
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
M3U8 = "application/vnd.apple.mpegurl"
VTT = "text/vtt; charset=utf-8"
SUBTITLES = "subs"  # the HLS subtitles playlist and its one WebVTT segment are under it
PRESIGNED_SECONDS = 600  # a redirect is asked for again at each play; the link itself stays stable
IN_TIME_MARGIN = 0.5  # seconds a segment must be ready before its viewer's playhead reaches it
MAX_POSITION_DIGITS = 18  # of a Range's byte position: 1 EB, past any object's size


class Plans:
    """A small per-process cache: token -> (record, loaded, personalized plan), and when its
    viewer started playing."""

    def __init__(self, size: int = 256) -> None:
        self._items: OrderedDict[str, tuple[RenderRecord, LoadedVersion, Personalized]] = OrderedDict()
        self._starts: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()
        self.size = size

    def get(self, request: Request, token: str) -> tuple[RenderRecord, LoadedVersion, Personalized]:
        rt = request.app.state.rt
        record = rt.db.renders.by_token(token) if len(token) <= 64 else None
        if record is None:
            self.forget(token)
            raise NotFound("not found")
        with self._lock:
            hit = self._items.get(token)
        if hit is not None and hit[0].id == record.id:
            loaded, person = hit[1], hit[2]
        else:
            loaded, person = renders.replan(rt.db, rt.registry, record)
            with self._lock:
                self._items[token] = (record, loaded, person)
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
        if renders.expired(record, loaded):
            raise NotFound("not found")  # an expired link looks like any unknown one
        return record, loaded, person

    def forget(self, token: str) -> None:
        with self._lock:
            self._items.pop(token, None)
            self._starts.pop(token, None)

    def started(self, token: str, index: int, length: float) -> float:
        """When the token's viewer started playing, as this process saw it: its first segment
        request; a new viewing starts at a request for the first segment, or once the whole
        video could have played since."""
        now = time.time()
        with self._lock:
            began = self._starts.get(token)
            if began is None or index == 0 or now - began > length:
                began = self._starts[token] = now
            self._starts.move_to_end(token)
            while len(self._starts) > self.size:
                self._starts.popitem(last=False)
        return began


@router.api_route("/v/{token}", methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False)
async def page(request: Request, token: str) -> HTMLResponse:
    record, loaded, _ = await run_in_threadpool(request.app.state.plans.get, request, token)
    origin = request.app.state.rt.settings.media_origin
    size = (loaded.prepared.width, loaded.prepared.height)
    design = loaded.template.manifest.page
    headers = {**PRIVATE, "Content-Security-Policy": f"{csp(origin, style(design, size))}; frame-ancestors 'none'"}
    captioned = loaded.template.captions is not None
    html = landing_page(record.token, record.status, design, media_origin=origin, size=size, captions=captioned)
    if request.method == "GET":
        kind = "bot" if analytics.is_bot(request.headers.get("user-agent")) else "page"
        await server_event(request, record, "impression", kind)
    return HTMLResponse(html, headers=headers)


@router.get(f"/v/{{token}}/{GO}", include_in_schema=False)
async def go(request: Request, token: str) -> RedirectResponse:
    """The call to action: counted, then sent on to the template's URL (only that one: the
    token chooses the render, never the destination)."""
    record, loaded, _ = await run_in_threadpool(request.app.state.plans.get, request, token)
    cta = loaded.template.manifest.page.cta
    if cta is None:
        raise NotFound("not found")
    if not analytics.is_bot(request.headers.get("user-agent")):
        session = request.query_params.get("s")
        await server_event(request, record, "cta_click", "go", session)
    values = {"external_id": record.external_id, "template_id": record.template_id, "campaign_id": record.campaign_id}
    return RedirectResponse(cta.target(values), status_code=302, headers=PRIVATE)


@router.get(f"/v/{{token}}/{LOGO}", include_in_schema=False)
async def logo(request: Request, token: str) -> Response:
    """The template's logo (an image under its assets/, checked at upload)."""
    _, loaded, _ = await run_in_threadpool(request.app.state.plans.get, request, token)
    name = loaded.template.manifest.page.logo_asset
    if name is None:
        raise NotFound("not found")
    path = loaded.template.root / "assets" / name
    media_type = await run_in_threadpool(image_type, path)
    return Response(path.read_bytes(), media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})


@router.api_route(f"/v/{{token}}/{PLAYLIST}", methods=["GET", "HEAD"], include_in_schema=False)
async def hls_playlist(request: Request, token: str) -> Response:
    """The ladder's master playlist, with the template's captions as subtitles; a version
    prepared before the ladder has one rendition, and this is its media playlist (unless the
    template has captions: a master playlist of that one rendition then carries them)."""
    _, loaded, person = await run_in_threadpool(request.app.state.plans.get, request, token)
    subtitles = f"{SUBTITLES}/{PLAYLIST}" if loaded.template.captions is not None else None
    if loaded.prepared.renditions or subtitles:
        lang = loaded.template.manifest.page.lang
        text = master_playlist(loaded.prepared, lambda p: f"r/{p.name}/{PLAYLIST}", subtitles, lang)
    else:
        text = playlist(person.plan, lambda s: f"seg/{s.index}.ts")
    return Response(text, media_type=M3U8, headers={**PRIVATE, **CORS})


@router.api_route(f"/v/{{token}}/r/{{name}}/{PLAYLIST}", methods=["GET", "HEAD"], include_in_schema=False)
async def rendition_playlist(request: Request, token: str, name: str) -> Response:
    _, loaded, person = await run_in_threadpool(request.app.state.plans.get, request, token)
    _, plan = _rendition(loaded, person, name)
    return Response(playlist(plan, lambda s: f"seg/{s.index}.ts"), media_type=M3U8, headers={**PRIVATE, **CORS})


@router.api_route(f"/v/{{token}}/{CAPTIONS}", methods=["GET", "HEAD"], include_in_schema=False)
async def captions_file(request: Request, token: str) -> Response:
    """The template's captions as a WebVTT file. Made from the template on each request (the
    same cues for every customer): nothing of it is stored, so an erased render's is gone."""
    _, loaded, _ = await run_in_threadpool(request.app.state.plans.get, request, token)
    return Response(captions.render(_cues(loaded)), media_type=VTT, headers={**PRIVATE, **CORS})


@router.api_route(f"/v/{{token}}/{SUBTITLES}/{PLAYLIST}", methods=["GET", "HEAD"], include_in_schema=False)
async def hls_subtitles(request: Request, token: str) -> Response:
    _, loaded, _ = await run_in_threadpool(request.app.state.plans.get, request, token)
    _cues(loaded)  # 404 without captions
    text = subtitles_playlist(loaded.prepared.duration, "0.vtt")
    return Response(text, media_type=M3U8, headers={**PRIVATE, **CORS})


@router.api_route(f"/v/{{token}}/{SUBTITLES}/0.vtt", methods=["GET", "HEAD"], include_in_schema=False)
async def hls_subtitles_segment(request: Request, token: str) -> Response:
    """The one subtitles segment: its cue times mapped onto the TS segments' clock."""
    _, loaded, _ = await run_in_threadpool(request.app.state.plans.get, request, token)
    text = captions.render(_cues(loaded), mpegts=start_pts(loaded.prepared))
    return Response(text, media_type=VTT, headers={**PRIVATE, **CORS})


def _cues(loaded: LoadedVersion) -> tuple[captions.Cue, ...]:
    if loaded.template.captions is None:
        raise NotFound("not found")
    return loaded.template.captions


@router.api_route("/v/{token}/seg/{index}.ts", methods=["GET", "HEAD"], include_in_schema=False)
async def hls_segment(request: Request, token: str, index: int) -> Response:
    """A segment of the top rendition (what a version without a ladder plays)."""
    record, loaded, person = await run_in_threadpool(request.app.state.plans.get, request, token)
    return await _segment(request, record, loaded, person.plan, index, lowest=True)


@router.api_route("/v/{token}/r/{name}/seg/{index}.ts", methods=["GET", "HEAD"], include_in_schema=False)
async def rendition_segment(request: Request, token: str, name: str, index: int) -> Response:
    record, loaded, person = await run_in_threadpool(request.app.state.plans.get, request, token)
    rung, plan = _rendition(loaded, person, name)
    bottom = loaded.prepared.ladder[0]
    floor = in_rendition(loaded, person.plan, bottom) if index == 0 else None  # a viewing starts
    return await _segment(request, record, rung, plan, index, lowest=rung.prepared.key == bottom.key, floor=floor)


def _submit_floor(rt: Runtime, floor: tuple[LoadedVersion, RenderPlan], began: float) -> None:
    lowest, plan = floor
    for seg in plan.dynamic:
        if not rt.storage.exists(seg.key):
            rt.scheduler.submit(lowest, seg, began + seg.start, viewer=True)


def _rendition(loaded: LoadedVersion, person: Personalized, name: str) -> tuple[LoadedVersion, RenderPlan]:
    rung = loaded.prepared.rendition(name)
    if rung is None:
        raise NotFound("not found")
    return in_rendition(loaded, person.plan, rung)


async def _segment(request: Request, record: RenderRecord, loaded: LoadedVersion, plan: RenderPlan, index: int, *,
                   lowest: bool, floor: tuple[LoadedVersion, RenderPlan] | None = None) -> Response:  # fmt: skip
    """A segment of one rendition; a personalized one not made yet is made now, just in time.
    A viewing starts at segment 0: the lowest rendition's personalized segments (`floor`) are
    submitted then, each due when the playhead reaches it, so that every viewer's fallback is
    made in time and counted before any climb. A
    segment of a rendition above the lowest that cannot be ready before its viewer reaches it,
    or only by making other viewers' segments late, is refused (429): the player takes a lower
    rendition's, which is cheaper (hls.js switches down on a 4xx), rather than stall."""
    rt = request.app.state.rt
    if not 0 <= index < len(plan.segments):
        raise NotFound("not found")
    seg = plan.segments[index]
    began = request.app.state.plans.started(record.token, index, loaded.prepared.duration)
    if floor is not None:
        await run_in_threadpool(_submit_floor, rt, floor, began)
    if seg.dynamic and not await run_in_threadpool(rt.storage.exists, seg.key):
        # Due when the viewer's playhead reaches it (a bulk render being watched counts as
        # interactive). Not "now": players fetch far ahead, and a prefetch must not push in
        # front of another viewer's next segment.
        due = began + seg.start
        if not lowest and not rt.scheduler.admits(loaded, seg, due, IN_TIME_MARGIN):
            METRICS.segments.labels("refused").inc()
            raise TooMany(f"rendition {loaded.prepared.name} cannot have segment {index} ready in time; "
                          "a lower rendition can", where="rendition")  # fmt: skip
        pending = asyncio.wrap_future(rt.scheduler.submit(loaded, seg, due, viewer=True))
        try:
            await asyncio.wait_for(asyncio.shield(pending), rt.settings.segment_wait_seconds)
        except TimeoutError:
            raise NotReady(f"segment {index} is still rendering", where="segment") from None
        METRICS.segments.labels("just_in_time").inc()  # a viewer waited for it (its encode counts once, as rendered)
    return await _serve(request, seg.key, "video/mp2t")


@router.api_route("/v/{token}/{name}", methods=["GET", "HEAD"], include_in_schema=False)
async def output_file(request: Request, token: str, name: str) -> Response:
    if name not in OUTPUTS:
        raise NotFound("not found")
    record, loaded, person = await run_in_threadpool(request.app.state.plans.get, request, token)
    if name in (POSTER, GIF) and request.method == "GET" and request.headers.get("sec-fetch-site") != "same-origin":
        await server_event(request, record, "impression", "image")  # an email opened (or its proxy fetched it)
    if name in (POSTER, GIF) and record.status != "done":
        return _placeholder(loaded, name)  # an email's image is fetched at once: never a wait or a 404
    record = await _wait_done(request, record)
    rt = request.app.state.rt
    keep = rt.settings.mp4_keep_hours * 3600
    key = await run_in_threadpool(renders.output, rt.db, loaded, person.plan, record, name, keep)
    if rt.settings.media_origin:
        # Big downloads go straight to the object store. HLS stays here: hls.js fetches with
        # CORS, which a bucket would need configuring for, and dynamic segments wait here.
        url = await run_in_threadpool(rt.storage.presigned_url, key, PRESIGNED_SECONDS)
        if url is not None:
            return RedirectResponse(url, status_code=302, headers=PRIVATE)
    return await _serve(request, key, OUTPUTS[name])


def _placeholder(loaded: LoadedVersion, name: str) -> Response:
    """A generic picture of the poster's (or the GIF's) size, not kept by any cache."""
    width, height = image_size(loaded, name)
    data = placeholder(width, height, "JPEG" if name == POSTER else "GIF")
    return Response(data, media_type=OUTPUTS[name], headers={**PRIVATE, "Cache-Control": "no-store"})


def image_size(loaded: LoadedVersion, name: str) -> tuple[int, int]:
    """The poster is the video's size; the GIF the template's GIF width, the video's shape."""
    p = loaded.prepared
    if name == POSTER:
        return p.width, p.height
    width = loaded.template.manifest.output.gif.width
    height = round(width * p.height / p.width)
    return width, height + height % 2  # as ffmpeg's scale=W:-2 makes it


async def _wait_done(request: Request, record: RenderRecord) -> RenderRecord:
    """Files exist once the render is done; wait a bounded time, then ask the client to retry."""
    rt = request.app.state.rt
    deadline = asyncio.get_running_loop().time() + rt.settings.segment_wait_seconds
    while record.status != "done":
        if record.status == "failed":
            raise NotFound("not found")
        if asyncio.get_running_loop().time() > deadline:
            raise NotReady("the video is still rendering", where="render")
        await asyncio.sleep(0.25)
        current = await run_in_threadpool(rt.db.renders.by_token, record.token)
        if current is None:
            raise NotFound("not found")
        record = current
    return record


async def _serve(request: Request, key: str, content_type: str) -> Response:
    """Stream an object, honouring a single byte range (206) or refusing a bad one (416)."""
    storage = request.app.state.rt.storage
    total = await run_in_threadpool(storage.size, key)
    headers = {**PRIVATE, **CORS, "Accept-Ranges": "bytes"}
    start, end = _range(request.headers.get("range"), total)
    if start is None:
        chunks, _ = await run_in_threadpool(storage.open_range, key, 0, None)
        return StreamingResponse(chunks, media_type=content_type, headers={**headers, "Content-Length": str(total)})
    if end is None or start >= total:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{total}"})
    chunks, _ = await run_in_threadpool(storage.open_range, key, start, end)
    headers.update({"Content-Range": f"bytes {start}-{end}/{total}", "Content-Length": str(end - start + 1)})
    return StreamingResponse(chunks, status_code=206, media_type=content_type, headers=headers)


def _range(header: str | None, total: int) -> tuple[int | None, int | None]:
    """(start, end inclusive) of a `bytes=` range; (None, None) without one; end None if unsatisfiable."""
    if not header:
        return None, None
    match = _RANGE.match(header.strip())
    if not match or match.groups() == ("", ""):
        raise InvalidInput("malformed Range header", where="Range")
    first, last = match.groups()
    if first == "":  # suffix: the last N bytes
        n = _position(last)
        return (max(0, total - n), total - 1) if n > 0 and total > 0 else (0, None)
    start = _position(first)
    end = min(_position(last), total - 1) if last else total - 1
    return (start, end) if start <= end else (start, None)


def _position(digits: str) -> int:
    """A byte position; one of more digits than any object's size is past its end (and is not
    parsed: a 5,000-digit number is over Python's limit on int() of a str)."""
    return int(digits) if len(digits) <= MAX_POSITION_DIGITS else 10**MAX_POSITION_DIGITS
