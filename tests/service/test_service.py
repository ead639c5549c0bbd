"""The whole HTTP flow on the embedded defaults: one real `vidmerge serve` process, no broker,
local storage, SQLite."""

from __future__ import annotations

import io
import json
import re
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import pytest
from PIL import Image
from support.server import Api

pytestmark = pytest.mark.slow


@pytest.fixture
def api(demo_api: Api) -> Api:
    return demo_api


def _render(api: Api, data: dict[str, Any], **extra: Any) -> dict[str, Any]:
    response = api.post_render({"template_id": "electricity-savings", "data": data, **extra})
    assert response.status_code in (200, 202), response.text
    return dict(response.json())


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def test_template_listing_shows_slots_and_inputs(api: Api) -> None:
    listed = api.client.get("/v1/templates").json()
    assert [(t["id"], t["version"], t["status"]) for t in listed] == [("electricity-savings", 1, "ready")]
    one = api.client.get("/v1/templates/electricity-savings").json()
    assert {s["id"] for s in one["slots"]} >= {"greeting", "savings", "plan_icon"}
    assert {f["name"] for f in one["inputs"]} >= {"name", "monthly_kwh"}
    assert one["segments"] == 15
    # what each customer's render encodes: 7 of 15 segments, 14 of 30 s
    assert one["personalized"] == {"segments": [1, 2, 6, 7, 8, 12, 13], "seconds": 14.0, "of_seconds": 30.0}


def test_webhook_answers_with_every_url_and_a_playable_playlist(api: Api) -> None:
    r = _render(api, {"name": "鈴木 一郎", "monthly_kwh": 380}, external_id="crm-1")
    assert r["status"] == "queued"
    for key in ("page_url", "hls_url", "mp4_url", "poster_url", "gif_url"):
        assert r[key].startswith(api.url + "/v/")
    playlist = api.client.get(_path(r["hls_url"]))
    assert playlist.status_code == 200
    assert playlist.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    names = [line for line in playlist.text.splitlines() if line and not line.startswith("#")]
    assert len(names) == 15 and playlist.text.rstrip().endswith("#EXT-X-ENDLIST")
    base = _path(r["hls_url"]).rsplit("/", 1)[0]
    frames = 0
    for name in names:  # dynamic ones may not be rendered yet: they are rendered or awaited now
        seg = api.client.get(f"{base}/{name}")
        assert seg.status_code == 200, (name, seg.text[:300])
        assert seg.headers["content-type"] == "video/mp2t"
        with av.open(io.BytesIO(seg.content)) as c:
            frames += sum(1 for p in c.demux(c.streams.video[0]) if p.pts is not None)
    assert frames == 900


def test_finished_outputs_ranges_poster_gif_and_page(api: Api) -> None:
    r = _render(api, {"name": "高橋 美咲", "monthly_kwh": 520})
    done = api.wait_done(r["render_id"])
    assert done["status"] == "done", done
    assert done["values"]["greeting"] == "高橋 美咲様、こんにちは"
    assert "savings" in done["explanations"]

    mp4 = api.client.get(_path(r["mp4_url"]))
    assert mp4.status_code == 200 and mp4.headers["content-type"] == "video/mp4"
    total = len(mp4.content)
    part = api.client.get(_path(r["mp4_url"]), headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-199/{total}"
    assert part.content == mp4.content[100:200]
    tail = api.client.get(_path(r["mp4_url"]), headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == mp4.content[-10:]
    beyond = api.client.get(_path(r["mp4_url"]), headers={"Range": f"bytes={total}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{total}"

    poster = api.client.get(_path(r["poster_url"]))
    assert poster.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(poster.content)).size == (1280, 720)
    gif = api.client.get(_path(r["gif_url"]))
    assert gif.headers["content-type"] == "image/gif" and len(gif.content) < 1_000_000
    assert Image.open(io.BytesIO(gif.content)).n_frames > 10

    page = api.client.get(_path(r["page_url"]))
    assert page.status_code == 200 and "<video" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "noindex" in page.headers["x-robots-tag"]


def test_no_mp4_is_kept_per_customer_it_is_assembled_when_asked_for(api: Api) -> None:
    """Storage follows the personalized seconds: a done render keeps no MP4 of its own. Asked
    for, it is remuxed from the shared and personal segments (the index first, every frame of the
    HLS stream), kept a while, dropped by the sweep after, assembled again the same; erasure
    deletes it. Poster and GIF are shared by customers whose segments there are equal."""
    data = {"name": "組立 一郎", "monthly_kwh": 433}
    r, twin = _render(api, data, external_id="crm-mp4-1"), _render(api, data, external_id="crm-mp4-2")
    for render in (r, twin):
        api.wait_done(render["render_id"])
    token = r["page_url"].rstrip("/").rsplit("/", 1)[1]

    def kept() -> list[Path]:
        return [p for p in api.data.rglob("video.mp4") if token in p.parts]

    assert kept() == []
    mp4 = api.client.get(_path(r["mp4_url"]))
    assert mp4.status_code == 200 and len(kept()) == 1
    assert mp4.content.index(b"moov") < mp4.content.index(b"mdat")  # +faststart: players start at once
    part = api.client.get(_path(r["mp4_url"]), headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == mp4.content[1000:2000]
    with av.open(io.BytesIO(mp4.content)) as container:
        frames = sum(1 for p in container.demux(video=0) if p.size)
    base = _path(r["hls_url"]).rsplit("/", 1)[0]
    names = [n for n in api.client.get(_path(r["hls_url"])).text.splitlines() if n and not n.startswith("#")]
    hls = 0
    for name in names:
        with av.open(io.BytesIO(api.client.get(f"{base}/{name}").content), format="mpegts") as container:
            hls += sum(1 for p in container.demux(video=0) if p.size)
    assert frames == hls > 0

    db = sqlite3.connect(next(api.data.glob("*.db")))
    assert db.execute("SELECT count(*) FROM segments WHERE key LIKE ?", (f"%{token}%",)).fetchone() == (0,)
    (until,) = db.execute("SELECT mp4_until FROM renders WHERE token = ?", (token,)).fetchone()
    assert until is not None and until > "2026"  # kept for a while after this use
    with db:  # its time is up: the sweep (every 5 s) deletes it
        db.execute("UPDATE renders SET mp4_until = '2000-01-01 00:00:00.000000' WHERE token = ?", (token,))
    db.close()
    _until(lambda: kept() == [], 30)
    again = api.client.get(_path(r["mp4_url"]))
    assert again.status_code == 200 and again.content == mp4.content

    pictures = {name: api.client.get(_path(r[f"{name}_url"])).content for name in ("poster", "gif")}
    assert pictures == {name: api.client.get(_path(twin[f"{name}_url"])).content for name in ("poster", "gif")}
    assert not [p for p in api.data.rglob("*") if token in p.parts and p.suffix in (".jpg", ".gif")]
    assert api.client.delete(f"/v1/renders/{r['render_id']}").status_code == 204
    assert kept() == [] and api.client.get(_path(twin["poster_url"])).content == pictures["poster"]


def _until(check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_files_asked_for_while_rendering_are_awaited_not_failed(api: Api) -> None:
    """The MP4, poster and GIF links work from the first second: the email is sent at once."""
    r = _render(api, {"name": "待つ 人", "monthly_kwh": 777})
    answers = []
    for _ in range(12):  # each request waits up to VIDMERGE_SEGMENT_WAIT_SECONDS, then 503 Retry-After
        answer = api.client.get(_path(r["mp4_url"]), timeout=60)
        answers.append(answer.status_code)
        if answer.status_code != 503:
            break
    assert answers[-1] == 200 and set(answers) <= {200, 503}, answers
    assert answer.headers["content-type"] == "video/mp4" and answer.content[4:8] == b"ftyp"
    assert api.client.get(_path(r["poster_url"])).status_code == 200


def test_each_request_is_its_own_render_sharing_content_underneath(api: Api) -> None:
    data = {"name": "伊藤 健", "monthly_kwh": 300}
    first = _render(api, data, external_id="crm-a")
    api.wait_done(first["render_id"])
    # another customer whose values are equal (NFKC: full-width digits): their own render and link
    second = api.post_render(
        {"template_id": "electricity-savings", "data": {**data, "monthly_kwh": "３００"}, "external_id": "crm-b"}
    )
    assert second.status_code == 202
    other = second.json()
    assert other["render_id"] != first["render_id"] and other["page_url"] != first["page_url"]
    assert other["external_id"] == "crm-b"
    api.wait_done(other["render_id"])
    # erasing the second customer leaves the first one's video whole
    assert api.client.delete(f"/v1/renders/{other['render_id']}").status_code == 204
    assert api.client.get(_path(other["mp4_url"])).status_code == 404
    playlist = api.client.get(_path(first["hls_url"])).text
    base = _path(first["hls_url"]).rsplit("/", 1)[0]
    for name in [line for line in playlist.splitlines() if line and not line.startswith("#")]:
        assert api.client.get(f"{base}/{name}").status_code == 200, name
    assert api.client.get(_path(first["mp4_url"])).status_code == 200


def _personal_segments(api: Api) -> set[Path]:
    return {p for p in api.data.rglob("*.ts") if "dyn" in p.parts}


def _encoded(api: Api) -> float:
    text = api.client.get("/metrics").text
    found = re.search(r'^vidmerge_segments_total\{source="rendered"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def test_each_segment_encode_is_counted_once_however_many_wait_for_it(api: Api) -> None:
    """Two customers with equal new values share their segments in flight, and a player fetches
    them meanwhile: `vidmerge_segments_total{source="rendered"}` counts the encodes, once each
    (segments drawing what earlier renders drew exist already)."""
    before, stored = _encoded(api), _personal_segments(api)
    data = {"name": "数 える", "monthly_kwh": 311.7}
    dynamic = api.client.get("/v1/templates/electricity-savings").json()["personalized"]["segments"]
    first, second = (_render(api, data, external_id=f"crm-count-{n}") for n in (1, 2))
    base = _path(first["hls_url"]).rsplit("/", 1)[0]
    for index in dynamic:
        assert api.client.get(f"{base}/seg/{index}.ts").status_code == 200
    for render in (first, second):
        api.wait_done(render["render_id"])
    made = _personal_segments(api) - stored
    assert 0 < len(made) <= len(dynamic) and _encoded(api) - before == len(made)


def test_idempotency_key_is_bound_to_the_request(api: Api) -> None:
    body = {"template_id": "electricity-savings", "data": {"name": "木村"}}
    keyed = api.post_render(body, **{"Idempotency-Key": "k-1"})
    retried = api.post_render(body, **{"Idempotency-Key": "k-1"})
    assert (keyed.status_code, retried.status_code) == (202, 200)
    assert retried.json()["render_id"] == keyed.json()["render_id"]
    other = api.post_render({**body, "data": {"name": "別人"}}, **{"Idempotency-Key": "k-1"})
    assert other.status_code == 409 and other.json()["problems"][0]["where"] == "Idempotency-Key"
    assert "別人" not in other.text
    # erased, then retried: the key does not bring the render back
    assert api.client.delete(f"/v1/renders/{keyed.json()['render_id']}").status_code == 204
    again = api.post_render(body, **{"Idempotency-Key": "k-1"})
    assert again.status_code == 409 and again.json()["problems"][0]["where"] == "Idempotency-Key"


def test_bad_data_lists_every_field_in_one_problem(api: Api) -> None:
    response = api.post_render({"template_id": "electricity-savings", "data": {"monthly_kwh": -5, "amperage": 7}})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    wheres = {p["where"] for p in response.json()["problems"]}
    assert {"data.monthly_kwh", "data.amperage"} <= wheres
    unknown = api.post_render({"template_id": "nope", "data": {}})
    assert unknown.status_code == 404
    malformed = api.client.post("/v1/renders", content=b"{not json", headers={"content-type": "application/json"})
    assert malformed.status_code == 422 and malformed.json()["problems"][0]["where"] == "body"


def test_erasure_makes_every_url_answer_like_an_unknown_one(api: Api) -> None:
    r = _render(api, {"name": "消去 される"}, external_id="forget-me")
    api.wait_done(r["render_id"])
    unknown = api.client.get("/v/" + "x" * 32 + "/video.mp4")
    assert api.client.delete(f"/v1/renders/{r['render_id']}").status_code == 204
    for key in ("page_url", "hls_url", "mp4_url", "poster_url", "gif_url"):
        gone = api.client.get(_path(r[key]))
        assert (gone.status_code, gone.content) == (unknown.status_code, unknown.content) == (404, unknown.content)
    assert api.client.get(f"/v1/renders/{r['render_id']}").status_code == 404
    data_dir = Path(api.env["VIDMERGE_DATA_DIR"])
    token = r["mp4_url"].split("/")[-2]
    assert not list((data_dir / "objects" / "renders").glob(f"{token}*"))
    # erasure by external id
    r2 = _render(api, {"name": "忘れて ください"}, external_id="forget-me-too")
    erased = api.client.delete("/v1/renders", params={"external_id": "forget-me-too"})
    assert erased.json() == {"erased": 1}
    assert api.client.get(_path(r2["page_url"])).status_code == 404


def test_health_readiness_metrics_openapi(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    ready = api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {
        "database": "ok",
        "storage": "ok",
        "queue": "ok",
        "disk": "ok",
    }
    metrics = api.client.get("/metrics").text
    assert "vidmerge_renders_total" in metrics and "vidmerge_cache_hits_total" in metrics
    spec = api.client.get("/openapi.json").json()
    assert {"/v1/renders", "/v1/templates"} <= set(spec["paths"])
    assert json.dumps(spec)  # serializable


def test_public_links_answer_head_and_nothing_is_sniffed(api: Api) -> None:
    r = _render(api, {"name": "頭 だけ"})
    api.wait_done(r["render_id"])
    for key in ("page_url", "hls_url", "mp4_url", "poster_url", "gif_url"):
        head, get = api.client.head(_path(r[key])), api.client.get(_path(r[key]))
        assert head.status_code == get.status_code == 200, key
        assert head.content == b"" and head.headers["content-type"] == get.headers["content-type"], key
        assert get.headers["x-content-type-options"] == "nosniff", key
    assert api.client.head(_path(r["hls_url"]).replace("index.m3u8", "seg/0.ts")).status_code == 200
    unknown = api.client.head("/v/" + "x" * 32)
    assert unknown.status_code == 404 and unknown.headers["x-content-type-options"] == "nosniff"


def test_openapi_describes_the_webhook_body_and_its_problems(api: Api) -> None:
    operation = api.client.get("/openapi.json").json()["paths"]["/v1/renders"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["template_id"] and {"data", "external_id", "priority"} <= set(body["properties"])
    for status in ("401", "404", "409", "413", "422", "503"):
        problem = operation["responses"][status]["content"]["application/problem+json"]["schema"]
        assert {"title", "status", "detail", "problems"} <= set(problem["properties"]), status
