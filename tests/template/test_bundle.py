"""Loading template bundles: a bad bundle is rejected at load with one clear message naming
the field, slot or file; zipped bundles cannot escape their folder."""

from __future__ import annotations

import copy
import stat
import zipfile
from pathlib import Path
from typing import Any

import pytest
from support.media import SMALL_MANIFEST, make_clip, png_bytes, write_bundle, zip_folder

from vidmerge.errors import BundleError, InvalidInput, MediaRejected
from vidmerge.template.archive import ArchiveLimits, extract_zip
from vidmerge.template.bundle import load_bundle


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "small.mp4")


def _manifest(**changes: Any) -> dict[str, Any]:
    raw = copy.deepcopy(SMALL_MANIFEST)
    raw.update(changes)
    return raw


def _with_slot(index: int = 0, **changes: Any) -> dict[str, Any]:
    raw = _manifest()
    raw["slots"][index].update(changes)
    return raw


def _rejected(root: Path, error: type[InvalidInput] = BundleError) -> InvalidInput:
    """Load must fail with exactly one problem; return the error."""
    with pytest.raises(error) as info:
        load_bundle(root)
    assert len(info.value.problems) == 1, info.value.problems
    return info.value


def test_good_bundle_loads(tmp_path: Path, clip: Path) -> None:
    t = load_bundle(write_bundle(tmp_path / "b", clip=clip))
    assert (t.id, t.version) == ("small", 1)
    assert (t.media.width, t.media.height, t.media.frames, t.media.has_audio) == (320, 180, 180, True)
    assert t.media.duration == pytest.approx(6.0, abs=0.04)
    assert set(t.expressions) == {"greeting", "amount"}
    assert t.fonts["greeting"].name.startswith("NotoSansJP")
    assert len(t.digest) == 32


def test_digest_follows_content(tmp_path: Path, clip: Path) -> None:
    a = load_bundle(write_bundle(tmp_path / "a", clip=clip))
    b = load_bundle(write_bundle(tmp_path / "b", clip=clip))
    c = load_bundle(write_bundle(tmp_path / "c", _with_slot(text="{{ name }}"), clip=clip))
    assert a.digest == b.digest != c.digest


def test_files_nothing_uses_leave_the_version_as_it_is(tmp_path: Path, clip: Path) -> None:
    """A folder zipped again with a sample CSV, a README or a Finder .DS_Store beside the template
    is the same version; a new asset or a changed clip is not."""
    plain = load_bundle(write_bundle(tmp_path / "a", clip=clip, files={"assets/icon.png": png_bytes()}))
    clutter = {".DS_Store": b"\0\0\0\1Bud1", "assets/.DS_Store": b"\0\0\0\1Bud1", "__MACOSX/._base.mp4": b"x",
               "samples.csv": "name\n田中\n".encode(), "README.txt": b"notes"}  # fmt: skip
    cluttered = load_bundle(write_bundle(tmp_path / "b", clip=clip, files={"assets/icon.png": png_bytes(), **clutter}))
    assert cluttered.digest == plain.digest
    grown = write_bundle(
        tmp_path / "c", clip=clip, files={"assets/icon.png": png_bytes(), "assets/new.png": png_bytes()}
    )
    assert load_bundle(grown).digest != plain.digest
    tariff = _manifest(title="料金表 rates.yaml を使う")  # a file the manifest names counts
    named = load_bundle(write_bundle(tmp_path / "d", tariff, clip=clip, files={"rates.yaml": b"a: 1"}))
    changed = load_bundle(write_bundle(tmp_path / "e", tariff, clip=clip, files={"rates.yaml": b"a: 2"}))
    assert named.digest != changed.digest


def test_missing_manifest(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    err = _rejected(tmp_path / "b")
    assert err.where == "template.yaml" and "missing" in err.message


def test_manifest_not_yaml(tmp_path: Path, clip: Path) -> None:
    root = write_bundle(tmp_path / "b", clip=clip)
    (root / "template.yaml").write_text("id: [unclosed\n", encoding="utf-8")
    err = _rejected(root)
    assert err.where == "template.yaml" and "YAML" in err.message


def test_yaml_aliases_are_refused_before_anything_expands(tmp_path: Path, clip: Path) -> None:
    root = write_bundle(tmp_path / "b", clip=clip)
    laughs = "".join(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n" for i in range(1, 10))
    (root / "template.yaml").write_text("l0: &l0 [lol]\n" + laughs, encoding="utf-8")  # 9**9 leaves
    err = _rejected(root)
    assert err.where == "template.yaml" and "aliases" in err.message


def test_yaml_nested_past_its_depth_is_refused_before_it_is_built(tmp_path: Path, clip: Path) -> None:
    root = write_bundle(tmp_path / "b", clip=clip)
    (root / "template.yaml").write_text("id: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    err = _rejected(root)
    assert err.where == "template.yaml" and "deeper" in err.message


def test_a_manifest_past_its_size_is_refused_unread(tmp_path: Path, clip: Path) -> None:
    root = write_bundle(tmp_path / "b", clip=clip)
    (root / "template.yaml").write_text("id: small\n" + "#" * (2 << 20), encoding="utf-8")
    err = _rejected(root)
    assert err.where == "template.yaml" and "larger than" in err.message


def test_missing_base_clip(tmp_path: Path) -> None:
    err = _rejected(write_bundle(tmp_path / "b"))
    assert err.where == "template.yaml: base"
    assert "'base.mp4' is missing" in err.message


def test_base_clip_outside_the_bundle(tmp_path: Path, clip: Path) -> None:
    err = _rejected(write_bundle(tmp_path / "b", _manifest(base="../small.mp4"), clip=clip))
    assert err.where == "template.yaml: base" and "inside the bundle" in err.message


def test_duplicate_slot_ids(tmp_path: Path, clip: Path) -> None:
    raw = _manifest()
    raw["slots"][1]["id"] = "greeting"
    err = _rejected(write_bundle(tmp_path / "b", raw, clip=clip))
    assert str(err) == "template.yaml: slots[greeting]: duplicate slot id"


def test_window_beyond_the_clip(tmp_path: Path, clip: Path) -> None:
    err = _rejected(write_bundle(tmp_path / "b", _with_slot(1, end=7.5), clip=clip))
    assert err.problems[0].where == "template.yaml: slots[amount].end"
    assert "beyond the base clip" in err.problems[0].reason and "6.000" in err.problems[0].reason


def test_window_ending_exactly_at_the_clip_end_is_fine(tmp_path: Path, clip: Path) -> None:
    load_bundle(write_bundle(tmp_path / "b", _with_slot(1, end=6.0), clip=clip))


def test_end_not_after_start(tmp_path: Path, clip: Path) -> None:
    err = _rejected(write_bundle(tmp_path / "b", _with_slot(start=3.0, end=3.0), clip=clip))
    assert err.problems[0].where == "template.yaml: slots[greeting].end"


def test_unknown_font(tmp_path: Path, clip: Path) -> None:
    raw = _manifest()
    raw["slots"][0]["style"]["font"] = "ComicSans"
    err = _rejected(write_bundle(tmp_path / "b", raw, clip=clip))
    assert err.problems[0].where == "template.yaml: slots[greeting].style.font"
    assert "unknown font 'ComicSans'" in err.problems[0].reason


def test_font_path_outside_the_bundle_is_unknown(tmp_path: Path, clip: Path) -> None:
    raw = _manifest()
    raw["slots"][0]["style"]["font"] = "../../assets/fonts/NotoSansJP-Bold.otf"
    err = _rejected(write_bundle(tmp_path / "b", raw, clip=clip))
    assert err.problems[0].where == "template.yaml: slots[greeting].style.font"


def test_a_font_file_that_is_not_a_font_is_rejected_at_load(tmp_path: Path, clip: Path) -> None:
    raw = _manifest()
    raw["slots"][0]["style"]["font"] = "assets/fonts/broken.ttf"
    root = write_bundle(tmp_path / "b", raw, clip=clip, files={"assets/fonts/broken.ttf": b"not a font" * 10})
    err = _rejected(root)
    assert err.problems[0].where == "template.yaml: slots[greeting].style.font"
    assert err.problems[0].reason == "assets/fonts/broken.ttf: is text, not a font (OpenType, TrueType or a collection)"


def test_shipped_font_by_name(tmp_path: Path, clip: Path) -> None:
    raw = _manifest()
    raw["slots"][0]["style"]["font"] = "NotoSansJP-Regular"
    t = load_bundle(write_bundle(tmp_path / "b", raw, clip=clip))
    assert t.fonts["greeting"].name == "NotoSansJP-Regular.otf"


def test_malformed_expression(tmp_path: Path, clip: Path) -> None:
    err = _rejected(write_bundle(tmp_path / "b", _with_slot(text="{{ name | }}"), clip=clip))
    assert err.problems[0].where == "template.yaml: slots[greeting].text"


def test_unclosed_expression(tmp_path: Path, clip: Path) -> None:
    err = _rejected(write_bundle(tmp_path / "b", _with_slot(1, value="{{ amount "), clip=clip))
    assert err.problems[0].where == "template.yaml: slots[amount].value"


def test_expression_using_an_undeclared_input(tmp_path: Path, clip: Path) -> None:
    err = _rejected(write_bundle(tmp_path / "b", _with_slot(text="{{ nmae }}様"), clip=clip))
    assert err.problems[0].where == "template.yaml: slots[greeting].text"
    assert "undeclared input(s) nmae" in err.problems[0].reason


def test_box_outside_the_frame(tmp_path: Path, clip: Path) -> None:
    err = _rejected(write_bundle(tmp_path / "b", _with_slot(box={"x": 100, "y": 0, "w": 300, "h": 50}), clip=clip))
    assert err.problems[0].where == "template.yaml: slots[greeting].box"
    assert "320x180" in err.problems[0].reason


def test_fades_longer_than_the_window(tmp_path: Path, clip: Path) -> None:
    raw = _manifest()
    raw["slots"][0]["style"].update(fade_in=1.5, fade_out=1.0)
    err = _rejected(write_bundle(tmp_path / "b", raw, clip=clip))
    assert err.problems[0].where == "template.yaml: slots[greeting].style"


def _image_slot(src: str) -> dict[str, Any]:
    raw = _manifest()
    raw["slots"].append(
        {"id": "icon", "kind": "image", "start": 0.0, "end": 1.0, "src": src,
         "box": {"x": 0, "y": 0, "w": 32, "h": 32}}
    )  # fmt: skip
    return raw


def test_image_slot_with_a_bundled_asset_loads(tmp_path: Path, clip: Path) -> None:
    files = {"assets/icon.png": png_bytes()}
    load_bundle(write_bundle(tmp_path / "b", _image_slot("icon.png"), clip=clip, files=files))


def test_image_slot_pointing_outside_assets(tmp_path: Path, clip: Path) -> None:
    """A constant `src` is known at load: `../x.png` must be refused there, not at render."""
    files = {"assets/icon.png": png_bytes(), "x.png": png_bytes()}
    err = _rejected(write_bundle(tmp_path / "b", _image_slot("../x.png"), clip=clip, files=files))
    assert err.problems[0].where == "template.yaml: slots[icon].src"
    assert "../x.png" in err.problems[0].reason


def test_image_slot_without_assets_folder(tmp_path: Path, clip: Path) -> None:
    err = _rejected(write_bundle(tmp_path / "b", _image_slot("icon.png"), clip=clip))
    assert err.problems[0].where == "assets/"


def test_asset_that_is_not_an_image(tmp_path: Path, clip: Path) -> None:
    files = {"assets/icon.png": b"#EXTM3U\n#EXTINF:1,\nhttp://127.0.0.1/x.png\n"}
    err = _rejected(write_bundle(tmp_path / "b", _image_slot("icon.png"), clip=clip, files=files))
    assert err.problems[0].where == "assets/icon.png"


HLS = b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"
CONCAT = b"ffconcat version 1.0\nfile '/etc/passwd'\n"


@pytest.mark.parametrize("payload", [HLS, CONCAT, b"not a video at all"], ids=["hls", "concat", "text"])
def test_playlist_disguised_as_base_clip_is_rejected_as_media(tmp_path: Path, payload: bytes) -> None:
    root = write_bundle(tmp_path / "b", files={"base.mp4": payload})
    err = _rejected(root, MediaRejected)
    assert err.where == "base.mp4"


def test_image_disguised_as_base_clip(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", files={"base.mp4": png_bytes()})
    err = _rejected(root, MediaRejected)
    assert err.where == "base.mp4" and "not an allowed video format" in err.message


# --- zipped bundles -------------------------------------------------------------------------


def _file(name: str) -> zipfile.ZipInfo:
    """A regular-file entry as `zip` (Info-ZIP) writes it: S_IFREG in the Unix mode bits."""
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _zip(dest: Path, entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    with zipfile.ZipFile(dest, "w") as zf:
        for info, data in entries:
            zf.writestr(_file(info) if isinstance(info, str) else info, data)
    return dest


def test_good_zip_loads(tmp_path: Path, clip: Path) -> None:
    archive = zip_folder(write_bundle(tmp_path / "src", clip=clip), tmp_path / "b.zip")
    root = extract_zip(archive, tmp_path / "out")
    assert root == tmp_path / "out"
    assert load_bundle(root).id == "small"


def test_zip_with_a_single_top_folder_loads(tmp_path: Path, clip: Path) -> None:
    src = write_bundle(tmp_path / "src", _image_slot("icon.png"), clip=clip, files={"assets/icon.png": png_bytes()})
    archive = zip_folder(src, tmp_path / "b.zip", prefix="electricity/")
    root = extract_zip(archive, tmp_path / "out")
    assert root == tmp_path / "out" / "electricity"
    assert load_bundle(root).id == "small"


@pytest.mark.parametrize(
    "name", ["/etc/evil.txt", "../evil.txt", "assets/../../evil.txt", "C:/evil.txt", "a\\..\\evil.txt"]
)
def test_zip_with_an_escaping_path_is_rejected(tmp_path: Path, name: str) -> None:
    archive = _zip(tmp_path / "b.zip", [("template.yaml", b"id: x\n"), (zipfile.ZipInfo(name), b"x")])
    with pytest.raises(BundleError, match="unsafe path") as info:
        extract_zip(archive, tmp_path / "out")
    assert name in info.value.where
    assert not (tmp_path / "evil.txt").exists()


def test_zip_with_a_symlink_is_rejected(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("assets/link.png")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = _zip(tmp_path / "b.zip", [("template.yaml", b"id: x\n"), (link, b"/etc/passwd")])
    with pytest.raises(BundleError, match="links") as info:
        extract_zip(archive, tmp_path / "out")
    assert info.value.where == "b.zip: assets/link.png"
    assert not (tmp_path / "out" / "assets" / "link.png").exists()


def test_zip_with_too_many_files_is_rejected(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "b.zip", [(f"f{i}.txt", b"x") for i in range(6)])
    with pytest.raises(BundleError, match="6 files; at most 5"):
        extract_zip(archive, tmp_path / "out", ArchiveLimits(max_files=5))
    assert not (tmp_path / "out").exists()


def test_zip_too_large_is_rejected(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "b.zip", [("template.yaml", b"id: x\n"), ("big.bin", b"\0" * 10_000)])
    assert archive.stat().st_size < 2_000  # a zip bomb in miniature: compresses well
    with pytest.raises(BundleError, match="uncompressed size exceeds 4096"):
        extract_zip(archive, tmp_path / "out", ArchiveLimits(max_bytes=4096))


def test_zip_written_by_python_writestr_loads(tmp_path: Path, clip: Path) -> None:
    """`ZipFile.writestr(name, data)` stores mode 0o600 without file-type bits (so do some other
    zip writers); that is a regular file, not a "special file"."""
    src = write_bundle(tmp_path / "src", clip=clip)
    archive = tmp_path / "b.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(p for p in src.rglob("*") if p.is_file()):
            zf.writestr(str(path.relative_to(src)), path.read_bytes())
    assert zipfile.ZipFile(archive).getinfo("base.mp4").external_attr >> 16 == 0o600
    assert load_bundle(extract_zip(archive, tmp_path / "out")).id == "small"


def test_not_a_zip(tmp_path: Path) -> None:
    (tmp_path / "b.zip").write_bytes(b"PK but not really")
    with pytest.raises(BundleError, match="not a zip"):
        extract_zip(tmp_path / "b.zip", tmp_path / "out")


def test_zip_without_a_manifest(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "b.zip", [("a/readme.txt", b"x"), ("b/readme.txt", b"y")])
    with pytest.raises(BundleError, match="no template.yaml"):
        extract_zip(archive, tmp_path / "out")


def test_a_local_header_name_that_does_not_decode_is_refused(tmp_path: Path) -> None:
    """Found by hypothesis: zipfile raised UnicodeDecodeError from inside extraction."""
    import zipfile as zf_module

    archive = tmp_path / "bad.zip"
    with zf_module.ZipFile(archive, "w") as zf:
        zf.writestr("a.txt", b"hello")
    data = bytearray(archive.read_bytes())
    local, central = data.index(b"PK\x03\x04"), data.index(b"PK\x01\x02")
    data[local + 7] |= 0x08  # general purpose flag bit 11: names are UTF-8 (local header)
    data[central + 9] |= 0x08  # and in the central directory
    assert data[local + 30 : local + 35] == b"a.txt"
    data[local + 30] = 0x98  # the local name is no longer UTF-8
    archive.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="damaged or unsupported entry"):
        extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_fixed_text_missing_from_the_font_is_refused_at_upload(tmp_path: Path, clip: Path) -> None:
    """「様、こんにちは」 is drawn for every customer: a glyph missing there fails the upload, not
    every render."""
    raw = _manifest()
    raw["slots"][0]["text"] = "{{ name }}さん😀"
    with pytest.raises(BundleError) as info:
        load_bundle(write_bundle(tmp_path / "b", raw, clip=clip))
    (problem,) = info.value.problems
    assert problem.where == "template.yaml: slots[greeting].text" and "U+1F600" in problem.reason
    raw["slots"][0]["text"] = "{{ name | by_value(positive='😀', zero='ゼロ') }}"  # a constant the text may show
    with pytest.raises(BundleError, match="U\\+1F600"):
        load_bundle(write_bundle(tmp_path / "c", raw, clip=clip))


def test_a_mapping_to_an_input_that_does_not_exist_is_named(tmp_path: Path, clip: Path) -> None:
    raw = _manifest(mappings={"hubspot": {"firstname": "first_name"}})
    err = _rejected(write_bundle(tmp_path / "b", raw, clip=clip))
    assert err.problems[0].where == "template.yaml: mappings.hubspot.firstname"


@pytest.mark.parametrize("logo", ["top.png", "assets/missing.png", "assets/../base.mp4", "../top.png", "/logo.png"])
def test_the_pages_logo_is_an_image_under_assets(tmp_path: Path, clip: Path, logo: str) -> None:
    files = {"top.png": png_bytes(), "assets/logo.png": png_bytes()}
    root = write_bundle(tmp_path / "b", _manifest(page={"logo": logo}), clip=clip, files=files)
    assert _rejected(root).problems[0].where.endswith("page.logo")


@pytest.mark.parametrize("logo", ["logo.png", "assets/logo.png"])
def test_the_pages_logo_is_relative_to_assets_like_an_image_slots_src(tmp_path: Path, clip: Path, logo: str) -> None:
    """`logo.png` as an image slot's `src` says it; `assets/logo.png`, as templates wrote it before, too."""
    files = {"assets/logo.png": png_bytes()}
    good = write_bundle(tmp_path / "g", _manifest(page={"logo": logo}), clip=clip, files=files)
    assert load_bundle(good).manifest.page.logo_asset == "logo.png"


def test_a_csv_mapping_may_name_external_id_and_no_other_tools_may(tmp_path: Path, clip: Path) -> None:
    """The README: a CSV's contact id column may map to external_id in `mappings: {csv: …}`."""
    raw = _manifest(mappings={"csv": {"顧客ID": "external_id"}})
    loaded = load_bundle(write_bundle(tmp_path / "b", raw, clip=clip))
    assert loaded.manifest.mappings["csv"] == {"顧客ID": "external_id"}
    err = _rejected(write_bundle(tmp_path / "c", _manifest(mappings={"hubspot": {"id": "external_id"}}), clip=clip))
    assert err.problems[0].where == "template.yaml: mappings.hubspot.id"
