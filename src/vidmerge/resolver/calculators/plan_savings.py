"""plan_savings: what the customer would save a year by moving to the cheapest candidate plan.

Manifest::

    savings:
      calculator: plan_savings
      tariffs: example_tokyo.yaml          # bundle file, else a shipped example table
      current_plan: "{{ current_plan }}"   # plan id or display name
      usage_kwh: "{{ monthly_kwh }}"       # one month, or a list of 12 (alias: usage)
      amperage: "{{ amperage }}"           # needed by plans with a basic charge by amperage
      month: "{{ reading_month }}"         # optional, with seasonality only
      candidates: [smart, green]           # optional; default every other plan in the table
      seasonality: true                    # optional; true = the table's factors, or 12 numbers

Value (in the context): yearly, monthly, rate, current_plan, current_plan_name, best_plan,
best_plan_name, current_yearly, best_yearly, yearly_by_plan. `yearly` = current_yearly −
best_yearly, negative when every candidate costs more; `monthly` = yearly / 12 truncated
toward zero; `rate` = yearly / current_yearly (ratio, 4 decimals).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, Self

from vidmerge.errors import BundleError, Problem
from vidmerge.resolver.calculators import reject_unknown_keys
from vidmerge.resolver.calculators.tariff_files import find_table, load_table
from vidmerge.resolver.calculators.tariffs import Bill, Plan, TariffTable, decimal, monthly_bill
from vidmerge.resolver.calculators.usage import monthly_usage

ROUNDING = (
    "each monthly bill: floor(basic charge + energy charge + fuel-cost adjustment) to the yen, "
    "plus the renewable-energy levy floored to the yen separately; yearly cost = sum of the 12 "
    "monthly bills; savings = current yearly − best yearly; monthly savings = yearly savings / 12 "
    "truncated toward zero"
)
_PARAMS = {"tariffs", "candidates", "seasonality"}


@dataclass(frozen=True)
class PlanSavings:
    name: ClassVar[str] = "plan_savings"
    offline: ClassVar[bool] = True  # reads its tariff table only: may be tried at upload
    inputs: ClassVar[tuple[str, ...]] = ("current_plan", "usage", "usage_kwh", "amperage", "month")

    table: TariffTable
    table_file: str
    candidates: tuple[str, ...] | None
    seasonality: tuple[Decimal, ...] | None
    where: str

    @classmethod
    def from_params(cls, params: Mapping[str, Any], base_dir: Path, where: str) -> Self:
        reject_unknown_keys(params, _PARAMS, where)
        table = _table(params.get("tariffs"), base_dir, f"{where}.tariffs")
        candidates = _candidates(params.get("candidates"), table, f"{where}.candidates")
        seasonality = _seasonality(params.get("seasonality", False), table, f"{where}.seasonality")
        return cls(table, str(params["tariffs"]), candidates, seasonality, where)

    def compute(self, inputs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        current = self.table.find(inputs.get("current_plan"), f"{self.where}.current_plan")
        usage_key = "usage" if "usage" in inputs else "usage_kwh"
        months, source = monthly_usage(
            inputs.get(usage_key),
            inputs.get("month"),
            self.seasonality,
            f"{self.where}.{usage_key}",
        )
        plans = self._compared(current)
        amperage = inputs.get("amperage")
        bills = {p.id: [monthly_bill(p, u, amperage, self.where) for u in months] for p in plans}
        yearly = {plan_id: sum(b.total for b in month_bills) for plan_id, month_bills in bills.items()}
        best = min(plans[1:] or plans[:1], key=lambda p: yearly[p.id])  # ties: table order
        value = _value(current, best, yearly)
        return value, self._explain(current, best, months, source, amperage, bills, value)

    def _compared(self, current: Plan) -> list[Plan]:
        """The current plan first, then the candidates in table order."""
        wanted = self.candidates
        others = [p for p in self.table.plans if p.id != current.id and (wanted is None or p.id in wanted)]
        return [current, *others]

    def _explain(
        self,
        current: Plan,
        best: Plan,
        months: Sequence[Decimal],
        source: str,
        amperage: Any,
        bills: Mapping[str, list[Bill]],
        value: Mapping[str, Any],
    ) -> dict[str, Any]:
        shown = {current.id, best.id}
        return {
            "tariff_table": self.table_file,
            "tariff_name": self.table.name,
            "example_table": self.table.example,
            "unit": self.table.unit,
            "usage_by_month": [str(u) for u in months],
            "usage_source": source,
            "amperage": amperage,
            "yearly_by_plan": dict(value["yearly_by_plan"]),
            "best_plan": best.id,
            "best_plan_reason": "lowest yearly cost among the candidates (ties: table order)",
            "bills": {pid: [b.explain() for b in month_bills] for pid, month_bills in bills.items() if pid in shown},
            "formula": _formula(current, best, value),
            "rounding": ROUNDING,
        }


def _formula(current: Plan, best: Plan, value: Mapping[str, Any]) -> str:
    saving = value["yearly"]
    return (
        f"savings = {value['current_yearly']} ({current.id}) − {value['best_yearly']} ({best.id})"
        f" = {saving}; monthly = {saving} / 12 → {value['monthly']}"
    )


def _value(current: Plan, best: Plan, yearly: Mapping[str, int]) -> dict[str, Any]:
    saving = yearly[current.id] - yearly[best.id]
    monthly = int(Decimal(saving) / 12)  # int() truncates toward zero
    rate = round(saving / yearly[current.id], 4) if yearly[current.id] else 0.0
    return {
        "yearly": saving,
        "monthly": monthly,
        "rate": rate,
        "current_plan": current.id,
        "current_plan_name": current.name,
        "best_plan": best.id,
        "best_plan_name": best.name,
        "current_yearly": yearly[current.id],
        "best_yearly": yearly[best.id],
        "yearly_by_plan": dict(yearly),
    }


def _table(name: Any, base_dir: Path, where: str) -> TariffTable:
    """Load the table; its problems are reported under the manifest key that names it."""
    path = find_table(name, base_dir, where)
    try:
        return load_table(path)
    except BundleError as exc:
        found = [Problem(f"{where}: {p.where}", p.reason) for p in exc.problems]
        raise BundleError(exc.message, where=where, problems=found) from None


def _candidates(raw: Any, table: TariffTable, where: str) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw):
        raise BundleError("must be a list of plan ids", where=where)
    known = {p.id for p in table.plans}
    unknown = [c for c in raw if c not in known]
    if unknown:
        raise BundleError(f"unknown plan ids {unknown}; known: {sorted(known)}", where=where)
    return tuple(raw)


def _seasonality(raw: Any, table: TariffTable, where: str) -> tuple[Decimal, ...] | None:
    if raw is False or raw is None:
        return None
    if raw is True:
        if table.seasonality is None:
            raise BundleError("the tariff table has no seasonality factors", where=where)
        return table.seasonality
    try:
        factors = tuple(decimal(v) for v in raw) if isinstance(raw, list) else ()
    except ValueError:
        factors = ()
    if len(factors) != 12 or any(f <= 0 for f in factors):
        raise BundleError("must be true, false or 12 positive numbers (January to December)", where=where)
    return factors
