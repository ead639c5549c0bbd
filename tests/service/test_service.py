"""The whole HTTP flow on the embedded defaults: one real `vidmerge serve` process, no broker,
local storage, SQLite."""

from __future__ import annotations

import asyncio
import io
import json
import re
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image
from support.media import psnr
from support.server import Api, get_segment, segment_paths, uris

from vidmerge.bench import viewers

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
    master = api.client.get(_path(r["hls_url"]))
    assert master.status_code == 200
    assert master.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    assert uris(master.text) == [f"r/{h}p/index.m3u8" for h in (234, 360, 540, 720)]
    playlist = api.client.get(_path(r["hls_url"]).replace("index.m3u8", "r/720p/index.m3u8"))
    assert playlist.status_code == 200 and playlist.text.rstrip().endswith("#EXT-X-ENDLIST")
    frames = 0
    for path in segment_paths(api.client, _path(r["hls_url"]), 0):  # the lowest rendition's: never refused
        seg = api.client.get(path)  # dynamic ones may not be rendered yet: they are rendered or awaited now
        assert seg.status_code == 200, (path, seg.text[:300])
        assert seg.headers["content-type"] == "video/mp2t"
        with av.open(io.BytesIO(seg.content)) as c:
            frames += sum(1 for p in c.demux(c.streams.video[0]) if p.pts is not None)
    assert frames == 900


_STREAM_INF = re.compile(r'^#EXT-X-STREAM-INF:BANDWIDTH=(\d+),RESOLUTION=(\d+)x(\d+),CODECS="(avc1\.[0-9a-f]{6}),'
                         r'mp4a\.40\.2",FRAME-RATE=30\.000$', re.M)  # fmt: skip


def test_the_master_playlist_offers_the_ladder_lowest_first(api: Api) -> None:
    """RFC 8216 4.3.4.2: each variant with its peak BANDWIDTH (no shared segment of it goes
    over), RESOLUTION, CODECS (the profile and level its segments' SPS carries) and FRAME-RATE;
    the lowest first, where a player that takes the first variant starts."""
    r = _render(api, {"name": "梯子 一郎", "monthly_kwh": 402})
    text = api.client.get(_path(r["hls_url"])).text
    assert text.startswith("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n")
    variants = [(int(b), int(w), int(h), c) for b, w, h, c in _STREAM_INF.findall(text)]
    assert [(w, h) for _, w, h, _ in variants] == [(416, 234), (640, 360), (960, 540), (1280, 720)]
    bandwidths = [b for b, *_ in variants]
    assert bandwidths == sorted(bandwidths) and len(set(bandwidths)) == 4
    for rung, (bandwidth, width, height, codecs) in enumerate(variants):
        paths = segment_paths(api.client, _path(r["hls_url"]), rung)
        first = api.client.get(paths[0]).content  # shared: the first segment is static
        with av.open(io.BytesIO(first), format="mpegts") as c:
            stream = c.streams.video[0]
            assert (stream.codec_context.width, stream.codec_context.height) == (width, height)
        sps = first[first.index(b"\x00\x00\x01\x67") + 4 :][:3]
        assert codecs == f"avc1.{sps.hex()}"
        assert len(first) * 8 / 2.0 <= bandwidth


def test_each_rendition_is_rendered_just_in_time_and_splices(api: Api) -> None:
    """A viewer on a lower rendition (360p) asks for its personalized segments: each is rendered
    then (none of them existed: the worker makes the top one's), at that rendition's size, on the
    same clock as its shared neighbours, every frame there; the name is drawn, scaled. (The
    viewer comes once the render is done: a higher rendition's segment a busy server cannot make
    in time is refused, test_a_higher_renditions_segment_that_cannot_be_ready_in_time_is_refused:
    this viewer comes back to it, as a player does.)"""
    r = _render(api, {"name": "低画質 花子", "monthly_kwh": 377})
    api.wait_done(r["render_id"])
    before = {p for p in _personal_segments(api) if "360p" in p.parts}
    pts: list[int] = []
    paths = segment_paths(api.client, _path(r["hls_url"]), 1)
    for path in paths:
        seg = get_segment(api.client, path, paths[0])
        assert seg.status_code == 200, path
        with av.open(io.BytesIO(seg.content), format="mpegts") as c:
            stream = c.streams.video[0]
            assert (stream.codec_context.width, stream.codec_context.height) == (640, 360)
            pts += sorted(p.pts for p in c.demux(stream) if p.pts is not None)
    step = 90_000 // 30
    assert len(pts) == 900 and all(b - a == step for a, b in zip(pts, pts[1:], strict=False))
    made = {p for p in _personal_segments(api) if "360p" in p.parts} - before
    assert 5 <= len(made) <= 7  # made for this viewer: at least the five drawing its name and savings
    # the greeting as the top rendition draws it, scaled: far closer to it than to the bare base
    slot = next(s for s in api.client.get("/v1/templates/electricity-savings").json()["slots"] if s["id"] == "greeting")
    box = tuple(round(slot["box"][k] / 2) for k in ("x", "y", "w", "h"))
    low, top = (_frame(api.client.get(segment_paths(api.client, _path(r["hls_url"]), rung)[2]).content, box)
                for rung in (1, -1))  # fmt: skip
    shared = next(p for p in api.data.rglob("seg_00002.ts") if "360p" in p.parts)
    bare = _frame(shared.read_bytes(), box)
    top_scaled = np.asarray(Image.fromarray(top).resize((box[2], box[3]), Image.Resampling.BOX))
    assert psnr(low, top_scaled) > psnr(low, bare) + 6, (psnr(low, top_scaled), psnr(low, bare))


def test_a_higher_renditions_segment_that_cannot_be_ready_in_time_is_refused(api: Api) -> None:
    """A 540p personalized segment, which only its viewer's request makes, is made when it can
    be ready before the viewer's playhead reaches it (segment 6 starts 12 s after the viewer's
    first request). A viewer whose playhead already reached segment 1 (it started 2.5 s ago;
    segment 1 starts at 2 s) is refused it: 429 naming the rendition, nothing made; hls.js
    switches down on it. The lowest rendition's is never refused, and is made now."""
    r = _render(api, {"name": "間に合わ 太郎", "monthly_kwh": 411})
    lowest, middle = (segment_paths(api.client, _path(r["hls_url"]), rung) for rung in (0, 2))
    assert api.client.get(lowest[0]).status_code == 200  # playing starts
    assert api.client.get(middle[6]).status_code == 200
    before = {p for p in _personal_segments(api) if "540p" in p.parts}
    time.sleep(2.5)
    refused = api.client.get(middle[1])
    assert refused.status_code == 429, refused.text
    assert refused.headers["retry-after"] and refused.json()["problems"][0]["where"] == "rendition"
    assert "540p" in refused.json()["detail"] and "segment 1" in refused.json()["detail"]
    assert {p for p in _personal_segments(api) if "540p" in p.parts} == before
    assert api.client.get(lowest[1]).status_code == 200
    assert re.search(r'^vidmerge_segments_total\{source="refused"\} [1-9]', api.client.get("/metrics").text, re.M)


def test_a_viewing_starts_by_making_its_lowest_renditions_personalized_segments(api: Api) -> None:
    """A viewer's first segment request submits every personalized segment of the lowest
    rendition (the fallback a refused climb lands on), not only the one asked for."""
    r = _render(api, {"name": "床 次郎", "monthly_kwh": 433.5, "deadline": "2032-04-18"})  # every segment its own
    api.wait_done(r["render_id"])  # the render made only the lowest's first one
    before = {p for p in _personal_segments(api) if "234p" in p.parts}
    assert api.client.get(segment_paths(api.client, _path(r["hls_url"]), 0)[0]).status_code == 200
    deadline = time.monotonic() + 60
    while len({p for p in _personal_segments(api) if "234p" in p.parts} - before) < 6:
        assert time.monotonic() < deadline, "the lowest rendition's segments were not made"
        time.sleep(0.25)


def test_the_benchs_viewer_climbs_the_ladder(api: Api) -> None:
    """`vidmerge bench`'s simulated viewer starts on the lowest rendition and climbs one at a
    time while it holds seconds ahead of its playhead, to the top (segments 3 to 5 are shared:
    never refused)."""
    [viewer] = asyncio.run(
        viewers.crowd(api.url, "electricity-savings", lambda i: {"name": "登る 一郎", "monthly_kwh": 420}, 1)
    )
    assert viewer.renditions == {"234p", "360p", "540p", "720p"}
    assert len(viewer.segment_waits) == 14


def test_a_vertical_templates_lowest_rendition_serves_its_personalized_segments(vertical: Api) -> None:
    """A viewer of a fresh render of a 9:16 template starts on the lowest rendition: each of its
    segments, the personalized ones made now, is served (they were answered 503: with non-square
    pixels in the shared segments, none verified). The ladder goes by the short side: 234p is
    234×416."""
    response = vertical.post_render({"template_id": "vertical", "data": {"name": "縦長 花子", "amount": 8600}})
    assert response.status_code == 202, response.text
    hls = _path(response.json()["hls_url"])
    paths = segment_paths(vertical.client, hls, 0)
    assert [p.rsplit("/", 3)[1] for p in paths] == ["234p"] * 6
    segments = [vertical.client.get(path) for path in paths]  # 1 and 2 personalized
    assert [s.status_code for s in segments] == [200] * 6, vertical.log_tail()
    for seg in segments:
        with av.open(io.BytesIO(seg.content), format="mpegts") as c:
            stream = c.streams.video[0]
            assert (stream.codec_context.width, stream.codec_context.height, stream.sample_aspect_ratio) == (
                234,
                416,
                1,
            )
    master = vertical.client.get(hls).text
    assert uris(master) == ["r/234p/index.m3u8", "r/360p/index.m3u8"]
    assert [m.group(1) for m in re.finditer(r"RESOLUTION=(\d+x\d+)", master)] == ["234x416", "360x640"]


def _frame(segment: bytes, box: tuple[int, ...], n: int = 30) -> np.ndarray:
    """Frame `n` of a segment as RGB, cut to `box` (x, y, w, h) at that segment's size, where the
    top rendition's box is twice as large."""
    with av.open(io.BytesIO(segment), format="mpegts") as c:
        frame = next(f for i, f in enumerate(c.decode(video=0)) if i == n).to_ndarray(format="rgb24")
    if frame.shape[0] == 720:
        x, y, w, h = (2 * v for v in box)
    else:
        x, y, w, h = box
    return frame[y : y + h, x : x + w]


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
    hls = 0
    for path in segment_paths(api.client, _path(r["hls_url"])):  # the top rendition's, which the MP4 is
        with av.open(io.BytesIO(api.client.get(path).content), format="mpegts") as container:
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
    for rung in (0, -1):
        for path in segment_paths(api.client, _path(first["hls_url"]), rung):
            assert api.client.get(path).status_code == 200, path
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
    # the top rendition's, and the ladder's lowest rendition's first (made for an interactive render)
    assert 0 < len(made) <= len(dynamic) + 1 and _encoded(api) - before == len(made)


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


def test_erasure_deletes_the_personal_segments_of_every_rendition(api: Api) -> None:
    """Segments a viewer had made in each rendition of the ladder go with the render."""
    before = _personal_segments(api)
    # every drawn value its own (the deadline too): no other render uses any of its segments
    data = {"name": "全段 消子", "monthly_kwh": 1234.5, "deadline": "2031-03-17"}
    r = _render(api, data, external_id="forget-every-rung")
    db = sqlite3.connect(next(api.data.glob("*.db")))
    query = "SELECT key FROM render_segments WHERE render_id = ?"
    api.wait_done(r["render_id"])
    # the render: the top's, poster, GIF, and the lowest rendition's first (its viewer starts there)
    made = {p.parent.name for p in _personal_segments(api) - before}
    assert len(db.execute(query, (r["render_id"],)).fetchall()) == 7 + 2 + 1 and "234p" in made
    assert not made & {"360p", "540p"}
    for rung in (0, 1, 2, 3):  # a viewer's first request references every rendition's
        paths = segment_paths(api.client, _path(r["hls_url"]), rung)
        for path in paths:
            assert get_segment(api.client, path, paths[0]).status_code == 200, path
    keys = {k for (k,) in db.execute(query, (r["render_id"],))}
    assert len(keys) == 4 * 7 + 2
    mine = {p for p in _personal_segments(api) - before if "dyn/" + p.as_posix().split("/dyn/", 1)[1] in keys}
    folders = {p.parent.name for p in mine}  # each lower rendition's, and the top one's (the prepared key)
    assert len(folders) == 4 and folders > {"234p", "360p", "540p"} and len(mine) == 4 * 7  # 7 in each
    assert api.client.delete(f"/v1/renders/{r['render_id']}").status_code == 204
    assert [p for p in mine if p.exists()] == []


def test_a_bulk_render_makes_only_the_top_rendition(api: Api) -> None:
    """A campaign's customer opens the link some day: nothing is made for a viewer in advance."""
    r = _render(api, {"name": "一括 送子", "monthly_kwh": 987.6}, priority="bulk")
    api.wait_done(r["render_id"])
    db = sqlite3.connect(next(api.data.glob("*.db")))
    keys = [k for (k,) in db.execute("SELECT key FROM render_segments WHERE render_id = ?", (r["render_id"],))]
    assert len(keys) == 7 + 2 and not [k for k in keys if "/234p/" in k]  # the top's, poster, GIF


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
