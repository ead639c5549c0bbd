import contextlib
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vidmerge.resolver.formatters import (
    MINUS,
    STYLES,
    comma,
    format_number,
    man,
    parse_number,
    percent,
    plain,
    signed,
    yen,
)

BIG = 10**15
ints = st.integers(min_value=-BIG, max_value=BIG)
finite = st.floats(min_value=-1e15, max_value=1e15, allow_nan=False, allow_infinity=False)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (12340, "12,340円"),
        (-300, "−300円"),
        (0, "0円"),
        (999, "999円"),
        (1000, "1,000円"),
        (12345.9, "12,345円"),  # truncated, never rounded up
        (1234.5, "1,234円"),  # half a yen too (docs/resolver.md says so)
        ("1234.99", "1,234円"),
        (-0.4, "0円"),  # no "−0円"
        ("12,340", "12,340円"),
        (Decimal("1000000"), "1,000,000円"),
    ],
)
def test_yen(value: object, text: str) -> None:
    assert yen(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (9999, "9,999円"),
        (10000, "1万円"),
        (12340, "1.2万円"),
        (30000, "3万円"),
        (99999, "9.9万円"),  # truncated, not "10万円"
        (99_999_999, "9,999.9万円"),
        (100_000_000, "1億円"),
        (300_000_000, "3億円"),
        (123_450_000, "1.2億円"),
        (-12340, "−1.2万円"),
        (10**12, "1兆円"),
    ],
)
def test_man(value: int, text: str) -> None:
    assert man(value) == text


def test_man_digits_and_unit() -> None:
    assert man(12345, digits=2) == "1.23万円"
    assert man(12345, digits=0, unit="") == "1万"


@pytest.mark.parametrize(
    ("value", "text"),
    [(1200, "+1,200円"), (-300, "−300円"), (0, "±0円"), (0.9, "±0円")],
)
def test_signed(value: object, text: str) -> None:
    assert signed(value) == text


def test_percent_is_a_ratio_rounded_half_up() -> None:
    assert percent(0.125) == "12.5%"
    assert percent(0.1) == "10%"
    assert percent(0.12345, 2) == "12.35%"
    assert percent(12.5, ratio=False) == "12.5%"
    assert percent(-0.05) == f"{MINUS}5%"


def test_comma_keeps_decimals_unless_told() -> None:
    assert comma(1234567) == "1,234,567"
    assert comma(1234.5) == "1,234.5"
    assert comma(1234.56, digits=1) == "1,234.6"
    assert comma(-1000) == "−1,000"


def test_format_number_styles() -> None:
    assert format_number(12340, "yen") == "12,340円"
    assert format_number(12340, "man") == "1.2万円"
    assert format_number(12340.7, "comma") == "12,340"
    assert format_number(0.125, "percent") == "12.5%"
    assert format_number(12340.7, "plain") == "12340"
    with pytest.raises(ValueError, match="unknown number style"):
        format_number(1, "roman")


@pytest.mark.parametrize("bad", [True, None, float("nan"), float("inf"), "abc", [1]])
def test_non_numbers_are_refused(bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        yen(bad)


@given(ints)
def test_comma_matches_python_grouping(number: int) -> None:
    assert comma(number) == f"{number:,}".replace("-", MINUS)


@given(ints)
def test_yen_round_trips(number: int) -> None:
    assert parse_number(yen(number)) == number
    assert parse_number(signed(number)) == number
    assert parse_number(plain(number)) == number


@given(st.decimals(min_value=-BIG, max_value=BIG, places=3, allow_nan=False))
def test_comma_round_trips_decimals(number: Decimal) -> None:
    assert parse_number(comma(number)) == number


@given(ints)
def test_man_truncates_within_one_displayed_step(number: int) -> None:
    shown = parse_number(man(number))
    error = abs(Decimal(number)) - abs(shown)
    step = next((s for s in (10**12, 10**8, 10**4) if abs(number) >= s), 1)
    assert 0 <= error < Decimal(step) / 10 or (step == 1 and error == 0)


@given(st.integers(min_value=0, max_value=6), st.integers(min_value=1, max_value=9))
def test_separators_at_every_power_of_ten(power: int, digit: int) -> None:
    number = digit * 10 ** (3 * power)
    text = yen(number)
    groups = text.removesuffix("円").split(",")
    assert len(groups) == power + 1
    assert all(len(g) == 3 for g in groups[1:])
    assert yen(number - 1).count(",") == max(power - 1, 0) + (1 if digit > 1 and power else 0)


@given(st.one_of(ints, finite), st.sampled_from(STYLES))
def test_no_crash_on_any_number(value: float, style: str) -> None:
    text = format_number(value, style)
    assert text and "-" not in text and "e" not in text.lower()


@given(st.text(max_size=30))
def test_any_string_either_formats_or_raises_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        yen(text)


@pytest.mark.parametrize("text", ["1e28", "10000000000000000000000000000", "-1E+21"])
def test_numbers_too_large_to_show_are_a_value_error(text: str) -> None:
    """Found by hypothesis: 1e28 reached Decimal.quantize and raised InvalidOperation."""
    with pytest.raises(ValueError, match="too large"):
        yen(text)
