"""The task code: the same functions run in the embedded pool and in Celery workers.

Tasks take ids, never payloads, and are idempotent: a finished render is a no-op, segments
already in storage are not rendered again, and a render lease (the same single-flight table as
segments) keeps a duplicate message from packaging a render twice.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from ..errors import InvalidInput, NotFound
from ..pipeline import Timer
from ..records import RenderRecord, utcnow
from . import renders, segments
from .metrics import METRICS
from .runtime import Runtime
from .scheduler import BULK_DELAY

log = logging.getLogger("vidmerge.tasks")


def run_render(rt: Runtime, render_id: str) -> str:
    """Render every dynamic segment in playhead order, then package. Returns the final status."""
    try:
        record = renders.load(rt.db, render_id)
    except NotFound:
        log.info("render %s is gone (erased); nothing to do", render_id)
        return "gone"
    if record.status in ("done", "failed"):
        return record.status
    lease = _Lease(rt, f"render:{render_id}")
    if not lease.claim():
        log.info("render %s is being rendered elsewhere", render_id)
        return "busy"
    ok = False
    try:
        renders.set_status(rt.db, render_id, "rendering")
        log.info("render %s started (attempt %d)", render_id, record.attempts + 1)
        status = _render(rt, render_id, lease)
        ok = True
    except InvalidInput as exc:
        renders.set_status(rt.db, render_id, "failed", error=f"{type(exc).__name__} at {exc.where or '-'}")
        METRICS.renders.labels("failed").inc()
        log.warning("render %s failed: %s at %s", render_id, type(exc).__name__, exc.where)
        status, ok = "failed", True
    finally:
        rt.db.finish_segment(lease.key, ok=ok)
    return status


class _Lease:
    """The render's single-flight lease; renewed with every heartbeat."""

    def __init__(self, rt: Runtime, key: str) -> None:
        self.rt, self.key, self.owner = rt, key, segments.owner_id()
        self.seconds = max(10.0, rt.settings.requeue_after_seconds * 2)

    def claim(self) -> bool:
        return self.rt.db.claim_segment(self.key, self.owner, self.seconds)

    def renew(self, render_id: str) -> None:
        self.rt.db.renew_segment(self.key, self.owner, self.seconds)
        _touch(self.rt, render_id)


def _render(rt: Runtime, render_id: str, lease: _Lease) -> str:
    record = renders.load(rt.db, render_id)
    job, person = renders.replan(rt.registry, record)
    timer = Timer()
    # every dynamic segment, due when the viewer's playhead gets there (scheduler.py)
    start = record.created_at.timestamp() + (BULK_DELAY if record.priority == "bulk" else 0.0)
    due = [(seg, rt.scheduler.submit(job, seg, start + seg.start)) for seg in person.plan.dynamic]
    with timer.stage("segments"):
        for _, future in due:
            outcome = future.result()
            METRICS.segments.labels("rendered" if outcome.rendered else "cached").inc()
            lease.renew(render_id)
    renders.finish(rt.db, job, person, record, timer)
    METRICS.renders.labels("done").inc()
    METRICS.render_seconds.observe(sum(timer.stages.values()))
    log.info("render %s done in %.2f s", render_id, sum(timer.stages.values()))
    return "done"


def _touch(rt: Runtime, render_id: str) -> None:
    """A heartbeat, so the requeue sweep does not take a live render for a lost one."""
    with rt.db.session() as s:
        record = s.get(RenderRecord, render_id)
        if record is not None:
            record.updated_at = utcnow()


def stale_renders(rt: Runtime) -> list[tuple[str, str]]:
    """(render id, priority) of accepted renders whose message may have been lost."""
    cutoff = utcnow() - timedelta(seconds=rt.settings.requeue_after_seconds)
    found = rt.db.renders_to_requeue(cutoff)
    for record in found:
        _touch(rt, record.id)
    return [(r.id, r.priority) for r in found]
