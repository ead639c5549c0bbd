"""Japanese wording helpers: honorifics, full/half-width conversion, choosing by value."""

from __future__ import annotations

import unicodedata

from vidmerge.resolver.formatters import to_decimal

# Suffixes that already address the person; adding 様 after them would double it.
_ADDRESSED = ("様", "さま", "さん", "殿", "御中", "先生", "ちゃん", "くん", "君")
_TO_FULL = {code: code + 0xFEE0 for code in range(0x21, 0x7F)} | {0x20: 0x3000}
_TO_HALF = {full: half for half, full in _TO_FULL.items()}
_HALF_KANA = range(0xFF61, 0xFFA0)


def as_text(value: object) -> str:
    """A value as text: an optional value left out (None) is empty, never "None"."""
    return "" if value is None else str(value)


def honorific(name: object, suffix: str = "様") -> str:
    """'田中' -> '田中様'. Never doubles: '田中様', 'お客様', '田中さん' come back unchanged.

    An empty name stays empty, so a template can decide what to say instead.
    """
    text = as_text(name).strip()
    if not text or text.endswith(_ADDRESSED):
        return text
    return text + suffix


def zenkaku(value: object) -> str:
    """Half-width to full-width: ASCII 'ABC 123' -> 'ＡＢＣ　１２３', ｶﾀｶﾅ -> カタカナ."""
    text = as_text(value).translate(_TO_FULL)
    return "".join(widen_kana(text))


def widen_kana(text: str) -> list[str]:
    """NFKC on half-width katakana only; it also joins ｶﾞ into ガ."""
    out: list[str] = []
    for char in text:
        if ord(char) in _HALF_KANA and out and ord(out[-1][-1]) in _HALF_KANA:
            out[-1] += char
        else:
            out.append(char)
    return [unicodedata.normalize("NFKC", part) if ord(part[0]) in _HALF_KANA else part for part in out]


def hankaku(value: object) -> str:
    """Full-width ASCII to half-width: 'ＡＢＣ　１２３' -> 'ABC 123'. Katakana stays full-width."""
    return as_text(value).translate(_TO_HALF)


def by_value(value: object, positive: str = "", zero: str = "", negative: str | None = None) -> str:
    """Pick wording by the sign of a number, so a zero saving never reads '0円お得'.

    `negative` defaults to the `zero` wording: "no saving" and "it would cost more" usually
    share a sentence.
    """
    number = to_decimal(value)
    if number > 0:
        return positive
    if number < 0:
        return zero if negative is None else negative
    return zero
