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

from vidmerge.engine.loaded import LoadedVersion
from vidmerge.engine.pipeline import Personalized, Timer, package_outputs, personalize
from vidmerge.errors import NotFound
from vidmerge.plan import OUTPUTS
from vidmerge.records import AuditAction, Database, RenderRecord, external_id_subject, utcnow
from vidmerge.resolver.fields import jsonable
from vidmerge.service.registry import Registry


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
        found = db.renders.by_idempotency_key(idempotency_key)
        if found is not None:
            return Accepted(found, created=False)
    record = registry.record(template_id, version)
    loaded = registry.loaded(record.id, record.version)
    person = personalize(loaded, data)
    found = db.renders.by_values_hash(record.id, record.version, person.plan.values_hash)
    if found is not None:
        return Accepted(found, created=False)
    render = RenderRecord(
        template_id=record.id,
        template_version=record.version,
        external_id=external_id,
        values_hash=person.plan.values_hash,
        priority=priority,
        idempotency_key=idempotency_key,
        resolved=_resolved(person, {k: data[k] for k in loaded.template.spec.field_names if k in data}),
    )
    try:
        db.renders.add(render)
    except IntegrityError:  # an identical request (or the same Idempotency-Key) won the race
        found = db.renders.by_idempotency_key(idempotency_key) if idempotency_key else None
        found = found or db.renders.by_values_hash(record.id, record.version, person.plan.values_hash)
        if found is None:
            raise
        return Accepted(found, created=False)
    return Accepted(render, created=True)


def _resolved(person: Personalized, data: Mapping[str, Any]) -> dict[str, Any]:
    """What the record keeps: the declared input fields as sent (to redraw a segment on
    demand), the values as drawn and how they were computed. Erased with the render."""
    return {
        "data": jsonable(data),
        "values": {k: d.text for k, d in person.drawn.items()},
        "explanations": person.explanations,
    }


def expired(record: RenderRecord, loaded: LoadedVersion) -> bool:
    """Whether the template's `output.link_expire_days` has passed since the render was accepted."""
    days = loaded.template.manifest.output.link_expire_days
    return days is not None and utcnow() - record.created_at > timedelta(days=days)


def load(db: Database, render_id: str) -> RenderRecord:
    record = db.renders.get(render_id)
    if record is None:
        raise NotFound("no such render", where=f"render {render_id}")
    return record


def replan(registry: Registry, record: RenderRecord) -> tuple[LoadedVersion, Personalized]:
    """The plan of an accepted render, rebuilt from its stored data (deterministic)."""
    loaded = registry.loaded(record.template_id, record.template_version)
    return loaded, personalize(loaded, record.resolved["data"])


def finish(db: Database, loaded: LoadedVersion, person: Personalized, record: RenderRecord, timer: Timer) -> None:
    """Package MP4, poster and GIF, upload them under the render's token, mark it done.

    A render erased while it was packaging loses the files just uploaded too."""
    with tempfile.TemporaryDirectory(prefix="vidmerge-out-") as tmp:
        outputs = package_outputs(loaded, person, Path(tmp), timer)
        with timer.stage("upload"):
            for name, content_type in OUTPUTS.items():
                loaded.storage.put_file(output_key(record.token, name), Path(tmp) / name, content_type)
    if not db.renders.mark_done(record.id, {**timer.stages, "fallback": outputs.fallback}):
        loaded.storage.delete_prefix(f"renders/{record.token}/")


def set_status(db: Database, render_id: str, status: str, *, error: str | None = None) -> RenderRecord | None:
    return db.renders.set_status(render_id, status, error=error)


def erase(db: Database, registry: Registry, record: RenderRecord, *, action: AuditAction = "erase") -> int:
    """Delete every derived object and the record; write an audit entry without personal data."""
    count = registry.storage.delete_prefix(f"renders/{record.token}/")
    try:
        _, person = replan(registry, record)
        keys = [s.key for s in person.plan.dynamic]
    except Exception:  # the template is gone or changed: nothing personal to find by plan
        keys = []
    for key in keys:
        registry.storage.delete(key)
    db.renders.erase(record.id, keys, action=action, count=count + len(keys))
    return count + len(keys)


def erase_external(db: Database, registry: Registry, external_id: str) -> int:
    """Erasure by external id (a customer asking to be forgotten): every render of theirs."""
    records = db.renders.of_external_id(external_id)
    total = sum(erase(db, registry, r) for r in records)
    db.audit.add("erase", external_id_subject(external_id), total)
    return len(records)


def purge_older_than(db: Database, registry: Registry, seconds: float) -> int:
    """Retention: erase renders finished longer ago than `seconds`."""
    cutoff = utcnow() - timedelta(seconds=seconds)
    records = db.renders.created_before(cutoff)
    for r in records:
        erase(db, registry, r, action="purge")
    return len(records)
