"""Reading a tariff table YAML file into a TariffTable (format: docs/resolver.md).

A table named in a manifest is looked up in the template bundle first, then among the
example tables shipped in `vidmerge/resolver/tariffs/`. Bundle paths may not leave the
bundle folder.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from vidmerge.errors import BundleError, Problem, ProblemCollector
from vidmerge.resolver.calculators.tariffs import Plan, TariffTable, Tier, decimal
from vidmerge.yamlfile import read_yaml

SHIPPED = Path(__file__).resolve().parent.parent / "tariffs"
_PLAN_KEYS = {
    "id",
    "name",
    "basic_charge",
    "tiers",
    "tier_mode",
    "fuel_adjustment",
    "renewable_levy",
}
_TABLE_KEYS = {
    "name",
    "notice",
    "example",
    "unit",
    "fuel_adjustment",
    "renewable_levy",
    "seasonality",
    "plans",
}
T = TypeVar("T")


def find_table(name: object, base_dir: Path, where: str) -> Path:
    """The file for a manifest's `tariffs:` value; BundleError if absent or outside the bundle."""
    if not isinstance(name, str) or not name:
        raise BundleError("must be a tariff table file name", where=where)
    relative = Path(name)
    if relative.is_absolute() or ".." in relative.parts:
        raise BundleError("must be a path inside the template bundle", where=where)
    for folder in (Path(base_dir), SHIPPED):
        candidate = (folder / relative).resolve()
        if candidate.is_relative_to(folder.resolve()) and candidate.is_file():
            return candidate
    raise BundleError(f"tariff table {name!r} not found in the bundle or the shipped examples", where=where)


def load_table(path: Path) -> TariffTable:
    """Parse a table; BundleError listing every problem as '<file>: plans[0].tiers[1].price: …'."""
    return _load_cached(path, path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _load_cached(path: Path, _mtime: int) -> TariffTable:
    raw = read_yaml(path, where=path.name)
    problems = ProblemCollector()
    table = _table(raw, problems, "")
    if table is None or problems.problems:
        found = [Problem(f"{path.name}: {p.where.lstrip('.')}".rstrip(": "), p.reason) for p in problems.problems]
        raise BundleError("; ".join(map(str, found)), where=path.name, problems=found)
    return table


def _get(
    raw: Mapping[str, Any],
    key: str,
    convert: Callable[[Any], T],
    default: T,
    problems: ProblemCollector,
    where: str,
) -> T:
    if raw.get(key) is None:
        return default
    try:
        return convert(raw[key])
    except ValueError as exc:
        problems.add(f"{where}.{key}", str(exc))
        return default


def _table(raw: Any, problems: ProblemCollector, where: str) -> TariffTable | None:
    if not isinstance(raw, Mapping):
        problems.add(where, "must be a mapping")
        return None
    _unknown(raw, _TABLE_KEYS, problems, where)
    fuel = _get(raw, "fuel_adjustment", decimal, decimal(0), problems, where)
    levy = _get(raw, "renewable_levy", decimal, decimal(0), problems, where)
    plans_raw = raw.get("plans")
    if not isinstance(plans_raw, list) or not plans_raw:
        problems.add(f"{where}.plans", "must be a non-empty list")
        plans_raw = []
    plans = [_plan(p, fuel, levy, problems, f"{where}.plans[{i}]") for i, p in enumerate(plans_raw)]
    ids = [p.id for p in plans if p is not None]
    if len(set(ids)) != len(ids):
        problems.add(f"{where}.plans", "plan ids must be unique")
    return TariffTable(
        name=str(raw.get("name", "")),
        notice=str(raw.get("notice", "")),
        unit=str(raw.get("unit", "kWh")),
        example=bool(raw.get("example", False)),
        plans=tuple(p for p in plans if p is not None),
        seasonality=_get(raw, "seasonality", _seasonality, None, problems, where),
    )


def _unknown(raw: Mapping[str, Any], keys: set[str], problems: ProblemCollector, where: str) -> None:
    for key in raw:
        if key not in keys:
            problems.add(f"{where}.{key}", "unknown key")


def _seasonality(raw: Any) -> tuple[Any, ...]:
    if not isinstance(raw, list) or len(raw) != 12:
        raise ValueError("must be a list of 12 numbers (January to December)")
    factors = tuple(decimal(v) for v in raw)
    if any(f <= 0 for f in factors):
        raise ValueError("factors must be positive")
    return factors


def _plan(raw: Any, fuel: Any, levy: Any, problems: ProblemCollector, where: str) -> Plan | None:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("id"), str):
        problems.add(where, "must be a mapping with a string 'id'")
        return None
    _unknown(raw, _PLAN_KEYS, problems, where)
    mode = raw.get("tier_mode", "incremental")
    if mode not in ("incremental", "bracket"):
        problems.add(f"{where}.tier_mode", "must be incremental or bracket")
    fixed, by_amperage = _basic(raw.get("basic_charge", 0), problems, f"{where}.basic_charge")
    return Plan(
        id=raw["id"],
        name=str(raw.get("name", raw["id"])),
        tiers=_tiers(raw.get("tiers"), mode, problems, f"{where}.tiers"),
        tier_mode=mode,
        basic_fixed=fixed,
        basic_by_amperage=by_amperage,
        fuel_adjustment=_get(raw, "fuel_adjustment", decimal, fuel, problems, where),
        renewable_levy=_get(raw, "renewable_levy", decimal, levy, problems, where),
    )


def _basic(raw: Any, problems: ProblemCollector, where: str) -> tuple[Any, dict[int, Any] | None]:
    """`basic_charge: 1210.0` (fixed) or `basic_charge: {by_amperage: {30: 935.1, …}}`."""
    if isinstance(raw, Mapping) and set(raw) <= {"fixed", "by_amperage"}:
        fixed = _get(raw, "fixed", decimal, decimal(0), problems, where)
        table = raw.get("by_amperage")
        if table is None:
            return fixed, None
        if not isinstance(table, Mapping) or not table:
            problems.add(f"{where}.by_amperage", "must map amperes to a charge")
            return fixed, None
        if not all(isinstance(a, int) and not isinstance(a, bool) for a in table):
            problems.add(f"{where}.by_amperage", "keys must be whole amperes (10, 15, 20, …)")
            return fixed, None
        charges = {a: _get(table, a, decimal, decimal(0), problems, f"{where}.by_amperage") for a in table}
        return fixed, charges
    try:
        return decimal(raw), None
    except ValueError:
        problems.add(where, "must be a number or {fixed: …} / {by_amperage: {…}}")
        return decimal(0), None


def _tiers(raw: Any, mode: str, problems: ProblemCollector, where: str) -> tuple[Tier, ...]:
    if not isinstance(raw, list) or not raw:
        problems.add(where, "must be a non-empty list of {up_to, price}")
        return ()
    tiers = [_tier(t, mode, problems, f"{where}[{i}]") for i, t in enumerate(raw)]
    if tiers[-1].up_to is not None:
        problems.add(f"{where}[{len(raw) - 1}].up_to", "the last tier must have no up_to")
    limits = [t.up_to for t in tiers[:-1]]
    if not _increasing(limits):
        problems.add(where, "up_to must be positive and increase; only the last tier omits it")
    return tuple(tiers)


def _increasing(limits: list[Any]) -> bool:
    if any(limit is None for limit in limits):
        return False
    return all(b > a for a, b in zip([0, *limits], limits, strict=False))


def _tier(raw: Any, mode: str, problems: ProblemCollector, where: str) -> Tier:
    if not isinstance(raw, Mapping) or "price" not in raw:
        problems.add(where, "must be a mapping with 'price'")
        return Tier(None, decimal(0))
    _unknown(
        raw,
        {"up_to", "price", "basic"} if mode == "bracket" else {"up_to", "price"},
        problems,
        where,
    )
    return Tier(
        up_to=_get(raw, "up_to", decimal, None, problems, where),
        price=_get(raw, "price", decimal, decimal(0), problems, where),
        basic=_get(raw, "basic", decimal, decimal(0), problems, where),
    )
