import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from vidmerge.resolver.text import clean_text


def test_nfkc_trim_and_spaces() -> None:
    assert clean_text("  ＴＡＮＡＫＡ　太郎  ") == "TANAKA 太郎"
    assert clean_text("ｶﾞｽ") == "ガス"
    assert clean_text("田中\t\t太郎") == "田中 太郎"


def test_nfkc_can_be_turned_off() -> None:
    assert clean_text("ＴＡＮＡＫＡ　太郎", nfkc=False) == "ＴＡＮＡＫＡ　太郎"


def test_controls_bidi_and_invisibles_are_removed() -> None:
    assert clean_text("田\x00中\u202e様\u200b\ufeff") == "田中様"
    assert clean_text("a\u2066b\u2069c\u200fd") == "abcd"


def test_newlines_only_when_multiline() -> None:
    assert clean_text("一行目\r\n二行目") == "一行目二行目"
    assert clean_text("一行目 \r\n 二行目\u2028三", multiline=True) == "一行目\n二行目\n三"


def test_emoji_joiners_survive() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert clean_text(family) == family


@given(st.text(), st.booleans(), st.booleans())
def test_clean_text_output_is_clean_and_idempotent(text: str, nfkc: bool, multiline: bool) -> None:
    cleaned = clean_text(text, nfkc=nfkc, multiline=multiline)
    assert cleaned == cleaned.strip()
    for char in cleaned:
        assert unicodedata.category(char) not in ("Cs",)
        assert char == "\n" or unicodedata.category(char) != "Cc"
        assert char not in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    assert clean_text(cleaned, nfkc=nfkc, multiline=multiline) == cleaned


def test_names_are_kept_as_written() -> None:
    """NFKC only where customers do not mean it: a family register's variant ideograph stays."""
    assert clean_text("\ufa10本") == "\ufa10本"  # 塚 U+FA10 is not folded into 塚 U+585A
    assert clean_text("\ufa19田 \ufa11山") == "\ufa19田 \ufa11山"  # 神 U+FA19, 﨑 U+FA11
    assert clean_text("\U0002f81a") == "\U0002f81a"  # the supplement block too
    assert clean_text("𠮷野 髙橋") == "𠮷野 髙橋"
    assert clean_text("葛\U000e0100城") == "葛\U000e0100城"  # the variation selector is the customer's
    assert clean_text("ﾀﾅｶ ﾀﾛｳ") == "タナカ タロウ"  # half-width kana widened
    assert clean_text("カ\u3099") == "ガ"  # a combining mark composed
    assert clean_text("ア\u3099") == "ア\u3099"  # no composed form: kept as sent
    assert clean_text("ＡＢＣ\u3000太郎") == "ABC 太郎"  # full-width ASCII and the ideographic space
