"""Build the CJK font subsets shipped in src/vidmerge/assets/fonts/ (reproducible; run from the repo root).

    apt-get install fonts-noto-cjk            # the source: Debian's Noto Sans CJK (OFL-1.1)
    .venv/bin/pip install fonttools           # build-time only: never a runtime dependency
    .venv/bin/python scripts/subset_font.py   # writes src/vidmerge/assets/fonts/NotoSansJP-{Regular,Bold}.otf

Coverage is derived from Python's codecs rather than a hand-typed list, so it is exact and
reviewable: every codepoint that 'shift_jis' (JIS X 0208), 'cp932' (Windows: NEC/IBM
extensions such as 髙 and 﨑) or 'euc_jis_2004' (JIS X 0213: 𡈽, 彅, 塚, 𠮟…) can encode, plus
𠮷 (U+20BB7, in no Japanese codec, common in surnames) and whole Unicode blocks for ASCII,
Latin-1, punctuation, kana and full/half-width forms. Codepoints the source font lacks (most
of JIS X 0213's Latin and IPA letters) are simply not in the subset.
Hinting and layout features are dropped (Pillow draws with the basic layout engine); pass
``--features vert,palt`` to keep vertical forms and proportional kana metrics.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection, TTFont

SOURCE_DIR = Path("/usr/share/fonts/opentype/noto")
JP_INDEX = 0  # face 0 of NotoSansCJK-*.ttc is "Noto Sans CJK JP"
WEIGHTS = ("Regular", "Bold")
OUT_DIR = Path(__file__).resolve().parents[1] / "src" / "vidmerge" / "assets" / "fonts"

BLOCKS = [
    (0x0020, 0x007E),  # ASCII
    (0x00A0, 0x00FF),  # Latin-1 supplement
    (0x2000, 0x206F),  # general punctuation
    (0x2100, 0x214F),  # letterlike symbols (№, ℡, ™)
    (0x2190, 0x21FF),  # arrows
    (0x2460, 0x24FF),  # enclosed alphanumerics (①)
    (0x25A0, 0x25FF),  # geometric shapes (■ ◆ ○)
    (0x3000, 0x303F),  # CJK symbols and punctuation
    (0x3040, 0x309F),  # hiragana
    (0x30A0, 0x30FF),  # katakana
    (0x31F0, 0x31FF),  # katakana phonetic extensions
    (0x3200, 0x32FF),  # enclosed CJK (㈱)
    (0x3300, 0x33FF),  # CJK compatibility (㍉ ㌔)
    (0xFF00, 0xFFEF),  # half-width and full-width forms
    # Variation selectors: requesting them keeps the cmap format 14 table (Adobe-Japan1 IVS,
    # 辻 + U+E0100 is the two-dot 辻) with the variant glyphs of every base kept here.
    (0xFE00, 0xFE0F),
    (0xE0100, 0xE01EF),
]
CODECS = ("shift_jis", "cp932", "euc_jis_2004")
# Name characters in common use that no Japanese codec encodes (they live in Adobe-Japan1 only).
# 髙 and 﨑 come from cp932 and 塚/德/彅/𡈽 from JIS X 0213, but 𠮷 is in neither.
EXTRAS = "𠮷"
# JIS X 0208 has ≒ (1-02-82), but Noto Sans CJK ships its glyph unencoded on purpose (upstream
# noto-cjk issues #24 and #194: too large beside U+2250..2253 for Chinese use). Japanese text
# uses it for "approximately", so the subset maps it back. CIDs are the same in every weight.
UNENCODED = {0x2252: "cid00858"}


def encodable(codec: str) -> set[int]:
    """Every codepoint the codec can encode: the character set, derived rather than typed."""
    found = set()
    for cp in range(0x80, 0x30000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        try:
            chr(cp).encode(codec)
        except UnicodeEncodeError:
            continue
        found.add(cp)
    return found


def wanted_codepoints() -> set[int]:
    cps: set[int] = set()
    for lo, hi in BLOCKS:
        cps.update(range(lo, hi + 1))
    for codec in CODECS:
        cps |= encodable(codec)
    cps.update(ord(ch) for ch in EXTRAS)
    return cps


def remap_unencoded(font: TTFont) -> None:
    encoded = set(font.getBestCmap().values())
    for codepoint, glyph in UNENCODED.items():
        assert glyph in font.getGlyphSet() and glyph not in encoded, glyph
        for table in font["cmap"].tables:
            if table.isUnicode() and table.format in (4, 12):
                table.cmap[codepoint] = glyph


def subset_face(source: Path, out: Path, unicodes: set[int], features: list[str]) -> None:
    font: TTFont = TTCollection(source).fonts[JP_INDEX]
    remap_unencoded(font)
    options = subset.Options()
    options.layout_features = features
    options.hinting = False
    options.desubroutinize = False
    options.drop_tables += ["BASE", "VORG", "vhea", "vmtx", "DSIG"]
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13, 14]  # keep copyright and licence fields
    options.notdef_outline = True
    options.recalc_bounds = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=unicodes)
    subsetter.subset(font)
    font.save(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source-dir", type=Path, default=SOURCE_DIR)
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    parser.add_argument("--weights", default=",".join(WEIGHTS))
    parser.add_argument("--features", default="", help="OpenType features to keep, e.g. vert,palt")
    args = parser.parse_args(argv)
    unicodes = wanted_codepoints()
    features = [f for f in args.features.split(",") if f]
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for weight in args.weights.split(","):
        source = args.source_dir / f"NotoSansCJK-{weight}.ttc"
        out = args.out_dir / f"NotoSansJP-{weight}.otf"
        subset_face(source, out, unicodes, features)
        print(f"{out}: {out.stat().st_size / 1e6:.2f} MB from {source.name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
