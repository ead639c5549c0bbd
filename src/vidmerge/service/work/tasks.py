"""The task code: the same functions run in the embedded pool and in Celery workers.

Tasks take ids, never payloads, and are idempotent: a finished render is a no-op, segments
already in storage are not rendered again, and a render lease (the same single-flight table as
segments) keeps a duplicate message from packaging a render twice.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from vidmerge.engine import ffmpeg
from vidmerge.engine.loaded import LoadedVersion
from vidmerge.engine.pipeline import Personalized, Timer, in_rendition
from vidmerge.errors import FFmpegError, InvalidInput, NotFound, NotReady, Transient, VerificationError, VidmergeError
from vidmerge.records import UNAVAILABLE, RenderRecord, utcnow
from vidmerge.service import renders, webhooks
from vidmerge.service.metrics import METRICS
from vidmerge.service.runtime import Runtime
from vidmerge.service.work import segments
from vidmerge.service.work.scheduler import BULK_DELAY, yielding

log = logging.getLogger("vidmerge.tasks")
MAX_ATTEMPTS = 10  # a render whose transient failures outlast this many attempts ends `failed`
# what the embedded queue retries with backoff (Celery's tasks turn a database outage into Transient)
TRANSIENT: tuple[type[Exception], ...] = (Transient, *UNAVAILABLE)


def run_render(rt: Runtime, render_id: str) -> str:
    """Render every dynamic segment in playhead order, then package. Returns the final status."""
    try:
        record = renders.load(rt.db, render_id)
    except NotFound:
        log.info("render %s is gone (erased); nothing to do", render_id)
        return "gone"
    try:
        return _attempt(rt, render_id, record)
    except (VidmergeError, OSError):  # erased while it rendered (its segments, its temporary files gone)?
        if rt.db.renders.get(render_id) is not None:
            raise  # no: a real failure (or loss)
        log.info("render %s was erased while it rendered; stopped", render_id)
        return "gone"


def _attempt(rt: Runtime, render_id: str, record: RenderRecord) -> str:
    if record.status in ("done", "failed"):
        return record.status
    lease = _Lease(rt, f"render:{render_id}")
    if not lease.claim():  # rendered elsewhere, or an attempt cut off by a database outage holds it
        raise Transient("the render is leased elsewhere", where="lease")  # retried until it is done or free
    ok = False
    try:
        renders.set_status(rt.db, render_id, "rendering")
        log.info("render %s started (attempt %d)", render_id, record.attempts + 1)
        status = _render(rt, render_id, lease)
        ok = True
    except (InvalidInput, VerificationError) as exc:  # the same inputs fail the same way again
        status, ok = _fail(rt, render_id, f"{type(exc).__name__} at {exc.where or '-'}"), True
    except Transient as exc:
        if record.attempts + 1 < MAX_ATTEMPTS or isinstance(exc, NotReady):  # waiting is no failure
            raise  # the queue retries it with backoff
        status, ok = _fail(rt, render_id, f"gave up after {MAX_ATTEMPTS} attempts ({type(exc).__name__})"), True
    finally:
        rt.db.leases.finish(lease.key, ok=ok)
    return status


def run_prepare(rt: Runtime, template_id: str, version: int) -> str:
    """Prepare an uploaded version; it ends `ready`, or `failed` with a reason for the marketer
    (what is wrong with the clip or the bundle; for an ffmpeg or storage failure only its type)."""
    record = rt.db.templates.get(template_id, version)
    if record is None or record.status != "preparing":
        return record.status if record is not None else "gone"
    log.info("template %s v%d: preparing", template_id, version)
    try:
        rt.registry.prepare(template_id, version, lambda done, total: rt.db.templates.progress(
            template_id, version, done, total))  # fmt: skip
    except InvalidInput as exc:
        rt.registry.fail(template_id, version, str(exc))
        return "failed"
    except (VerificationError, FFmpegError) as exc:
        rt.registry.fail(template_id, version, f"{type(exc).__name__} at {exc.where or 'the base clip'}")
        log.warning("template %s v%d: %s", template_id, version, exc)
        return "failed"
    log.info("template %s v%d: ready", template_id, version)
    return "ready"


def run_delivery(rt: Runtime, delivery_id: str) -> str:
    """One attempt at one delivery (a webhook endpoint or a tool's API); never raises: a failed
    attempt is scheduled again in the database, and the sweep sends it when it is due."""
    try:
        return webhooks.deliver(rt, delivery_id)
    except Exception as exc:  # the database is down: the delivery stays due, the sweep sends it again
        log.warning("delivery %s: %s", delivery_id, type(exc).__name__)
        return "error"


def stale_templates(rt: Runtime) -> list[tuple[str, int]]:
    """Versions recorded `preparing` for longer than a preparation takes: their task was lost."""
    cutoff = utcnow() - timedelta(seconds=max(rt.settings.requeue_after_seconds, 2 * rt.settings.ffmpeg_timeout))
    return [(t.id, t.version) for t in rt.db.templates.stale_preparing(cutoff)]


def _fail(rt: Runtime, render_id: str, reason: str) -> str:
    """The render ends `failed` with a reason (ids and error types only: no values, no paths);
    `gone` when it was erased meanwhile (what failed was its erasure pulling files away)."""
    if not renders.set_status(rt.db, render_id, "failed", error=reason):
        log.info("render %s was erased while it rendered; stopped", render_id)
        return "gone"
    METRICS.renders.labels("failed").inc()
    log.warning("render %s failed: %s", render_id, reason)
    return "failed"


class _Lease:
    """The render's single-flight lease; renewed with every heartbeat."""

    def __init__(self, rt: Runtime, key: str) -> None:
        self.rt, self.key, self.owner = rt, key, segments.owner_id()
        self.seconds = max(10.0, rt.settings.requeue_after_seconds * 2)

    def claim(self) -> bool:
        return self.rt.db.leases.claim(self.key, self.owner, self.seconds)

    def renew(self, render_id: str) -> None:
        self.rt.db.leases.renew(self.key, self.owner, self.seconds)
        self.rt.db.renders.touch(render_id)


def _render(rt: Runtime, render_id: str, lease: _Lease) -> str:
    record = renders.load(rt.db, render_id)
    bulk = record.priority == "bulk"
    loaded, person = renders.replan(rt.db, rt.registry, record, ladder=False)  # it makes the top one's
    timer = Timer()
    # every dynamic segment, due when the viewer's playhead gets there (work/scheduler.py, which
    # keeps bulk work stopped while these wait: nothing here waits inside a hold); with a ladder,
    # viewers start on its lowest rendition (rendered when they ask for it, its first
    # personalized segment at once: `_start_lowest`) and these (the top one's: MP4, poster, GIF,
    # and where players climb to) come after theirs
    start = record.created_at.timestamp() + (BULK_DELAY if bulk else 0.0)
    if loaded.prepared.renditions:
        start += loaded.prepared.duration
        if not bulk:
            _start_lowest(rt, loaded, person, record)
    due = [(seg, rt.scheduler.submit(loaded, seg, start + seg.start)) for seg in person.plan.dynamic]
    with timer.stage("segments"):
        for _, future in due:
            outcome = future.result()
            if not outcome.rendered:  # its encodes are counted where they happen (segments.ensure)
                METRICS.segments.labels("cached").inc()
            lease.renew(render_id)
    # An interactive render's packaging stops bulk work while it encodes (its poster and GIF);
    # a bulk render's runs at the lower priority but is not stopped: a viewer's render may wait
    # for the same picture (equal values), which a stopped maker would hold back.
    if bulk:
        renders.finish(rt.db, yielding(loaded, bulk=False), person, record, timer)
    else:
        with ffmpeg.BULK.held():
            renders.finish(rt.db, loaded, person, record, timer)
    METRICS.renders.labels("done").inc()
    METRICS.render_seconds.observe(sum(timer.stages.values()))
    log.info("render %s done in %.2f s", render_id, sum(timer.stages.values()))
    return "done"


def _start_lowest(rt: Runtime, loaded: LoadedVersion, person: Personalized, record: RenderRecord) -> None:
    """The first personalized segment of the ladder's lowest rendition, where an interactive
    render's customer (expected now) starts playing, is made before anyone asks for it: a crowd
    arriving at once gains the moments between the webhook's answer and each player's request
    (bench: 16 fresh viewers' worst margin). Not waited for: its viewer's request waits."""
    lowest, plan = in_rendition(loaded, person.plan, loaded.prepared.ladder[0])
    if plan.dynamic:
        first = plan.dynamic[0]
        rt.db.renders.reference(record.id, [first.key])
        rt.scheduler.submit(lowest, first, record.created_at.timestamp() + first.start)


def stale_renders(rt: Runtime) -> list[tuple[str, str]]:
    """(render id, priority) of accepted renders whose message may have been lost."""
    cutoff = utcnow() - timedelta(seconds=rt.settings.requeue_after_seconds)
    found = rt.db.renders.to_requeue(cutoff)
    for record in found:
        rt.db.renders.touch(record.id)
    return [(r.id, r.priority) for r in found]
