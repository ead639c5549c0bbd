"""plan_savings against the shipped example tables, checked to the yen by hand.

Rounding being checked: each month, floor(basic + energy + fuel adjustment) + floor(levy).
"""

import json
from decimal import Decimal
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vidmerge.errors import BundleError, DataError
from vidmerge.resolver.calculators import load_calculator
from vidmerge.resolver.calculators.plan_savings import PlanSavings
from vidmerge.resolver.calculators.tariff_files import SHIPPED, load_table
from vidmerge.resolver.calculators.tariffs import monthly_bill

HERE = Path(__file__).parent


def calculator(table: str = "example_tokyo.yaml", **params: Any) -> PlanSavings:
    return PlanSavings.from_params({"tariffs": table, **params}, HERE, "computed.savings")


def savings(plan: str, kwh: object, amperage: int | None = 30, **params: Any) -> dict[str, Any]:
    table = params.pop("table", "example_tokyo.yaml")
    value, _ = calculator(table, **params).compute({"current_plan": plan, "usage_kwh": kwh, "amperage": amperage})
    return value


def test_entry_point_is_declared() -> None:
    names = {ep.name: ep.value for ep in entry_points(group="vidmerge.calculators")}
    assert names["plan_savings"] == "vidmerge.resolver.calculators.plan_savings:PlanSavings"
    assert load_calculator("plan_savings") is PlanSavings


def test_tokyo_300_kwh_30a() -> None:
    # standard_b: 935.10 + 120×29.87 (3,584.40) + 180×36.53 (6,575.40) + 300×(−2.47) (−741.00)
    #   = 10,353.90 → 10,353; levy 300×3.13 = 939.00 → 939; month 11,292; year ×12 = 135,504
    # smart: 1,210.00 + 300×28.14 (8,442.00) − 741.00 = 8,911.00 → 8,911; + 939 = 9,850 → 118,200
    # family: 935.10 + 120×30.50 (3,660.00) + 180×33.20 (5,976.00) − 741.00 = 9,830.10 → 9,830;
    #   + 939 = 10,769 → 129,228
    # best: smart; savings 135,504 − 118,200 = 17,304 a year; 17,304 / 12 = 1,442 a month
    value = savings("standard_b", 300)
    assert value["yearly_by_plan"] == {"standard_b": 135504, "smart": 118200, "family": 129228}
    assert value["best_plan"] == "smart" and value["best_plan_name"] == "スマートプラン（例）"
    assert (value["yearly"], value["monthly"]) == (17304, 1442)
    assert value["rate"] == round(17304 / 135504, 4)


def test_tokyo_250_kwh_40a_floors_each_part() -> None:
    # standard_b: 1,246.80 + 3,584.40 + 130×36.53 (4,748.90) + 250×(−2.47) (−617.50)
    #   = 8,962.60 → 8,962; levy 250×3.13 = 782.50 → 782; month 9,744; year 116,928
    # smart: 1,210.00 + 250×28.14 (7,035.00) − 617.50 = 7,627.50 → 7,627; + 782 = 8,409 → 100,908
    # family: 1,246.80 + 3,660.00 + 130×33.20 (4,316.00) − 617.50 = 8,605.30 → 8,605; + 782 = 9,387
    #   → 112,644
    value = savings("従量電灯B（例）", 250, amperage=40)  # a plan can be named by display name
    assert value["yearly_by_plan"] == {"standard_b": 116928, "smart": 100908, "family": 112644}
    assert (value["yearly"], value["monthly"]) == (16020, 1335)


def test_tokyo_low_usage_prefers_the_tiered_plan() -> None:
    # smart 100 kWh: 1,210.00 + 2,814.00 − 247.00 = 3,777 + levy 313 = 4,090 → 49,080
    # standard_b 30A: 935.10 + 2,987.00 − 247.00 = 3,675.10 → 3,675 + 313 = 3,988 → 47,856
    # family 30A: 935.10 + 3,050.00 − 247.00 = 3,738.10 → 3,738 + 313 = 4,051 → 48,612
    value = savings("smart", 100)
    assert value["yearly_by_plan"] == {"smart": 49080, "standard_b": 47856, "family": 48612}
    assert (value["best_plan"], value["yearly"], value["monthly"]) == ("standard_b", 1224, 102)


def test_negative_savings_when_every_candidate_costs_more() -> None:
    # smart 300 kWh: 118,200 (above); family 30A: 129,228 → 118,200 − 129,228 = −11,028; /12 = −919
    value = savings("smart", 300, candidates=["family"])
    assert (value["best_plan"], value["yearly"], value["monthly"]) == ("family", -11028, -919)


def test_kansai_minimum_charge_table() -> None:
    # standard_a 200 kWh: 522.50 + 15×0 + 105×20.21 (2,122.05) + 80×25.61 (2,048.80)
    #   + 200×(−1.85) (−370.00) = 4,323.35 → 4,323; levy 200×3.13 = 626; month 4,949 → 59,388
    # eco: 990.00 + 200×21.80 (4,360.00) − 370.00 = 4,980 + 626 = 5,606 → 67,272
    # market_linked (no fuel adjustment): 200×27.40 = 5,480 + 626 = 6,106 → 73,272
    value = savings("standard_a", 200, amperage=None, table="example_kansai.yaml")
    assert value["yearly_by_plan"] == {"standard_a": 59388, "eco": 67272, "market_linked": 73272}
    assert (value["best_plan"], value["yearly"], value["monthly"]) == ("eco", -7884, -657)


def test_city_gas_brackets() -> None:
    # gas_general 30 m³ falls in the 20–80 bracket: 1,056.00 + 30×130.46 (3,913.80) = 4,969.80
    #   → 4,969; no levy; year 59,628
    # gas_eco: 1,300.00 + 30×119.00 = 4,870 → 58,440; savings 1,188; monthly 99
    value = savings("gas_general", 30, amperage=None, table="example_city_gas.yaml")
    assert value["yearly_by_plan"] == {"gas_general": 59628, "gas_eco": 58440}
    assert (value["yearly"], value["monthly"]) == (1188, 99)
    table = load_table(SHIPPED / "example_city_gas.yaml")
    general = table.plans[0]
    assert monthly_bill(general, Decimal(20), None, "w").total == 3665  # 759 + 20×145.31 = 3,665.20
    assert monthly_bill(general, Decimal(21), None, "w").total == 3795  # 1,056 + 21×130.46 = 3,795.66


def test_twelve_months_and_seasonality() -> None:
    months = [390, 375, 315, 255, 240, 255, 315, 360, 300, 255, 255, 300]
    calc = calculator(seasonality=True)
    # One September reading of 300 kWh (factor 1.00) shaped by the table's factors.
    shaped, why = calc.compute({"current_plan": "standard_b", "usage_kwh": 300, "month": 9, "amperage": 30})
    assert why["usage_by_month"] == [str(m) for m in months]
    given_months, _ = calculator().compute({"current_plan": "standard_b", "usage_kwh": months, "amperage": 30})
    assert shaped == given_months
    # 390 kWh in January: 935.10 + 3,584.40 + 6,575.40 + 90×40.61 (3,654.90) − 963.30 = 13,786.50
    #   → 13,786; levy 390×3.13 = 1,220.70 → 1,220; 15,006
    assert why["bills"]["standard_b"][0]["total"] == 15006


def test_explanation_is_json_and_complete() -> None:
    _, why = calculator().compute({"current_plan": "standard_b", "usage_kwh": 300, "amperage": 30})
    json.dumps(why)
    assert why["best_plan"] == "smart" and why["example_table"] is True
    assert why["usage_source"] == "one month × 12"
    assert set(why["bills"]) == {"standard_b", "smart"}
    assert why["bills"]["standard_b"][0]["formula"].endswith("= 10353; + levy 939 = 11292")
    assert "floor" in why["rounding"]
    assert why["formula"] == "savings = 135504 (standard_b) − 118200 (smart) = 17304; monthly = 17304 / 12 → 1442"


@pytest.mark.parametrize(
    ("inputs", "where"),
    [
        (
            {"current_plan": "gold", "usage_kwh": 300, "amperage": 30},
            "computed.savings.current_plan",
        ),
        ({"current_plan": "smart", "usage_kwh": -1, "amperage": 30}, "computed.savings.usage_kwh"),
        ({"current_plan": "smart", "usage_kwh": "x", "amperage": 30}, "computed.savings.usage_kwh"),
        (
            {"current_plan": "smart", "usage_kwh": [1, 2], "amperage": 30},
            "computed.savings.usage_kwh",
        ),
        (
            {"current_plan": "standard_b", "usage_kwh": 300, "amperage": 35},
            "computed.savings.amperage",
        ),
        (
            {"current_plan": "standard_b", "usage_kwh": 300, "amperage": None},
            "computed.savings.amperage",
        ),
    ],
)
def test_data_problems_are_data_errors(inputs: dict[str, Any], where: str) -> None:
    with pytest.raises(DataError) as info:
        calculator().compute(inputs)
    assert info.value.where == where


def test_malformed_table_names_the_path(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        "plans:\n  - id: a\n    tiers:\n      - {up_to: 100, price: x}\n      - {up_to: 50, price: 2}\n",
        encoding="utf-8",
    )
    with pytest.raises(BundleError) as info:
        PlanSavings.from_params({"tariffs": "bad.yaml"}, tmp_path, "computed.s")
    found = {str(p) for p in info.value.problems}
    assert "computed.s.tariffs: bad.yaml: plans[0].tiers[0].price: must be a number" in found
    assert "computed.s.tariffs: bad.yaml: plans[0].tiers[1].up_to: the last tier must have no up_to" in found


def test_bundle_table_wins_over_shipped(tmp_path: Path) -> None:
    (tmp_path / "example_tokyo.yaml").write_text(
        "plans:\n  - {id: a, tiers: [{price: 10}]}\n  - {id: b, basic_charge: 100, tiers: [{price: 9}]}\n",
        encoding="utf-8",
    )
    value, _ = PlanSavings.from_params({"tariffs": "example_tokyo.yaml"}, tmp_path, "c").compute(
        {"current_plan": "a", "usage_kwh": 200}
    )
    # a: 200×10 = 2,000/month; b: 100 + 200×9 = 1,900/month → 1,200 a year
    assert value["yearly"] == 1200


# ---- properties -------------------------------------------------------------------------

usage = st.integers(min_value=0, max_value=3000)
amps = st.sampled_from([10, 15, 20, 30, 40, 50, 60])
plans = st.sampled_from(["standard_b", "smart", "family"])
TOKYO = calculator()


@settings(max_examples=60, deadline=None)
@given(plans, usage, amps)
def test_savings_is_current_minus_best(plan: str, kwh: int, amperage: int) -> None:
    value, _ = TOKYO.compute({"current_plan": plan, "usage_kwh": kwh, "amperage": amperage})
    others = {k: v for k, v in value["yearly_by_plan"].items() if k != plan}
    assert value["best_yearly"] == min(others.values())
    assert value["yearly"] == value["current_yearly"] - value["best_yearly"]
    assert abs(value["monthly"]) == abs(value["yearly"]) // 12


@settings(max_examples=60, deadline=None)
@given(plans, usage, usage, amps)
def test_cost_is_monotonic_in_usage(plan: str, a: int, b: int, amperage: int) -> None:
    low, high = sorted((a, b))
    cost = [
        TOKYO.compute({"current_plan": plan, "usage_kwh": k, "amperage": amperage})[0]["current_yearly"]
        for k in (low, high)
    ]
    assert cost[0] <= cost[1]


TABLE = load_table(SHIPPED / "example_tokyo.yaml")


@pytest.mark.parametrize("plan", TABLE.plans, ids=lambda p: p.id)
def test_tier_boundaries_are_exact(plan: Any) -> None:
    for tier, following in zip(plan.tiers, plan.tiers[1:], strict=False):
        at = monthly_bill(plan, tier.up_to, 30, "w")
        after = monthly_bill(plan, tier.up_to + 1, 30, "w")
        assert sum(units for units, _, _ in at.energy) == tier.up_to
        assert at.energy[-1][1] == tier.price  # the boundary unit is still the lower tier's
        assert after.energy[-1] == (Decimal(1), following.price, following.price)


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(TABLE.plans), st.decimals(min_value=0, max_value=3000, places=1))
def test_energy_units_add_up_to_usage(plan: Any, kwh: Decimal) -> None:
    bill = monthly_bill(plan, kwh, 30, "w")
    assert sum((units for units, _, _ in bill.energy), Decimal(0)) == kwh
    exact = bill.basic + sum(a for _, _, a in bill.energy) + kwh * plan.fuel_adjustment
    assert 0 <= exact - bill.charge < 1  # floored, never rounded up
    assert bill.total == bill.charge + bill.levy
