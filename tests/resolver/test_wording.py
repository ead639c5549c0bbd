import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vidmerge.resolver.wording import by_value, hankaku, honorific, zenkaku


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("田中", "田中様"),
        ("田中様", "田中様"),
        ("お客様", "お客様"),
        ("田中さん", "田中さん"),
        ("", ""),
    ],
)
def test_honorific_never_doubles(name: str, text: str) -> None:
    assert honorific(name) == text


def test_honorific_san() -> None:
    assert honorific("田中", "さん") == "田中さん"


@given(st.text(min_size=1, max_size=20))
def test_honorific_is_idempotent(name: str) -> None:
    once = honorific(name)
    assert honorific(once) == once


def test_zenkaku_and_hankaku() -> None:
    assert zenkaku("ABC 123") == "ＡＢＣ　１２３"
    assert zenkaku("ｶﾞｽ") == "ガス"
    assert hankaku("ＡＢＣ　１２３") == "ABC 123"
    assert hankaku("ガス") == "ガス"


@given(st.text(alphabet=string.printable.strip("\t\n\r\x0b\x0c") + " "))
def test_width_round_trip_for_ascii(text: str) -> None:
    assert hankaku(zenkaku(text)) == text


@given(st.text(alphabet=st.characters(min_codepoint=0xFF01, max_codepoint=0xFF5E)))
def test_width_round_trip_for_full_width(text: str) -> None:
    assert zenkaku(hankaku(text)) == text


def test_by_value_chooses_wording() -> None:
    kwargs = {"positive": "お得です", "zero": "同じです", "negative": "割高です"}
    assert by_value(12340, **kwargs) == "お得です"
    assert by_value(0, **kwargs) == "同じです"
    assert by_value(-300, **kwargs) == "割高です"
    assert by_value(-300, positive="お得", zero="見直し不要") == "見直し不要"
