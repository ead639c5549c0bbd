"""Renders: accept one at once (plan now, encode later), finish it, erase it.

The database is the source of truth. A render's record holds the customer's validated data
(needed to redraw a segment on demand) until the render is erased.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError

from ..errors import NotFound
from ..pipeline import Personalized, Timer, package_outputs, personalize
from ..records import AuditRecord, Database, RenderRecord, SegmentRecord, external_id_subject, utcnow
from ..render import Job
from .registry import Registry

OUTPUTS = {"video.mp4": "video/mp4", "poster.jpg": "image/jpeg", "email.gif": "image/gif"}


def output_key(token: str, name: str) -> str:
    return f"renders/{token}/{name}"


@dataclass(frozen=True)
class Accepted:
    record: RenderRecord
    created: bool  # False: an identical render (or the same Idempotency-Key) already existed


def accept(
    db: Database,
    registry: Registry,
    template_id: str,
    data: Mapping[str, Any],
    *,
    version: int | None = None,
    external_id: str | None = None,
    idempotency_key: str | None = None,
    priority: str = "interactive",
) -> Accepted:
    """Resolve and plan now (errors surface in the webhook's answer); no encoding here."""
    if idempotency_key:
        found = db.find_render_by_idempotency_key(idempotency_key)
        if found is not None:
            return Accepted(found, created=False)
    record = registry.record(template_id, version)
    job = registry.job(record.id, record.version)
    person = personalize(job, data)
    found = db.find_render_by_values_hash(record.id, record.version, person.plan.values_hash)
    if found is not None:
        return Accepted(found, created=False)
    render = RenderRecord(
        template_id=record.id,
        template_version=record.version,
        external_id=external_id,
        values_hash=person.plan.values_hash,
        priority=priority,
        idempotency_key=idempotency_key,
        resolved=_resolved(person, {k: data[k] for k in job.template.spec.field_names if k in data}),
    )
    try:
        with db.session() as s:
            s.add(render)
    except IntegrityError:  # an identical request (or the same Idempotency-Key) won the race
        found = db.find_render_by_idempotency_key(idempotency_key) if idempotency_key else None
        found = found or db.find_render_by_values_hash(record.id, record.version, person.plan.values_hash)
        if found is None:
            raise
        return Accepted(found, created=False)
    return Accepted(render, created=True)


def _resolved(person: Personalized, data: Mapping[str, Any]) -> dict[str, Any]:
    """What the record keeps: the declared input fields as sent (to redraw a segment on
    demand), the values as drawn and how they were computed. Erased with the render."""
    return {
        "data": _jsonable(data),
        "values": {k: d.text for k, d in person.drawn.items()},
        "explanations": person.explanations,
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def expired(record: RenderRecord, job: Job) -> bool:
    """Whether the template's `output.link_expire_days` has passed since the render was accepted."""
    days = job.template.manifest.output.link_expire_days
    return days is not None and utcnow() - record.created_at > timedelta(days=days)


def load(db: Database, render_id: str) -> RenderRecord:
    with db.session() as s:
        record = s.get(RenderRecord, render_id)
    if record is None:
        raise NotFound("no such render", where=f"render {render_id}")
    return record


def replan(registry: Registry, record: RenderRecord) -> tuple[Job, Personalized]:
    """The plan of an accepted render, rebuilt from its stored data (deterministic)."""
    job = registry.job(record.template_id, record.template_version)
    return job, personalize(job, record.resolved["data"])


def finish(db: Database, job: Job, person: Personalized, record: RenderRecord, timer: Timer) -> None:
    """Package MP4, poster and GIF, upload them under the render's token, mark it done.

    A render erased while it was packaging loses the files just uploaded too."""
    with tempfile.TemporaryDirectory(prefix="vidmerge-out-") as tmp:
        outputs = package_outputs(job, person, Path(tmp), timer)
        with timer.stage("upload"):
            for name, content_type in OUTPUTS.items():
                job.storage.put_file(output_key(record.token, name), Path(tmp) / name, content_type)
    with db.session() as s:
        current = s.get(RenderRecord, record.id)
        if current is not None:
            current.status = "done"
            current.finished_at = utcnow()
            current.timings = {**timer.stages, "fallback": outputs.fallback}
    if current is None:
        job.storage.delete_prefix(f"renders/{record.token}/")


def set_status(db: Database, render_id: str, status: str, *, error: str | None = None) -> RenderRecord | None:
    with db.session() as s:
        record = s.get(RenderRecord, render_id)
        if record is None:
            return None
        record.status = status
        record.error = error
        if status == "rendering":
            record.attempts += 1
        record.updated_at = utcnow()
        return record


def erase(db: Database, registry: Registry, record: RenderRecord, *, action: str = "erase") -> int:
    """Delete every derived object and the record; write an audit entry without personal data."""
    count = registry.storage.delete_prefix(f"renders/{record.token}/")
    try:
        _, person = replan(registry, record)
        keys = [s.key for s in person.plan.dynamic]
    except Exception:  # the template is gone or changed: nothing personal to find by plan
        keys = []
    for key in keys:
        registry.storage.delete(key)
    with db.session() as s:
        for key in keys:
            seg = s.get(SegmentRecord, key)
            if seg is not None:
                s.delete(seg)
        current = s.get(RenderRecord, record.id)
        if current is not None:
            s.delete(current)
        s.add(AuditRecord(action=action, subject=f"render:{record.id}", count=count + len(keys)))
    return count + len(keys)


def erase_external(db: Database, registry: Registry, external_id: str) -> int:
    """Erasure by external id (a customer asking to be forgotten): every render of theirs."""
    with db.session() as s:
        records = s.query(RenderRecord).filter_by(external_id=external_id).all()
    total = sum(erase(db, registry, r) for r in records)
    db.add_audit("erase", external_id_subject(external_id), total)
    return len(records)


def purge_older_than(db: Database, registry: Registry, seconds: float) -> int:
    """Retention: erase renders finished longer ago than `seconds`."""
    cutoff = utcnow() - timedelta(seconds=seconds)
    with db.session() as s:
        records = s.query(RenderRecord).filter(RenderRecord.created_at < cutoff).all()
    for r in records:
        erase(db, registry, r, action="purge")
    return len(records)
