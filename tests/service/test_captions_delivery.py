"""A template's captions out of every render: the WebVTT file under the link's token, and the
HLS subtitles (a group in the master playlist, one WebVTT segment on the TS segments' clock).
Nothing is stored: an erased render's captions are gone with it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import av
import pytest
from fastapi.testclient import TestClient
from support.browser import until
from support.media import SMALL_MANIFEST, make_clip, write_bundle, zip_folder
from support.server import Api, segment_paths, uris

from vidmerge.config import Settings
from vidmerge.service.app import create_app

pytestmark = pytest.mark.slow

VTT = "WEBVTT\n\n00:00.500 --> 00:02.000\n電気代のご案内です。\n\n00:02.500 --> 00:05.900\nおトクになります。\n"
PRIVATE = {"referrer-policy": "no-referrer", "x-robots-tag": "noindex, nofollow", "cache-control": "private"}


def _upload(client: TestClient, folder: Path, template_id: str) -> None:
    with zip_folder(folder, folder.with_suffix(".zip")).open("rb") as f:
        assert client.post("/v1/templates", files={"file": ("b.zip", f)}).status_code == 202
    for _ in range(600):
        if client.get(f"/v1/templates/{template_id}").json()["status"] == "ready":
            return
        threading.Event().wait(0.1)
    raise AssertionError(f"{template_id} not ready")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The small template's slots twice: `captioned` with a captions.vtt, on a 428×240 clip (its
    ladder: 234p and the top); `small` without, and `onerung` with, on a 320×180 clip (no ladder)."""
    tmp = tmp_path_factory.mktemp("captions")
    clip = make_clip(tmp / "clip240.mp4", width=428, height=240)
    captioned = write_bundle(tmp / "c", {**SMALL_MANIFEST, "id": "captioned"}, clip=clip,
                             files={"captions.vtt": VTT.encode()})  # fmt: skip
    with TestClient(create_app(Settings(data_dir=tmp / "data"))) as client:
        _upload(client, captioned, "captioned")
        small = make_clip(tmp / "clip.mp4")
        _upload(client, write_bundle(tmp / "s", clip=small), "small")
        _upload(client, write_bundle(tmp / "o", {**SMALL_MANIFEST, "id": "onerung"}, clip=small,
                                     files={"captions.vtt": VTT.encode()}), "onerung")  # fmt: skip
        yield client


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """A real `vidmerge serve` with the captioned template (for the browser)."""
    tmp = tmp_path_factory.mktemp("served")
    clip = make_clip(tmp / "clip240.mp4", width=428, height=240)
    root = write_bundle(tmp / "c", {**SMALL_MANIFEST, "id": "captioned"}, clip=clip,
                        files={"captions.vtt": VTT.encode()})  # fmt: skip
    server = Api(tmp)
    server.start()
    server.post_template(zip_folder(root, tmp / "c.zip"))
    yield server
    server.stop()


def _render(client: TestClient, template_id: str) -> dict[str, Any]:
    answer = client.post("/v1/renders", json={"template_id": template_id, "data": {"name": "字幕"}})
    assert answer.status_code == 202, answer.text
    return dict(answer.json())


def test_captions_are_served_under_the_token_as_webvtt(client: TestClient) -> None:
    r = _render(client, "captioned")
    assert r["captions_url"] == f"{r['page_url']}/captions.vtt"
    answer = client.get(urlsplit(r["captions_url"]).path)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/vtt; charset=utf-8"
    assert {k: answer.headers[k] for k in PRIVATE} == PRIVATE
    assert answer.text == VTT.replace("00:0", "00:00:0")
    assert client.get(f"/v1/renders/{r['render_id']}").json()["captions_url"] == r["captions_url"]


def test_a_template_without_captions_says_null_and_has_none(client: TestClient) -> None:
    r = _render(client, "small")
    assert "captions_url" in r and r["captions_url"] is None
    page = urlsplit(r["page_url"]).path
    for path in ("captions.vtt", "subs/index.m3u8", "subs/0.vtt"):
        assert client.get(f"{page}/{path}").status_code == 404, path
    assert "SUBTITLES" not in client.get(urlsplit(r["hls_url"]).path).text


def test_the_master_playlist_carries_a_subtitles_group(client: TestClient) -> None:
    r = _render(client, "captioned")
    master = client.get(urlsplit(r["hls_url"]).path)
    lines = master.text.splitlines()
    media = '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",LANGUAGE="ja",NAME="日本語",DEFAULT=YES,AUTOSELECT=YES,'
    assert media + 'URI="subs/index.m3u8"' in lines
    variants = [line for line in lines if line.startswith("#EXT-X-STREAM-INF:")]
    assert len(variants) == 2 and all(line.endswith(',SUBTITLES="subs"') for line in variants)
    subs = client.get(f"{urlsplit(r['page_url']).path}/subs/index.m3u8")
    assert subs.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert {k: subs.headers[k] for k in PRIVATE} == PRIVATE
    assert subs.text.splitlines() == [
        "#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:6", "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD", "#EXTINF:6.000000,", "0.vtt", "#EXT-X-ENDLIST",
    ]  # fmt: skip
    assert uris(subs.text) == ["0.vtt"]


def test_captions_without_a_ladder_come_in_a_master_playlist_of_the_one_rendition(client: TestClient) -> None:
    r = _render(client, "onerung")
    master = client.get(urlsplit(r["hls_url"]).path).text
    assert uris(master) == ["r/180p/index.m3u8"] and 'URI="subs/index.m3u8"' in master
    assert 'SUBTITLES="subs"' in master
    first = segment_paths(client, urlsplit(r["hls_url"]).path)[0]
    assert client.get(first).status_code == 200


def test_the_subtitles_segment_is_on_the_ts_segments_clock(client: TestClient, tmp_path: Path) -> None:
    """X-TIMESTAMP-MAP's MPEGTS is the first TS segment's start: its first video frame, the
    clip's time 0 (each rendition's)."""
    r = _render(client, "captioned")
    page = urlsplit(r["page_url"]).path
    segment = client.get(f"{page}/subs/0.vtt")
    assert segment.headers["content-type"] == "text/vtt; charset=utf-8"
    header, first_cue = segment.text.split("\n\n")[:2]
    mpegts = header.splitlines()[1].removeprefix("X-TIMESTAMP-MAP=MPEGTS:").removesuffix(",LOCAL:00:00:00.000")
    assert first_cue == "00:00:00.500 --> 00:00:02.000\n電気代のご案内です。"
    for rung in (0, -1):
        first = segment_paths(client, urlsplit(r["hls_url"]).path, rung)[0]
        ts = tmp_path / f"{rung}.ts"
        ts.write_bytes(client.get(first).content)
        assert int(mpegts) == _start_pts(ts)["video"], first


def _start_pts(path: Path) -> dict[str, int]:
    """Each stream's start in the TS's 90 kHz ticks (ffprobe's `start_pts`, through libavformat)."""
    with av.open(str(path)) as container:
        return {s.type: int(s.start_time) for s in container.streams if s.start_time is not None}


def test_erased_render_has_no_captions(client: TestClient) -> None:
    r = _render(client, "captioned")
    page = urlsplit(r["page_url"]).path
    assert client.get(f"{page}/captions.vtt").status_code == 200
    assert client.delete(f"/v1/renders/{r['render_id']}").status_code == 204
    for path in ("captions.vtt", "subs/index.m3u8", "subs/0.vtt", "index.m3u8"):
        assert client.get(f"{page}/{path}").status_code == 404, path


def test_hlsjs_in_chromium_shows_the_captions_track(served: Api, browser: Any) -> None:
    """The page's player (hls.js, its full build) lists the master playlist's subtitles track,
    shows it while the video plays muted, and puts both cues at their times on the video's
    frames: the media element's time 0 is the audio's start (the AAC priming, 21 ms before the
    first frame), the buffered range's start is the first frame's."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        r = served.post_render({"template_id": "captioned", "data": {"name": "字幕 太郎"}}).json()
        assert page.goto(r["page_url"], wait_until="commit") is not None
        scripts = page.evaluate("() => Array.from(document.scripts, s => s.getAttribute('src'))")
        assert scripts == ["/static/hls.full.min.js", "/static/player.js"]
        until(page, "window.vidmergeStats && window.vidmergeStats.subtitles.length > 0", 30)
        track = "document.getElementById('v').textTracks[0]"
        until(page, f"{track} && {track}.cues && {track}.cues.length === 2", 30)
        until(page, "document.getElementById('v').buffered.length > 0", 30)
        stats = page.evaluate("() => window.vidmergeStats")
        video_start = page.evaluate("() => document.getElementById('v').buffered.start(0)")
        shown = page.evaluate(f"""() => {{ const t = {track};
            return [t.language, t.mode, Array.from(t.cues, c => [c.startTime, c.endTime, c.text])]; }}""")
    finally:
        context.close()
    assert stats["engine"] == "hls.js" and stats["subtitles"] == ["ja"], stats
    language, mode, cues = shown
    assert (language, mode) == ("ja", "showing")
    assert [text for *_, text in cues] == ["電気代のご案内です。", "おトクになります。"]
    times = [t - video_start for start, end, _ in cues for t in (start, end)]
    assert times == pytest.approx([0.5, 2.0, 2.5, 5.9], abs=0.002), (cues, video_start)
