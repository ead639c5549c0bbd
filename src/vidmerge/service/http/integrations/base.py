"""What every MA tool's adapter shares: its secret, its render (fitted to the template's inputs,
idempotent per the tool's own request id), the URLs it answers with and their shapes in the
OpenAPI document (the adapters read their raw bodies, to check signatures on the bytes sent: their
request bodies are declared with `openapi_extra`)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo

from vidmerge.errors import InvalidInput, NotFound, Unauthorized
from vidmerge.records import Claim
from vidmerge.service import ids, renders
from vidmerge.service.http.api import RenderOut, enqueue, problem_responses, render_out
from vidmerge.template.manifest import Tool

TEMPLATE_FIELD = "template_id"  # the tool field that chooses the template
URL_FIELDS = ("page_url", "hls_url", "mp4_url", "poster_url", "gif_url")
EMAIL_FIELDS = ("email_html", "gif_width", "gif_height")  # the snippet for the email, and the GIF's size
MAX_ID = 255  # characters of an external id or a tool's request id (longer ids are refused, never cut)


ERRORS = problem_responses(401, 404, 409, 413, 422, 503)  # 404: the tool's secret is not set


class Links(BaseModel):
    """A render's links and its email snippet, answered at once (the video renders meanwhile; the
    poster and GIF links show a placeholder of the right size until it is done)."""

    render_id: str
    page_url: str = Field(description="the landing page: link the email's picture here")
    hls_url: str = Field(description="the HLS playlist")
    mp4_url: str
    poster_url: str = Field(description="a JPEG of a personalized frame, the video's size")
    gif_url: str = Field(description="the email GIF")
    email_html: str = Field(description="a table-based snippet for any email client: the GIF at its size, linked to "
                                        "the page (no <video>, no script)")  # fmt: skip
    gif_width: int = Field(description="the GIF's width in pixels")
    gif_height: int = Field(description="the GIF's height in pixels")


class FlatAnswer(Links):
    """Flat, for a tool's response mappings: lists as comma-separated text."""

    status: str = Field(description="queued | rendering | done | failed")
    ignored_fields: str = Field(description="fields of the call no input of the template takes, comma-separated")
    defaulted_inputs: str = Field(description="inputs the call left out (their default is drawn), comma-separated")


class ToolFields(BaseModel):
    """The fields a tool sends: `template_id`, `external_id` (the recipient) and the template's
    inputs by their names (or the names `mappings` gives them for this tool)."""

    model_config = ConfigDict(extra="allow")

    template_id: str = Field(description="the template to render")
    external_id: str | int | None = Field(None, description="the recipient's id in the tool, at most 255 characters")


def prefixed(name: str, fields: Mapping[str, Any], *, optional: bool = False, **more: Any) -> type[BaseModel]:
    """A model of `fields` (a model's `model_fields`) named `vidmerge_*`, as HubSpot's output
    fields and SFMC's out arguments are; all of them optional when the answer may leave them out."""

    def field(f: FieldInfo) -> tuple[Any, Any]:
        kind: Any = f.annotation
        return (kind | None, Field(None, description=f.description)) if optional else (kind, f)

    named: dict[str, Any] = {f"vidmerge_{k}": field(f) for k, f in fields.items()}
    return create_model(name, **named, **more)


def body_schema(*types: str, schema: dict[str, Any]) -> dict[str, Any]:
    """`openapi_extra` declaring a required request body of these media types."""
    return {"requestBody": {"required": True, "content": {t: {"schema": schema} for t in types}}}


def configured(secret: str) -> str:
    """The adapter's secret; unset, the adapter answers 404 like any unknown path."""
    if not secret:
        raise NotFound("not found")
    return secret


def same(given: str | None, expected: str) -> None:
    """A shared secret or token, compared in constant time (as bytes: any header is refused, never a 500)."""
    if given is None or not hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode()):
        raise Unauthorized("bad or missing credentials", where="credentials")


@dataclass(frozen=True)
class Rendered:
    out: RenderOut
    created: bool

    def flat(self, *, status: bool = True) -> dict[str, Any]:
        """The answer as flat ASCII keys (what response mappings and Liquid read); without the
        status, the same however often it is asked for."""
        o = self.out
        urls = {name: getattr(o, name) for name in (*URL_FIELDS, *EMAIL_FIELDS)}
        return {"render_id": o.render_id, **({"status": o.status} if status else {}), **urls,
                "ignored_fields": o.ignored_fields or [], "defaulted_inputs": o.defaulted_inputs or []}  # fmt: skip


def external(value: object, where: str) -> str | None:
    """The recipient's id as the tool sent it (`where` names the tool's field): a string of at
    most MAX_ID characters, refused when longer (cut, two recipients could share a render)."""
    if value is None:
        return None
    text = str(value)
    if len(text) > MAX_ID:
        raise InvalidInput(f"is {len(text)} characters long; at most {MAX_ID} are taken", where=where)
    return ids.check(text, where)


def by_meaning(tool: str, who: Sequence[object], fields: Mapping[str, Any]) -> tuple[str, bytes]:
    """The request id and body of a call known by what it means, not by its bytes (a tool that
    signs each retry anew, or replays a call): the same recipient and context (`who`) with the
    same fields is the same render; other fields are another. The id is a hash (no personal value
    in it, and of a fixed length)."""
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str).encode()
    digest = hashlib.sha256(json.dumps([[str(w) for w in who], fields], sort_keys=True, default=str).encode())
    return f"{tool}:{digest.hexdigest()}", canonical


def render(
    request: Request, tool: Tool, fields: Mapping[str, Any], *, external_id: str | None, request_id: str | None,
    body: bytes, priority: str = "interactive",
) -> Rendered:  # fmt: skip
    """Accept a render for the tool's fields (`template_id` among them). `request_id` is the tool's
    own id for this request (HubSpot's callbackId, or `by_meaning`'s): the same id with the same
    body is the same render, however often the tool calls."""
    rt = request.app.state.rt
    fields = dict(fields)
    template_id = fields.pop(TEMPLATE_FIELD, None)
    if not isinstance(template_id, str) or not template_id:
        raise InvalidInput("a field `template_id` naming the template is required", where=TEMPLATE_FIELD)
    ids.check(template_id, TEMPLATE_FIELD)
    ids.check(external_id, "external_id")
    ids.check(request_id, "request_id")
    rt.check_space()
    fitted = renders.fit(rt.registry, template_id, None, tool, fields)
    claims = [Claim(tool, _key(request_id), hashlib.sha256(body).hexdigest())] if request_id else []
    accepted = renders.accept(rt.db, rt.registry, template_id, fitted.data, external_id=external_id, claims=claims,
                              priority=priority)  # fmt: skip
    enqueue(request, accepted)
    return Rendered(render_out(request, accepted.record, fitted=fitted), accepted.created)


def _key(request_id: str) -> str:
    """The claim's key: the tool's id, or a hash of it when longer than a key holds (never cut:
    two requests sharing a prefix would share a render)."""
    return request_id if len(request_id) <= MAX_ID else f"sha256:{hashlib.sha256(request_id.encode()).hexdigest()}"


def public_url(request: Request) -> str:
    """The URL the tool called, as it sees it (behind a proxy: VIDMERGE_PUBLIC_BASE_URL)."""
    query = request.url.query
    return f"{request.app.state.rt.settings.base_url}{request.url.path}" + (f"?{query}" if query else "")
