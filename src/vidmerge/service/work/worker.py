"""The Celery side: the app (configured from settings) and `vidmerge worker`."""

from __future__ import annotations

import functools
import logging
from typing import Any

from celery import Celery, Task
from celery.signals import worker_process_init

from vidmerge import logs
from vidmerge.config import Settings
from vidmerge.errors import Transient
from vidmerge.service import scratch
from vidmerge.service.runtime import Runtime, open_runtime
from vidmerge.service.work.tasks import run_delivery, run_prepare, run_render

log = logging.getLogger("vidmerge.worker")
_runtime: Runtime | None = None
_settings: Settings | None = None


@functools.cache
def _app(broker_url: str) -> Celery:
    app = Celery("vidmerge", broker=broker_url)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=600,
        task_time_limit=900,
        task_default_queue="bulk",
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": 300},
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
    return run_render(runtime(), render_id)


def _prepare_task(template_id: str, version: int) -> str:
    return run_prepare(runtime(), template_id, version)


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
    logs.configure(settings.log_level)
    open_runtime(settings, migrate=True).db.dispose()
    scratch.use(settings)
    app = celery_app(settings)
    argv = ["worker", "-Q", ",".join(queues), "-c", str(concurrency), "--loglevel", settings.log_level.lower()]
    app.worker_main(argv)
    return 0
