"""The marketer's console in Debian's chromium: sign in, upload the demo and watch it become
ready, its storyboard (boxes on the right frames), the edge-case matrix (every picture loads, a
case to look at is flagged), a preview video rendered and played. Screenshots of each page are
saved under test-artifacts/console/.

Also: no session, no page (to sign in instead); a form without its CSRF token is refused; the
console asks nothing of another origin.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.browser import until
from support.server import ROOT, Api

pytestmark = pytest.mark.slow

KEY = "console-test-key"
SHOTS = ROOT / "test-artifacts" / "console"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    server = Api(tmp_path_factory.mktemp("console"), {"VIDMERGE_API_KEYS": KEY})
    server.client.headers["Authorization"] = f"Bearer {KEY}"
    server.start()
    yield server
    server.stop()


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(client: httpx.Client, key: str, **form: str) -> httpx.Response:
    """As the sign-in form does: its CSRF token (and the cookie it is bound to) first."""
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/console/login").text)
    assert token is not None
    return client.post("/console/login", data={"api_key": key, "csrf": token[1], **form})


def test_pages_need_a_session_and_forms_their_csrf_token(api: Api) -> None:
    anonymous = httpx.Client(base_url=api.url, timeout=30)
    for path in ("/console/", "/console/templates", "/console/templates/x/1/edges"):
        answer = anonymous.get(path)
        assert answer.status_code == 303 and answer.headers["location"] == f"/console/login?next={path}", path
    assert sign_in(anonymous, "wrong").status_code == 401
    signed = sign_in(anonymous, KEY, next="https://evil.example/")
    assert signed.status_code == 303 and signed.headers["location"] == "/console/"  # never elsewhere
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    page = anonymous.get("/console/templates")
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    refused = anonymous.post("/console/templates/x/1/deactivate", data={})
    assert refused.status_code == 401 and refused.json()["problems"][0]["where"] == "csrf"
    forged = anonymous.post("/console/templates/x/1/deactivate", data={"csrf": "forged"})
    assert forged.status_code == 401


def test_a_sign_in_without_its_forms_csrf_token_is_refused(api: Api) -> None:
    """The sign-in form's token is bound to a cookie of its own (double submit) and signed: a
    sign-in posted from elsewhere, or with another browser's token, does not sign in."""
    client = httpx.Client(base_url=api.url, timeout=30)
    bare = client.post("/console/login", data={"api_key": KEY})
    assert bare.status_code == 401 and "vidmerge_console" not in bare.headers.get("set-cookie", "")
    assert 'id="api_key_error"' in bare.text and "CSRF" in bare.text
    other = httpx.Client(base_url=api.url, timeout=30)
    token = re.search(r'name="csrf" value="([^"]+)"', other.get("/console/login").text)
    assert token is not None
    stolen = client.post("/console/login", data={"api_key": KEY, "csrf": token[1]})  # not this browser's seed
    assert stolen.status_code == 401
    assert client.post("/console/login", data={"api_key": KEY, "csrf": "é"}).status_code == 401
    assert sign_in(client, KEY).status_code == 303


def test_signing_out_ends_the_session_for_every_copy_of_its_cookie(api: Api) -> None:
    client = httpx.Client(base_url=api.url, timeout=30)
    assert sign_in(client, KEY).status_code == 303
    copied = client.cookies.get("vidmerge_console")
    assert copied and client.get("/console/templates").status_code == 200
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/console/templates").text)
    assert csrf is not None
    assert client.post("/console/logout", data={"csrf": csrf[1]}).status_code == 303
    thief = httpx.Client(base_url=api.url, timeout=30, cookies={"vidmerge_console": copied})
    answer = thief.get("/console/templates")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/console/login")


def test_failed_sign_ins_are_throttled_per_address_without_naming_the_key(api: Api) -> None:
    """Ten wrong keys from one address: the next sign-in from it is 429 with Retry-After, even
    with the right key; another address signs in. The log names neither key nor address."""
    attacker = httpx.Client(base_url=api.url, timeout=30, headers={"X-Forwarded-For": "198.51.100.23"})
    for i in range(10):
        assert sign_in(attacker, f"guess-{i}-wrong").status_code == 401, i
    throttled = sign_in(attacker, KEY)
    assert throttled.status_code == 429 and "vidmerge_console" not in throttled.headers.get("set-cookie", "")
    assert 0 < int(throttled.headers["retry-after"]) <= 900
    assert 'id="api_key_error"' in throttled.text
    other = httpx.Client(base_url=api.url, timeout=30, headers={"X-Forwarded-For": "203.0.113.9"})
    assert sign_in(other, KEY).status_code == 303
    log = api.log_path.read_text(encoding="utf-8", errors="replace")
    assert "console sign-in throttled" in log
    for secret in ("guess-", KEY, "198.51.100.23"):
        assert secret not in log, secret


def test_a_marketer_uploads_previews_plays_runs_a_campaign_and_reads_the_figures(
    api: Api, browser: Any, demo_zip: Path, tmp_path: Path
) -> None:
    # a marketer's browser (a headless one's own user agent is a bot's: its plays would not count)
    chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
    context = browser.new_context(viewport={"width": 1280, "height": 900}, user_agent=chrome)
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    try:
        page.goto(f"{api.url}/console/")
        assert page.url.startswith(f"{api.url}/console/login")
        shot(page, "1-sign-in")
        page.fill("#api_key", KEY)
        page.click("button[type=submit]")
        page.wait_for_url(f"{api.url}/console/templates")

        page.set_input_files("#file", str(demo_zip))
        page.click("#upload button[type=submit]")
        row = "#v-electricity-savings-1"
        until(page, f"document.querySelector('{row} .status-ready')", 180)  # the list reloads while preparing
        shot(page, "2-templates")

        page.click(f"{row} a")
        page.wait_for_url(f"{api.url}/console/templates/electricity-savings/1")
        until(page, "[...document.querySelectorAll('.storyboard img')].every(i => i.complete && i.naturalWidth)", 60)
        boxes = page.evaluate("() => [...document.querySelectorAll('.panel')].map(p => "
                              "[...p.querySelectorAll('.box')].map(b => b.dataset.slot))")  # fmt: skip
        assert boxes[0] == [] and boxes[1] == ["greeting"] and "savings" in boxes[6], boxes
        left = page.eval_on_selector("#panel-1 .box", "b => b.style.left")
        assert left == "10.94%"  # the greeting's box: x 140 of 1280
        until(page, "[...document.querySelectorAll('.slots img')].every(i => i.complete && i.naturalWidth)", 60)
        shot(page, "3-template")

        page.click("a[href$='/edges']")
        page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")  # the pictures load lazily, as read
        until(page, "[...document.querySelectorAll('.matrix img')].every(i => i.complete && i.naturalWidth)", 120)
        flagged = page.evaluate("() => [...document.querySelectorAll('tr.flagged th')].map(t => t.dataset.case)")
        assert "longest" in flagged, flagged
        assert page.text_content("tr.flagged th[data-case=longest]") == "name: 最長（全角 40 文字）"
        assert page.text_content("tr.flagged li[data-flag=lines]") == "greeting: 2 行に折り返しています"
        shot(page, "4-edge-cases")

        page.go_back()
        page.fill("#in-name", "コンソール 確認")
        page.click("button[formaction$='/render']")
        until(page, "document.getElementById('preview-video') && !document.getElementById('preview-video').hidden", 180)
        page.evaluate("() => { const v = document.getElementById('preview-video'); v.muted = true; v.play(); }")
        until(page, "document.getElementById('preview-video').currentTime > 1", 30)
        shot(page, "5-preview-video")

        run_campaign(page, api, tmp_path)
    finally:
        context.close()
    foreign = [u for u in requested if not u.startswith((api.url, "data:", "blob:"))]
    assert not foreign, foreign


def run_campaign(page: Any, api: Api, tmp_path: Path) -> None:
    """20 customers in a Shift_JIS CSV whose columns are mapped in the page, run to 100 %, the
    results downloaded; then one of the videos watched, and the figures read."""
    rows = ["顧客ID,氏名,月間使用量"] + [f"k-{n:02d},顧客 {n},{300 + 7 * n}" for n in range(20)]
    source = tmp_path / "顧客.csv"
    source.write_bytes(("\r\n".join(rows) + "\r\n").encode("cp932"))
    page.click("nav a[href='/console/campaigns']")
    page.select_option("#template_id", "electricity-savings/1")  # an option per version: `id/version`
    page.set_input_files("#csv", str(source))
    until(page, "document.querySelectorAll('#columns select').length === 3", 10)
    for n, target in enumerate(("external_id", "name", "monthly_kwh")):
        page.select_option(f"#col-{n}", target)
    shot(page, "6-campaign-upload")
    page.click("#campaign-upload button[type=submit]")
    page.wait_for_url(f"{api.url}/console/campaigns/*")
    assert page.text_content("#p-total") == "20"
    page.click("#start")
    # the page reloads itself: between two loads the element is not there yet
    until(page, "document.getElementById('progress')?.dataset.status === 'done'", 600)
    assert (page.text_content("#p-done"), page.text_content("#p-status")) == ("20", "完了")
    shot(page, "7-campaign-done")
    with page.expect_download() as download:
        page.click("#results")
    lines = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_bytes().decode("cp932"))))
    assert [(line["external_id"], line["status"]) for line in lines] == [(f"k-{n:02d}", "done") for n in range(20)]
    campaign_url = page.url

    page.goto(lines[0]["page_url"])
    until(page, "window.vidmergeStats && window.vidmergeStats.started_at !== null", 30)
    page.wait_for_timeout(1500)
    page.goto(campaign_url)
    page.click("a[href^='/console/analytics']")
    page.wait_for_url(f"{api.url}/console/analytics*")  # not the campaign's page, still there a moment
    until(page, "Number(document.getElementById('f-views')?.textContent) === 1", 20)
    bars = page.evaluate("() => document.querySelectorAll('#funnel rect').length")
    assert bars == 6
    shot(page, "8-analytics")


UNLABELLED = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
    .filter(c => !(c.labels && c.labels.length) && !c.getAttribute('aria-label')).map(c => c.outerHTML)"""


def test_refused_uploads_show_their_problems_and_previews_are_bounded(api: Api) -> None:
    """A bundle or a CSV the server refuses: the page lists each problem where it is. A preview's
    data is bounded and checked like a webhook's."""
    client = httpx.Client(base_url=api.url, timeout=60)
    sign_in(client, KEY)
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/console/templates").text)
    assert csrf is not None
    bundle = client.post("/console/templates", data={"csrf": csrf[1]},
                         files={"file": ("x.zip", b"not a zip", "application/zip")})  # fmt: skip
    assert bundle.status_code == 422 and 'id="upload_problems"' in bundle.text
    sheet = "氏名\r\n田中\r\n".encode("cp932")
    csv_answer = client.post("/console/campaigns", data={"csrf": csrf[1], "template_id": "electricity-savings"},
                             files={"file": ("c.csv", sheet, "text/csv")})  # fmt: skip
    assert csv_answer.status_code == 422 and "<code>file</code> no external_id column" in csv_answer.text
    slot = "/console/templates/electricity-savings/1/slots/greeting.jpg"
    assert client.get(slot, params={"data": '{"name": "短い"}'}).headers["content-type"] == "image/jpeg"
    assert client.get(slot, params={"data": "{" + " " * 5000 + "}"}).status_code == 404  # past 4 KiB: unread
    assert client.get(slot, params={"data": "[[["}).status_code == 422
    assert client.get(slot, params={"data": json.dumps({"name": "長" * 41})}).status_code == 422


def test_every_control_is_labelled_and_pages_fit_a_phone(api: Api, browser: Any) -> None:
    """On a phone-sized screen no page scrolls sideways, and every form control has a label (so
    screen readers and keyboards reach each one); the focus moves through them with Tab."""
    chrome = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, user_agent=chrome)
    page = context.new_page()
    try:
        page.goto(f"{api.url}/console/login")
        page.fill("#api_key", KEY)
        page.keyboard.press("Enter")
        page.wait_for_url(f"{api.url}/console/templates")
        paths = ["/console/templates", "/console/campaigns", "/console/analytics"]
        versions = api.client.get("/v1/templates").json()
        paths += [f"/console/templates/{v['id']}/{v['version']}" for v in versions if v["status"] == "ready"][:1]
        for path in paths:
            page.goto(f"{api.url}{path}")
            wide = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
            assert wide <= 0, (path, wide)
            unlabelled = page.evaluate(UNLABELLED)
            assert unlabelled == [], (path, unlabelled)
            page.keyboard.press("Tab")
            assert page.evaluate("() => document.activeElement && document.activeElement !== document.body"), path
        shot(page, "9-phone-analytics")
    finally:
        context.close()
