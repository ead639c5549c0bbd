"""Private links, logs and temporary files through one real `vidmerge serve` (small template)."""

from __future__ import annotations

import json
import re
import secrets
import socket
import stat
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.media import SMALL_MANIFEST, make_clip, write_bundle, zip_folder
from support.server import Api

pytestmark = pytest.mark.slow

NAME = "漏洩 テスト太郎"
EMAIL = "taro.leak@example.com"
EXTERNAL = "crm-secret-4711"
OUTPUTS = ("page_url", "hls_url", "mp4_url", "poster_url", "gif_url")


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    tmp = tmp_path_factory.mktemp("http")
    manifest = {**SMALL_MANIFEST, "output": {**SMALL_MANIFEST["output"], "ladder": [90]}}  # and a 160×90 rendition
    root = write_bundle(tmp / "bundle", manifest, clip=make_clip(tmp / "clip.mp4"))
    (tmp / "tmpdir").mkdir()
    server = Api(tmp, {"TMPDIR": str(tmp / "tmpdir")})
    server.start()
    server.post_template(zip_folder(root, tmp / "small.zip"))
    yield server
    server.stop()


def _render(api: Api, data: dict[str, Any], **extra: Any) -> dict[str, Any]:
    response = api.post_render({"template_id": "small", "data": data, **extra})
    assert response.status_code in (200, 202), response.text
    return dict(response.json())


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def _token(answer: dict[str, Any]) -> str:
    return str(answer["page_url"].rsplit("/v/", 1)[1])


def test_links_carry_unguessable_tokens_not_ids_or_data(api: Api) -> None:
    answers = [_render(api, {"name": f"token {i}"}, external_id=f"ext-{i}") for i in range(20)]
    tokens = [_token(a) for a in answers]
    assert len(set(tokens)) == 20
    for answer, token in zip(answers, tokens, strict=True):
        assert re.fullmatch(r"[A-Za-z0-9_-]{22,64}", token), token  # ≥ 22 base64url chars ≥ 128 bits
        assert len(token) * 6 >= 128
        for key in OUTPUTS:
            url = answer[key]
            assert f"/v/{token}" in url
            assert answer["render_id"] not in url and answer["external_id"] not in url and "token" not in url[-40:]
    # the tokens do not share structure: every position takes many values
    columns = [{t[i] for t in tokens} for i in range(22)]
    assert min(len(c) for c in columns) >= 5


def test_erased_and_unknown_links_answer_byte_identical_404s(api: Api) -> None:
    answer = _render(api, {"name": "消える 人"}, external_id="erase-me")
    token = _token(answer)
    base = _path(answer["page_url"])
    playlist = api.client.get(f"{base}/index.m3u8")
    assert playlist.status_code == 200 and "r/90p/index.m3u8" in playlist.text
    assert api.client.get(f"{base}/r/90p/seg/1.ts").status_code == 200
    suffixes = ["", "/index.m3u8", "/seg/0.ts", "/seg/1.ts", "/seg/99.ts", "/video.mp4", "/poster.jpg", "/email.gif",
                "/r/90p/index.m3u8", "/r/90p/seg/1.ts", "/r/180p/seg/2.ts", "/r/999p/index.m3u8"]  # fmt: skip
    unknown_token = secrets.token_urlsafe(len(token) * 3 // 4)[: len(token)]
    assert api.client.delete(f"/v1/renders/{answer['render_id']}").status_code == 204
    for suffix in suffixes:
        gone = api.client.get(f"{base}{suffix}")
        unknown = api.client.get(f"/v/{unknown_token}{suffix}")
        assert gone.status_code == unknown.status_code == 404, (suffix, gone.text)
        assert gone.content == unknown.content, suffix
        assert gone.headers["content-type"] == unknown.headers["content-type"], suffix
    # a wrong-length or absurd token is the same 404 too
    for odd in ("x", "x" * 65, "x" * 500, "..%2F..%2Fetc"):
        assert api.client.get(f"/v/{odd}/index.m3u8").content == unknown.content


def test_landing_page_headers_scripts_and_generic_preview(api: Api) -> None:
    answer = _render(api, {"name": NAME}, external_id=EXTERNAL)
    page = api.client.get(_path(answer["page_url"]))
    assert page.status_code == 200
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "noindex" in page.headers["x-robots-tag"]
    scripts = re.findall(r"<script[^>]*\bsrc=[\"']([^\"']+)", page.text)
    assert scripts and all(s.startswith("/") and not s.startswith("//") for s in scripts), scripts
    og = " ".join(re.findall(r"<meta[^>]+property=[\"']og:[^>]+>", page.text))
    assert og and NAME not in og and "テスト" not in og
    for secret in (NAME, "漏洩", EXTERNAL, answer["render_id"]):
        assert secret not in page.text
    meta = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page.text)
    assert meta is not None
    for policy in (page.headers["content-security-policy"], meta[1]):
        assert "'unsafe-inline'" not in policy and "style-src 'sha256-" in policy, policy


def test_every_405_says_which_methods_are_allowed(api: Api) -> None:
    for method, path, allowed in [("TRACE", "/v1/renders", "DELETE, POST"), ("PUT", "/healthz", "GET"),
                                  ("TRACE", "/v/" + "x" * 22 + "/index.m3u8", "GET, HEAD"),
                                  ("TRACE", "/static/player.js", "GET, HEAD")]:  # fmt: skip
        answer = api.client.request(method, path)
        assert (answer.status_code, answer.headers.get("allow")) == (405, allowed), (method, path)


def test_a_range_of_thousands_of_digits_is_past_the_end_not_a_server_error(api: Api) -> None:
    segment = _path(_render(api, {"name": "範囲 検査"})["page_url"]) + "/seg/0.ts"
    size = len(api.client.get(segment).content)
    huge = "9" * 5000
    past = api.client.get(segment, headers={"Range": f"bytes={huge}-"})
    assert (past.status_code, past.headers["content-range"]) == (416, f"bytes */{size}")
    for whole in (f"bytes=0-{huge}", f"bytes=-{huge}"):
        answer = api.client.get(segment, headers={"Range": whole})
        assert (answer.status_code, answer.headers["content-range"]) == (206, f"bytes 0-{size - 1}/{size}"), whole


def test_a_webhook_endpoint_with_a_port_past_65535_is_refused_naming_the_url(api: Api) -> None:
    answer = api.client.post("/v1/webhook-endpoints", json={"url": "https://example.com:99999/hook"})
    assert answer.status_code == 422
    assert answer.json()["problems"] == [{"where": "url", "reason": "not a valid URL: Port out of range 0-65535"}]


def test_a_client_leaving_mid_body_is_a_quiet_4xx_not_an_error(api: Api) -> None:
    host, port = api.url.rsplit("/", 1)[1].split(":")
    for path in ("/v1/renders", "/v/" + "x" * 22 + "/events"):
        with socket.create_connection((host, int(port))) as sock:
            head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
            sock.sendall(head.encode() + b'{"template_id": "sm')
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _log(api).count("client disconnected before sending the whole body") < 2:
        time.sleep(0.2)
    records = [json.loads(line) for line in _log(api).splitlines() if line.startswith("{")]
    left = [r for r in records if r["msg"].startswith("client disconnected")]
    assert len(left) == 2 and all(r["level"] == "INFO" and "traceback" not in r for r in left)
    assert not [r for r in records if r.get("exc_type") == "ClientDisconnect" or r["level"] == "ERROR"]


def _log(api: Api) -> str:
    return api.log_path.read_text(encoding="utf-8", errors="replace")


def test_logs_carry_ids_never_data_values_or_full_tokens(api: Api) -> None:
    answer = _render(api, {"name": NAME, "email": EMAIL}, external_id=EXTERNAL)
    token = _token(answer)
    api.client.get(_path(answer["hls_url"]))
    api.client.get(_path(answer["page_url"]) + "/seg/0.ts")
    api.wait_done(answer["render_id"])
    bad = api.post_render({"template_id": "small", "data": {"name": "x", "amount": "not-a-number-5150"}})
    assert bad.status_code == 422
    assert api.client.delete("/v1/renders", params={"external_id": EXTERNAL}).status_code == 200
    time.sleep(0.5)  # the last request lines are written after the response
    log = api.log_path.read_text(encoding="utf-8", errors="replace")
    for secret in (NAME, "漏洩", "テスト太郎", EMAIL, "example.com", EXTERNAL, "not-a-number-5150", token):
        assert secret not in log, f"{secret!r} leaked into the log"
    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    requests = [r for r in records if r.get("msg") == "request"]
    assert any(r["path"] == f"/v/{token[:6]}…/index.m3u8" and r["request_id"] for r in requests)
    assert any(r["path"] == "/v1/renders" and r["method"] == "DELETE" for r in requests)  # no query string
    assert any(answer["render_id"] in r["msg"] for r in records)  # renders are logged by id
    assert len({r["request_id"] for r in requests}) == len(requests)


def test_a_hostile_upload_is_refused_and_leaves_no_temporary_files(api: Api, tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("template.yaml", "id: evil\n")
        link = zipfile.ZipInfo("assets/passwd.png")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    with archive.open("rb") as f:
        response = api.client.post("/v1/templates", files={"file": ("evil.zip", f, "application/zip")})
    assert response.status_code == 422
    assert response.json()["problems"][0]["where"] == "bundle.zip: assets/passwd.png"
    garbage = api.client.post("/v1/templates", files={"file": ("x.zip", b"PK\x03\x04garbage", "application/zip")})
    assert garbage.status_code == 422
    scratch = Path(api.env["VIDMERGE_DATA_DIR"]) / "tmp"  # where `serve` keeps its temporary files
    (mine,) = scratch.iterdir()  # its process's own folder (service/scratch.py)
    deadline = time.monotonic() + 10
    while _left(mine) and time.monotonic() < deadline:  # renders may still be packaging
        time.sleep(0.2)
    assert _left(mine) == []
    assert list(Path(api.env["TMPDIR"]).iterdir()) == []  # nor the system's


def test_links_expire_when_the_template_says_so(tmp_path_factory: pytest.TempPathFactory) -> None:
    """`output.link_expire_days`: after it, every link answers like an unknown one."""
    from support.media import SMALL_MANIFEST

    tmp = tmp_path_factory.mktemp("expiry")
    manifest = json.loads(json.dumps(SMALL_MANIFEST))
    manifest["id"] = "expiring"
    manifest["output"]["link_expire_days"] = 3 / 86400  # three seconds
    root = write_bundle(tmp / "bundle", manifest, clip=make_clip(tmp / "clip.mp4"))
    server = Api(tmp)
    server.start()
    try:
        server.post_template(zip_folder(root, tmp / "expiring.zip"))
        answer = server.post_render({"template_id": "expiring", "data": {"name": "期限 付き"}}).json()
        assert server.client.get(_path(answer["hls_url"])).status_code == 200
        unknown = server.client.get("/v/" + secrets.token_urlsafe(24) + "/index.m3u8")
        time.sleep(3.5)
        for key in OUTPUTS:
            gone = server.client.get(_path(answer[key]))
            assert (gone.status_code, gone.content) == (404, unknown.content), key
    finally:
        server.stop()


def _left(folder: Path) -> list[Path]:
    """What a process's scratch folder holds but its lock file."""
    return [p for p in folder.iterdir() if p.name != ".lock"]
