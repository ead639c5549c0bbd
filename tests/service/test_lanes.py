"""Lanes apart and database outages, with real parts: test_distributed.py's stack (an API, real
`vidmerge worker` processes on Redis, SeaweedFS as S3) on a PostgreSQL of its own that the tests
take down. The workers take separate lanes: worker-1 `interactive,preparations,deliveries`,
worker-2 `bulk`. Blocking a worker is SIGSTOP (no timing involved); an outage is the database
refusing connections (`ALLOW_CONNECTIONS false`, its sessions terminated) until the test says.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from support.media import SMALL_MANIFEST, make_clip, write_bundle, zip_folder
from support.services import RedisServer, SeaweedS3
from test_distributed import Stack, _people, bundle_zip, start_stack, stop_stack, wait_for

from vidmerge.config import Settings
from vidmerge.records import Database
from vidmerge.service.runtime import Runtime
from vidmerge.service.work import tasks, worker
from vidmerge.service.work.queue import EmbeddedQueue

__all__ = ["bundle_zip"]  # the fixture, shared with test_distributed.py
LANES = ("interactive,preparations,deliveries", "bulk")


@pytest.fixture(scope="module")
def lanes_stack(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: RedisServer,
    seaweed_s3: SeaweedS3,
    bundle_zip: Path,
) -> Iterator[Stack]:
    url = request.getfixturevalue("postgres_server").create_database()  # skips without PostgreSQL
    stack = start_stack(tmp_path_factory.mktemp("lanes"), redis_server, seaweed_s3, url, bundle_zip, LANES)
    yield stack
    stop_stack(stack)


@pytest.fixture
def stack(lanes_stack: Stack) -> Iterator[Stack]:
    """Every process a test stopped runs again afterwards, and the database takes connections."""
    try:
        yield lanes_stack
    finally:
        _allow_connections(lanes_stack.database_url, True)
        for process in lanes_stack.processes:
            process.signal(signal.SIGCONT)
            if not process.running:
                process.start()


def _allow_connections(url: str, allowed: bool) -> None:
    """The database takes connections again, or refuses them and drops the ones it has."""
    target = make_url(url)
    with psycopg.connect(host=target.host, port=target.port, user=target.username, dbname="postgres",
                         autocommit=True) as admin:  # fmt: skip
        admin.execute(f'ALTER DATABASE "{target.database}" ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                          [target.database])  # fmt: skip


@contextmanager
def database_down(url: str) -> Iterator[None]:
    _allow_connections(url, False)
    try:
        yield
    finally:
        _allow_connections(url, True)


def _logged(stack: Stack, text: str) -> bool:
    return any(text in w.log_path.read_text(errors="replace") for w in stack.workers if w.log_path.exists())


def _statuses(stack: Stack, ids: list[str]) -> list[str]:
    """Read from the database itself (the API may be stopped)."""
    database = Database(stack.database_url)
    try:
        return [record.status if (record := database.renders.get(i)) else "gone" for i in ids]
    finally:
        database.dispose()


@pytest.mark.slow
def test_interactive_work_and_preparations_go_on_while_the_bulk_worker_is_blocked(stack: Stack, tmp_path: Path) -> None:
    front, back = stack.workers
    back.signal(signal.SIGSTOP)  # busy with a campaign, as far as anyone can tell
    try:
        held = stack.render(_people(1, "bulk")[0], priority="bulk")["render_id"]
        quick = stack.render(_people(1, "interactive")[0])["render_id"]
        stack.wait_done([quick], timeout=90)
        manifest = {**SMALL_MANIFEST, "id": "lanes", "title": "a version uploaded mid-campaign"}
        bundle = write_bundle(tmp_path / "bundle", manifest, clip=make_clip(tmp_path / "base.mp4"))
        assert stack.api.post_template(zip_folder(bundle, tmp_path / "bundle.zip"), timeout=90)["status"] == "ready"
        assert stack.status(held)["status"] == "queued"  # nobody else takes the bulk lane
    finally:
        back.signal(signal.SIGCONT)
    stack.wait_done([held], timeout=90)
    assert stack.events(quick, "started") == [front.log_path.stem], stack.logs()
    assert stack.events(held, "started") == [back.log_path.stem], stack.logs()
    assert stack.events(held, "done") == [back.log_path.stem]


@pytest.mark.slow
def test_queued_renders_outlast_a_database_outage_without_the_sweep(stack: Stack) -> None:
    """The API (whose sweep would re-enqueue lost renders from the database) is stopped: the
    workers alone must keep every message they could not run, and retry it once the database
    is back."""
    for process in stack.workers:
        process.signal(signal.SIGSTOP)
    ids = [stack.render(data)["render_id"] for data in _people(2, "outage")]
    ids.append(stack.render(_people(1, "outage-bulk")[0], priority="bulk")["render_id"])
    stack.api.stop()
    with database_down(stack.database_url):
        for process in stack.workers:
            process.signal(signal.SIGCONT)
        # both workers met the outage (a render's first database read fails): not before they did
        wait_for(lambda: all("OperationalError" in w.log_tail(200) for w in stack.workers), 60, stack.logs)
    wait_for(lambda: _statuses(stack, ids) == ["done"] * len(ids), 120,
             lambda: f"{_statuses(stack, ids)}\n{stack.logs()}")  # fmt: skip
    for render_id in ids:
        assert len(stack.events(render_id, "done")) == 1, stack.logs()


@pytest.mark.slow
def test_the_api_answers_503_with_retry_after_while_the_database_is_down(stack: Stack) -> None:
    render_id = stack.render(_people(1, "api")[0])["render_id"]
    before = stack.api.log_path.read_text(errors="replace")
    with database_down(stack.database_url):
        answer = stack.api.client.get(f"/v1/renders/{render_id}")
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "5"
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["retryable"] is True
    logged = stack.api.log_path.read_text(errors="replace")[len(before) :]
    assert "database unavailable on GET" in logged and "Traceback" not in logged, logged
    wait_for(lambda: stack.api.client.get(f"/v1/renders/{render_id}").status_code == 200, 30, stack.logs)


def test_the_broker_gives_a_message_to_another_worker_only_after_the_longest_task() -> None:
    conf = worker.celery_app(Settings(broker_url="redis://127.0.0.1:9/0")).conf
    assert conf.broker_transport_options["visibility_timeout"] > conf.task_time_limit > conf.task_soft_time_limit
    assert (conf.worker_prefetch_multiplier, conf.task_acks_late) == (1, True)


def test_each_worker_process_has_its_own_node_name_saying_its_lanes() -> None:
    name = worker.node_name(["interactive", "deliveries"])
    assert name.startswith("interactive+deliveries@") and name.endswith(f"-{os.getpid()}")
    assert worker.node_name(list(reversed(worker.LANES))).startswith("all@")


def test_a_worker_refuses_an_unknown_lane_by_name(tmp_path: Path) -> None:
    settings = Settings(broker_url="redis://127.0.0.1:9/0", data_dir=tmp_path)
    with pytest.raises(SystemExit, match="unknown lane 'priority'"):
        worker.run_worker(settings, queues=["bulk", "priority"], concurrency=1)


def test_the_embedded_queue_retries_a_render_that_met_a_database_outage(
    small_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[str] = []
    finished = threading.Event()

    def run_render(_rt: Runtime, render_id: str) -> str:
        ran.append(render_id)
        if len(ran) == 1:
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))
        finished.set()
        return "done"

    monkeypatch.setattr(tasks, "run_render", run_render)
    queue = EmbeddedQueue(small_runtime, workers=1)
    queue.start()
    try:
        queue.enqueue("outage", "interactive")
        assert finished.wait(30), ran
    finally:
        queue.stop()
    assert ran == ["outage", "outage"]
