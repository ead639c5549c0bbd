"""The landing page in a real browser: Debian's chromium, driven by Playwright, against a real
`vidmerge serve`. The page is opened the moment the webhook answers, so playback runs while the
render's personalized segments are still being encoded (just in time)."""

from __future__ import annotations

import os
import random
import re
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from support.browser import CHROMIUM
from support.server import Api
from support.services import unavailable

from vidmerge.service.http.page import landing_page
from vidmerge.template.manifest import Cta, Page

pytestmark = pytest.mark.slow

SCREENSHOT = Path("/tmp/page.png")
PLAY_SECONDS = 10.0  # media time that must play without a stall
START_TIMEOUT_MS = 15_000

CODECS = """() => {
  const v = document.createElement('video');
  const mse = window.MediaSource || window.ManagedMediaSource;
  return {
    file: v.canPlayType('video/mp4; codecs="avc1.640028"'),
    mse: !!mse && mse.isTypeSupported('video/mp4; codecs="avc1.640028,mp4a.40.2"'),
  };
}"""


@pytest.fixture
def api(demo_api: Api) -> Api:
    return demo_api


def fresh_customer() -> dict[str, Any]:
    """Data whose every drawn value is new, so no personalized segment is in the cache."""
    rng = random.Random(uuid.uuid4().int)
    return {
        "name": f"検証 {uuid.uuid4().hex[:6]}",
        "monthly_kwh": rng.randint(200, 2900) + rng.randint(1, 9) / 10,
        "deadline": (date(2030, 1, 1) + timedelta(days=rng.randint(0, 3000))).isoformat(),
    }


def _render(api: Api, data: dict[str, Any]) -> dict[str, Any]:
    response = api.post_render({"template_id": "electricity-savings", "data": data})
    assert response.status_code == 202, response.text
    return dict(response.json())


def _status(api: Api, render_id: str) -> str:
    return str(api.client.get(f"/v1/renders/{render_id}").json()["status"])


def test_page_is_generic_private_and_same_origin(api: Api) -> None:
    data = fresh_customer()
    r = _render(api, data)
    page = httpx.get(r["page_url"], timeout=30)
    assert page.status_code == 200
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "noindex" in page.headers["x-robots-tag"]
    html = page.text
    token = urlsplit(r["page_url"]).path.rsplit("/", 1)[1]
    for value in (data["name"], str(data["monthly_kwh"]), data["deadline"], r["render_id"]):
        assert value not in html
    assert 'content="width=device-width, initial-scale=1' in html
    assert re.search(r'<meta property="og:title" content="[^"]+">', html)
    assert f'data-hls="{token}/index.m3u8" data-mp4="{token}/video.mp4"' in html
    assert "poster=" not in html  # the poster waits for the finished render; the page must not
    assert re.findall(r'<script[^>]*src="([^"]+)"', html) == ["/static/hls.min.js", "/static/player.js"]
    assert "<script>" not in html and "script-src 'self'" in html
    for name in ("hls.min.js", "player.js", "hls.js.LICENSE"):
        assert httpx.get(f"{api.url}/static/{name}", timeout=30).status_code == 200, name

    api.wait_done(r["render_id"])
    assert f'poster="{token}/poster.jpg"' in httpx.get(r["page_url"], timeout=30).text


# A phone on a mobile network: 3 Mb/s down, 100 ms. The demo's 720p rendition (about 6.6 Mb/s
# on average) cannot play on it; its 234p and 360p ones can.
PHONE = {"offline": False, "latency": 100, "downloadThroughput": 3_000_000 / 8, "uploadThroughput": 1_000_000 / 8}


@pytest.mark.parametrize("network", ["unthrottled", "phone", "refused"])
def test_playback_starts_at_once_and_never_stalls_while_segments_render(api: Api, browser: Any, network: str) -> None:
    """Opened the moment the webhook answers, the ladder's lowest rendition plays at once and
    without a `waiting` event for 10 s, its personalized segments made just in time; on a phone's
    bandwidth the player stays below what it cannot fetch in time; and where every rendition
    above the lowest is refused (429, as a server too busy to make them in time answers), the
    player stays on the lowest without a stall."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
    page = context.new_page()
    if network == "phone":
        context.new_cdp_session(page).send("Network.emulateNetworkConditions", PHONE)
    refused: list[str] = []
    if network == "refused":
        page.route(re.compile(r"/r/(?!234p/)[^/]+/seg/\d+\.ts$"), lambda route: _refuse(route, refused))
    requests: list[str] = []
    fetches: dict[str, float] = {}  # segment name -> seconds from request to last byte
    page.on("request", lambda request: requests.append(request.url))
    page.on("requestfinished", lambda request: _time_segment(request, fetches))
    try:
        r = _render(api, fresh_customer())
        posted = time.monotonic()
        response = page.goto(r["page_url"], wait_until="commit")
        assert response is not None and response.status == 200
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "noindex" in response.headers["x-robots-tag"]
        codecs = page.evaluate(CODECS)
        if not codecs["mse"]:
            _assert_loads_without_decoding(page, codecs)
            return

        _until(page, "window.vidmergeStats && window.vidmergeStats.started_at !== null", START_TIMEOUT_MS)
        status_at_start = _status(api, r["render_id"])
        seconds_to_play = time.monotonic() - posted
        assert status_at_start != "done", (
            f"the render finished ({seconds_to_play:.2f} s after the webhook) before playback started: "
            "this run does not prove just-in-time playback"
        )
        start = page.evaluate("() => document.getElementById('v').currentTime")
        _until(page, "document.getElementById('v').currentTime >= 3.5", START_TIMEOUT_MS)  # the name is on screen
        page.screenshot(path=str(SCREENSHOT))
        target = start + PLAY_SECONDS
        _until(page, f"document.getElementById('v').currentTime >= {target}", PLAY_SECONDS * 1000 + START_TIMEOUT_MS)
        stats = page.evaluate("() => window.vidmergeStats")
        status_after = _status(api, r["render_id"])
    finally:
        context.close()

    summary = (
        f"engine {stats['engine']}: first frame {stats['first_frame_at']} ms and playing {stats['started_at']} ms "
        f"after navigation, {seconds_to_play:.2f} s after the webhook, from {stats['start_time']:.3f} s "
        f"(buffered from {stats['buffered_from']}); render {status_at_start} at start, "
        f"{status_after} after {PLAY_SECONDS:.0f} s; stalls {stats['waits']}; segment fetch seconds {fetches}; "
        f"heights played {stats['heights']}; "
        f"hls.js errors {stats['errors']}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(summary)
    assert stats["engine"] == "hls.js" and stats["fatal"] is None, summary
    assert stats["waiting"] == 0, summary
    assert stats["heights"][0] == 234, summary  # the lowest rendition first
    if network == "phone":
        assert 720 not in stats["heights"], summary
    if network == "refused":  # it tried to climb, was refused, and played the lowest throughout
        assert refused and set(stats["heights"]) == {234}, (refused, summary)
    assert stats["started_at"] < 5000, summary
    origin = api.url
    foreign = [u for u in requests if not u.startswith((origin + "/", "blob:", "data:"))]
    assert not foreign, foreign
    assert f"{origin}/static/hls.min.js" in requests and any(u.endswith("/index.m3u8") for u in requests)


def test_a_vertical_templates_page_plays_on_a_phone_from_the_start_without_a_stall(vertical: Api, browser: Any) -> None:
    """A 9:16 template's page on a phone held upright plays from 0 s on its lowest rendition
    (234p: 234×416), whose personalized segments are made when the player asks for them, for 10 s
    without a `waiting` event. Every rendition above it is refused (as a busy server does), so
    that the player cannot climb past the lowest's personalized segments."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
    page = context.new_page()
    refused: list[str] = []
    page.route(re.compile(r"/r/(?!234p/)[^/]+/seg/\d+\.ts$"), lambda route: _refuse(route, refused))
    try:
        response = vertical.post_render({"template_id": "vertical", "data": {"name": "縦長 次郎", "amount": 4321}})
        assert response.status_code == 202, response.text
        assert page.goto(response.json()["page_url"], wait_until="commit") is not None
        codecs = page.evaluate(CODECS)
        if not codecs["mse"]:
            _assert_loads_without_decoding(page, codecs)
            return
        _until(page, "window.vidmergeStats && window.vidmergeStats.started_at !== null", START_TIMEOUT_MS)
        target = page.evaluate("() => document.getElementById('v').currentTime") + PLAY_SECONDS
        _until(page, f"document.getElementById('v').currentTime >= {target}", PLAY_SECONDS * 1000 + START_TIMEOUT_MS)
        stats = page.evaluate("() => window.vidmergeStats")
    finally:
        context.close()
    summary = f"{stats}; server log: {vertical.log_tail(10)}"
    assert stats["engine"] == "hls.js" and stats["fatal"] is None, summary
    assert stats["start_time"] < 0.5 and stats["waiting"] == 0, summary
    assert set(stats["heights"]) == {416}, summary  # the lowest rendition throughout, upright


def _refuse(route: Any, refused: list[str]) -> None:
    refused.append(route.request.url.split("/r/", 1)[1])
    route.fulfill(status=429, content_type="application/problem+json", body='{"title": "Too Many Requests"}')


def _time_segment(request: Any, fetches: dict[str, float]) -> None:
    if request.url.endswith(".ts"):
        fetches[request.url.rsplit("/", 1)[1]] = round(request.timing["responseEnd"] / 1000, 2)


def _until(page: Any, expression: str, timeout_ms: float) -> None:
    """Poll a JavaScript expression. Not page.wait_for_function: that evaluates its predicate with
    eval(), which the page's Content-Security-Policy forbids, as it should."""
    deadline = time.monotonic() + timeout_ms / 1000
    while not page.evaluate(f"() => Boolean({expression})"):
        if time.monotonic() > deadline:
            state = page.evaluate("() => [window.vidmergeStats, document.getElementById('v').currentTime]")
            raise AssertionError(f"not true within {timeout_ms / 1000:.0f} s: {expression}; stats, time: {state}")
        time.sleep(0.02)


def _assert_loads_without_decoding(page: Any, codecs: dict[str, Any]) -> None:
    """This chromium cannot decode H.264 through MSE (a build without proprietary codecs): check
    that the player picked a path and hit no error, then report the browser as unavailable."""
    _until(page, "window.vidmergeStats && window.vidmergeStats.engine !== null", START_TIMEOUT_MS)
    stats = page.evaluate("window.vidmergeStats")
    assert stats["fatal"] is None and not stats["errors"], stats
    unavailable(f"{CHROMIUM} cannot decode H.264 through MSE ({codecs}, player: {stats['engine']})")


@pytest.mark.parametrize(("size", "expected"), [((1080, 1920), (390, 693)), ((1280, 720), (390, 219))])
def test_the_page_follows_the_videos_aspect_ratio(browser: Any, size: tuple[int, int], expected: Any) -> None:
    """On a phone held upright a 9:16 video fills the screen's width and most of its height; a
    16:9 one fills the width."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        page = context.new_page()
        page.set_content(landing_page("T" * 32, "queued", Page(), size=size))
        box = page.eval_on_selector("#v", "v => { const r = v.getBoundingClientRect(); return [r.width, r.height]; }")
        assert (round(box[0]), round(box[1])) == expected
    finally:
        context.close()


def test_the_pages_style_runs_by_its_hash_and_no_other_inline_style_does(browser: Any) -> None:
    """The policy has no 'unsafe-inline': the page's own style applies (its hash is in the policy),
    a style attribute slipped into the page does not."""
    html = landing_page(
        "T" * 32, "queued", Page(brand_color="#ff0000", cta=Cta(label="申し込む", url="https://example.com/"))
    )
    assert "'unsafe-inline'" not in html
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        page = context.new_page()
        page.set_content(html.replace("</main>", '<p id="slipped" style="color: rgb(1, 2, 3)">x</p></main>'))
        looks = page.evaluate("""() => [getComputedStyle(document.body).backgroundColor,
            getComputedStyle(document.querySelector('.cta')).backgroundColor,
            getComputedStyle(document.getElementById('slipped')).color]""")
        assert looks == ["rgb(0, 0, 0)", "rgb(255, 0, 0)", "rgb(255, 255, 255)"]
    finally:
        context.close()


def test_the_email_snippet_shows_its_picture_linked_to_the_page(api: Api, browser: Any) -> None:
    r = _render(api, fresh_customer())
    context = browser.new_context(viewport={"width": 600, "height": 800})
    try:
        page = context.new_page()
        page.set_content(f"<!doctype html><body>{r['email_html']}</body>", wait_until="load")
        shown = page.eval_on_selector("img", "i => [i.complete, i.naturalWidth, i.naturalHeight, i.width]")
        assert shown[0] and shown[1] > 0 and shown[2] > 0 and shown[3] == 400, shown
        assert page.eval_on_selector("a", "a => a.href") == r["page_url"]
    finally:
        context.close()
