"""Renders: accept one at once (plan now, encode later), finish it, erase it.

Every accepted request is its own render: its own record, token and `external_id`, even when its
values equal another customer's. Content is shared underneath: a personalized segment is stored
once by the hash of what it draws, and each render lists the segments it uses, so erasing one
customer deletes only what no other render uses. The values are resolved once, at accept, and
frozen in the record: workers, segment requests and erasure plan from them, never from the
customer's raw data again (which is not kept).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy.exc import IntegrityError

from vidmerge.draw.values import warnings as drawn_warnings
from vidmerge.engine.loaded import LoadedVersion
from vidmerge.engine.pipeline import (
    Personalized,
    Picture,
    Timer,
    assemble_mp4,
    in_rendition,
    make_picture,
    personalize,
    pictures,
    splice,
)
from vidmerge.errors import Conflict, NotFound
from vidmerge.plan import MP4, OUTPUTS, Drawn, RenderPlan, make_plan
from vidmerge.records import AuditAction, Claim, Database, RenderRecord, external_id_subject, utcnow
from vidmerge.resolver.fields import jsonable
from vidmerge.service import scratch
from vidmerge.service.registry import Registry
from vidmerge.service.work.segments import single_flight
from vidmerge.storage import Storage
from vidmerge.template.manifest import Tool

PICTURE_WAIT = 60.0  # seconds to wait for a picture or MP4 another process is making


def output_key(token: str, name: str) -> str:
    return f"renders/{token}/{name}"


@dataclass(frozen=True)
class Accepted:
    record: RenderRecord
    created: bool  # False: this request (same Idempotency-Key or signature, same body) was accepted before


@dataclass(frozen=True)
class Fitted:
    """A tool's fields fitted to a template's inputs."""

    data: dict[str, Any]
    ignored: list[str]  # fields no input takes
    defaulted: list[str]  # inputs the fields leave out: their default is drawn


def fit(registry: Registry, template_id: str, version: int | None, tool: Tool, fields: Mapping[str, Any]) -> Fitted:
    """Map a tool's fields onto the template's inputs: through the template's `mappings` for that
    tool, else by name. Every answer says what was ignored and what fell back to its default."""
    record = registry.record(template_id, version)
    template = registry.loaded(record.id, record.version).template
    mapping, inputs = template.manifest.mappings.get(tool, {}), set(template.spec.field_names)
    data, ignored = {}, []
    for name, value in fields.items():
        target = mapping.get(name, name)
        if target in inputs:
            data[target] = value
        else:
            ignored.append(name)
    return Fitted(data, sorted(ignored), template.spec.defaulted(data))


def accept(
    db: Database,
    registry: Registry,
    template_id: str,
    data: Mapping[str, Any],
    *,
    version: int | None = None,
    external_id: str | None = None,
    claims: Sequence[Claim] = (),
    priority: str = "interactive",
) -> Accepted:
    """Resolve and plan now (errors surface in the webhook's answer); no encoding here. A request
    whose idempotency `claims` were accepted before gets that render again."""
    found = _claimed(db, claims)
    if found is not None:
        return Accepted(found, created=False)
    record = registry.record(template_id, version)
    loaded = registry.loaded(record.id, record.version)
    person = personalize(loaded, data)
    render = RenderRecord(template_id=record.id, template_version=record.version, external_id=external_id,
                          priority=priority)  # fmt: skip
    return _add(db, loaded, render, person, claims)


def accept_frozen(
    db: Database, registry: Registry, render: RenderRecord, resolved: dict[str, Any], claims: Sequence[Claim]
) -> Accepted:
    """Accept a render whose values were resolved and frozen before (a campaign's row, checked at
    upload): nothing is resolved again."""
    found = _claimed(db, claims)
    if found is not None:
        return Accepted(found, created=False)
    loaded = registry.loaded(render.template_id, render.template_version)
    return _add(db, loaded, render, thaw(loaded, resolved), claims)


def _add(
    db: Database, loaded: LoadedVersion, render: RenderRecord, person: Personalized, claims: Sequence[Claim]
) -> Accepted:
    render.values_hash, render.resolved = person.plan.values_hash, frozen(person)
    try:
        db.renders.add(render, keys(loaded, person.plan, ladder=False), list(claims))
    except IntegrityError:  # the same request, retried at the same moment, won the race
        found = _claimed(db, claims)
        if found is None:
            raise
        return Accepted(found, created=False)
    return Accepted(render, created=True)


def _claimed(db: Database, claims: Sequence[Claim]) -> RenderRecord | None:
    """The render an earlier acceptance of this request created. Conflict when a key comes back
    with another body, or when that render was erased (a replay never brings it back)."""
    for claim in claims:
        found = db.idempotency.find(claim)
        if found is None:
            continue
        where = "Idempotency-Key" if claim.scope != SIGNATURE_SCOPE else "X-Vidmerge-Signature"
        if found.request_hash != claim.request_hash:
            raise Conflict(f"{claim.key!r} was used with another request body", where=where)
        render = db.renders.get(found.render_id)
        if render is None:
            raise Conflict("the render this request created was erased; it is not made again", where=where)
        return render
    return None


SIGNATURE_SCOPE = "signature"  # a signed webhook's signature is an idempotency key of its own


def frozen(person: Personalized) -> dict[str, Any]:
    """What the record keeps: the values as drawn (all a render needs, to the last segment) and
    how they were computed. Not the raw data. Erased with the render."""
    return {"drawn": [asdict(d) for d in person.drawn.values()], "explanations": jsonable(person.explanations)}


def thaw(loaded: LoadedVersion, resolved: dict[str, Any]) -> Personalized:
    """A render's plan from its frozen values (what `frozen` kept)."""
    drawn = {d["slot_id"]: Drawn(**d) for d in resolved["drawn"]}
    template = loaded.template
    plan = make_plan(template.id, template.version, loaded.prepared, template.slots, drawn)
    return Personalized({}, resolved.get("explanations", {}), drawn, plan)


def values(record: RenderRecord) -> dict[str, str]:
    """The values as drawn, slot id -> text (what GET /v1/renders shows)."""
    if "drawn" in record.resolved:
        return {d["slot_id"]: d["text"] for d in record.resolved["drawn"]}
    return dict(record.resolved.get("values", {}))  # a render accepted before values were frozen


def warnings(record: RenderRecord) -> list[str]:
    """What the render draws otherwise than written (never the text itself)."""
    return drawn_warnings(values(record))


def expired(record: RenderRecord, loaded: LoadedVersion) -> bool:
    """Whether the template's `output.link_expire_days` has passed since the render was accepted."""
    days = loaded.template.manifest.output.link_expire_days
    return days is not None and utcnow() - record.created_at > timedelta(days=days)


def load(db: Database, render_id: str) -> RenderRecord:
    record = db.renders.get(render_id)
    if record is None:
        raise NotFound("no such render", where=f"render {render_id}")
    return record


def replan(
    db: Database, registry: Registry, record: RenderRecord, *, ladder: bool = True
) -> tuple[LoadedVersion, Personalized]:
    """The plan of an accepted render, from the values frozen at accept (no data resolved again,
    no lookup run again). The render's references to its segments are brought up to date: a
    render accepted before values were frozen is frozen now, and a plan whose keys changed (a new
    renderer version) references its new segments, so neither is deleted as unused. With
    `ladder` (where a viewer may ask for them), also the segments of every rendition."""
    loaded = registry.loaded(record.template_id, record.template_version)
    if "drawn" in record.resolved:
        person = thaw(loaded, record.resolved)
    else:  # accepted before values were frozen: its data was kept; freeze it now
        person = personalize(loaded, record.resolved["data"])
        db.renders.freeze(record.id, frozen(person))
    db.renders.reference(record.id, keys(loaded, person.plan, ladder=ladder))
    return loaded, person


def keys(loaded: LoadedVersion, plan: RenderPlan, *, ladder: bool = True) -> list[str]:
    """The shared objects a render uses: its personalized segments and its pictures. Erasing it
    deletes those no other render uses. With `ladder`, also those of the lower renditions: made
    only when a viewer asks for them, so referenced when a viewer's request first plans the
    render (`replan`), not by the webhook (an MA tool's burst of calls writes a third as many
    rows)."""
    rungs = loaded.prepared.ladder if ladder else (loaded.prepared,)
    segments = [s.key for rung in rungs for s in in_rendition(loaded, plan, rung)[1].dynamic]
    return segments + [p.key for p in pictures(loaded, plan)]


def finish(db: Database, loaded: LoadedVersion, person: Personalized, record: RenderRecord, timer: Timer) -> None:
    """Check the splice (the MP4 is assembled again when asked for: none is kept, unless a full
    render had to replace it), make the poster and GIF unless another render made them, mark it
    done. A render erased while it was packaging loses what was just made for it too (its
    temporary folder is named after it: the erasure removes it, and this stops)."""
    with scratch.render_dir(record.id) as tmp:
        mp4 = Path(tmp) / MP4
        fallback = splice(loaded, person, mp4, timer)
        with timer.stage("pictures"):
            for picture in pictures(loaded, person.plan):
                if fallback:  # its own files, from the full render: nothing to make them from again
                    make_picture(loaded, picture, Path(tmp) / picture.name, mp4)
                else:
                    _ensure_picture(db, loaded, picture)
        if fallback:
            for name, content_type in OUTPUTS.items():
                loaded.storage.put_file(output_key(record.token, name), Path(tmp) / name, content_type)
    if not db.renders.mark_done(record.id, {**timer.stages, "fallback": fallback, "own_files": fallback}):
        loaded.storage.delete_prefix(f"renders/{record.token}/")


def _ensure_picture(db: Database, loaded: LoadedVersion, picture: Picture) -> None:
    def make() -> bool:
        return _stored(loaded, picture.key, picture.name, lambda path: make_picture(loaded, picture, path))

    single_flight(db, loaded.storage, picture.key, make, wait=PICTURE_WAIT, where=picture.name,
                  alive=lambda: db.renders.in_use(picture.key))  # fmt: skip


def _stored(
    loaded: LoadedVersion, key: str, name: str, write: Callable[[Path], None], *, render_id: str | None = None
) -> bool:
    """`write` a file named `name` in a temporary folder, then store it under `key`. A file of
    one render's only (`render_id`) is made in that render's folder, which its erasure finds."""
    folder = scratch.render_dir(render_id) if render_id else tempfile.TemporaryDirectory(prefix="vidmerge-out-")
    with folder as tmp:
        path = Path(tmp) / name
        write(path)
        loaded.storage.put_file(key, path, OUTPUTS[name])
    return True


def output(db: Database, loaded: LoadedVersion, plan: RenderPlan, record: RenderRecord, name: str, keep: float) -> str:
    """The storage key of a done render's MP4, poster or GIF. The MP4 is assembled from the
    render's segments when asked for and kept `keep` seconds after its last use; the pictures are
    shared by content. A full render's files, and those of a render made before either, are its
    own, under its token."""
    key = output_key(record.token, name)
    if record.timings.get("own_files", True):  # a full render's, or made before they were shared
        return key
    if name != MP4:
        return next(p.key for p in pictures(loaded, plan) if p.name == name)

    def make() -> bool:
        return _stored(loaded, key, MP4, lambda path: assemble_mp4(loaded, plan, path), render_id=record.id)

    made = single_flight(db, loaded.storage, key, make, wait=PICTURE_WAIT, where="mp4",
                         alive=lambda: db.renders.get(record.id) is not None)  # fmt: skip
    if made.rendered:  # the object is the truth now, and no row keeps the link's token
        db.leases.forget(key)
    now = utcnow()
    if record.mp4_until is None or record.mp4_until - now < timedelta(seconds=keep / 2):
        db.renders.keep_mp4(record.id, now + timedelta(seconds=keep))
    return key


def evict_mp4s(db: Database, storage: Storage) -> int:
    """Delete the MP4s assembled on request and kept past their time (asked for again, they are
    assembled again)."""
    expired = db.renders.mp4_expired(utcnow())
    for render_id, token in expired:
        storage.delete(output_key(token, MP4))
        db.renders.keep_mp4(render_id, None)
    return len(expired)


def set_status(db: Database, render_id: str, status: str, *, error: str | None = None) -> bool:
    return db.renders.set_status(render_id, status, error=error)


def erase(db: Database, registry: Registry, record: RenderRecord, *, action: AuditAction = "erase") -> int:
    """Delete the render's record, every personalized segment no other render uses, and its files;
    write an audit entry without personal data. Returns how many objects were deleted.

    The record goes first: a worker packaging this render at the same moment then finds it gone
    and deletes what it uploaded (`finish`), so no interleaving leaves files behind. Its
    temporary files on this machine go too, a dead worker's included (service/scratch.py)."""
    orphans = db.renders.erase(record.id, also=_legacy_keys(registry, record))
    scratch.erase_render(record.id)
    count = registry.storage.delete_prefix(f"renders/{record.token}/")
    for key in orphans:
        registry.storage.delete(key)
    db.audit.add(action, f"render:{record.id}", count + len(orphans))
    return count + len(orphans)


def _legacy_keys(registry: Registry, record: RenderRecord) -> list[str]:
    """A render accepted before renders listed their segments: its keys, from its kept data."""
    if "drawn" in record.resolved:
        return []
    try:
        loaded = registry.loaded(record.template_id, record.template_version)
        return [s.key for s in personalize(loaded, record.resolved["data"]).plan.dynamic]
    except Exception:  # the template is gone or changed: nothing personal to find by plan
        return []


class ErasedCustomer(NamedTuple):
    renders: int  # their renders erased
    rows: int  # campaign rows of theirs left as anonymous counts


def erase_external(db: Database, registry: Registry, external_id: str) -> ErasedCustomer:
    """Erasure by external id (a customer asking to be forgotten): every render of theirs, and
    their identifier and values in every campaign row (launched or not). The rows go first: a
    launch running now then finds its row erased and erases the render it just made, and a row
    not launched yet never is."""
    rows = db.campaigns.forget(external_id)
    records = db.renders.of_external_id(external_id)
    total = sum(erase(db, registry, r) for r in records)
    db.audit.add("erase", external_id_subject(external_id), total)
    return ErasedCustomer(len(records), rows)


def purge_older_than(db: Database, registry: Registry, seconds: float) -> int:
    """Retention: erase renders finished longer ago than `seconds`."""
    cutoff = utcnow() - timedelta(seconds=seconds)
    records = db.renders.created_before(cutoff)
    for r in records:
        erase(db, registry, r, action="purge")
    return len(records)
