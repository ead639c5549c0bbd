"""The manifest model: defaults, and one clear message naming the field for each mistake."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from support.media import SMALL_MANIFEST

from vidmerge.draw.slots import NumberSlot, Style, TextSlot
from vidmerge.errors import BundleError
from vidmerge.template.manifest import Manifest, Output, parse_manifest


def _manifest(**changes: Any) -> dict[str, Any]:
    raw = copy.deepcopy(SMALL_MANIFEST)
    raw.update(changes)
    return raw


def _slot(index: int = 0, **changes: Any) -> dict[str, Any]:
    raw = _manifest()
    raw["slots"][index].update(changes)
    return raw


def _one_problem(raw: object) -> BundleError:
    with pytest.raises(BundleError) as info:
        parse_manifest(raw)
    assert len(info.value.problems) == 1, info.value.problems
    return info.value


def test_the_small_manifest_parses_with_documented_defaults() -> None:
    m = parse_manifest(_manifest())
    assert isinstance(m, Manifest)
    assert m.id == "small" and m.version == 1 and m.base == "base.mp4"
    greeting, amount = m.slots
    assert isinstance(greeting, TextSlot) and isinstance(amount, NumberSlot)
    assert amount.format == "yen" and amount.count_up == 0.0
    assert Style() == Style(
        font="default", size=48, min_size=0, color="#ffffff", stroke_width=0, align="center",
        valign="middle", max_lines=2, line_spacing=1.2, background=None, fade_in=0.0, fade_out=0.0,
    )  # fmt: skip
    out = Output()
    assert (out.preset, out.crf, out.segment_seconds, out.audio_bitrate) == ("veryfast", 20, 2.0, "128k")
    assert out.poster_at is None and out.gif.duration == 3.0 and out.gif.width == 400


def test_minimal_manifest_needs_only_id_and_slots() -> None:
    raw = {"id": "x", "slots": [SMALL_MANIFEST["slots"][0]]}
    m = parse_manifest(raw)
    assert m.base == "base.mp4" and m.inputs == {} and m.output == Output()


def test_values_are_frozen() -> None:
    m = parse_manifest(_manifest())
    with pytest.raises(ValueError):
        m.id = "other"  # type: ignore[misc]


def test_end_not_after_start_names_the_slot_field() -> None:
    err = _one_problem(_slot(start=4.0, end=4.0))
    assert err.problems[0].where == "template.yaml: slots[greeting].end"
    assert "greater than start" in err.problems[0].reason


def test_end_before_start_is_rejected() -> None:
    err = _one_problem(_slot(1, start=5.0, end=1.0))
    assert err.problems[0].where == "template.yaml: slots[amount].end"


def test_unknown_field_is_named() -> None:
    err = _one_problem(_slot(colour="#fff"))
    assert err.problems[0].where == "template.yaml: slots[greeting].colour"


def test_bad_colour_is_named() -> None:
    raw = _slot()
    raw["slots"][0]["style"]["color"] = "red"
    err = _one_problem(raw)
    assert err.problems[0].where == "template.yaml: slots[greeting].style.color"


def test_unknown_slot_kind_is_named() -> None:
    err = _one_problem(_slot(kind="video"))
    assert err.problems[0].where.startswith("template.yaml: slots[greeting]")
    assert "video" in str(err) or "kind" in str(err)


def test_bad_slot_id_is_named() -> None:
    err = _one_problem(_slot(id="1 bad"))
    assert "slots[1 bad].id" in err.problems[0].where


def test_no_slots_is_rejected() -> None:
    err = _one_problem(_manifest(slots=[]))
    assert err.problems[0].where == "template.yaml: slots"


def test_too_many_slots_are_refused_before_they_are_read() -> None:
    slot = _manifest()["slots"][0]
    err = _one_problem(_manifest(slots=[{**slot, "id": f"s{i}"} for i in range(101)]))
    assert (err.problems[0].where, err.problems[0].reason) == ("template.yaml: slots", "has 101 slots, more than 100")


def test_bad_template_id_is_named() -> None:
    err = _one_problem(_manifest(id="Has Spaces"))
    assert err.problems[0].where == "template.yaml: id"


def test_output_limits_are_named() -> None:
    err = _one_problem(_manifest(output={"segment_seconds": 0.1}))
    assert err.problems[0].where == "template.yaml: output.segment_seconds"


def test_not_a_mapping() -> None:
    with pytest.raises(BundleError, match="mapping"):
        parse_manifest(["a", "list"])


def test_every_problem_is_listed_at_once() -> None:
    raw = _slot(start=4.0, end=3.0)
    raw["id"] = "BAD ID"
    with pytest.raises(BundleError) as info:
        parse_manifest(raw)
    wheres = {p.where for p in info.value.problems}
    assert wheres == {"template.yaml: id", "template.yaml: slots[greeting].end"}


@pytest.mark.parametrize(
    "ladder",
    [[91], [80], [4000], [360, 360], [234, 360, 540, 720, 900], list(range(90, 10_000, 2)), "360", [[360]]],
)
def test_a_bad_ladder_is_named_before_any_encode(ladder: object) -> None:
    """Odd, tiny or huge heights, repeats, more than four rungs (a long list is refused by its
    length, not walked), a string or a nested list: one problem at `output.ladder`."""
    err = _one_problem(_manifest(output={"ladder": ladder}))
    assert err.problems[0].where.startswith("template.yaml: output.ladder"), err.problems


def test_a_ladder_is_kept_lowest_first() -> None:
    assert parse_manifest(_manifest(output={"ladder": [540, 234]})).output.ladder == (234, 540)
    assert parse_manifest(_manifest()).output.ladder is None
