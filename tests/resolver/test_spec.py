import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from vidmerge.errors import BundleError, DataError
from vidmerge.resolver import Resolved, Spec, load_spec

INPUTS: dict[str, Any] = {
    "name": {"type": "string", "default": "お客様", "max_length": 20},
    "monthly_kwh": {"type": "number", "required": True, "min": 0, "max": 5000},
    "amperage": {"type": "integer", "allowed": [10, 15, 20, 30, 40, 50, 60], "default": 30},
    "current_plan": {
        "type": "enum",
        "allowed": ["standard_b", "smart", "family"],
        "default": "standard_b",
    },
    "deadline": {"type": "date", "min": "2026-01-01"},
    "opted_in": {"type": "boolean", "default": False},
    "code": {"type": "string", "nfkc": False, "max_length": 8, "truncate": True},
}
COMPUTED: dict[str, Any] = {
    "savings": {
        "calculator": "plan_savings",
        "tariffs": "example_tokyo.yaml",
        "current_plan": "{{ current_plan }}",
        "usage_kwh": "{{ monthly_kwh }}",
        "amperage": "{{ amperage }}",
    },
    "headline": ("{{ savings.yearly | by_value(positive=savings.yearly | yen ~ 'お得', zero='見直し不要') }}"),
}


@pytest.fixture
def spec(tmp_path: Path) -> Spec:
    return load_spec(INPUTS, COMPUTED, base_dir=tmp_path)


def test_resolves_a_typical_contact(spec: Spec) -> None:
    data = {"name": " 田中 ", "monthly_kwh": "３００", "deadline": "2026/12/01", "crm_id": 7}
    resolved = spec.resolve(data)
    assert isinstance(resolved, Resolved)
    context = resolved.context
    assert context["name"] == "田中"
    assert context["monthly_kwh"] == 300
    assert context["deadline"] == dt.date(2026, 12, 1)
    assert context["amperage"] == 30 and context["opted_in"] is False
    assert context["savings"]["yearly"] == 17304
    assert context["headline"] == "17,304円お得"
    assert "crm_id" not in context  # undeclared data keys are ignored
    assert set(resolved.explanations) == {"savings", "headline"}
    json.dumps(resolved.explanations)


def test_field_names_and_describe(spec: Spec) -> None:
    assert spec.field_names == tuple(INPUTS)
    described = {d["name"]: d for d in spec.describe()}
    assert described["name"]["default"] == "お客様"
    assert described["monthly_kwh"] == {
        "name": "monthly_kwh",
        "type": "number",
        "required": True,
        "default": None,
        "allowed": None,
        "min": 0,
        "max": 5000,
        "description": "",
    }
    assert described["deadline"]["min"] == "2026-01-01"
    json.dumps(spec.describe())


def test_missing_optional_fields_use_their_fallback(spec: Spec) -> None:
    resolved = spec.resolve({"monthly_kwh": 300, "name": "　 "})
    assert resolved.context["name"] == "お客様"
    assert resolved.context["deadline"] is None
    assert set(resolved.defaulted) == {
        "name",
        "amperage",
        "current_plan",
        "deadline",
        "opted_in",
        "code",
    }


def test_template_syntax_in_data_stays_literal(spec: Spec) -> None:
    resolved = spec.resolve({"monthly_kwh": 300, "name": "{{ 7*7 }}"})
    assert resolved.context["name"] == "{{ 7*7 }}"


def test_bad_data_lists_every_field_at_once(spec: Spec) -> None:
    bad = {
        "name": "あ" * 21,
        "monthly_kwh": "たくさん",
        "amperage": 35,
        "current_plan": "gold",
        "deadline": "2025-12-31",
        "opted_in": "maybe",
    }
    with pytest.raises(DataError) as info:
        spec.resolve(bad)
    problems = {p.where: p.reason for p in info.value.problems}
    assert problems == {
        "data.name": "is longer than 20 characters",
        "data.monthly_kwh": "must be a number",
        "data.amperage": "must be one of: 10, 15, 20, 30, 40, 50, 60",
        "data.current_plan": "must be one of: standard_b, smart, family",
        "data.deadline": "must be at least 2026-01-01",
        "data.opted_in": "must be true or false",
    }
    assert info.value.status == 422


def test_required_field_missing(spec: Spec) -> None:
    with pytest.raises(DataError) as info:
        spec.resolve({})
    assert [str(p) for p in info.value.problems] == ["data.monthly_kwh: is required"]


def test_data_must_be_an_object(spec: Spec) -> None:
    with pytest.raises(DataError):
        spec.resolve(["not", "an", "object"])  # type: ignore[arg-type]


def test_strings_are_cleaned_and_truncated_when_asked(spec: Spec) -> None:
    data = {"monthly_kwh": 1, "name": "田中\u202e\x07様", "code": "ＡＢ\u200bＣＤＥＦＧＨＩＪ"}
    context = spec.resolve(data).context
    assert context["name"] == "田中様"
    assert context["code"] == "ＡＢＣＤＥＦＧＨ"  # nfkc off; cut to 8 characters


def test_malformed_spec_names_every_field_path(tmp_path: Path) -> None:
    inputs = {
        "monthly_kwh": {"type": "number", "min": "lots"},
        "plan": {"type": "enum"},
        "flag": {"type": "boolean", "default": "perhaps", "colour": "red"},
        "n": {"type": "integer", "required": True, "default": 3},
        "bad-name": "string",
        "kind": {"type": "uuid"},
    }
    with pytest.raises(BundleError) as info:
        load_spec(inputs, {"x": "{{ nothing }}", "y": "{{ oops"}, base_dir=tmp_path)
    found = {str(p) for p in info.value.problems}
    assert "inputs.monthly_kwh.min: must be a number" in found
    assert "inputs.plan.allowed: is required for type enum" in found
    assert "inputs.flag.default: must be true or false" in found
    assert "inputs.flag.colour: unknown key" in found
    assert "inputs.n.default: a required field cannot have a default" in found
    assert any(p.startswith("inputs.bad-name:") for p in found)
    assert any(p.startswith("inputs.kind.type: must be one of") for p in found)
    assert any(p.startswith("computed.x: uses unknown name 'nothing'") for p in found)
    assert any(p.startswith("computed.y.expression: expression does not compile") for p in found)
    assert info.value.where == "template.yaml"


def test_computed_errors_in_calculator_params(tmp_path: Path) -> None:
    computed = {
        "a": {"calculator": "nope"},
        "b": {"calculator": "plan_savings", "tariffs": "missing.yaml"},
        "c": {"calculator": "plan_savings", "tariffs": "../etc/passwd"},
        "d": {
            "calculator": "plan_savings",
            "tariffs": "example_tokyo.yaml",
            "candidates": ["gold"],
        },
        "e": {"calculator": "plan_savings", "tariffs": "example_tokyo.yaml", "colour": 1},
        "f": {"expression": "{{ 1 }}", "calculator": "plan_savings"},
    }
    with pytest.raises(BundleError) as info:
        load_spec({}, computed, base_dir=tmp_path)
    wheres = {p.where for p in info.value.problems}
    assert wheres == {
        "computed.a.calculator",
        "computed.b.tariffs",
        "computed.c.tariffs",
        "computed.d.candidates",
        "computed.e.colour",
        "computed.f",
    }


def test_computed_values_see_earlier_ones(tmp_path: Path) -> None:
    spec = load_spec({"x": "integer"}, {"double": "{{ x * 2 }}", "quad": "{{ double * 2 }}"}, base_dir=tmp_path)
    resolved = spec.resolve({"x": 3})
    assert resolved.context["quad"] == 12
    assert resolved.explanations["quad"] == {
        "kind": "expression",
        "source": "{{ double * 2 }}",
        "inputs": {"double": 6},
        "value": 12,
    }


def test_name_clash_between_input_and_computed(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="already used"):
        load_spec({"x": "integer"}, {"x": "{{ 1 }}"}, base_dir=tmp_path)


def test_empty_sections(tmp_path: Path) -> None:
    spec = load_spec(None, None, base_dir=tmp_path)
    assert spec.field_names == () and spec.resolve(None).context == {}


def test_number_list_field(tmp_path: Path) -> None:
    spec = load_spec({"usage": {"type": "number_list", "length": 3, "min": 0}}, None, base_dir=tmp_path)
    assert spec.resolve({"usage": "1, 2、3"}).context["usage"] == [1, 2, 3]
    with pytest.raises(DataError, match="exactly 3"):
        spec.resolve({"usage": [1, 2]})
    with pytest.raises(DataError, match="at least 0"):
        spec.resolve({"usage": [1, -2, 3]})


def test_hostile_long_input_is_refused_quickly(spec: Spec) -> None:
    with pytest.raises(DataError, match="longer than 20"):
        spec.resolve({"monthly_kwh": 1, "name": "\u202e" * 10_000_000})
    with pytest.raises(DataError, match="too long"):
        spec.resolve({"monthly_kwh": "9" * 10_000})


def test_enum_values_are_compared_after_nfkc(tmp_path: Path) -> None:
    spec = load_spec({"plan": {"type": "enum", "allowed": ["Aプラン"]}}, None, base_dir=tmp_path)
    assert spec.resolve({"plan": "Ａﾌﾟﾗﾝ"}).context["plan"] == "Aプラン"


def test_an_optional_text_without_a_default_is_empty_never_none(tmp_path: Path) -> None:
    spec = load_spec(
        {"nickname": {"type": "string"}, "title": {"type": "string", "default": ""}}, {}, base_dir=tmp_path
    )
    context = spec.resolve({}).context
    assert (context["nickname"], context["title"]) == ("", "")
    assert spec.resolve({"title": "部長"}).context["title"] == "部長"
