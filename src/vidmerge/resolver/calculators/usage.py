"""Twelve months of usage from what the customer told us.

- twelve numbers: used as given (January to December);
- one number, no seasonality: that month × 12;
- one number with seasonality factors (12, January to December): the year is shaped by
  the factors, scaled so that the given month (`month`, 1–12) matches the given usage; with
  no month the number is taken as the average month. Scaled months are rounded half up to
  whole units, as meters read whole kWh.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

from vidmerge.errors import DataError
from vidmerge.resolver.calculators.tariffs import decimal


def monthly_usage(
    usage: object, month: object, seasonality: Sequence[Decimal] | None, where: str
) -> tuple[list[Decimal], str]:
    """(twelve monthly usages, how they were obtained); DataError on bad usage."""
    if isinstance(usage, list | tuple):
        months = [_amount(u, where) for u in usage]
        if len(months) != 12:
            raise DataError(f"needs 12 monthly values, got {len(months)}", where=where)
        return months, "twelve monthly values as given"
    amount = _amount(usage, where)
    if seasonality is None:
        return [amount] * 12, "one month × 12"
    base = _base_factor(seasonality, month, where)
    months = [(amount * f / base).quantize(Decimal(1), rounding=ROUND_HALF_UP) for f in seasonality]
    return months, f"one month shaped by seasonality (reference: {_reference(month)})"


def _amount(value: object, where: str) -> Decimal:
    try:
        amount = decimal(value)
    except ValueError:
        raise DataError(f"usage must be a number, got {value!r}", where=where) from None
    if amount < 0:
        raise DataError("usage cannot be negative", where=where)
    return amount


def _base_factor(seasonality: Sequence[Decimal], month: object, where: str) -> Decimal:
    if month is None or month == "":
        return sum(seasonality, Decimal(0)) / 12
    if isinstance(month, bool) or not isinstance(month, int | str) or str(month) not in _MONTHS:
        raise DataError(f"month must be 1–12, got {month!r}", where=where.rsplit(".", 1)[0] + ".month")
    return seasonality[int(month) - 1]


_MONTHS = {str(m) for m in range(1, 13)}


def _reference(month: object) -> str:
    return "average month" if month in (None, "") else f"month {month}"
