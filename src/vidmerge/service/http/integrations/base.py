"""What every MA tool's adapter shares: its secret, its render (fitted to the template's inputs,
idempotent per the tool's own request id) and the URLs it answers with."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from vidmerge.errors import InvalidInput, NotFound, Unauthorized
from vidmerge.records import Claim
from vidmerge.service import ids, renders
from vidmerge.service.http.api import RenderOut, enqueue, render_out
from vidmerge.template.manifest import Tool

TEMPLATE_FIELD = "template_id"  # the tool field that chooses the template
URL_FIELDS = ("page_url", "hls_url", "mp4_url", "poster_url", "gif_url")


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
        urls = {name: getattr(o, name) for name in URL_FIELDS}
        return {"render_id": o.render_id, **({"status": o.status} if status else {}), **urls,
                "ignored_fields": o.ignored_fields or [], "defaulted_inputs": o.defaulted_inputs or []}  # fmt: skip


def render(
    request: Request, tool: Tool, fields: Mapping[str, Any], *, external_id: str | None, request_id: str | None,
    body: bytes, priority: str = "interactive",
) -> Rendered:  # fmt: skip
    """Accept a render for the tool's fields (`template_id` among them). `request_id` is the tool's
    own id for this request (HubSpot's callbackId, a recipient and activity): the same id with the
    same body is the same render, however often the tool calls."""
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
    claims = [Claim(tool, request_id[:255], hashlib.sha256(body).hexdigest())] if request_id else []
    accepted = renders.accept(rt.db, rt.registry, template_id, fitted.data, external_id=external_id, claims=claims,
                              priority=priority)  # fmt: skip
    enqueue(request, accepted)
    return Rendered(render_out(request, accepted.record, fitted=fitted), accepted.created)


def public_url(request: Request) -> str:
    """The URL the tool called, as it sees it (behind a proxy: VIDMERGE_PUBLIC_BASE_URL)."""
    query = request.url.query
    return f"{request.app.state.rt.settings.base_url}{request.url.path}" + (f"?{query}" if query else "")
