"""Warnings at upload: personalizing the first seconds delays or risks playback; GIF settings
that cannot fit an email's 1 MB."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from support.media import SMALL_MANIFEST, make_clip, write_bundle, zip_folder
from support.server import DEMO

from vidmerge.bench.demo import write_demo
from vidmerge.config import Settings
from vidmerge.engine.pipeline import _GIF_TRY, _gif_key
from vidmerge.plan import Prepared, SegmentInfo
from vidmerge.service.registry import start_warnings
from vidmerge.service.runtime import open_runtime
from vidmerge.template.bundle import Template, load_bundle


@pytest.fixture(scope="module")
def demo() -> Template:
    return load_bundle(write_demo(DEMO))


def _prepared(segments: int = 15) -> Prepared:
    infos = tuple(SegmentInfo(i, 60, i * 180000, f"shared/x/seg_{i:05d}.ts") for i in range(segments))
    return Prepared("x", 1280, 720, 30, 1, 60, "veryfast", 20, "128k", infos)


def _moved(template: Template, slot_id: str, start: float, end: float) -> Template:
    slots = tuple(s.model_copy(update={"start": start, "end": end}) if s.id == slot_id else s for s in template.slots)
    return dataclasses.replace(template, manifest=template.manifest.model_copy(update={"slots": slots}))


def test_demo_template_starts_instantly(demo: Template) -> None:
    assert start_warnings(demo, _prepared()) == []


def test_a_slot_in_the_first_segment_is_named(demo: Template) -> None:
    warnings = start_warnings(_moved(demo, "greeting", 0.5, 3.0), _prepared())
    assert len(warnings) == 1 and "greeting" in warnings[0] and "first segment" in warnings[0]


def test_heavily_personalized_opening_is_flagged(demo: Template) -> None:
    busy = _moved(_moved(demo, "greeting", 2.0, 8.0), "savings", 8.0, 10.0)
    warnings = start_warnings(busy, _prepared())
    assert any("of the first 10 s are personalized" in w for w in warnings)


def test_gif_settings_that_cannot_fit_an_email_are_warned_of_at_upload(tmp_path: Path) -> None:
    """The trial GIF is made from the base clip while the version is prepared: the small
    template's 400 px, 10 fps, 3 s GIF fits; 800 px at 15 fps for 6 s of a grainy clip cannot,
    even after every adaptation (3/4 width, 32 colours, half the rate)."""
    clip = make_clip(tmp_path / "clip.mp4", seconds=8)
    runtime = open_runtime(Settings(data_dir=tmp_path / "data", frame_cache_mb=0))
    try:
        found, tries = {}, {}
        for version, gif in ((1, {}), (2, {"width": 800, "fps": 15, "duration": 6})):
            manifest = {**SMALL_MANIFEST, "version": version,
                        "output": {**SMALL_MANIFEST["output"], "gif": gif}}  # fmt: skip
            bundle = write_bundle(tmp_path / f"v{version}", manifest, clip=clip)
            record, _ = runtime.registry.upload(zip_folder(bundle, tmp_path / f"v{version}.zip"))
            found[version] = runtime.registry.prepare(record.id, record.version).manifest["warnings"]
            tries[version] = _GIF_TRY[_gif_key(runtime.registry.loaded(record.id, record.version))]
    finally:
        runtime.scheduler.close()
        runtime.db.dispose()
    assert tries[1] < 2 and tries[2] == 2  # where this process's renders of each start their GIF
    assert found[1] == []
    assert len(found[2]) == 1 and found[2][0].startswith("output.gif: 6 s of this clip at 800 px and 15 fps is a ")


def test_a_prepared_version_is_kept_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first render of a version just prepared here (and every webhook waiting behind it)
    does not load it again: bundle, plan and probe of the base clip."""
    bundle = write_bundle(tmp_path / "v1", SMALL_MANIFEST, clip=make_clip(tmp_path / "clip.mp4", seconds=8))
    runtime = open_runtime(Settings(data_dir=tmp_path / "data", frame_cache_mb=0))
    try:
        record, _ = runtime.registry.upload(zip_folder(bundle, tmp_path / "v1.zip"))
        runtime.registry.prepare(record.id, record.version)

        def load_again(template_id: str, version: int) -> None:
            raise AssertionError(f"{template_id} v{version} loaded again")

        monkeypatch.setattr(runtime.registry, "_load", load_again)
        loaded = runtime.registry.loaded(record.id, record.version)
        assert (loaded.template.id, loaded.template.version) == (record.id, record.version)
    finally:
        runtime.scheduler.close()
        runtime.db.dispose()
