"""Tariff tables and one month's bill.

Structure (that of Japanese residential electricity tariffs, also fits city gas and mobile):

- basic charge: by contract amperage (`by_amperage`), or a fixed fee (`fixed`);
- tiers: unit prices per unit (kWh, m³, GB) for usage bands, in one of two modes:
  `incremental` (electricity: 0–120 kWh at p1, 120–300 at p2, the rest at p3) or
  `bracket` (city gas, stepped mobile plans: the whole usage is priced by the one band it
  falls in, and that band carries its own basic charge);
- fuel-cost adjustment per unit (燃料費調整額, may be negative);
- renewable-energy levy per unit (再エネ発電促進賦課金).

Rounding, as Japanese residential tariffs do it: the charge (basic + energy + fuel
adjustment) is floored to the yen, the renewable levy is floored to the yen on its own,
and the bill is their sum. Unit prices include consumption tax. All arithmetic is Decimal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from vidmerge.errors import DataError

ZERO = Decimal(0)


@dataclass(frozen=True)
class Tier:
    """A usage band up to and including `up_to` units (None: no upper limit)."""

    up_to: Decimal | None
    price: Decimal
    basic: Decimal = ZERO  # bracket mode only


@dataclass(frozen=True)
class Plan:
    id: str
    name: str
    tiers: tuple[Tier, ...]
    tier_mode: str = "incremental"
    basic_fixed: Decimal = ZERO
    basic_by_amperage: Mapping[int, Decimal] | None = None
    fuel_adjustment: Decimal = ZERO
    renewable_levy: Decimal = ZERO


@dataclass(frozen=True)
class TariffTable:
    name: str
    notice: str
    unit: str
    example: bool
    plans: tuple[Plan, ...]
    seasonality: tuple[Decimal, ...] | None = None

    def find(self, key: object, where: str) -> Plan:
        """A plan by id or by display name; DataError naming the choices otherwise."""
        for plan in self.plans:
            if key in (plan.id, plan.name):
                return plan
        choices = ", ".join(p.id for p in self.plans)
        raise DataError(f"unknown plan {key!r} in {self.name}; known: {choices}", where=where)


@dataclass(frozen=True)
class Bill:
    """One month's bill with every step kept for the explanation."""

    usage: Decimal
    basic: Decimal
    energy: tuple[tuple[Decimal, Decimal, Decimal], ...]  # (units, unit price, amount)
    fuel: Decimal
    charge: int  # floor(basic + energy + fuel)
    levy: int  # floor(usage × levy)
    total: int

    def explain(self) -> dict[str, Any]:
        energy = " + ".join(f"{u}×{p}" for u, p, _ in self.energy) or "0"
        formula = (
            f"floor({self.basic} + {energy} + {self.usage}×fuel({self.fuel})) = {self.charge}; "
            f"+ levy {self.levy} = {self.total}"
        )
        steps = [{"units": str(u), "price": str(p), "amount": str(a)} for u, p, a in self.energy]
        return {
            "usage": str(self.usage),
            "basic": str(self.basic),
            "energy": steps,
            "fuel_adjustment": str(self.fuel),
            "charge": self.charge,
            "levy": self.levy,
            "total": self.total,
            "formula": formula,
        }


def floor_yen(amount: Decimal) -> int:
    return int(amount.to_integral_value(rounding=ROUND_FLOOR))


def monthly_bill(plan: Plan, usage: Decimal, amperage: int | None, where: str) -> Bill:
    """The bill for `usage` units in one month; DataError if the amperage is needed and bad."""
    energy: tuple[tuple[Decimal, Decimal, Decimal], ...]
    if plan.tier_mode == "bracket":
        tier = _bracket(plan.tiers, usage)
        basic = plan.basic_fixed + tier.basic
        energy = ((usage, tier.price, usage * tier.price),)
    else:
        basic = plan.basic_fixed + _amperage_charge(plan, amperage, where)
        energy = _incremental(plan.tiers, usage)
    fuel = usage * plan.fuel_adjustment
    charge = floor_yen(basic + sum((a for _, _, a in energy), ZERO) + fuel)
    levy = floor_yen(usage * plan.renewable_levy)
    return Bill(usage, basic, energy, plan.fuel_adjustment, charge, levy, charge + levy)


def _incremental(tiers: tuple[Tier, ...], usage: Decimal) -> tuple[tuple[Decimal, Decimal, Decimal], ...]:
    steps, lower = [], ZERO
    for tier in tiers:
        upper = usage if tier.up_to is None else min(usage, tier.up_to)
        if upper <= lower:
            break
        units = upper - lower
        steps.append((units, tier.price, units * tier.price))
        lower = upper
    return tuple(steps)


def _bracket(tiers: tuple[Tier, ...], usage: Decimal) -> Tier:
    return next(t for t in tiers if t.up_to is None or usage <= t.up_to)


def _amperage_charge(plan: Plan, amperage: int | None, where: str) -> Decimal:
    table = plan.basic_by_amperage
    if table is None:
        return ZERO
    if amperage is None:
        raise DataError(f"plan {plan.id} needs the contract amperage", where=f"{where}.amperage")
    try:
        return table[int(amperage)]
    except (KeyError, ValueError, TypeError):
        choices = ", ".join(f"{a}A" for a in table)
        raise DataError(
            f"no basic charge for {amperage}A in plan {plan.id}; known: {choices}",
            where=f"{where}.amperage",
        ) from None


def decimal(value: object) -> Decimal:
    """Exact Decimal from a YAML number or string ('29.80' stays 29.80, not 29.8000001)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError("must be a number")
    try:
        number = Decimal(repr(value) if isinstance(value, float) else str(value))
    except InvalidOperation:
        raise ValueError("must be a number") from None
    if not number.is_finite():
        raise ValueError("must be a finite number")
    return number
