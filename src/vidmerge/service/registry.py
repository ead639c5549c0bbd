"""Template versions: upload a zipped bundle, keep it in storage, prepare it once; load it
(cached per process) wherever a render runs, API or worker.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidmerge.engine.encode import warm_frames
from vidmerge.engine.ffmpeg import Limits
from vidmerge.engine.frames import FrameCache
from vidmerge.engine.loaded import LoadedVersion
from vidmerge.engine.pipeline import gif_warnings
from vidmerge.engine.prepare import Progress, prepare
from vidmerge.errors import Conflict, NotFound
from vidmerge.plan import Prepared
from vidmerge.records import Database, TemplateRecord, utcnow
from vidmerge.storage import Storage
from vidmerge.template.archive import ArchiveLimits, extract_zip
from vidmerge.template.bundle import Template, load_bundle


def bundle_key(template_id: str, version: int) -> str:
    return f"bundles/{template_id}/{version}.zip"


@dataclass
class Registry:
    db: Database
    storage: Storage
    cache_dir: Path  # extracted bundles, per process/machine
    limits: Limits
    archive_limits: ArchiveLimits
    frames: FrameCache | None = None

    def __post_init__(self) -> None:
        self._loaded: dict[tuple[str, int], LoadedVersion] = {}
        self._lock = threading.Lock()

    def upload(self, archive: Path, *, active: bool = True) -> tuple[TemplateRecord, bool]:
        """Validate and store a bundle, recorded as `preparing` (and `inactive` unless `active`):
        (the record, whether preparing it is still to be asked for). The same id, version and
        content again changes nothing."""
        with tempfile.TemporaryDirectory(prefix="vidmerge-upload-") as tmp:
            template = load_bundle(extract_zip(archive, Path(tmp) / "bundle", self.archive_limits))
            existing = self._existing(template)
            if existing is not None and existing.status != "failed":
                return existing, False
            self.storage.put_file(bundle_key(template.id, template.version), archive, "application/zip")
            state = "active" if active else "inactive"
            return self._save(template, status="preparing", state=state, error=None, created_at=utcnow()), True

    def prepare(self, template_id: str, version: int, progress: Progress | None = None) -> TemplateRecord:
        """Prepare a stored version (on a worker: never in the API process with a broker), then
        record it `ready` and keep it loaded. Idempotent: a prepared version is found, not
        encoded again."""
        root = self.cache_dir / template_id / str(version)
        shutil.rmtree(root, ignore_errors=True)  # what this process may hold of an older upload
        self._fetch(template_id, version, root)
        template = load_bundle(root)
        prepared = prepare(template, self.storage, limits=self.limits, progress=progress)
        loaded = LoadedVersion(template, prepared, self.storage, self.limits, frames=self.frames)
        warm_frames(loaded)
        with tempfile.TemporaryDirectory(prefix="vidmerge-gif-") as tmp:
            warnings = gif_warnings(loaded, Path(tmp))
        record = self._save(template, status="ready", prepared=prepared, warnings=warnings)
        with self._lock:  # kept: the first render of it here (every caller meanwhile) does not load it again
            self._loaded[(template_id, version)] = loaded
        return record

    def fail(self, template_id: str, version: int, reason: str) -> None:
        self.db.templates.save(template_id, version, status="failed", error=reason)

    def _existing(self, template: Template) -> TemplateRecord | None:
        record = self.db.templates.get(template.id, template.version)
        if record is not None and record.status == "failed":
            return record  # a version that failed to prepare may be uploaded again, changed
        if record is not None and record.manifest.get("digest") != template.digest:
            raise Conflict(
                f"version {template.version} exists with other content; raise `version` to upload a change",
                where=f"template {template.id}",
            )
        return record

    def _save(
        self, template: Template, *, status: str, prepared: Prepared | None = None, warnings: Sequence[str] = (),
        **more: Any,
    ) -> TemplateRecord:  # fmt: skip
        fields: dict[str, Any] = {"status": status, "manifest": describe(template, prepared, warnings), **more}
        if prepared is not None:
            fields.update(key_prefix=prepared.key, segment_count=len(prepared.segments), duration=prepared.duration)
        return self.db.templates.save(template.id, template.version, **fields)

    def record(self, template_id: str, version: int | None = None, *, ready: bool = True) -> TemplateRecord:
        """The record of a version (the newest when version is None); a ready one unless `ready`
        is False (what the API shows while a version is being prepared)."""
        templates = self.db.templates
        record = templates.newest(template_id, ready=ready) if version is None else templates.get(template_id, version)
        usable = record is not None and record.state != "deleted"
        if record is None or not usable or (ready and (record.status != "ready" or record.state != "active")):
            raise NotFound("no such template (or not ready, or not active)", where=f"template_id {template_id}")
        return record

    def set_state(self, template_id: str, version: int, state: str) -> TemplateRecord:
        """Activate, deactivate or delete a version. Renders made from it keep working whatever
        its state (until erased or expired): only new renders look at it."""
        self.record(template_id, version, ready=False)  # a deleted version stays deleted
        return self.db.templates.save(template_id, version, state=state)

    def loaded(self, template_id: str, version: int) -> LoadedVersion:
        """The loaded template and its prepared segments, cached in this process."""
        key = (template_id, version)
        with self._lock:
            if key not in self._loaded:
                self._loaded[key] = self._load(template_id, version)
            return self._loaded[key]

    def _load(self, template_id: str, version: int) -> LoadedVersion:
        root = self.cache_dir / template_id / str(version)
        if not (root / "template.yaml").is_file():
            self._fetch(template_id, version, root)
        template = load_bundle(root)
        prepared = prepare(template, self.storage, limits=self.limits)  # found, not redone, normally
        return LoadedVersion(template, prepared, self.storage, self.limits, frames=self.frames)

    def _fetch(self, template_id: str, version: int, root: Path) -> None:
        root.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=root.parent) as tmp:
            archive = Path(tmp) / "bundle.zip"
            self.storage.download(bundle_key(template_id, version), archive)
            bundle = extract_zip(archive, Path(tmp) / "x", self.archive_limits)
            shutil.rmtree(root, ignore_errors=True)
            bundle.rename(root)


def describe(template: Template, prepared: Prepared | None = None, warnings: Sequence[str] = ()) -> dict[str, Any]:
    """What the API shows of a template: its slots, input fields and warnings (start-up, and
    `warnings` found while preparing)."""
    m = template.manifest
    return {
        "warnings": [*(start_warnings(template, prepared) if prepared else []), *warnings],
        "personalized": personalized(template, prepared) if prepared else None,
        "digest": template.digest,
        "title": m.title,
        "duration": template.media.duration,
        "size": [template.media.width, template.media.height],
        "inputs": template.spec.describe(),
        "slots": [
            {"id": s.id, "kind": s.kind, "start": s.start, "end": s.end, "box": s.box.model_dump()} for s in m.slots
        ],
    }


def personalized(template: Template, prepared: Prepared) -> dict[str, Any]:
    """The segments a slot touches, which each customer's render encodes: the render's cost."""
    dynamic = [i for i in range(len(prepared.segments)) if any(prepared.shows(s, i) for s in template.slots)]
    seconds = sum(prepared.segments[i].frames for i in dynamic) / prepared.fps
    return {"segments": dynamic, "seconds": round(float(seconds), 3), "of_seconds": round(prepared.duration, 3)}


def start_warnings(template: Template, prepared: Prepared) -> list[str]:
    """Templates whose first seconds are personalized start late or may stall while rendering.

    The first segment must be rendered before playback can begin; after that, rendering has to
    stay ahead of the playhead. Rendering runs a few times faster than real time on a small
    machine, so a template that personalizes more than half of its first ten seconds leaves
    little margin when several customers open their links at once.
    """
    grid = [prepared.window(i) for i in range(len(prepared.segments))]
    touching = [[slot.id for slot in template.slots if prepared.shows(slot, i)] for i in range(len(grid))]
    warnings = []
    if touching and touching[0]:
        warnings.append(
            f"slot(s) {', '.join(touching[0])} appear in the first segment (0–{grid[0][1]:g} s): playback "
            "can start only after it renders; start personalized slots at or after "
            f"{grid[0][1]:g} s for an instant start"
        )
    early = [(a, b, ids) for (a, b), ids in zip(grid, touching, strict=True) if b <= 10.0 + 1e-9]
    dynamic = sum(b - a for a, b, ids in early if ids)
    total = sum(b - a for a, b, _ in early)
    if total and dynamic / total > 0.5:
        warnings.append(
            f"{dynamic:g} of the first {total:g} s are personalized: with several viewers at once, "
            "rendering may fall behind playback; keep personalized windows short or spaced early on"
        )
    return warnings
