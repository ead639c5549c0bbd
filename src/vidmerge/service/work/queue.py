"""Queues: the embedded in-process pool (no broker) and the Celery producer.

Both run the same task code (tasks.run_render). Interactive renders never wait behind bulk ones:
each lane has its own threads here, its own Celery queue there (LANES: interactive renders, bulk
renders, preparations, deliveries; `vidmerge worker --queues` picks which lanes a worker takes).
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from vidmerge.errors import Transient
from vidmerge.service import analytics, campaigns, scratch
from vidmerge.service.metrics import METRICS
from vidmerge.service.renders import evict_mp4s, purge_older_than
from vidmerge.service.runtime import Runtime
from vidmerge.service.work import tasks

log = logging.getLogger("vidmerge.queue")
PRIORITY = ("interactive", "bulk")  # the render lanes
LANES = (*PRIORITY, "preparations", "deliveries")  # the Celery queues
STOP_SECONDS = 20.0  # how long a stopping server waits for its renders, all in all


class Queue(Protocol):
    def enqueue(self, render_id: str, priority: str) -> None: ...
    def prepare(self, template_id: str, version: int) -> None: ...
    def deliver(self, delivery_id: str) -> None: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def check(self) -> None: ...


class EmbeddedQueue:
    """Worker threads in this process, `workers` per lane (a render's thread mostly waits on the
    segment scheduler, which shares the CPUs out): a campaign's renders, however many wait, never
    hold the threads a viewer's render needs. Retries transient errors with backoff and jitter."""

    def __init__(self, rt: Runtime, workers: int, max_attempts: int = 8) -> None:
        self.rt = rt
        self.workers = max(1, workers)
        self.max_attempts = max_attempts
        self._lanes: dict[str, queue.Queue[tuple[str, int]]] = {lane: queue.Queue() for lane in PRIORITY}
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._waiting: set[str] = set()  # ids in the queue: the sweep does not add a second copy
        self._lock = threading.Lock()
        # deliveries wait on receivers (up to 10 s each): enough threads that a slow one holds few
        self._couriers = ThreadPoolExecutor(8, thread_name_prefix="vidmerge-deliver")

    def enqueue(self, render_id: str, priority: str, attempt: int = 0) -> None:
        with self._lock:
            if render_id in self._waiting:
                return  # waiting its turn, not lost (a campaign's bulk renders wait long)
            self._waiting.add(render_id)
        self._lanes[priority if priority in PRIORITY else "bulk"].put((render_id, attempt))
        self._depth()

    def _depth(self) -> None:
        METRICS.queue_depth.set(sum(lane.qsize() for lane in self._lanes.values()))

    def prepare(self, template_id: str, version: int) -> None:
        """On a thread of its own: an upload never waits, and renders of ready versions go on."""
        name = f"vidmerge-prepare-{template_id}-{version}"
        threading.Thread(target=_prepare, args=(self.rt, template_id, version), name=name, daemon=True).start()

    def deliver(self, delivery_id: str) -> None:
        """Deliveries are short HTTP calls: a small pool of their own, beside the renders."""
        self._couriers.submit(tasks.run_delivery, self.rt, delivery_id)

    def start(self) -> None:
        for lane in self._lanes:
            for n in range(self.workers):
                thread = threading.Thread(target=self._loop, args=(lane,), name=f"vidmerge-{lane}-{n}", daemon=True)
                thread.start()
                self._threads.append(thread)

    def stop(self) -> None:
        self._stopping.set()
        for lane in self._lanes.values():
            for _ in range(self.workers):
                lane.put(("", -1))
        deadline = time.monotonic() + STOP_SECONDS  # for all of them: a render cut short is taken up again
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self._couriers.shutdown(wait=False, cancel_futures=True)

    def check(self) -> None:
        if not any(t.is_alive() for t in self._threads):
            raise Transient("no embedded worker is running", where="queue")

    def _loop(self, lane: str) -> None:
        while not self._stopping.is_set():
            render_id, attempt = self._lanes[lane].get()
            with self._lock:
                self._waiting.discard(render_id)
            self._depth()
            if attempt < 0:
                return
            self._run(render_id, lane, attempt)

    def _run(self, render_id: str, lane: str, attempt: int) -> None:
        try:
            tasks.run_render(self.rt, render_id)
        except tasks.TRANSIENT as exc:
            if attempt + 1 >= self.max_attempts:
                log.error("render %s: giving up after %d attempts (%s)", render_id, attempt + 1, type(exc).__name__)
                return  # stays queued/rendering in the database; the requeue sweep retries later
            delay = min(30.0, 0.5 * 2**attempt) * random.uniform(0.5, 1.5)
            log.warning("render %s: %s, retrying in %.1f s", render_id, type(exc).__name__, delay)
            timer = threading.Timer(delay, self.enqueue, (render_id, lane, attempt + 1))
            timer.daemon = True
            timer.start()
        except Exception:
            log.exception("render %s: unexpected error", render_id)


def _prepare(rt: Runtime, template_id: str, version: int) -> None:
    try:
        tasks.run_prepare(rt, template_id, version)
    except Exception as exc:  # a storage or database outage: the sweep sends it again later
        log.warning("template %s v%d: preparing interrupted (%s)", template_id, version, type(exc).__name__)


class CeleryQueue:
    """Producer side: sends task messages (ids only) to the broker."""

    def __init__(self, rt: Runtime) -> None:
        from vidmerge.service.work.worker import celery_app  # celery is imported only when a broker is configured

        self.app = celery_app(rt.settings)

    def enqueue(self, render_id: str, priority: str) -> None:
        self.app.send_task("vidmerge.render", args=[render_id], queue=priority if priority in PRIORITY else "bulk")

    def prepare(self, template_id: str, version: int) -> None:
        self.app.send_task("vidmerge.prepare", args=[template_id, version], queue="preparations")

    def deliver(self, delivery_id: str) -> None:
        self.app.send_task("vidmerge.deliver", args=[delivery_id], queue="deliveries")

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def check(self) -> None:
        try:
            with self.app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
        except Exception as exc:
            raise Transient(f"broker unavailable: {type(exc).__name__}", where="broker") from None


def open_queue(rt: Runtime) -> Queue:
    return EmbeddedQueue(rt, rt.settings.workers) if rt.settings.embedded_queue else CeleryQueue(rt)


class Launcher:
    """Launches started campaigns' rows on a thread of their own (a campaign of 100,000 rows
    does not hold a request), one thread per campaign in this process."""

    def __init__(self, rt: Runtime, q: Queue) -> None:
        self.rt, self.q = rt, q
        self._running: set[str] = set()
        self._lock = threading.Lock()

    def launch(self, campaign_id: str) -> None:
        with self._lock:
            if campaign_id in self._running:
                return
            self._running.add(campaign_id)
        threading.Thread(target=self._run, args=(campaign_id,), name=f"vidmerge-campaign-{campaign_id}",
                         daemon=True).start()  # fmt: skip

    def _run(self, campaign_id: str) -> None:
        try:
            campaigns.launch(self.rt, campaign_id, self.q.enqueue)
        except Exception as exc:  # a database outage: the sweep resumes it once it is stale
            log.warning("campaign %s: launching interrupted (%s)", campaign_id, type(exc).__name__)
        finally:
            with self._lock:
                self._running.discard(campaign_id)


class Sweeper:
    """Re-enqueues accepted renders whose messages were lost (the database is the truth), sends
    stale preparations again and resumes campaigns whose launching stopped."""

    def __init__(self, rt: Runtime, q: Queue, launcher: Launcher, every: float = 5.0) -> None:
        self.rt, self.q, self.launcher, self.every = rt, q, launcher, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="vidmerge-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def sweep(self) -> int:
        found = tasks.stale_renders(self.rt)
        for render_id, priority in found:
            log.info("render %s: re-enqueued by the sweep", render_id)
            self.q.enqueue(render_id, priority)
        for template_id, version in tasks.stale_templates(self.rt):
            log.info("template %s v%d: preparing sent again by the sweep", template_id, version)
            self.q.prepare(template_id, version)
        for campaign_id in campaigns.stale(self.rt):
            log.info("campaign %s: launching resumed by the sweep", campaign_id)
            self.launcher.launch(campaign_id)
        for delivery_id in self.rt.db.deliveries.due():
            self.q.deliver(delivery_id)
        return len(found)

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.sweep()
                self.rt.db.idempotency.purge_expired()
                evict_mp4s(self.rt.db, self.rt.storage)
                scratch.sweep(self.rt.settings)
                if self.rt.settings.retention_days > 0:
                    purge_older_than(self.rt.db, self.rt.registry, self.rt.settings.retention_days * 86400)
                if self.rt.settings.event_retention_days > 0:
                    analytics.purge_events(self.rt.db, self.rt.settings.event_retention_days)
            except Exception as exc:  # a database or broker outage; try again next round
                log.warning("sweep failed: %s", type(exc).__name__)
