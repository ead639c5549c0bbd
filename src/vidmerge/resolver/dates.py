"""Dates for Japanese on-screen text: Gregorian, Japanese era (和暦) and weekday.

Era boundaries are the first day of each era, so 2019-04-30 is 平成31年4月30日 and
2019-05-01 is 令和元年5月1日. Year 1 of an era is written 元年 (the customary form);
pass gannen=False for '令和1年'. Dates before Meiji 6 (1873, when Japan adopted the
Gregorian calendar) are refused rather than given a wrong era year.
"""

from __future__ import annotations

import datetime as dt

# (first day, era name), newest first.
ERAS: tuple[tuple[dt.date, str], ...] = (
    (dt.date(2019, 5, 1), "令和"),
    (dt.date(1989, 1, 8), "平成"),
    (dt.date(1926, 12, 25), "昭和"),
    (dt.date(1912, 7, 30), "大正"),
    (dt.date(1868, 10, 23), "明治"),
)
_GREGORIAN_ADOPTED = dt.date(1873, 1, 1)
WEEKDAYS = "月火水木金土日"


def to_date(value: object) -> dt.date:
    """A date from a date, a datetime (its calendar date) or an ISO 'YYYY-MM-DD' string."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        return parse_date(value)
    raise TypeError(f"not a date: {type(value).__name__}")


def parse_date(text: str) -> dt.date:
    """'2026-12-01' or '2026/12/01' (full-width digits already NFKC-normalized by the caller)."""
    cleaned = text.strip().replace("/", "-")
    try:
        return dt.date.fromisoformat(cleaned[:10]) if len(cleaned) >= 10 else _short(cleaned)
    except ValueError:
        raise ValueError(f"not a date (expected YYYY-MM-DD): {text!r}") from None


def _short(text: str) -> dt.date:
    """'2026-1-5' style, which fromisoformat refuses."""
    year, month, day = (int(part) for part in text.split("-"))
    return dt.date(year, month, day)


def date_ja(value: object) -> str:
    """2026-12-01 -> '2026年12月1日'."""
    day = to_date(value)
    return f"{day.year}年{day.month}月{day.day}日"


def era_year(value: object, gannen: bool = True) -> str:
    """2026-12-01 -> '令和8年'; 2019-05-01 -> '令和元年'."""
    day = to_date(value)
    if day < _GREGORIAN_ADOPTED:
        raise ValueError(f"era dates before 1873 are not supported: {day.isoformat()}")
    start, name = next((start, name) for start, name in ERAS if day >= start)
    number = day.year - start.year + 1
    return f"{name}{'元' if number == 1 and gannen else number}年"


def era_date(value: object, gannen: bool = True) -> str:
    """2026-12-01 -> '令和8年12月1日'; 2019-05-01 -> '令和元年5月1日'."""
    day = to_date(value)
    return f"{era_year(day, gannen)}{day.month}月{day.day}日"


def weekday(value: object, parens: bool = True) -> str:
    """2026-12-01 -> '(火)' (ASCII parentheses); parens=False -> '火'."""
    name = WEEKDAYS[to_date(value).weekday()]
    return f"({name})" if parens else name
