"""The Celery side: the app (configured from settings) and `vidmerge worker`."""

from __future__ import annotations

import functools
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import Celery, Task
from celery.signals import worker_process_init

from vidmerge import logs
from vidmerge.config import Settings
from vidmerge.errors import Transient
from vidmerge.records import UNAVAILABLE
from vidmerge.service import scratch
from vidmerge.service.runtime import Runtime, open_runtime
from vidmerge.service.work.queue import LANES
from vidmerge.service.work.tasks import run_delivery, run_prepare, run_render

log = logging.getLogger("vidmerge.worker")
TIME_LIMIT = 900  # seconds: the longest any task may run (a preparation of a long template)
# A message not acked this long after it was taken is given to another worker: longer than any
# task may run, or a slow render would run twice at once (the render lease would stop one of them)
VISIBILITY_TIMEOUT = TIME_LIMIT + 120
_runtime: Runtime | None = None
_settings: Settings | None = None


@functools.cache
def _app(broker_url: str) -> Celery:
    app = Celery("vidmerge", broker=broker_url)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=TIME_LIMIT * 2 // 3,
        task_time_limit=TIME_LIMIT,
        task_default_queue="bulk",
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT},
        worker_hijack_root_logger=False,
    )
    app.task(
        name="vidmerge.render",
        bind=True,
        autoretry_for=(Transient,),
        retry_backoff=True,
        retry_backoff_max=60,
        retry_jitter=True,
        max_retries=20,
    )(_render_task)
    app.task(
        name="vidmerge.prepare", autoretry_for=(Transient,), retry_backoff=True, retry_backoff_max=60, max_retries=10
    )(_prepare_task)
    app.task(name="vidmerge.deliver")(_deliver_task)  # retried by its own schedule (service/webhooks.py)
    return app


def celery_app(settings: Settings) -> Celery:
    global _settings
    _settings = settings
    return _app(settings.broker_url)


def _render_task(self: Task, render_id: str) -> str:
    with _outage_is_transient():
        return run_render(runtime(), render_id)


def _prepare_task(template_id: str, version: int) -> str:
    with _outage_is_transient():
        return run_prepare(runtime(), template_id, version)


@contextmanager
def _outage_is_transient() -> Iterator[None]:
    """A database outage is retried with backoff like any transient error, never acked as done.
    Celery logs each retry's error: its type only (a driver's message may quote a statement's values)."""
    try:
        yield
    except UNAVAILABLE as exc:
        raise Transient(f"database unavailable ({type(exc).__name__})", where="database") from None


def _deliver_task(delivery_id: str) -> str:
    return run_delivery(runtime(), delivery_id)


def runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        assert _settings is not None, "celery_app(settings) must be called first"
        _runtime = open_runtime(_settings, migrate=False)
    return _runtime


@worker_process_init.connect
def _fresh_runtime(**_: Any) -> None:
    """Forked pool processes must not share the parent's database connections."""
    global _runtime
    _runtime = None


def run_worker(settings: Settings, *, queues: list[str], concurrency: int) -> int:
    if not settings.broker_url:
        raise SystemExit("vidmerge worker needs VIDMERGE_BROKER_URL (without it, `vidmerge serve` renders in-process)")
    queues = queues or list(LANES)
    unknown = [q for q in queues if q not in LANES]
    if unknown:
        raise SystemExit(f"vidmerge worker --queues: unknown lane {unknown[0]!r} (the lanes: {', '.join(LANES)})")
    logs.configure(settings.log_level)
    open_runtime(settings, migrate=True).db.dispose()
    scratch.use(settings)
    app = celery_app(settings)
    argv = ["worker", "-Q", ",".join(queues), "-n", node_name(queues), "-c", str(concurrency),
            "--loglevel", settings.log_level.lower()]  # fmt: skip
    app.worker_main(argv)
    return 0


def node_name(queues: list[str]) -> str:
    """`<lanes>@<host>-<pid>`: unique per process (Celery's control commands and its duplicate-name
    check tell workers apart by it), and says which lanes it takes."""
    lanes = "all" if set(queues) == set(LANES) else "+".join(queues)
    return f"{lanes}@{socket.gethostname()}-{os.getpid()}"
