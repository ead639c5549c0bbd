"""FastAPI wiring: lifespan (runtime, queue, sweep), problem+json errors, health, metrics."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import generate_latest
from starlette.exceptions import HTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import ClientDisconnect
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vidmerge import __version__, logs
from vidmerge.config import Settings
from vidmerge.errors import FFmpegError, NotReady, StorageError, VerificationError, VidmergeError
from vidmerge.records import UNAVAILABLE
from vidmerge.service import ids, scratch
from vidmerge.service.http import analytics, api, campaigns, console, delivery, webhooks
from vidmerge.service.http.auth import UploadGuard, check_api_key
from vidmerge.service.http.integrations import braze, hubspot, marketo, sfmc
from vidmerge.service.metrics import METRICS
from vidmerge.service.runtime import check_settings, open_runtime
from vidmerge.service.work.queue import Launcher, Sweeper, open_queue

log = logging.getLogger("vidmerge")
STATIC = Path(__file__).parent / "http" / "static"
DATABASE_RETRY_AFTER = 5  # seconds: a database failing over or restarting is back in a few
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")  # what an Allow header may name


class CachedStatic(StaticFiles):
    """The player's scripts: cacheable for a day (a phone on a slow line loads hls.js once)."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "public, max-age=86400"
        return response


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = open_runtime(settings)
        queue = open_queue(rt)
        queue.start()
        launcher = Launcher(rt, queue)
        sweeper = Sweeper(rt, queue, launcher)
        sweeper.sweep()
        sweeper.start()
        app.state.rt, app.state.queue, app.state.plans = rt, queue, delivery.Plans()
        app.state.launcher = launcher
        _warn_if_open(settings)
        try:
            yield
        finally:
            sweeper.stop()
            rt.scheduler.close()  # renders waiting for queued segments end now; running encodes finish
            queue.stop()
            rt.db.dispose()

    app = FastAPI(title="vidmerge", version=__version__, lifespan=lifespan, dependencies=[Depends(ids.check_request)])
    app.include_router(api.router)
    app.include_router(campaigns.router)
    app.include_router(analytics.router)
    app.include_router(webhooks.router)
    app.include_router(console.router)
    app.include_router(delivery.router)
    for tool in (hubspot, braze, sfmc, marketo):
        app.include_router(tool.router)
    if STATIC.is_dir():
        app.mount("/static", GZipMiddleware(CachedStatic(directory=STATIC)), name="static")
    _errors(app)
    _health(app)
    build = app.openapi
    app.openapi = lambda: app.openapi_schema or ids.document(build())  # type: ignore[method-assign]
    uploads = {"/v1/templates": settings.max_bundle_bytes, "/v1/campaigns": settings.max_campaign_bytes}
    app.add_middleware(UploadGuard, keys=settings.api_keys, limits=uploads)
    app.add_middleware(logs.RequestLog)
    app.add_middleware(NoSniff)
    return app


class NoSniff:
    """Every response says what it is and browsers must not guess otherwise."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-content-type-options", b"nosniff"))
            await send(message)

        await self.app(scope, receive, send_with_header if scope["type"] == "http" else send)


def _warn_if_open(settings: Settings) -> None:
    if not settings.webhook_secrets and not settings.api_keys:
        log.warning(
            "NO AUTHENTICATION: VIDMERGE_WEBHOOK_SECRETS and VIDMERGE_API_KEYS are unset, so anyone who "
            "can reach %s can upload templates and request renders. Fine on a laptop; set them before exposing it.",
            settings.base_url,
        )


def problem(status: int, title: str, detail: str, *, retry_after: int = 1, **extra: object) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    headers = {"Retry-After": str(retry_after)} if status in (429, 503) else None
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


def _errors(app: FastAPI) -> None:
    """The one place where errors become HTTP (RFC 9457 problem+json)."""

    @app.exception_handler(console.SignIn)
    async def sign_in(request: Request, exc: console.SignIn) -> Response:
        """A console page without a session: to the sign-in page, and back after it."""
        return RedirectResponse(f"/console/login?next={quote(request.url.path)}", status_code=303)

    @app.exception_handler(VidmergeError)
    async def vidmerge_error(request: Request, exc: VidmergeError) -> JSONResponse:
        if exc.status == 404:  # unknown and erased look the same; a field's name (never a value) is said
            if not exc.where.isidentifier():
                return problem(404, "Not found", "not found")
            return problem(404, "Not found", "not found", problems=[{"where": exc.where, "reason": "not found"}])
        status = 503 if isinstance(exc, NotReady) else exc.status
        if isinstance(exc, FFmpegError | StorageError | VerificationError):
            # ffmpeg's stderr, file names, storage addresses: for the log, not for the caller. A failed
            # verification says which check failed (verify.py's words: counts and stream headers, no values)
            why = f" ({exc.message})" if isinstance(exc, VerificationError) else ""
            log.warning("%s on %s %s: %s%s", type(exc).__name__, request.method, logs.short_path(request.url.path),
                        exc.where or "-", why)  # fmt: skip
            return problem(status, exc.title, "temporarily unavailable; retry later", retryable=True,
                           retry_after=exc.retry_after)  # fmt: skip
        problems = [{"where": p.where, "reason": p.reason} for p in exc.problems]
        return problem(status, exc.title, exc.message, retryable=exc.retryable, problems=problems,
                       retry_after=exc.retry_after)  # fmt: skip

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"where": ".".join(str(x) for x in e["loc"]), "reason": e["msg"]} for e in exc.errors()]
        detail = "; ".join(f"{p['where']}: {p['reason']}" for p in problems)
        return problem(422, "Invalid input", detail, retryable=False, problems=problems)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 404:  # no route: the same 404 as an unknown or erased token
            return problem(404, "Not found", "not found")
        answer = problem(exc.status_code, "Error", str(exc.detail))
        answer.headers.update({"Allow": _allowed(request)} if exc.status_code == 405 else exc.headers or {})
        return answer

    @app.exception_handler(ClientDisconnect)
    async def client_left(request: Request, exc: ClientDisconnect) -> JSONResponse:
        """The caller went away before its body was whole: nothing to answer, nothing wrong here."""
        log.info("client disconnected before sending the whole body of %s %s", request.method,
                 logs.short_path(request.url.path))  # fmt: skip
        return problem(400, "Incomplete body", "the connection closed before the whole body arrived", retryable=True,
                       problems=[{"where": "body", "reason": "incomplete"}])  # fmt: skip

    for kind in UNAVAILABLE:
        app.add_exception_handler(kind, _database_down)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, logs.short_path(request.url.path))
        return problem(500, "Internal error", "unexpected error; see the server log")


async def _database_down(request: Request, exc: Exception) -> Response:
    """An outage, not a bug: one line without a traceback, and the caller is asked to come back."""
    log.warning("database unavailable on %s %s: %s", request.method, logs.short_path(request.url.path),
                type(exc).__name__)  # fmt: skip
    return problem(503, "Temporarily unavailable", "the database is unavailable; retry later", retryable=True,
                   retry_after=DATABASE_RETRY_AFTER)  # fmt: skip


def _allowed(request: Request) -> str:
    """Every method some route takes at this path (Starlette's 405 names only the first route's).
    The static files' mount takes any method but answers GET and HEAD only."""
    routes = [r for r in request.app.router.routes if not isinstance(r, Mount)]
    methods = [m for m in METHODS if any(r.matches({**request.scope, "method": m})[0] == Match.FULL for r in routes)]
    return ", ".join(sorted(methods or ["GET", "HEAD"]))


def _health(app: FastAPI) -> None:
    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz(request: Request) -> JSONResponse:
        rt = request.app.state.rt
        checks = {"database": rt.db.check, "storage": rt.storage.check, "queue": request.app.state.queue.check,
                  "disk": rt.check_space}  # fmt: skip
        report = {}
        for name, check in checks.items():
            try:
                check()
                report[name] = "ok"
            except Exception as exc:
                report[name] = f"unavailable: {type(exc).__name__}"
        ok = all(v == "ok" for v in report.values())
        return JSONResponse({"status": "ok" if ok else "unavailable", "checks": report}, status_code=200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        settings = request.app.state.rt.settings
        if not settings.metrics_public:
            check_api_key(request.headers.get("authorization"), settings.api_keys)
        return PlainTextResponse(generate_latest(METRICS.registry).decode(), media_type="text/plain; version=0.0.4")


def serve(settings: Settings) -> None:
    import uvicorn

    logs.configure(settings.log_level)
    check_settings(settings)  # before uvicorn: a refusal is a clear message and exit code 2
    scratch.use(settings)
    app = create_app(settings)
    # log_config=None keeps our JSON logging; uvicorn's access log would print full tokens
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)
