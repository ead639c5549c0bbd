"""Page events pushed to the MA tool: a local receiver verifies every delivery with the
`standardwebhooks` library, fails three times then recovers and gets each event exactly once by
its webhook-id; a 410 disables the endpoint; HubSpot and Marketo get their own API calls, in the
shapes their documentation gives, from a local server standing in for them.

One real `vidmerge serve` (small template) with the retry schedule shrunk a thousandfold and
loopback allowed as an outbound address (the receivers run here).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from standardwebhooks.webhooks import Webhook
from support.media import SMALL_MANIFEST, make_clip, png_bytes, write_bundle, zip_folder
from support.receiver import Receiver
from support.server import Api

BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
HUBSPOT_TOKEN = "pat-na1-test-token"
MARKETO_ID, MARKETO_SECRET = "client-id", "client-secret"


@pytest.fixture(scope="module")
def tools() -> Iterator[Receiver]:
    """HubSpot's and Marketo's APIs, as far as vidmerge uses them."""
    receiver = Receiver(lambda request: 200)
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, tools: Receiver) -> Iterator[Api]:
    tmp = tmp_path_factory.mktemp("webhooks")
    manifest = {**SMALL_MANIFEST, "push": {"hubspot": {"events": ["play", "progress", "cta_click"]},
                                           "marketo": {"activity_type_id": 100001}},
                "page": {"logo": "assets/logo.png"}}  # fmt: skip
    files = {"assets/logo.png": png_bytes(size=48)}
    bundle = write_bundle(tmp / "bundle", manifest, clip=make_clip(tmp / "clip.mp4"), files=files)
    env = {
        "VIDMERGE_OUTBOUND_ALLOW": "127.0.0.1", "VIDMERGE_WEBHOOK_RETRY_SCALE": "0.001",
        "VIDMERGE_HUBSPOT_TOKEN": HUBSPOT_TOKEN, "VIDMERGE_HUBSPOT_API": tools.url,
        "VIDMERGE_MARKETO_URL": tools.url, "VIDMERGE_MARKETO_CLIENT_ID": MARKETO_ID,
        "VIDMERGE_MARKETO_CLIENT_SECRET": MARKETO_SECRET,
    }  # fmt: skip
    server = Api(tmp, env)
    server.start()
    server.post_template(zip_folder(bundle, tmp / "small.zip"))
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def no_endpoints_left(api: Api) -> Iterator[None]:
    """Each test's endpoints go with it: later tests' events are not delivered to them."""
    yield
    for hook in api.client.get("/v1/webhook-endpoints").json():
        api.client.delete(f"/v1/webhook-endpoints/{hook['id']}")


def endpoint(api: Api, url: str, **extra: Any) -> dict[str, Any]:
    answer = api.client.post("/v1/webhook-endpoints", json={"url": url, **extra})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def viewed(api: Api, external_id: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    r = api.post_render({"template_id": "small", "data": {"name": "配信"}, "external_id": external_id}).json()
    token = urlsplit(r["page_url"]).path.rsplit("/", 1)[1]
    body = {"session": uuid.uuid4().hex, "events": events}
    sent = api.client.post(f"/v/{token}/events", content=json.dumps(body), headers={"user-agent": BROWSER_UA})
    assert sent.status_code == 204, sent.text
    return dict(r)


def wait_for(condition: Callable[[], bool], seconds: float, what: Callable[[], object]) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what()}")
        time.sleep(0.1)


def test_a_receiver_that_fails_three_times_gets_each_event_once_signed(api: Api) -> None:
    failures: dict[str, int] = {}

    def flaky(request: dict[str, Any]) -> int:
        n = failures[request["headers"]["webhook-id"]] = failures.get(request["headers"]["webhook-id"], 0) + 1
        return 500 if n <= 3 else 200

    receiver = Receiver(flaky)
    try:
        hook = endpoint(api, f"{receiver.url}/hook", events=["play", "progress"])
        assert hook["secret"].startswith("whsec_") and hook["status"] == "active"
        r = viewed(api, "顧客-1", [{"type": "play"}, {"type": "progress", "milestone": 25}, {"type": "pause"}])
        wait_for(lambda: sorted(failures.values()) == [4, 4], 60, lambda: failures)
        time.sleep(1.0)  # nothing more may come
        verified = [Webhook(hook["secret"]).verify(q["body"], q["headers"]) for q in receiver.requests]
        ids = [q["headers"]["webhook-id"] for q in receiver.requests]
        assert len(ids) == 8 and all(ids.count(i) == 4 for i in set(ids))  # 3 failures + 1 success each
        events = {v["data"]["event"]: v for v in verified}
        assert set(events) == {"play", "progress"}  # the pause is not among the endpoint's types
        progress = events["progress"]
        assert progress["type"] == "video.progress" and progress["data"]["milestone"] == 25
        assert progress["data"] | {"at": None} == {
            "render_id": r["render_id"], "external_id": "顧客-1", "template_id": "small", "template_version": 1,
            "campaign_id": None, "event": "progress", "milestone": 25, "at": None,
        }  # fmt: skip
        assert "配信" not in json.dumps(verified, ensure_ascii=False)  # never a value drawn
        listed = api.client.get(f"/v1/webhook-endpoints/{hook['id']}/deliveries").json()
        assert {(d["status"], d["attempts"], d["last_status"]) for d in listed} == {("delivered", 4, 200)}
        assert "secret" not in json.dumps(api.client.get("/v1/webhook-endpoints").json())
    finally:
        receiver.close()


def test_an_endpoint_answering_410_is_disabled(api: Api) -> None:
    receiver = Receiver(lambda request: 410)
    try:
        hook = endpoint(api, f"{receiver.url}/gone", events=["play"])
        viewed(api, "顧客-2", [{"type": "play"}])
        wait_for(lambda: next(e for e in api.client.get("/v1/webhook-endpoints").json() if e["id"] == hook["id"])[
            "status"] == "disabled", 30, lambda: receiver.requests)  # fmt: skip
        viewed(api, "顧客-3", [{"type": "play"}])
        time.sleep(2.0)
        assert len(receiver.requests) == 1  # nothing after the 410
        listed = next(e for e in api.client.get("/v1/webhook-endpoints").json() if e["id"] == hook["id"])
        assert listed["reason"] == "the endpoint answered 410 Gone"
    finally:
        receiver.close()


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"url": "http://169.254.169.254/latest/meta-data"}, "url"),  # cloud metadata: never
        ({"url": "http://10.0.0.5/hook"}, "url"),
        ({"url": "ftp://example.com/hook"}, "url"),
        ({"url": "http://127.0.0.1:9/hook", "events": ["purchase"]}, "events"),
    ],
)
def test_an_endpoint_must_be_reachable_by_the_outbound_rules(api: Api, body: dict[str, Any], where: str) -> None:
    answer = api.client.post("/v1/webhook-endpoints", json=body)
    assert answer.status_code == 422 and answer.json()["problems"][0]["where"] == where, answer.text


def test_erasure_takes_a_renders_deliveries(api: Api) -> None:
    receiver = Receiver(lambda request: 503)  # never delivered: the deliveries stay pending
    try:
        hook = endpoint(api, f"{receiver.url}/down", events=["play"])
        r = viewed(api, "顧客-4", [{"type": "play"}])
        wait_for(lambda: bool(receiver.requests), 30, lambda: "no attempt")
        assert api.client.get(f"/v1/webhook-endpoints/{hook['id']}/deliveries").json()[0]["status"] == "pending"
        assert api.client.delete(f"/v1/renders/{r['render_id']}").status_code == 204
        assert api.client.get(f"/v1/webhook-endpoints/{hook['id']}/deliveries").json() == []
        assert api.client.delete(f"/v1/webhook-endpoints/{hook['id']}").status_code == 204
    finally:
        receiver.close()


def test_views_are_written_into_hubspot_and_marketo(api: Api, tools: Receiver) -> None:
    before = len(tools.requests)
    viewed(api, "90210", [{"type": "play"}, {"type": "progress", "milestone": 25},
                          {"type": "progress", "milestone": 50}])  # fmt: skip
    wait_for(lambda: len([q for q in tools.requests[before:] if "/rest/v1/" in q["path"]]) == 3
             and len([q for q in tools.requests[before:] if "/crm/" in q["path"]]) == 3, 30,
             lambda: [(q["method"], q["path"]) for q in tools.requests[before:]])  # fmt: skip
    mine = tools.requests[before:]

    hubspot = [q for q in mine if "/crm/" in q["path"]]
    assert {(q["method"], q["path"]) for q in hubspot} == {("PATCH", "/crm/v3/objects/contacts/90210")}
    assert all(q["headers"]["Authorization"] == f"Bearer {HUBSPOT_TOKEN}" for q in hubspot)
    properties = [json.loads(q["body"])["properties"] for q in hubspot]
    assert {k for p in properties for k in p} == {"vidmerge_last_viewed_at", "vidmerge_percent_watched"}
    assert max(int(p["vidmerge_percent_watched"]) for p in properties if "vidmerge_percent_watched" in p) == 50

    tokens = [q for q in mine if q["path"].startswith("/identity/oauth/token")]
    for q in tokens:  # at most one (the token is kept until it expires)
        assert parse_qs(urlsplit(q["path"]).query) == {
            "grant_type": ["client_credentials"],
            "client_id": [MARKETO_ID],
            "client_secret": [MARKETO_SECRET],
        }
    activities = [q for q in mine if q["path"] == "/rest/v1/activities/external.json"]
    assert all(q["method"] == "POST" and q["headers"]["Authorization"] == "Bearer mkto-token" for q in activities)
    sent = [json.loads(q["body"])["input"][0] for q in activities]
    assert {(a["leadId"], a["activityTypeId"], a["primaryAttributeValue"]) for a in sent} == {(90210, 100001, "small")}
    assert sorted(next(x["value"] for x in a["attributes"] if x["name"] == "event") for a in sent) == [
        "play", "progress", "progress"]  # fmt: skip
    assert all(a["activityDate"].endswith("Z") for a in sent)


def test_a_contact_id_marketo_cannot_take_is_not_pushed(api: Api, tools: Receiver) -> None:
    before = len(tools.requests)
    viewed(api, "not-a-lead", [{"type": "play"}])
    wait_for(lambda: any("/crm/" in q["path"] for q in tools.requests[before:]), 30, lambda: tools.requests[before:])
    time.sleep(1.0)
    assert not any("/rest/v1/" in q["path"] for q in tools.requests[before:])


def test_the_pages_logo_is_served_from_the_template(api: Api) -> None:
    r = api.post_render({"template_id": "small", "data": {}}).json()
    token = urlsplit(r["page_url"]).path.rsplit("/", 1)[1]
    assert f'<img src="{token}/logo" alt="">' in api.client.get(f"/v/{token}").text
    logo = api.client.get(f"/v/{token}/logo")
    assert (logo.status_code, logo.headers["content-type"], logo.content) == (200, "image/png", png_bytes(size=48))
    assert api.client.get(f"/v/{token}/go").status_code == 404  # no call to action in this template
