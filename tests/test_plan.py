"""The render plan is a pure value: tested by equality, no I/O."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from fractions import Fraction
from typing import Any

import pytest

from vidmerge.draw.slots import TextSlot
from vidmerge.plan import Drawn, Prepared, Rendition, SegmentInfo, make_plan, visible

GRID = 60  # frames per 2 s segment at 30 fps


def _prepared(segments: int = 5, key: str = "prep1") -> Prepared:
    infos = tuple(
        SegmentInfo(index=i, frames=GRID, pts0=1920 + i * 180_000, key=f"shared/{key}/seg_{i:05d}.ts")
        for i in range(segments)
    )
    return Prepared(
        key=key, width=320, height=180, fps_num=30, fps_den=1, gop=GRID,
        preset="ultrafast", crf=23, audio_bitrate="128k", segments=infos,
    )  # fmt: skip


def _slot(slot_id: str, start: float, end: float) -> TextSlot:
    raw: dict[str, Any] = {
        "id": slot_id, "kind": "text", "start": start, "end": end, "text": "{{ name }}",
        "box": {"x": 0, "y": 0, "w": 100, "h": 50},
    }  # fmt: skip
    return TextSlot.model_validate(raw)


SLOTS = (_slot("greeting", 2.0, 4.0), _slot("plan", 5.0, 9.5))


def _drawn(greeting: str = "田中様", plan: str = "スマート") -> dict[str, Drawn]:
    return {"greeting": Drawn("greeting", greeting), "plan": Drawn("plan", plan)}


def _plan(drawn: dict[str, Drawn] | None = None, prepared: Prepared | None = None, slots=SLOTS):  # type: ignore[no-untyped-def]
    return make_plan("t", 1, prepared or _prepared(), slots, drawn or _drawn())


def test_static_and_dynamic_segments_follow_the_windows() -> None:
    plan = _plan()
    # greeting [2, 4) is exactly segment 1; plan [5, 9.5) touches segments 2, 3 and 4
    assert [s.dynamic for s in plan.segments] == [False, True, True, True, True]
    assert [s.index for s in plan.dynamic] == [1, 2, 3, 4]
    assert plan.segments[1].draws == (Drawn("greeting", "田中様"),)
    assert plan.segments[2].draws == (Drawn("plan", "スマート"),)


def test_a_window_touching_a_boundary_marks_only_the_segment_it_covers() -> None:
    plan = _plan(slots=(_slot("greeting", 2.0, 4.0),))
    assert [s.dynamic for s in plan.segments] == [False, True, False, False, False]


def test_a_window_crossing_a_boundary_by_a_frame_marks_both() -> None:
    plan = _plan(slots=(_slot("greeting", 1.95, 4.01),))  # frames 59 (1.967 s) and 120 (4.0 s) show it
    assert [s.dynamic for s in plan.segments] == [True, True, True, False, False]


def test_a_window_starting_after_a_segments_last_frame_leaves_it_shared() -> None:
    plan = _plan(slots=(_slot("greeting", 1.99, 3.99),))  # no frame between 1.967 s and 2.0 s
    assert [s.dynamic for s in plan.segments] == [False, True, False, False, False]


@pytest.mark.parametrize(
    ("window", "first", "expected"),
    [((2.0, 4.0), 0.0, False), ((2.0, 4.0), 2.0, True), ((2.0, 4.0), 4.0, False),
     ((3.0, 3.5), 2.0, True), ((0.0, 30.0), 28.0, True), ((3.97, 3.99), 2.0, False)],
)  # fmt: skip
def test_visible_asks_whether_a_frame_falls_in_the_window(
    window: tuple[float, float], first: float, expected: bool
) -> None:
    assert visible(_slot("s", *window), first, GRID, Fraction(30)) is expected


def test_at_29_97_fps_a_slot_on_the_two_second_mark_leaves_segment_zero_shared() -> None:
    """The grid's boundary is at 2.002 s, but segment 0's last frame is at 1.969 s."""
    ntsc = Fraction(30000, 1001)
    assert not visible(_slot("s", 2.0, 4.0), 0.0, GRID, ntsc)
    assert visible(_slot("s", 2.0, 4.0), float(GRID / ntsc), GRID, ntsc)


def test_static_segments_point_at_the_shared_segments() -> None:
    plan = _plan()
    prepared = _prepared()
    seg0 = plan.segments[0]
    assert seg0.key == prepared.segments[0].key and seg0.draws == ()
    assert (seg0.start, seg0.end, seg0.frames, seg0.pts0) == (0.0, 2.0, GRID, 1920)
    assert [(s.start, s.end) for s in plan.segments] == [(0.0, 2.0), (2.0, 4.0), (4.0, 6.0), (6.0, 8.0), (8.0, 10.0)]
    for seg in plan.dynamic:
        assert seg.key.startswith("dyn/prep1/") and seg.key.endswith(".ts")


def test_the_plan_is_an_immutable_value() -> None:
    assert _plan() == _plan()
    assert hash(_plan()) == hash(_plan())
    with pytest.raises(AttributeError):
        _plan().values_hash = "x"  # type: ignore[misc]


def test_same_drawn_values_give_the_same_keys() -> None:
    a, b = _plan(_drawn("田中様")), _plan(_drawn("田中様"))
    assert [s.key for s in a.segments] == [s.key for s in b.segments]
    assert a.values_hash == b.values_hash


def test_another_value_changes_only_the_segments_where_its_slot_is_visible() -> None:
    a, b = _plan(_drawn("田中様")), _plan(_drawn("佐藤様"))
    changed = [s.index for s, t in zip(a.segments, b.segments, strict=True) if s.key != t.key]
    assert changed == [1]
    assert a.values_hash != b.values_hash


def test_a_value_shown_over_several_segments_changes_each_of_them() -> None:
    a, b = _plan(_drawn(plan="スマート")), _plan(_drawn(plan="ファミリー"))
    changed = [s.index for s, t in zip(a.segments, b.segments, strict=True) if s.key != t.key]
    assert changed == [2, 3, 4]


def test_each_dynamic_segment_has_its_own_key() -> None:
    keys = [s.key for s in _plan().dynamic]
    assert len(set(keys)) == len(keys)  # the index is part of the key


def test_number_and_asset_digest_are_part_of_the_key() -> None:
    base = _drawn()
    number = {**base, "greeting": Drawn("greeting", "田中様", number=1.0)}
    image = {**base, "greeting": Drawn("greeting", "田中様", asset_digest="abc")}
    keys = {_plan(d).segments[1].key for d in (base, number, image)}
    assert len(keys) == 3


def test_keys_depend_on_the_prepared_version() -> None:
    a, b = _plan(prepared=_prepared(key="prep1")), _plan(prepared=_prepared(key="prep2"))
    assert all(s.key != t.key for s, t in zip(a.segments, b.segments, strict=True))
    assert a.values_hash != b.values_hash


def test_values_hash_is_stable() -> None:
    """Pinned: a change means every cached render and segment key changes with it.
    If that is intended (drawing code changed pixels), bump RENDERER_VERSION and update this."""
    plan = _plan()
    assert plan.values_hash == _plan().values_hash
    assert len(plan.values_hash) == 40 and int(plan.values_hash, 16) >= 0
    assert plan.values_hash == PINNED_VALUES_HASH
    assert plan.segments[1].key == f"dyn/prep1/{PINNED_GREETING_DIGEST}.ts"


def test_values_hash_ignores_dict_order() -> None:
    drawn = _drawn()
    reordered = dict(reversed(list(drawn.items())))
    assert _plan(drawn).values_hash == _plan(reordered).values_hash


PINNED_VALUES_HASH = "8b340b522286b5a68d62e83477fd90e07d696600"
PINNED_GREETING_DIGEST = "853fcdc9bcf024a25bc5eea7315778beb55bdfa5"


HEAVY = ("av", "boto3", "botocore", "fastapi", "sqlalchemy", "celery", "PIL")


@pytest.mark.parametrize(("module", "may_load"), [("vidmerge.plan", ()), ("vidmerge.storage", ("PIL",))])
def test_importing_pure_modules_loads_nothing_heavy(module: str, may_load: tuple[str, ...]) -> None:
    """The plan is a pure value any tool can build; storage imports boto3 only when S3 is configured."""
    code = f"import sys, {module}; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert [m for m in loaded if m not in may_load] == []


def _laddered() -> Prepared:
    top = _prepared()
    low = tuple(replace(s, key=s.key.replace("prep1/", "prep1/90p/")) for s in top.segments)
    return replace(top, bandwidth=900_000, codecs="avc1.64000d,mp4a.40.2",
                   renditions=(Rendition("90p", 160, 90, 300_000, "avc1.64000b,mp4a.40.2", low),))  # fmt: skip


def test_a_rendition_is_a_prepared_of_its_own_under_the_versions_key() -> None:
    top = _laddered()
    low = top.rendition("90p")
    assert low is not None and top.rendition("180p") is top and top.rendition("720p") is None
    assert [p.name for p in top.ladder] == ["90p", "180p"]  # the lowest first
    assert (low.key, low.width, low.height, low.bandwidth, low.renditions) == ("prep1/90p", 160, 90, 300_000, ())
    assert (low.gop, low.fps, low.crf, low.preset) == (top.gop, top.fps, top.crf, top.preset)
    keys = [s.key for s in _plan(prepared=low).dynamic]
    assert keys and all(k.startswith("dyn/prep1/90p/") for k in keys)
    assert not set(keys) & {s.key for s in _plan(prepared=top).dynamic}


def test_a_prepared_json_round_trips_and_one_written_before_the_ladder_has_one_rung() -> None:
    top = _laddered()
    assert Prepared.from_json(top.to_json()) == top
    raw = json.loads(top.to_json())
    for name in ("renditions", "bandwidth", "codecs"):
        del raw[name]
    old = Prepared.from_json(json.dumps(raw))
    assert old.renditions == () and old.ladder == (old,)
