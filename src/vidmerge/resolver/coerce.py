"""Turning one raw data value into a typed value, or a reason it cannot be.

Each coercer takes what an MA tool sent (JSON types, and very often strings for
everything) and returns the typed value; it raises ValueError with a short reason that
ends up in DataError as "data.<field>: <reason>". Strings are cleaned first, so
full-width digits ('１２０') and thousands separators ('12,340') are accepted as numbers.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from vidmerge.resolver.dates import parse_date
from vidmerge.resolver.text import clean_text

_TRUE = {"true", "yes", "y", "on", "1", "はい"}
_FALSE = {"false", "no", "n", "off", "0", "いいえ"}
_LIST_SEPARATORS = re.compile(r"[,、;\s]+")
MAX_DIGITS = 18  # a value at or past 10**18 (or below 10**-18) is refused before any conversion


def to_integer(raw: object) -> int:
    if isinstance(raw, bool):
        raise ValueError("must be an integer, not a boolean")
    if isinstance(raw, int):
        return _bounded_int(raw, "an integer")
    number = _decimal(raw, "an integer")
    if number != number.to_integral_value():
        raise ValueError("must be a whole number")
    return int(number)


def to_number(raw: object) -> int | float:
    """A whole value comes back as int (12340, not 12340.0), anything else as float."""
    if isinstance(raw, bool):
        raise ValueError("must be a number, not a boolean")
    if isinstance(raw, int):
        return _bounded_int(raw, "a number")
    number = _decimal(raw, "a number")
    return int(number) if number == number.to_integral_value() else float(number)


def _decimal(raw: object, what: str) -> Decimal:
    if isinstance(raw, float):
        raw = repr(raw)
    if not isinstance(raw, str | Decimal):
        raise ValueError(f"must be {what}")
    if isinstance(raw, str) and len(raw) > 100:
        raise ValueError(f"must be {what} (too long)")
    text = clean_text(raw).replace(",", "") if isinstance(raw, str) else raw
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"must be {what}") from None
    if not number.is_finite():
        raise ValueError(f"must be {what} (finite)")
    if number and abs(number.adjusted()) >= MAX_DIGITS:  # "1e99999999": int() of it would hold the CPU
        raise ValueError(f"must be {what} of at most {MAX_DIGITS} digits")
    return number


def _bounded_int(raw: int, what: str) -> int:
    if abs(raw) >= 10**MAX_DIGITS:
        raise ValueError(f"must be {what} of at most {MAX_DIGITS} digits")
    return raw


def to_boolean(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    word = clean_text(raw).lower() if isinstance(raw, str) else None
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError("must be true or false")


def to_date(raw: object) -> dt.date:
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    if not isinstance(raw, str):
        raise ValueError("must be a date (YYYY-MM-DD)")
    try:
        return parse_date(clean_text(raw))
    except ValueError:
        raise ValueError("must be a date (YYYY-MM-DD)") from None


def to_number_list(raw: object) -> list[int | float]:
    """A JSON array of numbers, or one string such as '320, 300, 280'."""
    if isinstance(raw, str):
        items: list[object] = [part for part in _LIST_SEPARATORS.split(clean_text(raw)) if part]
    elif isinstance(raw, list | tuple):
        items = list(raw)
    else:
        raise ValueError("must be a list of numbers")
    try:
        return [to_number(item) for item in items]
    except ValueError:
        raise ValueError("must be a list of numbers") from None


COERCERS: dict[str, Callable[[object], object]] = {
    "integer": to_integer,
    "number": to_number,
    "boolean": to_boolean,
    "date": to_date,
    "number_list": to_number_list,
}
