"""The service at scale, with real parts: `vidmerge serve` + two `vidmerge worker` processes
(Celery on a real `redis-server`), SeaweedFS as S3, and SQLite shared by every process or a real
PostgreSQL where one is installed. Then the faults: a worker killed mid-render, Redis restarted
with pending renders, S3 down for a few seconds, and readiness while a dependency is down.

Every stack gets its own Redis database number, S3 bucket and metadata database, so two stacks
(SQLite and PostgreSQL) can run side by side on the session's one Redis and one SeaweedFS.
The template is small (8 s, 320x180, two text slots in segments 1 and 2 of four) so renders
take about a second; waits are bounded and fail with the tails of every process log.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
from PIL import Image
from standardwebhooks.webhooks import Webhook
from support.media import SMALL_MANIFEST, make_clip, write_bundle, zip_folder
from support.receiver import Receiver
from support.server import Api, Worker, uris
from support.services import ProcessFixture, RedisServer, SeaweedS3, postgres_bindir, running

from vidmerge.records import Database

pytestmark = pytest.mark.slow

TEMPLATE = "dist"
SECONDS, FPS = 8, 30
FRAMES = SECONDS * FPS
SEGMENTS = 4
OUTPUTS = ("video.mp4", "poster.jpg", "email.gif")
URLS = ("page_url", "hls_url", "mp4_url", "poster_url", "gif_url")
_redis_db = itertools.count(1)  # database 0 is left to other modules


# -- the template ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundle_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dist-bundle")
    clip = make_clip(root / "clip" / "base.mp4", seconds=SECONDS)
    manifest = {**SMALL_MANIFEST, "id": TEMPLATE, "title": "distributed test template",
                "output": {**SMALL_MANIFEST["output"], "ladder": [90]}}  # fmt: skip
    folder = write_bundle(root / "bundle", manifest, clip=clip)
    return zip_folder(folder, root / "bundle.zip")


# -- a stack: API + two workers on shared Redis/S3/database --------------------------------------


@dataclass
class Stack:
    api: Api
    workers: list[Worker]
    bucket: str
    seaweed: SeaweedS3
    redis: RedisServer
    database_url: str

    @property
    def processes(self) -> list[ProcessFixture]:
        return [self.api, *self.workers]

    def logs(self, lines: int = 40) -> str:
        parts = [f"--- {p.log_path.name} ---\n{p.log_tail(lines)}" for p in self.processes]
        return "\n".join(parts)

    def render(self, data: dict[str, Any], **extra: Any) -> dict[str, Any]:
        response = self.api.post_render({"template_id": TEMPLATE, "data": data, **extra})
        assert response.status_code in (200, 202), f"{response.status_code} {response.text}\n{self.logs()}"
        return dict(response.json())

    def status(self, render_id: str) -> dict[str, Any]:
        return dict(self.api.client.get(f"/v1/renders/{render_id}").json())

    def wait_done(self, render_ids: list[str], timeout: float) -> None:
        """Every render done within `timeout` s (a failed one fails the test at once)."""
        pending = set(render_ids)

        def finished() -> bool:
            for render_id in list(pending):
                body = self.status(render_id)
                assert body["status"] != "failed", f"render {render_id} failed: {body}\n{self.logs()}"
                if body["status"] == "done":
                    pending.discard(render_id)
            return not pending

        wait_for(finished, timeout, lambda: f"renders {sorted(pending)} not done\n{self.logs()}")

    def events(self, render_id: str, event: str) -> list[str]:
        """Names of the workers whose logs say `render <id> <event>` (once per line)."""
        pattern = re.compile(rf"render {render_id} {event}\b")
        found = []
        for worker in self.workers:
            text = worker.log_path.read_text(errors="replace") if worker.log_path.exists() else ""
            found += [worker.log_path.stem] * len(pattern.findall(text))
        return found

    def keys(self, prefix: str = "") -> dict[str, int]:
        """Every object in the stack's bucket: key -> size (listed on the raw store)."""
        client = self.seaweed.client()
        found: dict[str, int] = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            found.update({item["Key"]: item["Size"] for item in page.get("Contents", [])})
        return found

    def fetch(self, url: str, **headers: str) -> httpx.Response:
        """GET a public URL (following a redirect to a presigned S3 URL, if delivery sends one)."""
        return self.api.client.get(_path(url), headers=headers, follow_redirects=True)


def wait_for(condition: Callable[[], bool], timeout: float, message: Callable[[], str], every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)
    raise AssertionError(f"not within {timeout} s: {message()}")


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def start_all(processes: list[ProcessFixture]) -> None:
    """Start several processes at once (a Celery worker takes seconds to boot)."""
    with ThreadPoolExecutor(len(processes)) as pool:
        for future in [pool.submit(p.start) for p in processes]:
            future.result()


def start_stack(
    workdir: Path,
    redis: RedisServer,
    seaweed: SeaweedS3,
    database_url: str | None,
    bundle: Path,
    lanes: tuple[str, ...] = ("", ""),
) -> Stack:
    """An API and a worker per item of `lanes` (its --queues; empty: every lane)."""
    bucket = f"vidmerge-dist-{uuid.uuid4().hex[:10]}"
    env = {
        "VIDMERGE_BROKER_URL": redis.url.rsplit("/", 1)[0] + f"/{next(_redis_db)}",
        "VIDMERGE_DATABASE_URL": database_url or f"sqlite:///{workdir / 'shared.db'}",
        "VIDMERGE_S3_ENDPOINT": seaweed.endpoint,
        "VIDMERGE_S3_BUCKET": bucket,
        "VIDMERGE_S3_ACCESS_KEY": seaweed.access_key,
        "VIDMERGE_S3_SECRET_KEY": seaweed.secret_key,
        "VIDMERGE_REQUEUE_AFTER_SECONDS": "8",  # the API's and the workers' render leases agree
        "VIDMERGE_OUTBOUND_ALLOW": "127.0.0.1",  # the webhook receivers run here
        "VIDMERGE_WEBHOOK_RETRY_SCALE": "0.001",
    }
    api = Api(workdir, env)
    api.start()
    workers = [Worker(workdir, f"worker-{n}", env, queues) for n, queues in enumerate(lanes, 1)]
    stack = Stack(api, workers, bucket, seaweed, redis, env["VIDMERGE_DATABASE_URL"])
    try:
        start_all(list(stack.workers))
        template = api.post_template(bundle)
        assert (template["status"], template["segments"]) == ("ready", SEGMENTS), template
    except BaseException:
        stop_stack(stack)
        raise
    return stack


def stop_stack(stack: Stack) -> None:
    for process in reversed(stack.processes):
        process.stop()


@pytest.fixture(scope="module")
def sqlite_stack(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, seaweed_s3: SeaweedS3, bundle_zip: Path
) -> Iterator[Stack]:
    stack = start_stack(tmp_path_factory.mktemp("sqlite-stack"), redis_server, seaweed_s3, None, bundle_zip)
    yield stack
    stop_stack(stack)


@pytest.fixture(scope="module")
def postgres_stack(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: RedisServer,
    seaweed_s3: SeaweedS3,
    bundle_zip: Path,
) -> Iterator[Stack]:
    url = request.getfixturevalue("postgres_server").create_database()  # skips without PostgreSQL
    stack = start_stack(tmp_path_factory.mktemp("pg-stack"), redis_server, seaweed_s3, url, bundle_zip)
    yield stack
    stop_stack(stack)


@pytest.fixture
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    """The stack the fault tests use: PostgreSQL where installed, else SQLite. Every process
    stopped by a test is running again afterwards."""
    chosen: Stack = request.getfixturevalue("postgres_stack" if postgres_bindir() else "sqlite_stack")
    try:
        yield chosen
    finally:
        for process in chosen.processes:
            if not process.running:
                process.start()


# -- checking outputs ----------------------------------------------------------------------------


def video_frames(data: bytes) -> int:
    """Decode every video frame (a decoder error raises); how many there were."""
    with av.open(io.BytesIO(data)) as container:
        return sum(1 for _ in container.decode(container.streams.video[0]))


def check_outputs(stack: Stack, r: dict[str, Any]) -> None:
    """MP4 (whole and by Range), every HLS segment, poster, GIF and the landing page."""
    mp4 = stack.fetch(r["mp4_url"])
    assert mp4.status_code == 200 and mp4.headers["content-type"] == "video/mp4", mp4.text[:300]
    assert video_frames(mp4.content) == FRAMES
    total = len(mp4.content)
    part = stack.fetch(r["mp4_url"], Range="bytes=100-1099")
    assert part.status_code == 206 and part.headers["content-range"] == f"bytes 100-1099/{total}"
    assert part.content == mp4.content[100:1100]

    master = stack.fetch(r["hls_url"])
    assert master.status_code == 200
    assert master.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    assert uris(master.text) == ["r/90p/index.m3u8", "r/180p/index.m3u8"]
    for variant in uris(master.text):  # the 90p one's personalized segments are made now, on request
        url = f"{r['hls_url'].rsplit('/', 1)[0]}/{variant}"
        playlist = stack.fetch(url).text
        assert len(uris(playlist)) == SEGMENTS and playlist.rstrip().endswith("#EXT-X-ENDLIST")
        frames = 0
        for name in uris(playlist):
            seg = stack.fetch(f"{url.rsplit('/', 1)[0]}/{name}")
            assert seg.status_code == 200 and seg.headers["content-type"] == "video/mp2t", (name, seg.text[:300])
            frames += video_frames(seg.content)
        assert frames == FRAMES, variant

    poster = stack.fetch(r["poster_url"])
    assert poster.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(poster.content)).size == (320, 180)
    gif = stack.fetch(r["gif_url"])
    assert gif.headers["content-type"] == "image/gif" and Image.open(io.BytesIO(gif.content)).n_frames > 1
    page = stack.fetch(r["page_url"])
    assert page.status_code == 200 and "<video" in page.text


# -- 1 and 3: the whole flow, on SQLite and on PostgreSQL ----------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_whole_flow_with_workers_redis_and_s3(request: pytest.FixtureRequest, backend: str) -> None:
    stack: Stack = request.getfixturevalue(f"{backend}_stack")
    before = stack.keys()
    body = {
        "template_id": TEMPLATE,
        "data": {"name": f"分散 {backend}", "amount": 4321},
        "external_id": f"flow-{backend}",
    }
    r = stack.api.post_render(body, **{"Idempotency-Key": f"flow-{backend}"}).json()
    assert r["status"] == "queued"
    stack.wait_done([r["render_id"]], timeout=90)
    done = stack.status(r["render_id"])
    assert done["values"]["greeting"] == f"分散 {backend}様"
    assert len(stack.events(r["render_id"], "started")) == 1
    check_outputs(stack, r)
    for key in ("mp4_url", "poster_url", "gif_url"):  # big files come from the store itself
        moved = stack.api.client.get(_path(r[key]))
        assert moved.status_code == 302 and moved.headers["location"].startswith(stack.seaweed.endpoint), key
    page = stack.fetch(r["page_url"])
    assert f"media-src 'self' blob: {stack.seaweed.endpoint};" in page.headers["content-security-policy"]
    token = r["mp4_url"].split("/")[-2]
    # the MP4 was asked for: assembled from the segments; poster and GIF are shared by content
    assert set(stack.keys(f"renders/{token}/")) == {f"renders/{token}/video.mp4"}
    assert len(set(stack.keys("pic/")) - set(before)) == 2

    repeated = stack.api.post_render(body, **{"Idempotency-Key": f"flow-{backend}"})  # the MA tool retries
    assert repeated.status_code == 200, repeated.text
    again = repeated.json()
    assert (again["render_id"], again["status"]) == (r["render_id"], "done")
    assert {k: again[k] for k in URLS} == {k: r[k] for k in URLS}
    time.sleep(1)  # a stray message would be picked up at once by an idle worker
    assert len(stack.events(r["render_id"], "started")) == 1, stack.logs()

    assert stack.api.client.delete(f"/v1/renders/{r['render_id']}").status_code == 204
    unknown = stack.api.client.get("/v/" + "x" * 32 + "/video.mp4")
    for key in URLS:
        gone = stack.fetch(r[key])
        assert (gone.status_code, gone.content) == (404, unknown.content), key
    assert stack.api.client.get(f"/v1/renders/{r['render_id']}").status_code == 404
    assert stack.keys() == before, "erasure left objects behind (or removed shared ones)"


# -- 2. faults -----------------------------------------------------------------------------------


def _people(n: int, tag: str) -> list[dict[str, Any]]:
    """`n` customers nobody rendered before (fresh values: no cache hit)."""
    run = uuid.uuid4().hex[:6]
    return [{"name": f"{tag} {run} {i}", "amount": 1000 + i} for i in range(n)]


def _started_by(stack: Stack, render_id: str) -> Worker | None:
    names = stack.events(render_id, "started")
    return next((w for w in stack.workers if w.log_path.stem in names), None)


def _wait_started(stack: Stack, render_id: str) -> Worker:
    """The worker that started `render_id` (its log says so), as soon as one does."""
    found: list[Worker] = []

    def started() -> bool:
        worker = _started_by(stack, render_id)
        found[:] = [worker] if worker else []
        return bool(found)

    wait_for(started, 60, lambda: f"render {render_id} never started\n{stack.logs()}", every=0.01)
    return found[0]


def _killed_mid_render(stack: Stack, tag: str) -> tuple[dict[str, Any], Worker]:
    """A render whose worker was SIGKILLed before it finished (tried with up to three customers)."""
    for data in _people(3, tag):
        r = stack.render(data)
        victim = _wait_started(stack, r["render_id"])
        victim.kill()  # SIGKILL to the worker's whole process group: a machine lost mid-render
        if not stack.events(r["render_id"], "done"):
            return r, victim
        victim.start()  # it finished before the kill landed (a very fast render): try again
    pytest.fail(f"three renders finished before SIGKILL landed\n{stack.logs()}")


def test_worker_killed_mid_render_still_completes_exactly_once(stack: Stack) -> None:
    r, victim = _killed_mid_render(stack, "kill")
    assert stack.status(r["render_id"])["status"] != "done"
    try:
        # Whatever brings it back (the API's sweep finds it stale; the dead owner's render and
        # segment leases lapse), the surviving worker finishes it.
        stack.wait_done([r["render_id"]], timeout=150)
    finally:
        victim.start()
    assert len(stack.events(r["render_id"], "done")) == 1, stack.logs()
    assert len(stack.events(r["render_id"], "started")) >= 2
    check_outputs(stack, r)


def test_a_render_erased_after_its_worker_crashed_leaves_nothing(stack: Stack) -> None:
    """Erasure does not wait for the dead worker's leases: the record goes at once, and whatever
    the crash left in storage, or another worker writes later, is removed."""
    before = stack.keys()
    r, victim = _killed_mid_render(stack, "crash")
    try:
        assert stack.api.client.delete(f"/v1/renders/{r['render_id']}").status_code == 204
    finally:
        victim.start()
    assert stack.api.client.get(f"/v1/renders/{r['render_id']}").status_code == 404
    wait_for(lambda: stack.keys() == before, 60, lambda: f"left behind: {set(stack.keys()) - set(before)}")
    time.sleep(3)  # a redelivered task or a late segment would write now
    assert stack.keys() == before, "an erased render's objects came back"
    assert stack.fetch(r["page_url"]).status_code == 404


def test_renders_pending_across_a_redis_restart_all_complete(stack: Stack) -> None:
    import redis

    for worker in stack.workers:
        worker.stop()
    ids = [stack.render(data)["render_id"] for data in _people(3, "redis")]
    broker = stack.api.env["VIDMERGE_BROKER_URL"]
    assert redis.Redis.from_url(broker).llen("interactive") == len(ids)
    with running(stack.redis):
        stack.redis.restart()  # nothing on disk: every queued message is lost
    assert redis.Redis.from_url(broker).llen("interactive") == 0
    start_all(list(stack.workers))
    stack.wait_done(ids, timeout=90)  # re-enqueued by the API's sweep, from the database
    for render_id in ids:
        assert len(stack.events(render_id, "done")) == 1, stack.logs()


def test_s3_outage_during_renders_is_retried_and_leaves_no_partial_object(stack: Stack) -> None:
    renders = [stack.render(data) for data in _people(3, "s3")]
    ids = [r["render_id"] for r in renders]
    wait_for(
        lambda: any(stack.events(i, "started") for i in ids), 60, lambda: f"no render started\n{stack.logs()}", 0.01
    )
    with running(stack.seaweed):
        stack.seaweed.kill()
        time.sleep(3)
        stack.seaweed.start()
    stack.wait_done(ids, timeout=120)
    for render_id in ids:
        assert len(stack.events(render_id, "done")) == 1, stack.logs()
    for r in renders:
        check_outputs(stack, r)
    _every_object_is_complete(stack)


def _every_object_is_complete(stack: Stack) -> None:
    """Read back every object of the bucket from the raw store: each one decodes whole."""
    client = stack.seaweed.client()
    for key, size in stack.keys().items():
        data = client.get_object(Bucket=stack.bucket, Key=key)["Body"].read()
        assert len(data) == size and size > 0, key
        if key.endswith(".mp4"):
            assert video_frames(data) == FRAMES, key
        elif key.endswith(".ts"):
            assert 0 < video_frames(data) <= 2 * FPS, key
        elif key.endswith((".jpg", ".gif")):
            Image.open(io.BytesIO(data)).load()


def _readiness(stack: Stack, status: int, check: str, timeout: float = 15) -> None:
    """Wait until /readyz answers `status` with `check` ok (200) or not ok (503); /healthz is
    200 throughout."""

    def answers() -> bool:
        ready = stack.api.client.get("/readyz", timeout=10)
        return ready.status_code == status and (status == 200) == (ready.json()["checks"][check] == "ok")

    wait_for(answers, timeout, lambda: f"/readyz {stack.api.client.get('/readyz').text}\n{stack.logs()}", 0.5)
    assert stack.api.client.get("/healthz").status_code == 200


def test_readiness_fails_while_redis_is_down_and_liveness_does_not(stack: Stack) -> None:
    _readiness(stack, 200, "queue")
    with running(stack.redis):
        stack.redis.stop()
        _readiness(stack, 503, "queue")
        stack.redis.start()
    _readiness(stack, 200, "queue")


def test_readiness_fails_while_s3_is_down_and_liveness_does_not(stack: Stack) -> None:
    _readiness(stack, 200, "storage")
    with running(stack.seaweed):
        stack.seaweed.kill()
        _readiness(stack, 503, "storage")
        stack.seaweed.start()
    _readiness(stack, 200, "storage")


# -- a CSV campaign ------------------------------------------------------------------------------


def test_a_cp932_campaign_renders_each_good_row_once_across_a_worker_restart(stack: Stack) -> None:
    """30 rows as Excel writes them in Japan, 3 bad: the 3 are named, the 27 render on the bulk
    lane while a worker is killed and started again, and the results CSV (CP932) holds 27 working
    links. The same file again is the same campaign: nothing new renders."""
    rows = [[f"k-{n:02d}", f"顧客 {n}", f"{1000 + n:,}"] for n in range(27)]
    rows[3:3] = [["k-bad-amount", "髙橋", "たくさん"]]
    rows[10:10] = [["", "名無し", "100"]]
    rows[20:20] = [["k-bad-name", "長" * 41, "100"]]
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([["顧客ID", "氏名", "金額"], *rows])
    content = out.getvalue().encode("cp932")
    form = {"template_id": TEMPLATE, "mapping": '{"顧客ID": "external_id", "氏名": "name", "金額": "amount"}'}
    client = stack.api.client
    uploaded = client.post("/v1/campaigns", data=form, files={"file": ("顧客.csv", content, "text/csv")})
    assert uploaded.status_code == 201, uploaded.text
    body = uploaded.json()
    assert (body["rows"], body["valid"], body["invalid"], body["encoding"]) == (30, 27, 3, "cp932")
    assert [(e["row"], e["column"]) for e in body["errors"]] == [(5, "金額"), (12, "顧客ID"), (22, "氏名")]
    path = f"/v1/campaigns/{body['campaign_id']}"
    assert client.post(f"{path}/start").status_code == 202

    victim = stack.workers[0]
    wait_for(lambda: client.get(path).json()["done"] >= 3, 180, lambda: f"{client.get(path).json()}\n{stack.logs()}")
    victim.kill()  # mid-way: some of its renders were running
    try:
        wait_for(lambda: client.get(path).json()["done"] >= 6, 180, stack.logs)
    finally:
        victim.start()
    wait_for(lambda: client.get(path).json()["status"] == "done", 300,
             lambda: f"{client.get(path).json()}\n{stack.logs()}")  # fmt: skip
    state = client.get(path).json()
    assert (state["total"], state["done"], state["failed"], state["invalid"]) == (27, 27, 0, 3)

    results = client.get(f"{path}/results.csv")
    assert results.headers["content-type"] == "text/csv; charset=cp932"
    lines = list(csv.DictReader(io.StringIO(results.content.decode("cp932"))))
    done = [line for line in lines if line["status"] == "done"]
    assert [line["external_id"] for line in done] == [f"k-{n:02d}" for n in range(27)]
    assert len({line["page_url"] for line in done}) == 27  # one render each
    for line in done:
        mp4 = stack.fetch(line["mp4_url"])
        assert (mp4.status_code, mp4.headers["content-type"]) == (200, "video/mp4"), line["external_id"]
        assert stack.fetch(line["page_url"]).status_code == 200
    database = Database(stack.database_url)
    made = database.renders.of_campaign(body["campaign_id"])
    database.dispose()
    assert sorted(r.external_id or "" for r in made) == [f"k-{n:02d}" for n in range(27)]
    for render in made:  # packaged once each, the restart notwithstanding
        assert len(stack.events(render.id, "done")) == 1, stack.logs()

    again = client.post("/v1/campaigns", data=form, files={"file": ("顧客.csv", content, "text/csv")})
    assert (again.status_code, again.json()["campaign_id"]) == (200, body["campaign_id"])
    assert client.post(f"{path}/start").json()["done"] == 27
    time.sleep(1)
    assert client.get(f"{path}/results.csv").content == results.content


# -- page events delivered by the workers --------------------------------------------------------


def test_webhook_deliveries_go_through_celery_and_survive_a_failing_receiver(stack: Stack) -> None:
    """A play and a milestone, pushed by the workers (the API only stores the deliveries and
    sends their ids), signed, retried after the receiver's first failure, each delivered once."""
    calls: dict[str, int] = {}

    def once_failing(request: dict[str, Any]) -> int:
        n = calls[request["headers"]["webhook-id"]] = calls.get(request["headers"]["webhook-id"], 0) + 1
        return 503 if n == 1 else 200

    receiver = Receiver(once_failing)
    try:
        hook = stack.api.client.post("/v1/webhook-endpoints", json={"url": f"{receiver.url}/in"}).json()
        r = stack.render({"name": "配信 分散", "amount": 1}, external_id="dist-hook")
        token = r["page_url"].rsplit("/", 1)[1]
        body = {"session": uuid.uuid4().hex, "events": [{"type": "play"}, {"type": "progress", "milestone": 50}]}
        ua = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"}
        assert stack.api.client.post(f"/v/{token}/events", json=body, headers=ua).status_code == 204
        wait_for(lambda: sorted(calls.values()) == [2, 2], 60, lambda: f"{calls}\n{stack.logs()}")
        time.sleep(1.0)
        assert sorted(calls.values()) == [2, 2]
        events = sorted(Webhook(hook["secret"]).verify(q["body"], q["headers"])["data"]["event"]
                        for q in receiver.requests[-2:])  # fmt: skip
        assert events == ["play", "progress"]
        delivered_by = [w.log_path.stem for w in stack.workers if "vidmerge.deliver" in w.log_path.read_text()]
        assert delivered_by, stack.logs()
        stack.api.client.delete(f"/v1/webhook-endpoints/{hook['id']}")
    finally:
        receiver.close()
