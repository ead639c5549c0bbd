"""Retention: personal outputs older than the configured age are purged, with an audit entry."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from vidmerge.config import Settings
from vidmerge.records import AuditRecord, RenderRecord, TemplateRecord, utcnow
from vidmerge.service.renders import output_key, purge_older_than
from vidmerge.service.runtime import open_runtime


def _render(rt, age: timedelta) -> RenderRecord:  # type: ignore[no-untyped-def]
    record = RenderRecord(template_id="t", template_version=1, values_hash="h" + str(age), created_at=utcnow() - age)
    with rt.db.session() as s:
        s.add(record)
    for name in ("video.mp4", "poster.jpg", "email.gif"):
        rt.storage.put_bytes(output_key(record.token, name), b"personal", "application/octet-stream")
    return record


def test_old_renders_are_purged_and_recent_ones_kept(tmp_path: Path) -> None:
    rt = open_runtime(Settings(data_dir=tmp_path))
    with rt.db.session() as s:
        s.add(TemplateRecord(id="t", version=1, status="ready"))
    old = _render(rt, timedelta(days=40))
    recent = _render(rt, timedelta(days=1))

    assert purge_older_than(rt.db, rt.registry, timedelta(days=30).total_seconds()) == 1

    assert not rt.storage.exists(output_key(old.token, "video.mp4"))
    assert rt.storage.exists(output_key(recent.token, "video.mp4"))
    with rt.db.session() as s:
        assert s.get(RenderRecord, old.id) is None and s.get(RenderRecord, recent.id) is not None
        audits = s.query(AuditRecord).all()
    assert [(a.action, a.subject) for a in audits] == [("purge", f"render:{old.id}")]
    assert audits[0].count == 3
