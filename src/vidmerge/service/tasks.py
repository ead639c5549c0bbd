"""The task code: the same functions run in the embedded pool and in Celery workers.

Tasks take ids, never payloads, and are idempotent: a finished render is a no-op, and
segments already in storage are not rendered again.
"""

from __future__ import annotations

import logging

from ..errors import InvalidInput, NotFound
from ..pipeline import Timer
from ..records import utcnow
from . import renders, segments
from .metrics import METRICS
from .runtime import Runtime

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
    renders.set_status(rt.db, render_id, "rendering")
    log.info("render %s started (attempt %d)", render_id, record.attempts + 1)
    try:
        status = _render(rt, render_id)
    except InvalidInput as exc:
        renders.set_status(rt.db, render_id, "failed", error=f"{type(exc).__name__} at {exc.where or '-'}")
        METRICS.renders.labels("failed").inc()
        log.warning("render %s failed: %s at %s", render_id, type(exc).__name__, exc.where)
        return "failed"
    return status


def _render(rt: Runtime, render_id: str) -> str:
    record = renders.load(rt.db, render_id)
    job, person = renders.replan(rt.registry, record)
    timer = Timer()
    with timer.stage("segments"):
        for seg in person.plan.dynamic:
            outcome = segments.ensure(rt.db, job, seg, wait=rt.settings.segment_wait_seconds * 3)
            METRICS.segments.labels("rendered" if outcome.rendered else "cached").inc()
            _touch(rt, render_id)
    renders.finish(rt.db, job, person, record, timer)
    METRICS.renders.labels("done").inc()
    METRICS.render_seconds.observe(sum(v for k, v in timer.stages.items() if k != "verify"))
    log.info("render %s done in %.2f s", render_id, sum(timer.stages.values()))
    return "done"


def _touch(rt: Runtime, render_id: str) -> None:
    """A heartbeat, so the requeue sweep does not take a live render for a lost one."""
    with rt.db.session() as s:
        from ..records import RenderRecord

        record = s.get(RenderRecord, render_id)
        if record is not None:
            record.updated_at = utcnow()


def stale_renders(rt: Runtime) -> list[tuple[str, str]]:
    """(render id, priority) of accepted renders whose message may have been lost."""
    from datetime import timedelta

    cutoff = utcnow() - timedelta(seconds=rt.settings.requeue_after_seconds)
    found = rt.db.renders_to_requeue(cutoff)
    for record in found:
        _touch(rt, record.id)
    return [(r.id, r.priority) for r in found]
