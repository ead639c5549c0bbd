"""The shipped font draws Japanese names; what it cannot draw is an error, not a box."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from vidmerge.errors import BundleError, GlyphError
from vidmerge.template import fonts

DEFAULT = fonts.font_path("default")


def jis_x_0208() -> str:
    """Every character of JIS X 0208: each two-byte EUC-JP code the codec decodes."""
    chars = []
    for row in range(0xA1, 0xFF):
        for cell in range(0xA1, 0xFF):
            try:
                chars.append(bytes((row, cell)).decode("euc_jp"))
            except UnicodeDecodeError:
                continue
    return "".join(chars)


def test_shipped_fonts_are_listed_with_the_default_alias() -> None:
    names = fonts.known_fonts()
    assert {"NotoSansJP-Bold", "NotoSansJP-Regular", "default"} <= set(names)
    assert DEFAULT.name == "NotoSansJP-Bold.otf"
    assert (fonts.SHIPPED_DIR / "OFL.txt").is_file()


@pytest.mark.parametrize("name", ["NotoSansJP-Bold", "NotoSansJP-Regular"])
def test_shipped_fonts_cover_all_of_jis_x_0208(name: str) -> None:
    text = jis_x_0208()
    assert len(text) > 6800
    assert fonts.missing_glyphs(text, fonts.font_path(name)) == []


def test_rare_name_characters_are_covered() -> None:
    names = "𠮷野 髙橋 﨑山 塚本 德川 草彅 𡈽井 濵田 栁田 瀨戸 邉見 𠮟"
    assert fonts.missing_glyphs(names, DEFAULT) == []
    fonts.check_drawable(names, DEFAULT, where="name")


def test_ascii_latin1_kana_and_fullwidth_are_covered() -> None:
    text = "".join(map(chr, range(0x21, 0x7F))) + "é ü ß © ¥ — … 「」 ー ｱｲｳ ＡＢＣ ①㈱"
    assert fonts.missing_glyphs(text, DEFAULT) == []


def test_whitespace_and_newlines_are_never_missing() -> None:
    assert fonts.missing_glyphs("田中\n様\t \u3000", DEFAULT) == []


def test_emoji_is_reported_with_its_codepoint() -> None:
    assert fonts.missing_glyphs("田中😀様😀", DEFAULT) == ["😀"]
    with pytest.raises(GlyphError) as caught:
        fonts.check_drawable("田中😀様🎉", DEFAULT, where="slots.greeting")
    assert caught.value.where == "slots.greeting"
    assert "U+1F600 '😀'" in str(caught.value)
    assert "U+1F389 '🎉'" in str(caught.value)
    assert not caught.value.retryable


def test_unknown_font_name_is_a_bundle_error_naming_it() -> None:
    with pytest.raises(BundleError) as caught:
        fonts.font_path("Comic Sans MS", where="slots.greeting.font")
    assert "Comic Sans MS" in str(caught.value)
    assert caught.value.where == "slots.greeting.font"


def test_bundle_font_is_found_relative_to_the_bundle(tmp_path: Path) -> None:
    (tmp_path / "fonts").mkdir()
    own = tmp_path / "fonts" / "brand.otf"
    own.write_bytes(DEFAULT.read_bytes())
    assert fonts.font_path("fonts/brand.otf", bundle_dir=tmp_path) == own.resolve()


@pytest.mark.parametrize("name", ["../outside.otf", "/etc/passwd", "fonts/missing.otf", "fonts"])
def test_bundle_font_may_not_leave_the_bundle_or_be_missing(tmp_path: Path, name: str) -> None:
    bundle = tmp_path / "bundle"
    (bundle / "fonts").mkdir(parents=True)
    (tmp_path / "outside.otf").write_bytes(DEFAULT.read_bytes())
    with pytest.raises(BundleError):
        fonts.font_path(name, bundle_dir=bundle)


def test_shipped_dir_can_be_pointed_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fonts, "SHIPPED_DIR", tmp_path)
    (tmp_path / "Other.ttf").write_bytes(DEFAULT.read_bytes())
    assert fonts.known_fonts() == ["Other"]
    assert fonts.font_path("Other") == tmp_path / "Other.ttf"
    with pytest.raises(BundleError):
        fonts.font_path("default")


def test_cmap_reader_agrees_with_a_truetype_font() -> None:
    """A format-4 TrueType font from the system, when present (Debian's DejaVu)."""
    dejavu = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    if not dejavu.is_file():
        pytest.skip("no DejaVu on this machine")
    assert fonts.missing_glyphs("Aé€", dejavu) == []
    assert fonts.missing_glyphs("田", dejavu) == ["田"]


def test_a_file_that_is_not_a_font_is_a_bundle_error(tmp_path: Path) -> None:
    fake = tmp_path / "fake.otf"
    fake.write_bytes(b"\x00\x01\x00\x00" + b"\x00" * 8)
    with pytest.raises(BundleError):
        fonts.missing_glyphs("a", fake)


def test_shipped_fonts_stay_lean() -> None:
    for path in fonts.SHIPPED_DIR.glob("*.otf"):
        assert path.stat().st_size < 4_000_000, path.name


def _font_with_cmap(subtable: bytes, platform: int = 3, encoding: int = 10) -> bytes:
    """A minimal OpenType file: one table, `cmap`, with one subtable."""
    cmap = struct.pack(">HHHHI", 0, 1, platform, encoding, 12) + subtable
    directory = struct.pack(">IHHHH", 0x00010000, 1, 16, 0, 0) + struct.pack(">4sIII", b"cmap", 0, 28, len(cmap))
    return directory + cmap


def test_a_sane_hand_made_cmap_is_read(tmp_path: Path) -> None:
    group = struct.pack(">III", 0x3042, 0x3046, 5)  # あ..う
    path = tmp_path / "tiny.otf"
    path.write_bytes(_font_with_cmap(struct.pack(">HHIII", 12, 0, 16 + 12, 0, 1) + group))
    assert fonts.missing_glyphs("あいう", path) == [] and fonts.missing_glyphs("え", path) == ["え"]


def test_a_group_past_unicode_is_cut_at_its_end(tmp_path: Path) -> None:
    path = tmp_path / "wide.otf"
    path.write_bytes(_font_with_cmap(struct.pack(">HHIII", 12, 0, 28, 0, 1) + struct.pack(">III", 0, 0xFFFFFFFF, 1)))
    assert fonts.missing_glyphs("あ😀", path) == [] and max(fonts._cmap(path)) == fonts.MAX_CODEPOINT


@pytest.mark.parametrize(
    "subtable",
    [
        struct.pack(">HHIII", 12, 0, 16 + 12 * 4000, 0, 4000) + struct.pack(">III", 0, 0x10FFFF, 1) * 4000,
        struct.pack(">HHHHHHH", 4, 0, 0, 2 * 30000, 0, 0, 0)  # format 4: 30,000 segments of 0..0xFFFE
        + struct.pack(">30000H", *[0xFFFE] * 30000)
        + b"\0\0"
        + struct.pack(">30000H", *[0] * 30000)
        + struct.pack(">30000h", *[1] * 30000)
        + struct.pack(">30000H", *[0] * 30000),
    ],
    ids=["format12-repeated-groups", "format4-repeated-segments"],
)
def test_a_cmap_claiming_absurd_ranges_is_refused_before_it_is_expanded(tmp_path: Path, subtable: bytes) -> None:
    path = tmp_path / "hostile.otf"
    path.write_bytes(_font_with_cmap(subtable))
    with pytest.raises(BundleError, match="not a readable font"):
        fonts.load(path)


def _font_with_records(subtables: list[bytes], pointers: list[int]) -> bytes:
    """An OpenType file whose cmap has one (3, 10) record per pointer, into `subtables`."""
    head = 4 + 8 * len(pointers)
    starts = [head + sum(len(s) for s in subtables[:i]) for i in range(len(subtables))]
    cmap = struct.pack(">HH", 0, len(pointers)) + b"".join(struct.pack(">HHI", 3, 10, starts[i]) for i in pointers)
    cmap += b"".join(subtables)
    directory = struct.pack(">IHHHH", 0x00010000, 1, 16, 0, 0) + struct.pack(">4sIII", b"cmap", 0, 28, len(cmap))
    return directory + cmap


def test_one_budget_for_the_whole_font_however_many_records_name_a_subtable(tmp_path: Path) -> None:
    big = struct.pack(">HHIII", 12, 0, 28, 0, 1) + struct.pack(">III", 0, 0xFFFFF, 1)  # a million codepoints
    path = tmp_path / "font.otf"
    path.write_bytes(_font_with_records([big], [0] * 2000))  # 2,000 records, one subtable: read once
    assert len(fonts._cmap(path)) == 0x100000
    path = tmp_path / "copies.otf"
    path.write_bytes(_font_with_records([big] * 3, [0, 1, 2]))  # three millions claimed: refused
    with pytest.raises(BundleError, match="not a readable font"):
        fonts.load(path)
