"""Number formatting for Japanese on-screen text: 円, 万/億, thousands separators, percent.

Rounding (stated once, used everywhere):

- Money (`yen`, `signed`, `man`, `oku`, `plain`, `comma` without `digits`) is truncated
  toward zero, so a figure on screen never overstates a saving: 12,345.9 -> 12,345円,
  12,340 -> 1.2万円, 99,999 -> 9.9万円.
- `percent` and `comma(digits=n)` round half up to the requested digits.
- Negative numbers use U+2212 MINUS SIGN (−), the typographic minus, not ASCII '-'.
  A value that truncates to zero never shows a minus sign.

All functions accept int, float, Decimal or a numeric string ("12,340" included) and raise
TypeError/ValueError on anything else (booleans, NaN, infinity); the expression layer turns
those into ExpressionError naming the slot.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation

MINUS = "\u2212"
_UNITS = ((Decimal(10) ** 12, "兆"), (Decimal(10) ** 8, "億"), (Decimal(10) ** 4, "万"))
STYLES = ("yen", "man", "comma", "percent", "plain")


LIMIT = Decimal(10) ** 21  # beyond any amount a video shows; keeps Decimal's 28 digits exact


def to_decimal(value: object) -> Decimal:
    """Exact Decimal for a number; floats go through repr so 0.1 stays 0.1."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, str):
        number = _parse_plain(value)
    else:
        raise TypeError(f"not a number: {type(value).__name__}")
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    if abs(number) >= LIMIT:
        raise ValueError(f"too large to show: {value!r}")
    return number


def _parse_plain(text: str) -> Decimal:
    cleaned = text.strip().replace(",", "").replace(MINUS, "-")
    try:
        return Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"not a number: {text!r}") from None


def _truncate(number: Decimal, digits: int = 0) -> Decimal:
    return number.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_DOWN)


def _half_up(number: Decimal, digits: int) -> Decimal:
    return number.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)


def _group(number: Decimal, *, separators: bool = True) -> str:
    """'1,234.5' for an already-rounded Decimal; minus as U+2212; never '−0'."""
    sign = MINUS if number < 0 and number != 0 else ""
    whole, _, fraction = f"{abs(number):f}".partition(".")
    whole = f"{int(whole):,}" if separators else whole
    return f"{sign}{whole}.{fraction}" if fraction else f"{sign}{whole}"


def _strip_zeros(number: Decimal) -> Decimal:
    """1.20 -> 1.2, 3.0 -> 3 (without switching to exponent notation)."""
    if number == number.to_integral_value():
        return number.quantize(Decimal(1))
    return number.normalize()


def comma(value: object, digits: int | None = None) -> str:
    """Thousands separators: 12340 -> '12,340'. digits=None keeps the value's own decimals."""
    number = to_decimal(value)
    number = _strip_zeros(number) if digits is None else _half_up(number, digits)
    return _group(number)


def plain(value: object) -> str:
    """Whole number without separators (truncated): 12340.7 -> '12340'."""
    return _group(_truncate(to_decimal(value)), separators=False)


def yen(value: object) -> str:
    """12340 -> '12,340円'; -300 -> '−300円' (truncated toward zero)."""
    return _group(_truncate(to_decimal(value))) + "円"


def signed(value: object, unit: str = "円") -> str:
    """Difference with an explicit sign: '+1,200円', '−300円', '±0円'."""
    number = _truncate(to_decimal(value))
    if number == 0:
        return f"±0{unit}"
    prefix = "+" if number > 0 else ""
    return f"{prefix}{_group(number)}{unit}"


def man(value: object, digits: int = 1, unit: str = "円") -> str:
    """Large amounts in 万/億/兆: 12340 -> '1.2万円', 3e8 -> '3億円', 9999 -> '9,999円'.

    The mantissa is truncated toward zero to `digits` decimals and trailing zeros dropped,
    so 99,999 -> '9.9万円' (never rounded up to '10万円').
    """
    number = to_decimal(value)
    for size, name in _UNITS:
        if abs(number) >= size:
            mantissa = _strip_zeros(_truncate(number / size, digits))
            return f"{_group(mantissa)}{name}{unit}"
    return _group(_truncate(number)) + unit


def percent(value: object, digits: int = 1, ratio: bool = True) -> str:
    """0.125 -> '12.5%' (value is a ratio; pass ratio=False for 12.5 -> '12.5%').

    Rounded half up to `digits` decimals, trailing zeros dropped: 0.1 -> '10%'.
    """
    number = to_decimal(value) * (100 if ratio else 1)
    return _group(_strip_zeros(_half_up(number, digits))) + "%"


def format_number(value: object, style: str) -> str:
    """One formatter per style, for count-up animation frames (engine) and filters alike.

    'yen' -> '12,340円', 'man' -> '1.2万円', 'comma' -> '12,340' (whole, truncated),
    'percent' -> '12.5%' (value is a ratio), 'plain' -> '12340'.
    """
    if style == "yen":
        return yen(value)
    if style == "man":
        return man(value)
    if style == "comma":
        return _group(_truncate(to_decimal(value)))
    if style == "percent":
        return percent(value)
    if style == "plain":
        return plain(value)
    raise ValueError(f"unknown number style {style!r}; expected one of {', '.join(STYLES)}")


def parse_number(text: str) -> Decimal:
    """Inverse of the formatters for round trips: '−1.2万円' -> Decimal('-12000')."""
    cleaned = text.strip().removesuffix("円").removesuffix("%").replace("±", "")
    cleaned = cleaned.replace("+", "")
    for size, name in _UNITS:
        if cleaned.endswith(name):
            return _parse_plain(cleaned.removesuffix(name)) * size
    return _parse_plain(cleaned)
