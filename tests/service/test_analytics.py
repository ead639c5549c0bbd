"""The page converts and says what happened: the call to action, the player's beacons, the
figures, and what bots and email clients' image fetches do not count as.

The browser test plays the demo's page in Debian's chromium: to the end, a seek, a replay, a
pause and the call to action, then reads the stored figures.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
from support.browser import launch, until
from support.server import Api

from vidmerge.errors import InvalidInput
from vidmerge.service import analytics, renders
from vidmerge.service.http.analytics import BEACONS_PER_MINUTE
from vidmerge.service.http.page import landing_page
from vidmerge.template.manifest import Cta, Page

BROWSER_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
PREVIEW_UA = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"
PROXY_UA = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
CTA_URL = "https://example.com/plans?customer="


@pytest.fixture
def api(demo_api: Api) -> Api:
    return demo_api


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The service tests' chromium, a phone by its user agent everywhere: a context's user agent
    is not on a beacon sent as the page goes, which would carry HeadlessChrome's (a bot's)."""
    yield from launch(tmp_path_factory.mktemp("viewer"), [f"--user-agent={BROWSER_UA}"])


def render(api: Api) -> tuple[dict[str, Any], str]:
    external_id = f"顧客/{uuid.uuid4().hex[:6]}&x"  # a slash and an ampersand: percent-encoded in the CTA
    body = {"template_id": "electricity-savings", "data": {"name": f"分析 {uuid.uuid4().hex[:6]}"},
            "external_id": external_id}  # fmt: skip
    response = api.post_render(body)
    assert response.status_code == 202, response.text
    r = dict(response.json())
    return r, urlsplit(r["page_url"]).path.rsplit("/", 1)[1]


def figures(api: Api, render_id: str) -> dict[str, Any]:
    """The render's figures: without a group, one row, the total."""
    (row,) = api.client.get("/v1/analytics", params={"render_id": render_id}).json()["rows"]
    return dict(row)


def beacon(api: Api, token: str, body: object, ua: str = BROWSER_UA) -> httpx.Response:
    return api.client.post(f"/v/{token}/events", content=json.dumps(body), headers={"user-agent": ua})


# -- the page and its call to action --------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("javascript:alert(1)", "absolute http(s) URL"),
        ("https://{external_id}.example.com/", "the host is the template's"),
        ("https://example.com/?n={name}", "placeholders may be"),
        ("https://example.com/?x={external_id", "placeholders may be"),
    ],
)
def test_a_call_to_action_leads_to_the_templates_host_only(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        Cta(label="申し込む", url=url)
    cta = Cta(label="申し込む", url="https://example.com/a/{external_id}?c={campaign_id}")
    assert (
        cta.target({"external_id": "../x?y=1&z", "campaign_id": None}) == "https://example.com/a/..%2Fx%3Fy%3D1%26z?c="
    )


def test_the_page_has_the_brand_the_call_to_action_an_end_card_and_a_plain_file_link() -> None:
    page = Page(title="ご案内", lang="en", brand_color="#0b2a6f", logo="assets/logo.png",
                cta=Cta(label="Apply <now>", url="https://example.com/"))  # fmt: skip
    html = landing_page("TOKEN", "queued", page)
    assert '<html lang="en">' in html and "<title>ご案内</title>" in html and "#0b2a6f" in html
    assert html.count('<a class="cta" href="TOKEN/go">Apply &lt;now&gt;</a>') == 2  # under the video, on the end card
    assert '<div id="end" hidden><button id="replay" type="button">Watch again</button>' in html
    assert '<a class="file" href="TOKEN/video.mp4">Open the video file</a>' in html  # works without JavaScript
    assert '<img src="TOKEN/logo" alt="">' in html and 'data-events="TOKEN/events"' in html
    plain = landing_page("TOKEN", "queued", Page())
    assert "TOKEN/go" not in plain and "<header>" not in plain and '<html lang="ja">' in plain


def test_the_call_to_action_is_counted_and_leads_to_the_templates_url(api: Api) -> None:
    r, token = render(api)
    for ua in (BROWSER_UA, PREVIEW_UA):
        go = api.client.get(f"/v/{token}/go", params={"s": "s" * 16}, headers={"user-agent": ua})
        assert go.status_code == 302 and go.headers["location"] == CTA_URL + quote(r["external_id"], safe="")
        assert go.headers["referrer-policy"] == "no-referrer"
    assert figures(api, r["render_id"])["cta_clicks"] == 1  # the bot's is not a click
    assert api.client.get("/v/unknown-token/go").status_code == 404


# -- beacons --------------------------------------------------------------------------------------


def test_beacons_are_checked_bounded_and_once_per_session(api: Api) -> None:
    r, token = render(api)
    session = uuid.uuid4().hex
    events = [{"type": "play"}, {"type": "progress", "milestone": 25}, {"type": "ttff", "value": 812},
              {"type": "stall", "value": 1.5}, {"type": "pause"}]  # fmt: skip
    assert beacon(api, token, {"session": session, "events": events}).status_code == 204
    assert beacon(api, token, {"session": session, "events": events}).status_code == 204  # sent twice
    got = figures(api, r["render_id"])
    assert (got["views"], got["funnel"]["25"], got["pauses"], got["stalls"], got["stall_seconds"]) == (1, 1, 2, 2, 3.0)
    assert got["ttff_ms_p50"] == 812.0 and got["stall_rate"] == 1.0

    bad = [
        ({"session": "x", "events": events}, "session"),
        ({"session": session, "events": []}, "events"),
        ({"session": session, "events": [{"type": "purchase"}]}, "events[0].type"),
        ({"session": session, "events": [{"type": "progress", "milestone": 33}]}, "events[0].milestone"),
        ({"session": session, "events": [{"type": "ttff", "value": 1e12}]}, "events[0].value"),
        ({"session": session, "events": [{"type": "play"}] * 33}, "events"),
    ]
    for body, where in bad:
        answer = beacon(api, token, body)
        assert answer.status_code == 422 and answer.json()["problems"][0]["where"] == where, (body, answer.text)
    huge = api.client.post(f"/v/{token}/events", content=b"{" + b" " * 9000 + b"}", headers={"user-agent": BROWSER_UA})
    assert huge.status_code == 413
    assert beacon(api, "unknown-token", {"session": session, "events": events}).status_code == 404


def test_a_viewer_who_gave_up_while_waiting_is_counted_beside_the_stall_rate(api: Api) -> None:
    """Three page sessions: one stalls and plays on, one leaves in a stall (sent twice: counted
    once), one leaves before its first frame (no view, so the rate is per session)."""
    r, token = render(api)
    sessions = [
        [{"type": "play"}, {"type": "stall", "value": 1.5}],
        [{"type": "play"}, {"type": "gave_up", "value": 4.25, "detail": "stall"}],
        [{"type": "gave_up", "value": 2, "detail": "start"}],
    ]
    for events in sessions:
        body = {"session": uuid.uuid4().hex, "events": events}
        assert beacon(api, token, body).status_code == 204
        assert beacon(api, token, body).status_code == 204  # sent twice (visibilitychange, then pagehide)
    got = figures(api, r["render_id"])
    assert (got["views"], got["sessions"], got["stall_rate"], got["gave_up"], got["gave_up_rate"]) == (
        2, 3, 0.5, 2, 0.6667)  # fmt: skip
    by_render = api.client.get("/v1/analytics", params={"template_id": "electricity-savings", "group": "render"})
    mine = next(row for row in by_render.json()["rows"] if row["render"] == r["render_id"])
    assert (mine["gave_up"], mine["gave_up_rate"]) == (2, 0.6667)
    text = api.client.get("/v1/analytics", params={"render_id": r["render_id"]}, headers={"accept": "text/csv"})
    (line,) = csv.DictReader(io.StringIO(text.text))
    assert (line["stall_rate"], line["gave_up"], line["gave_up_rate"]) == ("0.5", "2", "0.6667")
    console = api.client.get("/console/analytics", params={"template_id": "electricity-savings"})
    total = api.client.get("/v1/analytics", params={"template_id": "electricity-savings"}).json()["rows"][0]
    shown = f'<dd id="f-gave-up">{total["gave_up"]} ({100 * total["gave_up_rate"]:.0f}%)</dd>'
    assert console.status_code == 200 and shown in console.text, console.text


def test_a_gave_up_beacon_is_refused_naming_its_bad_field(api: Api) -> None:
    r, token = render(api)
    bad: list[tuple[dict[str, Any], str]] = [
        ({"value": -1, "detail": "stall"}, "value"),
        ({"value": 1e12, "detail": "stall"}, "value"),
        ({"value": 3600.5, "detail": "stall"}, "value"),
        ({"value": "5", "detail": "stall"}, "value"),
        ({"value": True, "detail": "stall"}, "value"),
        ({"detail": "stall"}, "value"),
        ({"value": 5}, "detail"),
        ({"value": 5, "detail": "stall" * 20}, "detail"),
        ({"value": 5, "detail": "seek"}, "detail"),
        ({"value": 5, "detail": 1}, "detail"),
    ]
    for event, where in bad:
        body = {"session": uuid.uuid4().hex, "events": [{"type": "play"}, {"type": "gave_up", **event}]}
        answer = beacon(api, token, body)
        assert answer.status_code == 422, (event, answer.text)
        assert answer.json()["problems"][0]["where"] == f"events[1].{where}", (event, answer.text)
    assert figures(api, r["render_id"])["sessions"] == 0  # nothing of those beacons was stored


def test_a_flood_of_beacons_is_cut_off(api: Api) -> None:
    _, token = render(api)
    body = {"session": uuid.uuid4().hex, "events": [{"type": "pause"}]}
    answers = [beacon(api, token, body).status_code for _ in range(BEACONS_PER_MINUTE + 5)]
    assert answers.count(204) == BEACONS_PER_MINUTE and answers[-1] == 429


def test_bots_previews_and_email_image_fetches_are_impressions_never_views(api: Api) -> None:
    r, token = render(api)
    api.client.get(f"/v/{token}", headers={"user-agent": PREVIEW_UA})
    api.client.get(f"/v/{token}/poster.jpg", headers={"user-agent": PROXY_UA})
    api.client.get(f"/v/{token}/email.gif", headers={"user-agent": PROXY_UA})
    bot_beacon = {"session": uuid.uuid4().hex, "events": [{"type": "play"}]}
    assert beacon(api, token, bot_beacon, ua=PREVIEW_UA).status_code == 204  # dropped quietly
    got = figures(api, r["render_id"])
    assert (got["impressions"], got["views"], got["sessions"]) == (3, 0, 0)


def test_bot_user_agents() -> None:
    for ua in (PREVIEW_UA, PROXY_UA, "facebookexternalhit/1.1", "Twitterbot/1.0", "Line/11.0 LinePreview",
               "Mozilla/5.0 (compatible; Discordbot/2.0)", "WhatsApp/2.23", "curl/8.0", None, ""):  # fmt: skip
        assert analytics.is_bot(ua), ua
    assert not analytics.is_bot(BROWSER_UA)
    assert not analytics.is_bot("Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36")


# -- figures --------------------------------------------------------------------------------------


def test_figures_by_group_in_json_and_csv_and_erasure_takes_the_events(api: Api) -> None:
    r, token = render(api)
    for n in range(2):
        body = {"session": uuid.uuid4().hex, "events": [{"type": "play"}, {"type": "ttff", "value": 100 * (n + 1)}]}
        assert beacon(api, token, body).status_code == 204
    answer = api.client.get("/v1/analytics", params={"template_id": "electricity-savings", "group": "render"}).json()
    mine = next(row for row in answer["rows"] if row["render"] == r["render_id"])
    assert (mine["views"], mine["sessions"], mine["ttff_ms_p50"], mine["ttff_ms_p95"]) == (2, 2, 150.0, 195.0)
    text = api.client.get("/v1/analytics", params={"render_id": r["render_id"], "group": "day"},
                          headers={"accept": "text/csv"})  # fmt: skip
    assert text.headers["content-type"] == "text/csv; charset=utf-8"
    lines = list(csv.DictReader(io.StringIO(text.text)))
    assert len(lines) == 1 and lines[0]["views"] == "2" and lines[0]["day"] == time.strftime("%Y-%m-%d", time.gmtime())
    later = api.client.get("/v1/analytics", params={"render_id": r["render_id"], "from": "2999-01-01"}).json()
    assert [(row["views"], row["sessions"], row["ttff_ms_p50"]) for row in later["rows"]] == [(0, 0, None)]  # in all
    bad = api.client.get("/v1/analytics", params={"from": "yesterday"})
    assert bad.status_code == 422 and bad.json()["problems"][0]["where"] == "from"

    assert api.client.delete(f"/v1/renders/{r['render_id']}").status_code == 204
    gone = figures(api, r["render_id"])
    assert (gone["impressions"], gone["views"], gone["sessions"]) == (0, 0, 0)


def test_a_render_takes_a_bounded_number_of_events(monkeypatch: pytest.MonkeyPatch, small_runtime: Any) -> None:
    db = small_runtime.db
    record = renders.accept(db, small_runtime.registry, "small", {"name": "上限"}).record
    monkeypatch.setattr(analytics, "MAX_EVENTS_PER_RENDER", 5)
    for _ in range(3):
        analytics.record(db, record, analytics.Beacon(uuid.uuid4().hex, [{"type": "pause"}, {"type": "pause"}]))
    assert db.events.count(record.id) == 5
    with pytest.raises(InvalidInput):
        analytics.parse_beacon({"session": "ok" * 5, "events": [{"type": "stall", "value": True}]})


# -- in a real browser ----------------------------------------------------------------------------


def test_a_played_page_reports_exactly_what_the_viewer_did(api: Api, browser: Any) -> None:
    """To the end (a seek on the way), a replay, a pause, then the call to action."""
    r, token = render(api)
    api.wait_done(r["render_id"])  # played fast: every segment must be there
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, user_agent=BROWSER_UA)
    page = context.new_page()
    requested: list[str] = []  # every request the page made (the CTA's destination does not resolve here)
    page.on("request", lambda request: requested.append(request.url))
    # (where the CTA went, from where): it fails to resolve here. Not a segment the page was
    # fetching ahead when it went (the ladder's lower renditions are made as they are asked for)
    landed: list[tuple[str, str]] = []
    page.on("requestfailed", lambda r: r.redirected_from and landed.append((r.url, r.redirected_from.url)))
    try:
        page.goto(r["page_url"])
        until(page, "window.vidmergeStats && window.vidmergeStats.started_at !== null", 20)
        page.evaluate("() => { const v = document.getElementById('v'); v.playbackRate = 4; }")
        until(page, "document.getElementById('v').currentTime > 3", 20)
        page.evaluate("() => { const v = document.getElementById('v'); v.currentTime = v.duration * 0.8; }")
        until(page, "document.getElementById('v').ended", 30)
        assert page.is_visible("#end") and page.is_visible("#end a.cta")
        page.click("#replay")
        until(page, "!document.getElementById('v').paused && document.getElementById('v').currentTime > 1", 20)
        assert not page.is_visible("#end")
        page.evaluate("() => document.getElementById('v').pause()")
        sent = page.evaluate("() => window.vidmergeStats.beacons.map(e => e.type + (e.milestone || ''))")
        page_requests = list(requested)
        page.click(".actions a.cta", no_wait_after=True)
        for _ in range(200):  # Playwright hands events over while the page is waited on
            if landed:
                break
            page.wait_for_timeout(50)
    finally:
        context.close()
    go = f"{r['page_url']}/go?s="
    assert landed[0][0] == CTA_URL + quote(r["external_id"], safe="") and landed[0][1].startswith(go), landed
    assert sorted(sent) == sorted(["ttff", "play", "progress25", "progress50", "progress75", "progress95",
                                   "progress100", "replay", "pause"]), sent  # fmt: skip
    assert all(u.startswith((api.url, "blob:", "data:")) for u in page_requests), page_requests  # no third party
    deadline = time.monotonic() + 10
    while (got := figures(api, r["render_id"])).get("pauses") != 1 and time.monotonic() < deadline:
        time.sleep(0.2)  # the last beacon leaves as the page goes
    assert got["views"] == 1 and got["sessions"] == 1
    assert got["funnel"] == {"25": 1, "50": 1, "75": 1, "95": 1, "100": 1} and got["completion_rate"] == 1.0
    assert (got["replays"], got["pauses"], got["cta_clicks"], got["cta_rate"], got["errors"]) == (1, 1, 1, 1.0, 0)
    assert got["impressions"] == 1 and got["ttff_ms_p50"] is not None


HIDE = """() => {  // headless chromium never hides a page: the event a phone's tab switch fires
  Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true});
  document.dispatchEvent(new Event('visibilitychange'));
}"""


@pytest.mark.parametrize("waiting_for", ["start", "stall"])
def test_a_viewer_who_leaves_while_the_player_waits_is_reported(api: Api, browser: Any, waiting_for: str) -> None:
    """The segments from the first (`start`) or the third (`stall`) on are held back, never
    answered; once the player has waited a second the viewer leaves: in a stall the page is first
    hidden (simulated, see HIDE), then navigated away; before the first frame it is navigated away.
    One `gave_up` arrives either way."""
    r, token = render(api)
    api.wait_done(r["render_id"])  # what is not held back comes at once
    held = re.compile(r"/seg/\d+\.ts$" if waiting_for == "start" else r"/seg/([2-9]|\d\d+)\.ts$")
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, user_agent=BROWSER_UA)
    page = context.new_page()
    page.route(held, lambda route: None)  # never answered: the player waits
    try:
        page.goto(r["page_url"])
        if waiting_for == "start":
            until(page, "window.vidmergeStats && !document.getElementById('v').paused", 20)
        else:
            until(page, "window.vidmergeStats && window.vidmergeStats.waiting > 0", 30)
        page.wait_for_timeout(1000)
        if waiting_for == "stall":
            page.evaluate(HIDE)
        page.goto("about:blank")
        deadline = time.monotonic() + 10
        while (got := figures(api, r["render_id"]))["gave_up"] != 1 and time.monotonic() < deadline:
            page.wait_for_timeout(200)  # the beacon leaves as the page goes
    finally:
        context.close()
    assert (got["gave_up"], got["gave_up_rate"], got["views"]) == (1, 1.0, 0 if waiting_for == "start" else 1), got
    with closing(sqlite3.connect(f"file:{api.data / 'vidmerge.db'}?mode=ro", uri=True)) as db:
        stored = db.execute("SELECT detail, value FROM events WHERE render_id = ? AND type = 'gave_up'",
                            (r["render_id"],)).fetchall()  # fmt: skip
    ((detail, waited),) = stored  # Playwright does not see a beacon sent as the page goes: the server's copy
    assert detail == waiting_for and 1 <= waited < 60, stored
