"""A NUL (or another control character) in an id, wherever ids enter: a 4xx naming the field,
on SQLite and on PostgreSQL (which cannot store a NUL in text at all: it was a 500 there), and
an unknown-looking 404 for a public link. One app per database, in this process, with the small
template prepared (the CSV rows are checked against it)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support.media import make_clip, write_bundle, zip_folder
from support.services import PostgresServer

from vidmerge.config import Settings
from vidmerge.service.app import create_app

NUL = "a\x00b"
BRAZE_TOKEN, API_KEY = "braze-test-token", "api-test-key"
CSV_HEADER = b"external_id,name\r\n"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def client(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    tmp = tmp_path_factory.mktemp(f"nul-{request.param}")
    url = ""
    if request.param == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.create_database()
    settings = Settings(data_dir=tmp / "data", database_url=url, frame_cache_mb=0, braze_token=BRAZE_TOKEN,
                        api_keys=(API_KEY,))  # fmt: skip
    bundle = zip_folder(write_bundle(tmp / "bundle", clip=make_clip(tmp / "clip.mp4")), tmp / "small.zip")
    headers = {"authorization": f"Bearer {API_KEY}"}
    with TestClient(create_app(settings), raise_server_exceptions=False, headers=headers) as test_client:
        uploaded = test_client.post("/v1/templates", files={"file": ("small.zip", bundle.read_bytes())})
        assert uploaded.status_code == 202, uploaded.text
        wait_ready(test_client, uploaded.json()["id"])
        yield test_client


def wait_ready(client: TestClient, template_id: str) -> None:
    deadline = time.monotonic() + 120
    while client.get(f"/v1/templates/{template_id}").json()["status"] != "ready":
        assert time.monotonic() < deadline, "the small template was not prepared in time"
        time.sleep(0.3)


def csv(cells: bytes, **form: str) -> dict[str, Any]:
    return {"data": {"template_id": "small", **form}, "files": {"file": ("c.csv", CSV_HEADER + cells + b"\r\n")}}


PUBLIC = [
    ("GET", "/v/a%00b", {}),
    ("GET", "/v/a%00b/index.m3u8", {}),
    ("GET", "/v/a%00b/go", {}),
    ("POST", "/v/a%00b/events", {"content": b'{"session": "abcdefgh", "events": [{"type": "play"}]}'}),
    # an id in a path is an unknown one (404, as the routes document), on management routes too
    ("GET", "/v1/renders/a%00b", {}),
    ("DELETE", "/v1/renders/a%00b", {}),
    ("GET", "/v1/templates/a%00b", {}),
    ("POST", "/v1/templates/a%00b/versions/1/activate", {}),
    ("GET", "/v1/campaigns/a%00b", {}),
    ("GET", "/v1/campaigns/a%00b/results.csv", {}),
    ("POST", "/v1/campaigns/a%00b/start", {}),
    ("DELETE", "/v1/campaigns/a%00b", {}),
    ("GET", "/v1/webhook-endpoints/a%00b/deliveries", {}),
    ("DELETE", "/v1/webhook-endpoints/a%00b", {}),
]

MANAGEMENT = [
    ("DELETE", "/v1/renders", {"params": {"external_id": NUL}}, "query.external_id"),
    ("POST", "/v1/renders", {"json": {"template_id": NUL, "data": {}}}, "body.template_id"),
    ("POST", "/v1/renders", {"json": {"template_id": "small", "data": {}, "external_id": NUL}}, "body.external_id"),
    ("POST", "/v1/renders", {"json": {"template_id": "small", "data": {}}, "headers": {"idempotency-key": "a\x01b"}},
     "header.idempotency-key"),
    ("GET", "/v1/analytics", {"params": {"template_id": NUL}}, "query.template_id"),
    ("POST", "/v1/campaigns", csv(b"a\x00b,name"), "row 2, column external_id"),
    ("POST", "/v1/campaigns", csv(b"c-1,a\x00b"), "row 2, column name"),
    ("POST", "/v1/campaigns", {**csv(b"c-1,x"), "data": {"template_id": NUL}}, "template_id"),
    ("POST", "/v1/campaigns", csv(b"c-1,x", campaign_id=NUL), "campaign_id"),
    ("POST", "/v1/webhook-endpoints", {"json": {"url": "https://example.com/h", "template_id": NUL}}, "template_id"),
    ("POST", "/v1/integrations/braze/connected-content",
     {"json": {"template_id": "small", "external_id": NUL}, "headers": {"authorization": f"Bearer {BRAZE_TOKEN}"}},
     "external_id"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "options"), PUBLIC)
def test_a_path_id_with_a_nul_is_an_unknown_one(
    client: TestClient, method: str, path: str, options: dict[str, Any]
) -> None:
    answer = client.request(method, path, **options)
    assert answer.status_code == 404 and answer.json()["detail"] == "not found", answer.text


@pytest.mark.parametrize(("method", "path", "options", "where"), MANAGEMENT)
def test_an_id_with_a_control_character_is_refused_naming_the_field(
    client: TestClient, method: str, path: str, options: dict[str, Any], where: str
) -> None:
    answer = client.request(method, path, **options)
    assert answer.status_code == 422, answer.text
    assert [p["where"] for p in answer.json()["problems"]] == [where]
