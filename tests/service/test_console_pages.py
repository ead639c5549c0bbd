"""The console's pages as rendered from their records (no server): what a version being prepared
shows, and the switch offered when another version of its template is active."""

from __future__ import annotations

from typing import Any

from vidmerge.records import TemplateRecord
from vidmerge.service.http.console import PAGES, _actives
from vidmerge.service.http.console.words import WORDS


def render(name: str, **context: Any) -> str:
    common = {"t": WORDS["ja"], "lang": "ja", "csrf": "c", "signed_in": True, "open_server": False,
              "path": "/console/templates", "problems": []}  # fmt: skip
    return PAGES.get_template(name).render(**common, **context)


def version(number: int, status: str = "ready", state: str = "active", **manifest: Any) -> TemplateRecord:
    return TemplateRecord(id="demo", version=number, status=status, state=state, manifest=manifest)


def test_a_version_being_prepared_shows_its_progress_and_a_link() -> None:
    versions = [version(1), version(2, "preparing", progress={"segments": 3, "of": 14})]
    html = render("templates.html", versions=versions, preparing=True, actives=_actives(versions))
    row = html[html.index('id="v-demo-2"') :]
    assert '<a href="/console/templates/demo/2">開く</a>' in row
    assert '<progress max="14" value="3"' in row and "3 / 14 セグメント" in row
    first = render("templates.html", versions=[version(1, "preparing")], preparing=True, actives={})
    assert '<progress aria-label="準備中">' in first  # before the first segment: under way, no figure yet
    page = render("preparing.html", record=versions[1])
    assert 'data-refresh="2"' in page and "3 / 14 セグメント" in page


def test_a_ready_version_beside_an_active_one_is_switched_to_not_activated() -> None:
    versions = [version(1), version(2, state="inactive")]
    html = render("templates.html", versions=versions, preparing=False, actives=_actives(versions))
    row = html[html.index('id="v-demo-2"') :]
    assert 'action="/console/templates/demo/2/switch"' in row and "v1 から v2 に切り替える" in row
    assert "/demo/2/activate" not in row
    alone = render("templates.html", versions=versions[1:], preparing=False, actives={})
    assert "/demo/2/activate" in alone and "/switch" not in alone
