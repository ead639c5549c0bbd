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


def test_hubspot_v3_signature_matches_a_worked_example_and_v2_is_not_taken(monkeypatch: pytest.MonkeyPatch) -> None:
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
    with pytest.raises(Unauthorized, match="v1/v2 signatures are not taken"):  # it signs no time: good for ever
        check_signature(secret, "GET", "https://www.example.com/webhook_uri", b"", documented)


def test_hubspot_a_v2_signature_alone_is_401(client: TestClient) -> None:
    body = json.dumps(_hubspot_call("ap-v2")).encode()
    uri = f"{BASE}/v1/integrations/hubspot/action"
    v2 = hashlib.sha256(b"hs-secret" + b"POST" + uri.encode() + body).hexdigest()
    headers = {"X-HubSpot-Signature": v2, "X-HubSpot-Signature-Version": "v2", "content-type": "application/json"}
    answer = client.post("/v1/integrations/hubspot/action", content=body, headers=headers)
    assert answer.status_code == 401 and answer.json()["problems"][0]["where"] == "X-HubSpot-Signature-v3"


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
    # in Japanese, the input as the marketer knows it (its description, else the field HubSpot sent)
    assert (out["hs_execution_state"], out["vidmerge_error"]) == ("FAIL_CONTINUE", "amount: 数値ではありません")
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


BRAZE_URL = "/v1/integrations/braze/connected-content"


def test_braze_wants_the_bearer_scheme(client: TestClient) -> None:
    url, query = BRAZE_URL, {"template_id": "small", "external_id": "user-88", "name": "中村"}
    assert client.get(url, params=query, headers={"Authorization": "braze-token"}).status_code == 401  # no scheme
    assert client.get(url, params=query, headers={"Authorization": "Basic braze-token"}).status_code == 401
    assert client.get(url, params=query, headers={"Authorization": "bearer braze-token"}).status_code == 200


def test_braze_refuses_an_overlong_recipient_naming_it(client: TestClient) -> None:
    url, query = BRAZE_URL, {"template_id": "small", "name": "中村"}
    # cut to a key's length, two long ids sharing their first 255 characters would share a render
    for long_id in ("u" * 300 + "-a", "u" * 300 + "-b"):
        long_query = {**query, "external_id": long_id}
        answer = client.get(url, params=long_query, headers={"Authorization": "Bearer braze-token"})
        assert answer.status_code == 422 and answer.json()["problems"][0]["where"] == "external_id", answer.text


def test_marketo_a_replayed_call_is_the_same_render(client: TestClient) -> None:
    payload = {"template_id": "small", "name": "小林", "amount": 500, "external_id": 2718}
    headers = {"X-Vidmerge-Marketo-Secret": "mkto-secret"}
    first = client.post("/v1/integrations/marketo/webhook", json=payload, headers=headers)
    again = client.post("/v1/integrations/marketo/webhook", json=payload, headers=headers)
    assert (first.status_code, again.status_code) == (202, 200), again.text
    assert again.json()["render_id"] == first.json()["render_id"]
    changed = client.post("/v1/integrations/marketo/webhook", json={**payload, "amount": 600}, headers=headers)
    assert changed.status_code == 202 and changed.json()["render_id"] != first.json()["render_id"]


def test_every_adapter_answers_the_email_snippet_and_the_gif_size(client: TestClient) -> None:
    """What `POST /v1/renders` answers for an email, from each tool: the snippet (the GIF linked
    to the page, at its size) and the GIF's width and height."""
    hubspot_out = _hubspot(client, _hubspot_call("ap-email-1", firstname="森")).json()["outputFields"]
    braze = client.get("/v1/integrations/braze/connected-content", headers={"Authorization": "Bearer braze-token"},
                       params={"template_id": "small", "external_id": "user-email", "name": "森"}).json()  # fmt: skip
    sfmc = _execute(client, _signed(_execute_claims("0031x00000EMAIL", name="森"))).json()
    marketo = client.post("/v1/integrations/marketo/webhook", json={"template_id": "small", "name": "森"},
                          headers={"X-Vidmerge-Marketo-Secret": "mkto-secret"}).json()  # fmt: skip
    answers = {"hubspot": {k.removeprefix("vidmerge_"): v for k, v in hubspot_out.items()}, "braze": braze,
               "sfmc": {k.removeprefix("vidmerge_"): v for k, v in sfmc.items()}, "marketo": marketo}  # fmt: skip
    for tool, out in answers.items():
        size = (out["gif_width"], out["gif_height"])
        assert size == (400, 226), tool  # output.gif.width, and the 16:9 clip's shape (even)
        html = out["email_html"]
        assert f'<a href="{out["page_url"]}"' in html, tool
        assert f'<img src="{out["gif_url"]}" width="400" height="226"' in html, tool
    declared = client.get("/v1/integrations/sfmc/config.json").json()["schema"]["arguments"]["execute"]["outArguments"]
    types = {name: spec["dataType"] for argument in declared for name, spec in argument.items()}
    assert (types["vidmerge_email_html"], types["vidmerge_gif_width"]) == ("Text", "Number")


# --- Salesforce Marketing Cloud ----------------------------------------------------------------


def _execute_claims(contact: str, **arguments: str) -> dict[str, Any]:
    """The execute call's claims, as Journey Builder's documentation shows them."""
    ids = "1234abcd-56ef-78gh-90ij-9876klmn5432"
    return {
        "inArguments": [{"template_id": "small"}, *({k: v} for k, v in arguments.items())],
        "outArguments": [], "activityObjectID": ids, "journeyId": ids, "activityId": ids,
        "definitionInstanceId": ids, "activityInstanceId": ids, "keyValue": contact, "mode": 0,
    }  # fmt: skip


def _signed(claims: dict[str, Any], *, secret: str = SFMC_SECRET, age: int = 0) -> str:
    """A JWT as Journey Builder signs it: `iat` `age` seconds ago and `exp` an hour later."""
    issued = int(time.time()) - age
    return jwt.encode({"iat": issued, "exp": issued + 3600, **claims}, secret, algorithm="HS256")


def _execute(client: TestClient, token: str | bytes) -> Any:
    return client.post("/v1/integrations/sfmc/execute", content=token, headers={"content-type": "application/jwt"})


def test_sfmc_execute_verifies_the_jwt_and_answers_the_out_arguments(client: TestClient) -> None:
    token = _signed(_execute_claims("0031x000003AbC", name="高橋", amount="4200"))
    answer = client.post("/v1/integrations/sfmc/execute", content=token, headers={"content-type": "application/jwt"})
    assert answer.status_code == 200, answer.text
    out = answer.json()
    config = client.get("/v1/integrations/sfmc/config.json").json()
    declared = [next(iter(a)) for a in config["arguments"]["execute"]["outArguments"]]
    assert sorted(out) == sorted(declared) and all(out[f"vidmerge_{u}"].startswith(f"{BASE}/v/") for u in URLS)
    assert _values(client, out["vidmerge_render_id"])["greeting"] == "高橋様"
    again = client.post("/v1/integrations/sfmc/execute", content=token).json()  # Journey Builder's retry
    assert again == out
    forged = _signed(_execute_claims("0031x000003AbC"), secret="not-the-signing-secret-0123456789abcdef")
    assert client.post("/v1/integrations/sfmc/execute", content=forged).status_code == 401
    assert client.post("/v1/integrations/sfmc/execute", content=b"not a jwt").status_code == 401


def test_sfmc_a_retry_signed_anew_is_the_same_render(client: TestClient) -> None:
    """Journey Builder signs every call anew (another `iat`, another `exp`): the same contact at
    the same activity with the same inArguments is the same render, never a 409."""
    call = _execute_claims("0031x000009XyZ", name="山本", amount="800")
    first = _execute(client, _signed(call, age=30))
    again = _execute(client, _signed(call, age=0))
    assert (first.status_code, again.status_code) == (200, 200), again.text
    assert again.json() == first.json()
    changed = _execute(client, _signed(_execute_claims("0031x000009XyZ", name="山本", amount="900")))
    assert changed.status_code == 200 and changed.json()["vidmerge_render_id"] != first.json()["vidmerge_render_id"]
    other = _execute(client, _signed(_execute_claims("0031x000009XyQ", name="山本", amount="800")))
    assert other.json()["vidmerge_render_id"] != first.json()["vidmerge_render_id"]  # another contact


@pytest.mark.parametrize("case", ["no exp", "no iat", "issued 2 h ago", "expired"])
def test_sfmc_a_jwt_without_a_bounded_age_is_401(client: TestClient, case: str) -> None:
    call = _execute_claims("0031x000003AbC", name="高橋")
    now = int(time.time())
    claims = {
        "no exp": {**call, "iat": now},
        "no iat": {**call, "exp": now + 3600},
        "issued 2 h ago": {**call, "iat": now - 7200, "exp": now + 3600},
        "expired": {**call, "iat": now - 120, "exp": now - 60},
    }[case]
    answer = _execute(client, jwt.encode(claims, SFMC_SECRET, algorithm="HS256"))
    assert answer.status_code == 401 and answer.json()["problems"][0]["where"] == "body", answer.text


def test_sfmc_configuration_steps_and_config_json(client: TestClient) -> None:
    journey = {"activityObjectID": "a", "interactionId": "i", "originalDefinitionId": "o", "interactionKey": "k",
               "interactionVersion": "2"}  # fmt: skip
    for step in ("save", "validate", "publish", "stop"):
        assert client.post(f"/v1/integrations/sfmc/{step}", content=_signed(journey)).json() == {}, step
        for unsigned in (b"", b"{}", jwt.encode(journey, SFMC_SECRET, algorithm="HS256")):  # the last: no iat, exp
            answer = client.post(f"/v1/integrations/sfmc/{step}", content=unsigned)
            assert answer.status_code == 401 and answer.json()["problems"][0]["where"] == "body", (step, unsigned)
    config = client.get("/v1/integrations/sfmc/config.json").json()
    assert config["type"] == "REST" and config["arguments"]["execute"]["useJwt"] is True
    assert config["arguments"]["execute"]["url"] == f"{BASE}/v1/integrations/sfmc/execute"
    steps = config["configurationArguments"]
    assert {step: steps[step]["url"] for step in steps} == {
        step: f"{BASE}/v1/integrations/sfmc/{step}" for step in ("save", "validate", "publish", "stop")
    }


# --- the OpenAPI document -----------------------------------------------------------------------


def test_openapi_describes_every_integration_with_its_request_and_answer(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemas, paths = spec["components"]["schemas"], spec["paths"]

    def answer(path: str, method: str = "post", status: str = "200") -> dict[str, Any]:
        ref = paths[path][method]["responses"][status]["content"]["application/json"]["schema"]["$ref"]
        return dict(schemas[ref.rsplit("/", 1)[1]]["properties"])

    def body(path: str, media: str = "application/json") -> dict[str, Any]:
        return dict(paths[path]["post"]["requestBody"]["content"][media]["schema"])

    prefix = "/v1/integrations"
    hubspot = body(f"{prefix}/hubspot/action")
    assert {"callbackId", "inputFields"} <= set(hubspot["required"])
    outputs = schemas[answer(f"{prefix}/hubspot/action")["outputFields"]["$ref"].rsplit("/", 1)[1]]["properties"]
    assert {"hs_execution_state", "vidmerge_error", "vidmerge_email_html", "vidmerge_gif_width"} <= set(outputs)
    assert set(answer(f"{prefix}/braze/connected-content", "get")) >= {"render_id", "email_html", "gif_height"}
    query = {p["name"] for p in paths[f"{prefix}/braze/connected-content"]["get"]["parameters"]}
    assert {"template_id", "external_id", "authorization"} <= query
    assert body(f"{prefix}/braze/connected-content", "application/x-www-form-urlencoded")["required"] == ["template_id"]
    assert body(f"{prefix}/sfmc/execute", "application/jwt")["type"] == "string"
    declared = client.get(f"{prefix}/sfmc/config.json").json()["arguments"]["execute"]["outArguments"]
    assert set(answer(f"{prefix}/sfmc/execute")) == {next(iter(a)) for a in declared}
    assert body(f"{prefix}/marketo/webhook")["required"] == ["template_id"]
    assert {"email_html", "ignored_fields"} <= set(answer(f"{prefix}/marketo/webhook", status="202"))
    for path, operations in paths.items():
        for method, operation in operations.items():
            if path.startswith(prefix):  # a tool's secret unset: 404, as problem+json
                assert "application/problem+json" in operation["responses"]["404"]["content"], (method, path)


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
