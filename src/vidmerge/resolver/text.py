"""Cleaning of customer-supplied text before it reaches any template or slot.

Order matters: unsafe/invisible characters go first (so they cannot split what NFKC
joins), then NFKC (never on CJK compatibility ideographs: a customer's 塚 stays 塚), then
whitespace collapsing and trimming (NFKC turns U+3000 into a space). Variation selectors are
kept (葛 + U+E0100 is the customer's variant; draw/values.py decides how it is drawn).
"""

from __future__ import annotations

import re
import unicodedata

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


def clean_text(value: str, *, nfkc: bool = True, multiline: bool = False) -> str:
    """Normalize one string: NFKC (optional), strip controls/bidi, collapse spaces, trim.

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
        text = _nfkc_keeping_ideographs(text)
    # A run of spaces keeps its first character, so U+3000 survives when NFKC is off.
    lines = [_SPACES.sub(lambda m: m.group(0)[0], line).strip() for line in text.split("\n")]
    return "\n".join(lines).strip()


def _nfkc_keeping_ideographs(text: str) -> str:
    """NFKC (half-width kana, full-width ASCII, compatibility spaces, combining marks composed)
    on everything but CJK compatibility ideographs."""
    parts = _COMPATIBILITY_IDEOGRAPHS.split(text)  # odd indexes: the ideographs, kept
    return "".join(part if i % 2 else unicodedata.normalize("NFKC", part) for i, part in enumerate(parts))
