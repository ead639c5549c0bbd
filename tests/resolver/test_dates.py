import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vidmerge.resolver.dates import ERAS, date_ja, era_date, era_year, weekday


@pytest.mark.parametrize(
    ("day", "text"),
    [
        (dt.date(2026, 12, 1), "令和8年12月1日"),
        (dt.date(2019, 4, 30), "平成31年4月30日"),
        (dt.date(2019, 5, 1), "令和元年5月1日"),
        (dt.date(2020, 1, 1), "令和2年1月1日"),
        (dt.date(1989, 1, 7), "昭和64年1月7日"),
        (dt.date(1989, 1, 8), "平成元年1月8日"),
        (dt.date(1926, 12, 25), "昭和元年12月25日"),
    ],
)
def test_era_date_boundaries(day: dt.date, text: str) -> None:
    assert era_date(day) == text


def test_gannen_can_be_turned_off_and_strings_are_accepted() -> None:
    assert era_date("2019-05-01", gannen=False) == "令和1年5月1日"
    assert era_year("2026/12/01") == "令和8年"
    assert date_ja("2026-12-01") == "2026年12月1日"
    assert date_ja(dt.datetime(2026, 12, 1, 23, 59)) == "2026年12月1日"


def test_weekday() -> None:
    assert weekday(dt.date(2026, 12, 1)) == "(火)"
    assert weekday("2026-12-06", parens=False) == "日"


def test_before_gregorian_adoption_is_refused() -> None:
    with pytest.raises(ValueError, match="1873"):
        era_date(dt.date(1872, 12, 31))


@pytest.mark.parametrize("bad", ["2026-13-01", "tomorrow", 20261201])
def test_bad_dates_raise(bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        date_ja(bad)


@given(st.dates(min_value=dt.date(1873, 1, 1), max_value=dt.date(9999, 12, 31)))
def test_era_year_maps_back_to_the_gregorian_year(day: dt.date) -> None:
    start, name = next((s, n) for s, n in ERAS if day >= s)
    text = era_year(day, gannen=False)
    assert text.startswith(name) and text.endswith("年")
    assert start.year + int(text[len(name) : -1]) - 1 == day.year
    assert era_date(day).endswith(f"{day.month}月{day.day}日")
