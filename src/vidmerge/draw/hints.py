"""What a refusal suggests when a character of a customer's text cannot be drawn.

A simplified Chinese character (张伟) usually has a Japanese form a Japanese font draws (張偉):
the refusal offers it (「张 → 張 で描けます」), and the sender decides. Anything else needs a font
that has it. The table holds the simplified characters most common in names (surnames, then
given names) that the shipped fonts lack; each Japanese form is offered only where the slot's
font has it.
"""

from __future__ import annotations

from pathlib import Path

from vidmerge.template import fonts

JAPANESE_FORMS = dict(
    zip(
        "张陈杨赵孙马罗郑谢许韩冯邓萧苏吕卢钟谭陆贾韦邹龙贺顾龚钱严汤伟军丽强华艳刚红东辉鹏飞凤兴庆乐书兰凯",
        "張陳楊趙孫馬羅鄭謝許韓馮鄧蕭蘇呂盧鍾譚陸賈韋鄒龍賀顧龔銭厳湯偉軍麗強華艶剛紅東輝鵬飛鳳興慶楽書蘭凱",
        strict=True,
    )
)


def character_hint(ch: str, font: Path) -> str:
    """``张 → 張 で描けます`` when the font has the Japanese form, else what would help."""
    japanese = JAPANESE_FORMS.get(ch)
    if japanese is not None and not fonts.missing_glyphs(japanese, font):
        return f"{ch} → {japanese} で描けます"
    return "add a font that has it"


def form_hint(base: str) -> str:
    """For a variant form (辻 + U+E0105) the font does not list."""
    return f"add a font that has this form, or send {base} alone"
