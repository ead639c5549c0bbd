"""Customers' names as drawn: kept as written (variant ideographs, rare kanji), variation
selectors drawn by their base character with a warning, never refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.media import SMALL_MANIFEST, make_clip, write_bundle

from vidmerge.draw.values import drawn_values, warnings
from vidmerge.template.bundle import Template, load_bundle


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    tmp = tmp_path_factory.mktemp("names")
    return load_bundle(write_bundle(tmp / "bundle", clip=make_clip(tmp / "clip.mp4")))


def _drawn(template: Template, name: str) -> str:
    context = template.spec.resolve({"name": name}).context
    return drawn_values(template, context)["greeting"].text


@pytest.mark.parametrize(
    ("sent", "drawn"),
    [
        ("\ufa10本", "\ufa10本様"),  # 塚 U+FA10 stays itself
        ("\ufa19田", "\ufa19田様"),  # 神 U+FA19
        ("\ufa11山", "\ufa11山様"),  # 﨑山
        ("𠮷野", "𠮷野様"),
        ("髙橋", "髙橋様"),
        ("ﾀﾅｶ ﾀﾛｳ", "タナカ タロウ様"),
        ("ア\u3099ラン", "ア\u3099ラン様"),
        ("葛\U000e0100城", "葛\U000e0100城様"),
    ],
)
def test_names_are_drawn_as_written(template: Template, sent: str, drawn: str) -> None:
    assert _drawn(template, sent) == drawn


def test_a_variation_selector_is_drawn_by_its_base_character_with_a_warning(template: Template) -> None:
    text = _drawn(template, "葛\U000e0100城")
    assert warnings({"greeting": text}) == [
        "slots[greeting]: variation selector U+E0100 not drawn; the base character is"
    ]
    assert warnings({"greeting": _drawn(template, "葛城")}) == []
    slot = next(s for s in template.slots if s.id == "greeting")
    variant = drawn_values(template, template.spec.resolve({"name": "葛\U000e0100城"}).context)["greeting"]
    plain = drawn_values(template, template.spec.resolve({"name": "葛城"}).context)["greeting"]
    as_drawn = np.asarray(slot.picture(variant.text, variant, template))
    assert np.array_equal(as_drawn, np.asarray(slot.picture(plain.text, plain, template)))
    assert as_drawn[..., 3].any()  # something was drawn


def test_an_optional_name_left_out_draws_nothing_rather_than_none(tmp_path: Path) -> None:
    manifest = {**SMALL_MANIFEST, "inputs": {**SMALL_MANIFEST["inputs"], "name": {"type": "string"}}}
    template = load_bundle(write_bundle(tmp_path / "b", manifest, clip=make_clip(tmp_path / "clip.mp4")))
    assert _drawn(template, "") == ""
