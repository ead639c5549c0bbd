"""Customers' names as drawn: kept as written (variant ideographs, rare kanji, variant forms
drawn as themselves, （株）), or refused naming the field and the fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.media import SMALL_MANIFEST, make_clip, write_bundle

from vidmerge.draw import hints
from vidmerge.draw.values import drawn_values, warnings
from vidmerge.errors import GlyphError
from vidmerge.template import variants
from vidmerge.template.bundle import Template, load_bundle
from vidmerge.template.fonts import SHIPPED_DIR, font_path, missing_glyphs


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


def _picture(template: Template, name: str) -> np.ndarray:
    slot = next(s for s in template.slots if s.id == "greeting")
    drawn = drawn_values(template, template.spec.resolve({"name": name}).context)["greeting"]
    return np.asarray(slot.picture(drawn.text, drawn, template))[..., 3]


def _ink_width(alpha: np.ndarray) -> int:
    columns = np.flatnonzero(alpha.any(axis=0))
    return int(columns[-1] - columns[0] + 1)


@pytest.mark.parametrize("form", ["辻\U000e0100", "葛\U000e0100", "邉\U000e0108"])
def test_a_variant_form_is_drawn_as_itself_not_as_its_base_character(template: Template, form: str) -> None:
    assert _drawn(template, form) == form + "様"
    variant, base = _picture(template, form), _picture(template, form[0])
    assert not np.array_equal(variant, base)  # the variant glyph, not the base one
    assert abs(_ink_width(variant) - _ink_width(base)) <= 3  # and no extra box for the selector
    assert warnings({"greeting": form + "様"}) == []


def test_the_shipped_fonts_keep_their_variation_sequences() -> None:
    for path in SHIPPED_DIR.glob("NotoSansJP-*.otf"):
        assert variants.missing_variants("辻\U000e0100葛\U000e0100邉\U000e0108髙\U000e0100", path) == []


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("辻\U000e0105", "辻+U+E0105 (add a font that has this form, or send 辻 alone)"),
        ("张伟", "U+5F20 '张' (张 → 張 で描けます); U+4F1F '伟' (伟 → 偉 で描けます)"),
        ("😀", "U+1F600 '😀' (add a font that has it)"),
    ],
)
def test_a_refusal_names_the_field_and_offers_the_fix(template: Template, name: str, reason: str) -> None:
    with pytest.raises(GlyphError) as caught:
        _drawn(template, name)
    assert caught.value.where == "data.name"
    assert caught.value.message == f"cannot be drawn with font NotoSansJP-Bold.otf (slots[greeting]): {reason}"


def test_every_suggested_japanese_form_is_drawable_and_its_simplified_form_is_not() -> None:
    font = font_path("default")
    assert not missing_glyphs("".join(hints.JAPANESE_FORMS.values()), font)
    assert all(missing_glyphs(simplified, font) for simplified in hints.JAPANESE_FORMS)


@pytest.mark.parametrize(
    ("sent", "drawn"), [("（株）山田", "（株）山田様"), ("㈱山田", "㈱山田様"), ("［田中］", "［田中］様")]
)
def test_company_marks_and_full_width_brackets_are_kept_as_written(template: Template, sent: str, drawn: str) -> None:
    assert _drawn(template, sent) == drawn


def test_a_half_width_voiced_mark_without_a_composed_form_stays_visible(template: Template) -> None:
    assert _drawn(template, "ｱﾞﾝﾅ") == "ア\u3099ンナ様"
    marked, plain = _picture(template, "ｱﾞﾝﾅ"), _picture(template, "アンナ")
    extra = (marked > 0) & ~(plain > 0)
    assert extra.sum() > 20  # the mark's ink, beside the first character
    ys, xs = np.nonzero(extra)
    assert ys.mean() < np.nonzero(plain)[0].mean()  # above the middle of the line: a dakuten


def test_an_optional_integer_left_out_draws_nothing_rather_than_none(tmp_path: Path) -> None:
    manifest = {
        **SMALL_MANIFEST,
        "inputs": {**SMALL_MANIFEST["inputs"], "points": {"type": "integer"}},
        "slots": [
            {**SMALL_MANIFEST["slots"][0], "text": "{{ name }}こんにちは{{ points }}"},
            *SMALL_MANIFEST["slots"][1:],
        ],
    }
    template = load_bundle(write_bundle(tmp_path / "b", manifest, clip=make_clip(tmp_path / "clip.mp4")))
    assert _drawn(template, "田中") == "田中こんにちは"
    context = template.spec.resolve({"name": "田中", "points": 3}).context
    assert drawn_values(template, context)["greeting"].text == "田中こんにちは3"


def test_an_optional_name_left_out_draws_nothing_rather_than_none(tmp_path: Path) -> None:
    manifest = {**SMALL_MANIFEST, "inputs": {**SMALL_MANIFEST["inputs"], "name": {"type": "string"}}}
    template = load_bundle(write_bundle(tmp_path / "b", manifest, clip=make_clip(tmp_path / "clip.mp4")))
    assert _drawn(template, "") == ""
