"""Campaign files pasted together from several tools: a row in another encoding, bytes valid in
neither, a user-defined character, a `?` where Excel could not write 𠮷. Each is refused at its
row and column (the header as written), the rest of the file read as it is."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.media import SMALL_MANIFEST, make_clip, write_bundle

from vidmerge.service import campaigns, csvfile
from vidmerge.service.runtime import Runtime
from vidmerge.template.bundle import load_bundle

MAPPING = {"顧客ID": "external_id", "氏名": "name", "金額": "amount"}
HEADER = "顧客ID,氏名,金額\r\n"


def errors(rt: Runtime, content: bytes) -> dict[tuple[int, str], str]:
    done = campaigns.upload(rt, "small", content, mapping=MAPPING)
    return {(e["row"], e["column"]): e["reason"] for e in done.errors}


def test_a_utf8_row_in_a_cp932_file_is_named_by_row_and_column(small_runtime: Runtime) -> None:
    """「日本」 in UTF-8 read as CP932 is 「譌･譛ｬ」: refused, where the rows around it are read."""
    content = (HEADER + "m-1,田中,1\r\n").encode("cp932") + "m-2,日本,2\r\n".encode() + "m-3,髙橋,3\r\n".encode("cp932")
    done = campaigns.upload(small_runtime, "small", content, mapping=MAPPING)
    assert (done.campaign.encoding, done.valid, done.invalid) == ("cp932", 2, 1)
    assert done.errors == [{"row": 3, "column": "氏名", "reason": campaigns.GARBLED}]


def test_a_cp932_row_in_a_utf8_file_is_named_and_the_file_read_as_utf8(small_runtime: Runtime) -> None:
    content = (HEADER + "u-1,田中,1\r\nu-2,佐藤,2\r\n").encode() + "u-3,鈴木,3\r\n".encode("cp932")
    done = campaigns.upload(small_runtime, "small", content, mapping=MAPPING)
    assert (done.campaign.encoding, done.valid) == ("utf-8", 2)
    assert done.errors == [{"row": 4, "column": "氏名", "reason": campaigns.GARBLED}]


@pytest.mark.parametrize(
    ("cell", "what"),
    [
        (b"\x81\x7f", "bytes valid in neither: U+FFFD"),
        (b"\xa0\x93\x63", "a byte CP932 maps to a user-defined character (U+F8F0)"),
        (b"\xf0\x40\x93\x63", "CP932's user-defined area (U+E000)"),
        ("?野家".encode("cp932"), "what Excel writes for 𠮷"),
        ("〓野".encode("cp932"), "a geta mark"),
        ("山？".encode("cp932"), "a full-width question mark"),
    ],
)
def test_characters_lost_on_the_way_are_refused_in_a_name(small_runtime: Runtime, cell: bytes, what: str) -> None:
    bad = b"q-" + cell.hex().encode() + b"," + cell + b",1\r\n"
    content = HEADER.encode("cp932") + bad + "q-ok,田中,1\r\n".encode("cp932")
    assert errors(small_runtime, content) == {(2, "氏名"): campaigns.GARBLED}, what


def test_a_garbled_id_is_refused_but_a_question_mark_in_it_is_not_a_name(small_runtime: Runtime) -> None:
    content = (HEADER + "id-?,田中,1\r\n").encode("cp932") + "id-日本,佐藤,1\r\n".encode()
    assert errors(small_runtime, content) == {(3, "顧客ID"): campaigns.GARBLED, (3, "氏名"): campaigns.GARBLED}


def test_a_header_in_neither_encoding_refuses_the_file() -> None:
    with pytest.raises(csvfile.InvalidInput) as caught:
        csvfile.read(b"\x81\x7f,a\r\nx,y\r\n", max_rows=5)
    assert caught.value.where == "file" and "header" in caught.value.message


def test_name_inputs_are_those_addressed_as_people_or_called_names(tmp_path: Path) -> None:
    manifest = {**SMALL_MANIFEST, "inputs": {
        "sei": {"type": "string"}, "mei": {"type": "string"}, "company_name": {"type": "string"},
        "shimei": {"type": "string", "description": "お客様の氏名"}, "memo": {"type": "string"},
        "plan": {"type": "string", "allowed": ["a", "b"]}, "amount": {"type": "number", "default": 1}},
        "computed": {"full": "{{ sei }} {{ mei }}"}}  # fmt: skip
    manifest["slots"] = [{**SMALL_MANIFEST["slots"][0], "text": "{{ full | honorific }}{{ memo }}{{ plan }}"},
                         SMALL_MANIFEST["slots"][1]]  # fmt: skip
    template = load_bundle(write_bundle(tmp_path / "b", manifest, clip=make_clip(tmp_path / "clip.mp4")))
    assert campaigns.name_inputs(template) == {"sei", "mei", "company_name", "shimei"}
