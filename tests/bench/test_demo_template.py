"""The demo template's wording: it never recommends a dearer plan, and its dates read as
Japanese body text does."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support.server import DEMO

from vidmerge.bench.demo import write_demo
from vidmerge.draw.values import drawn_values
from vidmerge.errors import BundleError
from vidmerge.template.bundle import Template, load_bundle


@pytest.fixture(scope="module")
def demo() -> Template:
    write_demo(DEMO)
    return load_bundle(DEMO)


def _scene(demo: Template, data: dict[str, object]) -> tuple[int, dict[str, str]]:
    context = demo.spec.resolve(data).context
    drawn = drawn_values(demo, context)
    return context["savings"]["yearly"], {k: d.text for k, d in drawn.items()}


def test_a_customer_who_would_save_is_told_which_plan_and_by_when(demo: Template) -> None:
    yearly, texts = _scene(demo, {"current_plan": "standard_b", "monthly_kwh": 600})
    assert yearly > 0 and texts["plan_name"] == "おすすめは「スマートプラン（例）」"
    assert texts["plan_icon"].endswith("icons/smart.png")
    assert texts["deadline"] == "2026年12月25日（金）までのお申し込みで"  # full-width, as the rest of the line


@pytest.mark.parametrize(
    "data",
    [
        {"current_plan": "smart", "monthly_kwh": 300, "amperage": 60},  # every other plan costs more
        {"current_plan": "standard_b", "monthly_kwh": 0, "amperage": 10},  # no saving at all
    ],
)
def test_a_customer_already_on_the_cheapest_plan_is_told_to_keep_it(demo: Template, data: dict[str, object]) -> None:
    yearly, texts = _scene(demo, data)
    current = data["current_plan"]
    assert yearly <= 0
    assert texts["savings_label"] == "今のプランがいちばんお得です" and texts["savings"] == "0円"
    assert texts["plan_name"].endswith("のままがお得です") and "おすすめ" not in texts["plan_name"]
    assert texts["plan_icon"].endswith(f"icons/{current}.png")
    assert texts["deadline"] == "お手続きは不要です"


def test_an_icon_missing_for_one_plan_is_found_at_upload(demo: Template, tmp_path: Path) -> None:
    """The plan scene's icon is chosen by the customer's plan: every choice is tried at upload."""
    copy = tmp_path / "demo"
    shutil.copytree(DEMO, copy, ignore=shutil.ignore_patterns("base.mp4"))
    (copy / "base.mp4").symlink_to(DEMO / "base.mp4")
    (copy / "assets" / "icons" / "family.png").unlink()
    with pytest.raises(BundleError) as info:
        load_bundle(copy)
    (problem,) = info.value.problems
    assert problem.where == "template.yaml: slots[plan_icon]"
    assert "current_plan=family" in problem.reason and "icons/family.png" in problem.reason
