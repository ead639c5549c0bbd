"""Start-up warnings at upload: personalizing the first seconds delays or risks playback."""

from __future__ import annotations

import dataclasses

import pytest
from support.server import DEMO

from vidmerge.bench.demo import write_demo
from vidmerge.plan import Prepared, SegmentInfo
from vidmerge.service.registry import start_warnings
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
