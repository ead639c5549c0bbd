"""Journey Builder's configuration page of the vidmerge activity: `index.html` at the activity's
endpoint, which the canvas opens in an iframe. The marketer picks an active template and maps each
of its inputs to the journey's data ({{Contact.Attribute.…}}, {{Event.…}}); the page's script
(static/sfmc-activity.js, on the vendored static/postmonger.js) hands that back to Journey Builder
as the activity's `inArguments`.

Like `config.json`, the page is public (Journey Builder's iframe carries no credential of ours): it
shows the active templates' ids, titles and input names, never a customer's data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from vidmerge.records import TemplateRecord

PAGES = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape())
ICON = "/static/sfmc-icon.svg"
# Journey Builder runs on Marketing Cloud's hosts: only they (and we) may frame the page
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'self' https://*.exacttarget.com "
    "https://*.marketingcloudapps.com"
)


def pickable(versions: list[TemplateRecord]) -> list[dict[str, Any]]:
    """The newest ready and active version of each template, with its inputs (what renders get
    when no version is named, as the activity's are)."""
    newest: dict[str, TemplateRecord] = {}
    for v in versions:
        if v.status == "ready" and v.state == "active" and v.version >= getattr(newest.get(v.id), "version", 0):
            newest[v.id] = v
    return [
        {"id": v.id, "version": v.version, "title": v.manifest.get("title") or v.id,
         "inputs": [{k: f.get(k) for k in ("name", "required", "description")} for f in v.manifest.get("inputs", [])]}
        for v in newest.values()
    ]  # fmt: skip


def page(versions: list[TemplateRecord]) -> HTMLResponse:
    listed = pickable(versions)
    html = PAGES.get_template("sfmc.html").render(templates=listed, data=json.dumps(listed, ensure_ascii=False))
    return HTMLResponse(html, headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store",
                                       "Referrer-Policy": "no-referrer"})  # fmt: skip
