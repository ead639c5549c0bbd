"""The shipped font draws Japanese names; what it cannot draw is an error, not a box."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from support.fonts import every_code_point_font, font_bytes
from support.media import png_bytes

from vidmerge.errors import BundleError, GlyphError
from vidmerge.template import fonts

DEFAULT = fonts.font_path("default")


def _gif() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32)).save(buf, format="GIF")
    return buf.getvalue()


GIF = _gif()


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


def _sfnt(tables: dict[bytes, bytes]) -> bytes:
    """A minimal OpenType file holding `tables` (no outlines: for the cmap reader alone)."""
    directory = struct.pack(">IHHHH", 0x00010000, len(tables), 16, 0, 0)
    at, body = 12 + 16 * len(tables), b""
    for tag, data in tables.items():
        directory += struct.pack(">4sIII", tag, 0, at + len(body), len(data))
        body += data
    return directory + body


def _font_with_cmap(subtable: bytes, platform: int = 3, encoding: int = 10, glyphs: int = 0xFFFF) -> bytes:
    """A minimal OpenType file: `maxp` saying how many glyphs it has, and `cmap` with one subtable."""
    cmap = struct.pack(">HHHHI", 0, 1, platform, encoding, 12) + subtable
    return _sfnt({b"cmap": cmap, b"maxp": struct.pack(">IH", 0x5000, glyphs)})


def test_a_sane_hand_made_cmap_is_read(tmp_path: Path) -> None:
    group = struct.pack(">III", 0x3042, 0x3046, 5)  # あ..う
    path = tmp_path / "tiny.otf"
    path.write_bytes(_font_with_cmap(struct.pack(">HHIII", 12, 0, 16 + 12, 0, 1) + group))
    assert fonts.missing_glyphs("あいう", path) == [] and fonts.missing_glyphs("え", path) == ["え"]


@pytest.mark.parametrize(
    ("group", "glyphs"),
    [((0x41, 0x5A, 1), 26), ((0x41, 0x41, 70000 % 0x10000), 1000), ((0, 0xFFFFFFFF, 1), 0xFFFF)],
    ids=["one-past-the-last-glyph", "a-glyph-id-beyond-the-count", "past-unicode"],
)
def test_a_cmap_naming_glyphs_the_font_does_not_have_is_refused(
    tmp_path: Path, group: tuple[int, int, int], glyphs: int
) -> None:
    path = tmp_path / "lying.otf"
    subtable = struct.pack(">HHIII", 12, 0, 28, 0, 1) + struct.pack(">III", *group)
    path.write_bytes(_font_with_cmap(subtable, glyphs=glyphs))
    with pytest.raises(BundleError, match="glyphs the font does not have") as caught:
        fonts.missing_glyphs("A", path)
    assert caught.value.where == "lying.otf"


def test_a_format4_cmap_naming_a_glyph_beyond_the_count_is_refused(tmp_path: Path) -> None:
    segment = struct.pack(">HHHHHHH", 4, 0, 0, 4, 0, 0, 0)  # two segments: A..Z (delta -64: glyphs 1..26), 0xFFFF
    segment += struct.pack(">2H", 0x5A, 0xFFFF) + b"\0\0" + struct.pack(">2H", 0x41, 0xFFFF)
    segment += struct.pack(">2h", -64, 1) + struct.pack(">2H", 0, 0)
    path = tmp_path / "short.otf"
    path.write_bytes(_font_with_cmap(segment, glyphs=27))
    assert fonts.missing_glyphs("AZ", path) == []  # glyphs 1..26 of 27: fine
    fonts._cmap.cache_clear()
    path.write_bytes(_font_with_cmap(segment, glyphs=20))
    with pytest.raises(BundleError, match=r"U\+0054 to glyph 20; the font has 20"):
        fonts.missing_glyphs("A", path)


@pytest.mark.parametrize(
    "subtable",
    [
        struct.pack(">HHIII", 12, 0, 16 + 12 * 4000, 0, 4000) + struct.pack(">III", 0, 0xFFFD, 1) * 4000,
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
    with pytest.raises(BundleError, match="cmap claims more than"):
        fonts.missing_glyphs("A", path)


def _font_with_records(subtables: list[bytes], pointers: list[int]) -> bytes:
    """An OpenType file whose cmap has one (3, 10) record per pointer, into `subtables`."""
    head = 4 + 8 * len(pointers)
    starts = [head + sum(len(s) for s in subtables[:i]) for i in range(len(subtables))]
    cmap = struct.pack(">HH", 0, len(pointers)) + b"".join(struct.pack(">HHI", 3, 10, starts[i]) for i in pointers)
    cmap += b"".join(subtables)
    return _sfnt({b"cmap": cmap, b"maxp": struct.pack(">IH", 0x5000, 0xFFFF)})


def test_one_budget_for_the_whole_font_however_many_records_name_a_subtable(tmp_path: Path) -> None:
    def block(first: int) -> bytes:  # 0xFFFE codepoints on glyphs 1..0xFFFE
        return struct.pack(">HHIII", 12, 0, 28, 0, 1) + struct.pack(">III", first, first + 0xFFFD, 1)

    path = tmp_path / "font.otf"
    path.write_bytes(_font_with_records([block(0x10000)], [0] * 2000))  # 2,000 records, one subtable: read once
    assert len(fonts._cmap(path)) == 0xFFFE
    path = tmp_path / "copies.otf"  # five blocks: more than four characters per glyph the font has
    path.write_bytes(_font_with_records([block(0x10000 * n) for n in range(1, 6)], [0, 1, 2, 3, 4]))
    with pytest.raises(BundleError, match="cmap claims more than"):
        fonts.missing_glyphs("A", path)


# --- whole fonts, built with fontTools, checked as an upload checks them -------------------------

MEASURE = """
import resource, sys
from pathlib import Path
from vidmerge.errors import BundleError
from vidmerge.template import fonts
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    fonts.load(Path(sys.argv[1]))
    print("accepted", end=" ")
except BundleError as exc:
    print(exc, end=" ")
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def test_a_font_claiming_every_code_point_is_refused_within_a_small_memory_budget(tmp_path: Path) -> None:
    """Issue 25 (9): the cmap was expanded (+239 MB peak) and the font accepted. Now the claim is
    counted against the glyph count, on the mapped file, before anything is expanded."""
    path = tmp_path / "every.ttf"
    path.write_bytes(every_code_point_font())
    assert path.stat().st_size > 10_000_000
    out = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True, check=True)
    message, grown_kb = out.stdout.rsplit(" ", 1)
    assert message == "every.ttf: not a readable font: cmap claims more than 264 characters for a font of 2 glyphs"
    assert int(grown_kb) < 32 * 1024, f"peak RSS grew {int(grown_kb) // 1024} MB"


def test_a_font_whose_letters_have_no_outline_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "blank.ttf"
    path.write_bytes(font_bytes(ink=False))
    with pytest.raises(BundleError, match="no outline for \\(U\\+0041 'A', U\\+0048 'H'") as caught:
        fonts.load(path)
    assert caught.value.where == "blank.ttf"
    path = tmp_path / "inked.ttf"
    path.write_bytes(font_bytes())
    fonts.load(path)  # the same font with outlines


@pytest.mark.parametrize(
    ("payload", "what"),
    [(GIF, "a GIF image"), (png_bytes(), "a PNG image"), (b"just text\n", "text"), (b"", "an empty file")],
    ids=["gif", "png", "text", "empty"],
)
def test_a_file_that_is_not_a_font_is_refused_saying_what_it_is(tmp_path: Path, payload: bytes, what: str) -> None:
    path = tmp_path / "x.ttf"
    path.write_bytes(payload)
    with pytest.raises(BundleError) as caught:
        fonts.load(path)
    assert str(caught.value) == f"x.ttf: is {what}, not a font (OpenType, TrueType or a collection)"


def test_a_font_fonttools_cannot_parse_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cut.ttf"
    path.write_bytes(font_bytes()[:200])  # the table directory promises tables the file does not hold
    with pytest.raises(BundleError, match="not a readable font") as caught:
        fonts.load(path)
    assert caught.value.where == "cut.ttf"
