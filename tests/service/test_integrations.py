"""MA tools calling in their own shapes. Each request is written from the vendor's documentation
(HubSpot custom workflow actions, Braze Connected Content, SFMC Journey Builder custom activities,
Marketo webhooks), signed as the vendor signs it, and each answer is checked field by field."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from support.media import SMALL_MANIFEST, make_clip, write_bundle, zip_folder

from vidmerge.config import Settings
from vidmerge.errors import ConfigError, Unauthorized
from vidmerge.service.app import create_app
from vidmerge.service.http.integrations import hubspot
from vidmerge.service.http.integrations.hubspot import check_signature
from vidmerge.service.runtime import check_settings

pytestmark = pytest.mark.slow
KEY = {"Authorization": "Bearer k1"}
SFMC_SECRET = "sfmc-signing-secret-0123456789abcdef"  # HS256 wants 32 bytes at least
SECRETS = {"hubspot_app_secret": "hs-secret", "braze_token": "braze-token", "sfmc_jwt_secret": SFMC_SECRET,
           "marketo_secret": "mkto-secret"}  # fmt: skip
BASE = "http://testserver"
URLS = ("page_url", "hls_url", "mp4_url", "poster_url", "gif_url")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    tmp = tmp_path_factory.mktemp("integrations")
    manifest = copy.deepcopy(SMALL_MANIFEST)
    manifest["mappings"] = {"hubspot": {"firstname": "name"}}  # HubSpot's contact property for the first name
    bundle = zip_folder(write_bundle(tmp / "bundle", manifest, clip=make_clip(tmp / "clip.mp4")), tmp / "small.zip")
    settings = Settings(data_dir=tmp / "data", api_keys=("k1",), public_base_url=BASE, **SECRETS)
    with TestClient(create_app(settings), base_url=BASE) as client:
        with bundle.open("rb") as f:
            assert client.post("/v1/templates", files={"file": ("b.zip", f)}, headers=KEY).status_code == 202
        for _ in range(600):
            if client.get("/v1/templates/small", headers=KEY).json()["status"] == "ready":
                break
            time.sleep(0.1)
        yield client


def _values(client: TestClient, render_id: str) -> dict[str, str]:
    return dict(client.get(f"/v1/renders/{render_id}", headers=KEY).json()["values"])


# --- HubSpot ------------------------------------------------------------------------------------


def test_hubspot_v3_signature_matches_a_worked_example_and_v2_the_documented_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret, body = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy", b'{"example_field":"example_value"}'
    headers = {"v3": "YjCUyIirT42Uye+zC1pKcCCgKDBcUuMZ06WLhoW2ptM=", "timestamp": "1700000000000"}
    uri = "https://www.example.com/webhook_uri?a=1"
    monkeypatch.setattr(hubspot.time, "time", lambda: 1_700_000_060.0)  # a minute after it was signed
    check_signature(secret, "POST", uri, body, headers)
    with pytest.raises(Unauthorized):
        check_signature(secret, "POST", uri, body + b" ", headers)  # one byte more
    monkeypatch.setattr(hubspot.time, "time", lambda: 1_700_000_400.0)  # 6 min 40 s later
    with pytest.raises(Unauthorized, match="outside 5 minutes"):
        check_signature(secret, "POST", uri, body, headers)
    documented = {"v2": "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e", "version": "v2"}
    check_signature(secret, "GET", "https://www.example.com/webhook_uri", b"", documented)


def _hubspot(client: TestClient, payload: dict[str, Any], *, secret: str = "hs-secret", age_ms: int = 0) -> Any:
    body = json.dumps(payload).encode()
    timestamp = str(int(time.time() * 1000) - age_ms)
    uri = f"{BASE}/v1/integrations/hubspot/action"
    mac = hmac.new(secret.encode(), b"POST" + uri.encode() + body + timestamp.encode(), hashlib.sha256).digest()
    headers = {"X-HubSpot-Signature-v3": base64.b64encode(mac).decode(), "X-HubSpot-Request-Timestamp": timestamp,
               "content-type": "application/json"}  # fmt: skip
    return client.post("/v1/integrations/hubspot/action", content=body, headers=headers)


def _hubspot_call(callback: str, **inputs: str) -> dict[str, Any]:
    """A custom workflow action's execution request, as HubSpot's documentation shows it."""
    return {
        "callbackId": callback,
        "origin": {"portalId": 102670506, "actionDefinitionId": 10646377, "actionDefinitionVersion": 1},
        "context": {"source": "WORKFLOWS", "workflowId": 192814114},
        "object": {"objectId": 904, "properties": {"email": "ajenkenbb@gnu.org"}, "objectType": "CONTACT"},
        "inputFields": {"template_id": "small", **inputs},
    }


def test_hubspot_action_answers_output_fields_and_a_retry_is_the_same_render(client: TestClient) -> None:
    call = _hubspot_call("ap-102670506-56776413549-7-0", firstname="田中", amount="1200", lifecyclestage="lead")
    answer = _hubspot(client, call)
    assert answer.status_code == 200, answer.text
    out = answer.json()["outputFields"]
    assert out["hs_execution_state"] == "SUCCESS" and out["vidmerge_status"] == "queued"
    assert all(out[f"vidmerge_{u}"].startswith(f"{BASE}/v/") for u in URLS)
    assert (out["vidmerge_ignored_fields"], out["vidmerge_defaulted_inputs"]) == ("lifecyclestage", "")
    assert _values(client, out["vidmerge_render_id"]) == {"greeting": "田中様", "amount": "1,200円"}  # firstname → name
    again = _hubspot(client, call).json()["outputFields"]  # HubSpot retries with the same callbackId
    assert again["vidmerge_render_id"] == out["vidmerge_render_id"]
    other = _hubspot(client, _hubspot_call("ap-102670506-56776413549-7-1", firstname="田中", amount="1200"))
    assert other.json()["outputFields"]["vidmerge_render_id"] != out["vidmerge_render_id"]  # another execution


def test_hubspot_bad_data_continues_the_workflow_with_the_reason(client: TestClient) -> None:
    out = _hubspot(client, _hubspot_call("ap-bad-1", amount="たくさん")).json()["outputFields"]
    assert out["hs_execution_state"] == "FAIL_CONTINUE" and "data.amount" in out["vidmerge_error"]
    out = _hubspot(client, {**_hubspot_call("ap-bad-2"), "inputFields": {"template_id": "nope"}}).json()["outputFields"]
    assert out["hs_execution_state"] == "FAIL_CONTINUE" and "template" in out["vidmerge_error"]


@pytest.mark.parametrize(("secret", "age_ms"), [("another", 0), ("hs-secret", 6 * 60 * 1000)])
def test_hubspot_bad_or_stale_signatures_are_401(client: TestClient, secret: str, age_ms: int) -> None:
    answer = _hubspot(client, _hubspot_call("ap-x"), secret=secret, age_ms=age_ms)
    assert answer.status_code == 401 and answer.headers["content-type"] == "application/problem+json"


# --- Marketo ------------------------------------------------------------------------------------


def test_marketo_webhook_answers_flat_ascii_keys_for_response_mappings(client: TestClient) -> None:
    # the webhook's template: {"template_id": "small", "name": {{lead.First Name}}, "external_id": {{lead.Id}}, ...}
    payload = {"template_id": "small", "name": "佐藤", "external_id": 3141, "Company": "Acme"}
    headers = {"X-Vidmerge-Marketo-Secret": "mkto-secret"}
    answer = client.post("/v1/integrations/marketo/webhook", json=payload, headers=headers)
    assert answer.status_code == 202, answer.text
    flat = answer.json()
    assert all(k.isascii() and k.replace("_", "").isalnum() for k in flat)
    assert all(not isinstance(v, dict | list) for v in flat.values())  # reachable by a response mapping
    assert flat["ignored_fields"] == "Company" and flat["defaulted_inputs"] == "amount"
    assert _values(client, flat["render_id"])["greeting"] == "佐藤様"
    wrong = client.post("/v1/integrations/marketo/webhook", json=payload, headers={"X-Vidmerge-Marketo-Secret": "x"})
    assert wrong.status_code == 401


# --- Braze --------------------------------------------------------------------------------------


def test_braze_connected_content_is_the_same_answer_for_the_same_recipient(client: TestClient) -> None:
    # {% connected_content https://…/connected-content?template_id=small&external_id={{${user_id}}}&name=…
    #    :headers {"Authorization": "Bearer braze-token"} :save video %}
    query = {"template_id": "small", "external_id": "user-77", "name": "鈴木", "amount": "900"}
    headers = {"Authorization": "Bearer braze-token"}
    first = client.get("/v1/integrations/braze/connected-content", params=query, headers=headers)
    assert first.status_code == 200, first.text
    answer = first.json()
    assert set(URLS) <= set(answer) and answer["ignored_fields"] == [] and answer["defaulted_inputs"] == []
    for _ in range(3):  # one call per message part, and Braze's retries: one render
        again = client.get("/v1/integrations/braze/connected-content", params=query, headers=headers).json()
        assert again == answer
    form = "template_id=small&external_id=user-77&name=%E9%88%B4%E6%9C%A8&amount=900"  # POST, Braze's default type
    posted = client.post("/v1/integrations/braze/connected-content", content=form, headers={
        **headers, "content-type": "application/x-www-form-urlencoded"}).json()  # fmt: skip
    assert posted["render_id"] == answer["render_id"]
    assert client.get(f"/v1/renders/{answer['render_id']}", headers=KEY).json()["values"]["greeting"] == "鈴木様"
    bad = client.get("/v1/integrations/braze/connected-content", params=query, headers={"Authorization": "Bearer x"})
    assert bad.status_code == 401


# --- Salesforce Marketing Cloud ----------------------------------------------------------------


def _execute_claims(contact: str, **arguments: str) -> dict[str, Any]:
    """The execute call's claims, as Journey Builder's documentation shows them."""
    ids = "1234abcd-56ef-78gh-90ij-9876klmn5432"
    return {
        "inArguments": [{"template_id": "small"}, *({k: v} for k, v in arguments.items())],
        "outArguments": [], "activityObjectID": ids, "journeyId": ids, "activityId": ids,
        "definitionInstanceId": ids, "activityInstanceId": ids, "keyValue": contact, "mode": 0,
    }  # fmt: skip


def test_sfmc_execute_verifies_the_jwt_and_answers_the_out_arguments(client: TestClient) -> None:
    token = jwt.encode(
        _execute_claims("0031x000003AbC", name="高橋", amount="4200"),
        "sfmc-signing-secret-0123456789abcdef",
        algorithm="HS256",
    )
    answer = client.post("/v1/integrations/sfmc/execute", content=token, headers={"content-type": "application/jwt"})
    assert answer.status_code == 200, answer.text
    out = answer.json()
    config = client.get("/v1/integrations/sfmc/config.json").json()
    declared = [next(iter(a)) for a in config["arguments"]["execute"]["outArguments"]]
    assert sorted(out) == sorted(declared) and all(out[f"vidmerge_{u}"].startswith(f"{BASE}/v/") for u in URLS)
    assert _values(client, out["vidmerge_render_id"])["greeting"] == "高橋様"
    again = client.post("/v1/integrations/sfmc/execute", content=token).json()  # Journey Builder's retry
    assert again == out
    forged = jwt.encode(_execute_claims("0031x000003AbC"), "not-the-signing-secret-0123456789abcdef", algorithm="HS256")
    assert client.post("/v1/integrations/sfmc/execute", content=forged).status_code == 401
    assert client.post("/v1/integrations/sfmc/execute", content=b"not a jwt").status_code == 401


def test_sfmc_configuration_steps_and_config_json(client: TestClient) -> None:
    journey = {"activityObjectID": "a", "interactionId": "i", "originalDefinitionId": "o", "interactionKey": "k",
               "interactionVersion": "2"}  # fmt: skip
    for step in ("save", "validate", "publish", "stop"):
        signed = jwt.encode(journey, SFMC_SECRET, algorithm="HS256")
        assert client.post(f"/v1/integrations/sfmc/{step}", content=signed).json() == {}, step
    config = client.get("/v1/integrations/sfmc/config.json").json()
    assert config["type"] == "REST" and config["arguments"]["execute"]["useJwt"] is True
    assert config["arguments"]["execute"]["url"] == f"{BASE}/v1/integrations/sfmc/execute"
    steps = config["configurationArguments"]
    assert {step: steps[step]["url"] for step in steps} == {
        step: f"{BASE}/v1/integrations/sfmc/{step}" for step in ("save", "validate", "publish", "stop")
    }


# --- the generic webhook, and adapters left unconfigured ---------------------------------------


def test_the_generic_webhook_lists_ignored_fields_and_defaulted_inputs(client: TestClient) -> None:
    body = {"template_id": "small", "data": {"name": "伊藤", "email": "ito@example.jp"}}
    answer = client.post("/v1/renders", json=body, headers=KEY).json()
    assert (answer["ignored_fields"], answer["defaulted_inputs"]) == (["email"], ["amount"])


def test_an_adapter_whose_secret_is_unset_answers_404(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(data_dir=tmp_path / "data"))) as client:
        unknown = client.get("/v1/integrations/nothing-here")
        adapters = [("POST", "hubspot/action"), ("GET", "braze/connected-content"), ("POST", "sfmc/execute"),
                    ("GET", "sfmc/config.json"), ("POST", "marketo/webhook")]  # fmt: skip
        for method, path in adapters:
            answer = client.request(method, f"/v1/integrations/{path}")
            assert (answer.status_code, answer.content) == (404, unknown.content), path


def test_a_tool_secret_without_api_keys_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="VIDMERGE_BRAZE_TOKEN is set without VIDMERGE_API_KEYS"):
        check_settings(Settings(data_dir=tmp_path, braze_token="t"))


def test_a_recipient_is_required_by_braze_and_two_recipients_never_share_a_render(client: TestClient) -> None:
    headers = {"Authorization": "Bearer braze-token"}
    query = {"template_id": "small", "name": "同名", "amount": "100"}
    missing = client.get("/v1/integrations/braze/connected-content", params=query, headers=headers)
    assert missing.status_code == 422 and missing.json()["problems"][0]["where"] == "external_id"
    a, b = (client.get("/v1/integrations/braze/connected-content", params={**query, "external_id": who},
                       headers=headers).json() for who in ("u-a", "u-b"))  # fmt: skip
    assert a["render_id"] != b["render_id"] and a["page_url"] != b["page_url"]


def test_hostile_adapter_input_is_a_4xx_naming_it(client: TestClient) -> None:
    big = b'{"pad": "' + b"x" * 70_000 + b'"}'
    for path in ("hubspot/action", "sfmc/execute"):
        answer = client.post(f"/v1/integrations/{path}", content=big, headers={"content-type": "application/json"})
        assert answer.status_code == 413, path  # read no further than the cap, before any signature check
    deep = base64.urlsafe_b64encode(b"[" * 5000 + b"]" * 5000).rstrip(b"=")
    answer = client.post("/v1/integrations/sfmc/execute", content=deep + b".e30.c2ln")
    assert answer.status_code == 401 and answer.json()["problems"][0]["where"] == "body"  # never parsed into a 500
    huge = {"X-HubSpot-Signature-v3": "x", "X-HubSpot-Request-Timestamp": "9" * 5000}
    answer = client.post("/v1/integrations/hubspot/action", content=b"{}", headers=huge)
    assert answer.status_code == 401 and answer.json()["problems"][0]["where"] == "X-HubSpot-Request-Timestamp"
    for bad in (b"[]", b"not json"):
        marketo = client.post("/v1/integrations/marketo/webhook", content=bad,
                              headers={"X-Vidmerge-Marketo-Secret": "mkto-secret"})  # fmt: skip
        assert marketo.status_code == 422 and marketo.json()["problems"][0]["where"] == "body", bad
