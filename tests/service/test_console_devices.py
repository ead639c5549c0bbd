"""The console on a laptop (1366×768) and a phone (390×844) in Debian's chromium: nothing cut off,
the texts right (seconds, rare-kanji customers, text too small on a phone); the campaign picker
makes the version picked and the console switches versions rather than keeping two active; the
landing page's "tap for sound" only on a touch screen; Journey Builder's configuration page
(SFMC) spoken to through Postmonger as the canvas would.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from support.browser import until
from support.server import DEMO, Api, zip_bundle

pytestmark = pytest.mark.slow

KEY = "console-devices-key"
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
PHONE = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"
LAPTOP = {"viewport": {"width": 1366, "height": 768}, "user_agent": CHROME}
HANDSET = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "user_agent": PHONE}
DEMO_ID = "electricity-savings"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, demo_zip: Path) -> Iterator[Api]:
    env = {"VIDMERGE_API_KEYS": KEY, "VIDMERGE_SFMC_JWT_SECRET": "sfmc-signing-secret-0123456789abcdef"}
    server = Api(tmp_path_factory.mktemp("console-devices"), env)
    server.client.headers["Authorization"] = f"Bearer {KEY}"
    server.start()
    server.post_template(demo_zip)
    yield server
    server.stop()


def signed_in(browser: Any, api: Api, device: dict[str, Any]) -> tuple[Any, Any]:
    context = browser.new_context(**device)
    page = context.new_page()
    page.goto(f"{api.url}/console/login")
    page.fill("#api_key", KEY)
    page.click("button[type=submit]")
    page.wait_for_url(f"{api.url}/console/templates")
    return context, page


def fits(page: Any, path: str) -> None:
    """The page scrolls no sideways, and neither is a table wider than its box left unscrollable."""
    wide = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    past = page.evaluate("""() => [...document.querySelectorAll('body *')].filter(e =>
        e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
        .map(e => e.outerHTML.slice(0, 80))""")
    assert wide <= 0, (path, wide, past[:5])
    cut = page.evaluate("""() => [...document.querySelectorAll('table')].filter(t =>
        t.scrollWidth > t.clientWidth && getComputedStyle(t).overflowX !== 'auto').map(t => t.className)""")
    assert cut == [], (path, cut)


def test_the_console_fits_a_laptop_and_a_phone_and_says_what_to_look_at(api: Api, browser: Any) -> None:
    render = api.post_render({"template_id": DEMO_ID, "data": {"name": "端末 確認"}}, **{"User-Agent": CHROME})
    token = render.json()["page_url"].rsplit("/", 1)[-1]
    beacon = {"session": "devices-0001", "events": [{"type": "play"}, {"type": "ttff", "value": 1234}]}
    answer = httpx.post(f"{api.url}/v/{token}/events", content=json.dumps(beacon), headers={"User-Agent": CHROME})
    assert answer.status_code == 204
    base = f"/console/templates/{DEMO_ID}/1"
    for device in (LAPTOP, HANDSET):
        context, page = signed_in(browser, api, device)
        try:
            for path in ("/console/templates", base, f"{base}/edges", "/console/campaigns", "/console/analytics"):
                page.goto(f"{api.url}{path}")
                fits(page, path)
            page.goto(f"{api.url}{base}/edges")
            if device is LAPTOP:  # the demo's six slots fit a laptop's width: nothing hides to the right
                assert page.evaluate("() => { const m = document.querySelector('.matrix'); "
                                     "return m.scrollWidth <= m.clientWidth; }")  # fmt: skip
            rare = page.evaluate("() => [...document.querySelectorAll('th[data-case=rare]')].map(t => t.textContent)")
            assert rare == ["name: 珍しい漢字「𠮷野」", "name: 珍しい漢字「髙橋」", "name: 珍しい漢字「山﨑」",
                            "name: 珍しい漢字「\ufa10本」"], rare  # fmt: skip
            page.goto(f"{api.url}{base}")
            small = page.evaluate("() => [...document.querySelectorAll('#small-text li')].map(l => l.dataset.slot)")
            assert small == ["deadline"], small  # 40 px of 1280: 12.2 px on a phone
            said = page.text_content("#small-text li[data-slot=deadline]")
            assert said == "deadline: スマホで 12.2 px（14 px 未満は読みにくい）"
            page.goto(f"{api.url}/console/analytics")
            assert page.text_content("#f-ttff") == "1.2 / 1.2 秒"
        finally:
            context.close()


def test_the_tap_for_sound_button_shows_on_a_touch_screen_only(api: Api, browser: Any) -> None:
    render = api.post_render({"template_id": DEMO_ID, "data": {"name": "音声 確認"}}, **{"User-Agent": CHROME})
    url = api.url + urlsplit(render.json()["page_url"]).path
    shown = {}
    for name, device in (("laptop", LAPTOP), ("phone", HANDSET)):
        context = browser.new_context(**device)
        page = context.new_page()
        try:
            page.goto(url)
            until(page, "window.vidmergeStats && window.vidmergeStats.started_at !== null", 60)
            shown[name] = page.evaluate("() => !document.getElementById('unmute').hidden")
        finally:
            context.close()
    assert shown == {"laptop": False, "phone": True}


def test_the_campaign_picker_makes_the_version_picked_and_the_console_switches_versions(
    api: Api, browser: Any, tmp_path: Path
) -> None:
    """v1 and v2 both active (as the API allows): the picker tells them apart and v1 makes a v1
    campaign, listed with the version in use now; "switch to v2" leaves one version active."""
    folder = shutil.copytree(DEMO, tmp_path / "v2")
    manifest = folder / "template.yaml"
    manifest.write_text(manifest.read_text(encoding="utf-8").replace("\nversion: 1\n", "\nversion: 2\n"), "utf-8")
    api.post_template(zip_bundle(folder, tmp_path / "v2.zip"))
    sheet = tmp_path / "customers.csv"
    sheet.write_text("external_id,name\nk-1,版 確認\n", encoding="utf-8")
    context, page = signed_in(browser, api, LAPTOP)
    try:
        page.goto(f"{api.url}/console/campaigns")
        options = page.evaluate("() => [...document.querySelectorAll('#template_id option')].map(o => o.value)")
        assert options == [f"{DEMO_ID}/1", f"{DEMO_ID}/2"], options
        page.select_option("#template_id", f"{DEMO_ID}/1")
        page.set_input_files("#csv", str(sheet))
        page.click("#campaign-upload button[type=submit]")
        page.wait_for_url(f"{api.url}/console/campaigns/*")
        assert f"{DEMO_ID} v1" in page.text_content("h1 small")
        page.goto(f"{api.url}/console/campaigns")
        assert page.text_content("td small.in-use") == "（いま使われているのは v2）"

        page.goto(f"{api.url}/console/templates/{DEMO_ID}/1")
        assert page.text_content("#newer").startswith("v2 が準備できています")
        page.goto(f"{api.url}/console/templates")
        switch = f"#v-{DEMO_ID}-2 form.switch button"
        assert page.text_content(switch) == "v1 から v2 に切り替える"
        page.click(switch)
        page.wait_for_url(f"{api.url}/console/templates/{DEMO_ID}/2")
        states = {v["version"]: v["state"] for v in api.client.get("/v1/templates").json() if v["id"] == DEMO_ID}
        assert states == {1: "inactive", 2: "active"}, states
    finally:
        context.close()


def test_journey_builder_configures_the_activity_through_postmonger(api: Api, browser: Any) -> None:
    """The page Journey Builder opens (here without its iframe: the page is its own parent, which
    Postmonger then talks to): `ready`, then `initActivity` with the activity as saved, the
    journey's fields as suggestions, and `updateActivity` with the template and mapping picked."""
    config = httpx.get(f"{api.url}/v1/integrations/sfmc/config.json").json()
    icon = httpx.get(api.url + urlsplit(config["metaData"]["icon"]).path)
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert config["userInterfaces"]["configModal"]["width"] > 0
    index = httpx.get(f"{api.url}/v1/integrations/sfmc/index.html")
    csp = index.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp and "https://*.exacttarget.com" in csp

    context = browser.new_context(**LAPTOP)
    page = context.new_page()
    page.add_init_script("""window.said = []; window.addEventListener('message', e => {
        try { window.said.push(JSON.parse(e.data)); } catch (x) {} });""")
    try:
        page.goto(f"{api.url}/v1/integrations/sfmc/index.html")
        until(page, "window.said.some(m => m.e === 'ready')", 10)
        saved = {"key": "REST-1", "arguments": {"execute": {"inArguments": [{"template_id": ""}]}}, "metaData": {}}
        post(page, {"e": "initActivity", "a1": saved})
        until(page, "window.said.some(m => m.e === 'requestSchema')", 10)
        schema = {"schema": [{"key": "Event.DEAudience-1.Name", "name": "Name", "type": "Text"}]}
        post(page, {"e": "requestedSchema", "a1": schema})
        until(page, "document.querySelectorAll('#bindings option').length === 1", 10)
        page.select_option("#template", DEMO_ID)
        labels = page.evaluate("() => [...document.querySelectorAll('#fields label')].map(l => l.textContent)")
        assert labels == ["name", "monthly_kwh", "amperage", "current_plan", "deadline"], labels
        page.fill("#map-name", "{{Event.DEAudience-1.Name}}")
        page.fill("#map-monthly_kwh", "{{Contact.Attribute.Usage.kWh}}")
        post(page, {"e": "clickedNext"})  # Journey Builder's Done button
        until(page, "window.said.some(m => m.e === 'updateActivity')", 10)
        updated = page.evaluate("() => window.said.filter(m => m.e === 'updateActivity').pop().a1")
        assert updated["key"] == "REST-1" and updated["metaData"]["isConfigured"] is True
        assert updated["arguments"]["execute"]["inArguments"] == [
            {"template_id": DEMO_ID}, {"name": "{{Event.DEAudience-1.Name}}"},
            {"monthly_kwh": "{{Contact.Attribute.Usage.kWh}}"},
        ]  # fmt: skip

        page.reload()  # opened again: the saved activity shows as saved
        post(page, {"e": "initActivity", "a1": updated})
        until(page, "document.getElementById('map-name')", 10)
        assert page.input_value("#template") == DEMO_ID
        assert page.input_value("#map-monthly_kwh") == "{{Contact.Attribute.Usage.kWh}}"
    finally:
        context.close()


def post(page: Any, message: dict[str, Any]) -> None:
    """As Journey Builder does: a Postmonger message (JSON, the event in `e`) from the parent."""
    page.evaluate("m => window.postMessage(JSON.stringify(m), '*')", message)
