"""Cleaning of customer-supplied text before it reaches any template or slot.

Order matters: unsafe/invisible characters go first (so they cannot split what NFKC
joins), then NFKC (never on CJK compatibility ideographs: a customer's 塚 stays 塚), then
whitespace collapsing and trimming (NFKC turns U+3000 into a space). Variation selectors are
kept (葛 + U+E0100 is the customer's variant; draw/values.py decides how it is drawn).

Text that is drawn takes only the width part of NFKC (``widths_only``): half-width katakana
widened (ｶﾞｽ → ガス), full-width letters and digits narrowed (ＡＢＣ１２３ → ABC123), spaces made
plain, marks composed. Everything else stays as written: （株）, ㈱, ①, 「」 and full-width
brackets are what the customer typed, not ``(株)``. Numbers and dates take full NFKC.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from vidmerge.resolver.wording import widen_kana

# Bidi embedding/override/isolate controls and marks: they can reorder what a viewer sees
# ("Trojan Source"); a name never needs them.
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
# Invisible characters that only hide content. ZWJ/ZWNJ (U+200C/D) are kept: emoji and some
# scripts need them.
_INVISIBLE = "\u200b\u2060\ufeff\u00ad"
_REMOVE = set(_BIDI + _INVISIBLE)
_SPACES = re.compile(r"[^\S\n]+")
# CJK compatibility ideographs: NFKC would fold 塚 (U+FA10) into 塚 (U+585A), 神 (U+FA19) into 神;
# a family register that writes the variant means it. They are kept as written.
_COMPATIBILITY_IDEOGRAPHS = re.compile("([\uf900-\ufaff\U0002f800-\U0002fa1f]+)")


def _keep(char: str, multiline: bool) -> bool:
    if char in _REMOVE:
        return False
    if char == "\n":
        return multiline
    # Cc: control characters; Cs: lone surrogates (JSON "\ud800" decodes to one).
    return unicodedata.category(char) not in ("Cc", "Cs")


def clean_text(value: str, *, nfkc: bool = True, widths_only: bool = False, multiline: bool = False) -> str:
    """Normalize one string: NFKC (optional; with ``widths_only`` only its width folding),
    strip controls/bidi, collapse spaces, trim.

    Tabs and other whitespace controls become a single space rather than vanishing, so
    "田中\\t太郎" stays two words.
    """
    text = value.replace("\r\n", "\n")
    for separator in "\r\x85\u2028\u2029":
        text = text.replace(separator, "\n")
    text = "".join(" " if ch in "\t\v\f" else ch for ch in text)
    text = "".join(ch for ch in text if _keep(ch, multiline))
    if nfkc:
        # After the removal, so that a hidden character cannot split what NFKC would join.
        text = _nfkc_keeping_ideographs(text, _fold_widths if widths_only else _nfkc)
    # A run of spaces keeps its first character, so U+3000 survives when NFKC is off.
    lines = [_SPACES.sub(lambda m: m.group(0)[0], line).strip() for line in text.split("\n")]
    return "\n".join(lines).strip()


def _nfkc_keeping_ideographs(text: str, fold: Callable[[str], str]) -> str:
    """``fold`` on everything but CJK compatibility ideographs (NFC would fold them too)."""
    parts = _COMPATIBILITY_IDEOGRAPHS.split(text)  # odd indexes: the ideographs, kept
    return "".join(part if i % 2 else fold(part) for i, part in enumerate(parts))


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


# The width part of NFKC: full-width letters and digits (not symbols or brackets), and spaces.
_FULL_WIDTH_ALNUM = ((0xFF10, 0xFF19), (0xFF21, 0xFF3A), (0xFF41, 0xFF5A))
_NARROWED = {cp: cp - 0xFEE0 for lo, hi in _FULL_WIDTH_ALNUM for cp in range(lo, hi + 1)}
_PLAIN_SPACES = dict.fromkeys([0x00A0, *range(0x2000, 0x200B), 0x202F, 0x205F, 0x3000], 0x20)


def _fold_widths(text: str) -> str:
    """Half-width katakana widened (ｶﾞ → ガ; ｱﾞ → ア + U+3099, the mark kept), full-width letters
    and digits narrowed, spaces plain, marks composed (カ + U+3099 → ガ)."""
    widened = "".join(widen_kana(text)).translate(_NARROWED).translate(_PLAIN_SPACES)
    return unicodedata.normalize("NFC", widened)
