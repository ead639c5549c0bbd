"""Hostile uploads: disguised playlists, media and image limits, archives, and ffmpeg itself.

Every test here fails without the defence it names (see the README's Security section)."""

from __future__ import annotations

import copy
import http.client
import io
import json
import os
import socket
import stat
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from support.fonts import every_code_point_font, font_bytes
from support.media import SMALL_MANIFEST, make_clip, png_bytes, write_bundle
from support.server import Api

from vidmerge.config import Settings
from vidmerge.engine import ffmpeg
from vidmerge.errors import BundleError, FFmpegError, MediaRejected
from vidmerge.service.http.auth import MULTIPART_SLACK
from vidmerge.service.runtime import open_runtime
from vidmerge.template import files, fonts
from vidmerge.template.archive import ArchiveLimits, extract_zip
from vidmerge.template.bundle import load_bundle
from vidmerge.template.media import MAX_IMAGE_PIXELS, probe_image, probe_video

HLS = b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"
CONCAT = b"ffconcat version 1.0\nfile '/etc/passwd'\n"
DASH = (
    b'<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
    b'mediaPresentationDuration="PT1S"><Period><AdaptationSet><Representation id="1" bandwidth="1">'
    b"<BaseURL>file:///etc/passwd</BaseURL></Representation></AdaptationSet></Period></MPD>\n"
)
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><image href="file:///etc/passwd"/></svg>'


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "small.mp4")


def _image_bundle(tmp: Path, clip: Path, files: dict[str, bytes]) -> Path:
    raw: dict[str, Any] = copy.deepcopy(SMALL_MANIFEST)
    raw["slots"].append(
        {"id": "icon", "kind": "image", "start": 0.0, "end": 1.0, "src": "icon.png",
         "box": {"x": 0, "y": 0, "w": 32, "h": 32}}
    )  # fmt: skip
    return write_bundle(tmp, raw, clip=clip, files={"assets/icon.png": png_bytes(), **files})


def _image(fmt: str, size: tuple[int, int] = (32, 32), mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size).save(buf, format=fmt)
    return buf.getvalue()


# --- disguised playlists -------------------------------------------------------------------


@pytest.mark.parametrize("payload", [HLS, CONCAT, DASH], ids=["hls", "ffconcat", "dash"])
def test_a_playlist_disguised_as_the_base_clip_is_rejected(tmp_path: Path, payload: bytes) -> None:
    with pytest.raises(MediaRejected) as info:
        load_bundle(write_bundle(tmp_path / "b", files={"base.mp4": payload}))
    assert info.value.where == "base.mp4"


@pytest.mark.parametrize("payload", [HLS, CONCAT, DASH], ids=["hls", "ffconcat", "dash"])
def test_a_playlist_disguised_as_an_image_asset_is_rejected(tmp_path: Path, clip: Path, payload: bytes) -> None:
    with pytest.raises(BundleError) as info:
        load_bundle(_image_bundle(tmp_path / "b", clip, {"assets/evil.png": payload}))
    assert [p.where for p in info.value.problems] == ["assets/evil.png"]


# --- image assets --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("gif.png", _image("GIF")),
        ("bmp.png", _image("BMP")),
        ("tiff.png", _image("TIFF")),
        ("svg.png", SVG),
        ("icon.gif", _image("GIF")),  # any suffix: an image slot's src may name any asset
        ("notes.txt", _image("GIF")),
    ],
)
def test_image_formats_outside_the_allow_list_are_rejected(
    tmp_path: Path, clip: Path, name: str, payload: bytes
) -> None:
    with pytest.raises(BundleError) as info:
        load_bundle(_image_bundle(tmp_path / "b", clip, {f"assets/{name}": payload}))
    assert [p.where for p in info.value.problems] == [f"assets/{name}"]


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_allowed_image_formats_load(tmp_path: Path, clip: Path, fmt: str) -> None:
    load_bundle(_image_bundle(tmp_path / "b", clip, {f"assets/other.{fmt.lower()}": _image(fmt)}))


def test_an_image_over_the_pixel_limit_is_rejected_before_decoding(tmp_path: Path, clip: Path) -> None:
    big = _image("PNG", (5000, 4000), mode="1")  # 20 Mpx of zeros: a few kB on disk
    assert len(big) < 100_000 and MAX_IMAGE_PIXELS < 5000 * 4000
    with pytest.raises(BundleError, match="pixels") as info:
        load_bundle(_image_bundle(tmp_path / "b", clip, {"assets/big.png": big}))
    assert [p.where for p in info.value.problems] == ["assets/big.png"]


def test_a_decompression_bomb_is_refused_and_pillow_is_guarded(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_image("PNG", (20000, 20000), mode="1"))  # 400 Mpx
    with pytest.raises(MediaRejected) as info:
        probe_image(bomb)
    assert info.value.where == "bomb.png"
    assert Image.MAX_IMAGE_PIXELS == MAX_IMAGE_PIXELS  # later Image.open calls are guarded too
    with pytest.raises(Image.DecompressionBombError):
        Image.open(bomb)


def test_a_truncated_png_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "cut.png"
    path.write_bytes(png_bytes(size=64)[:-30])
    with pytest.raises(MediaRejected):
        probe_image(path)


# --- every file by its content (issue 25, item 7) -------------------------------------------


@pytest.mark.parametrize(
    ("name", "payload", "reason"),
    [
        ("x.ttf", _image("GIF"), "is a GIF image, not a font (OpenType, TrueType or a collection)"),
        ("fonts/x.otf", b"<svg/>", "is an SVG image, not a font (OpenType, TrueType or a collection)"),
        ("photo.png", _image("JPEG"), "is a JPEG image, not a PNG image"),
        ("photo.jpg", _image("PNG"), "is a PNG image, not a JPEG image"),
        ("photo.webp", _image("GIF"), "is a GIF image, not a WebP image"),
        ("icon.gif", _image("GIF"), "is a GIF image, not a PNG, JPEG or WebP image"),
        ("blank.ttf", font_bytes(ink=False), "its cmap claims characters it has no outline for"),
        ("every.ttf", every_code_point_font(), "cmap claims more than 264 characters for a font of 2 glyphs"),
    ],
    ids=["gif-as-ttf", "svg-as-otf", "jpeg-as-png", "png-as-jpg", "gif-as-webp", "gif", "blank-font", "every-cp"],
)
def test_a_bundle_file_is_refused_when_its_content_is_not_what_its_name_says(
    tmp_path: Path, clip: Path, name: str, payload: bytes, reason: str
) -> None:
    """Not used by any slot, it is checked all the same: an image slot's src, or a later version's
    style.font, may name it."""
    with pytest.raises(BundleError) as info:
        load_bundle(_image_bundle(tmp_path / "b", clip, {f"assets/{name}": payload}))
    [problem] = info.value.problems
    assert problem.where == f"assets/{name}" and reason in problem.reason


def test_a_slot_font_that_is_not_a_font_is_refused_once_at_the_slot_naming_the_file(tmp_path: Path, clip: Path) -> None:
    raw: dict[str, Any] = copy.deepcopy(SMALL_MANIFEST)
    raw["slots"][0]["style"]["font"] = "assets/x.ttf"
    with pytest.raises(BundleError) as info:
        load_bundle(write_bundle(tmp_path / "b", raw, clip=clip, files={"assets/x.ttf": _image("GIF")}))
    assert [(p.where, p.reason) for p in info.value.problems] == [
        ("template.yaml: slots[greeting].style.font", "assets/x.ttf: is a GIF image, not a font (OpenType, "
         "TrueType or a collection)")
    ]  # fmt: skip


def test_a_sane_bundle_font_and_images_named_for_their_format_load(tmp_path: Path, clip: Path) -> None:
    raw: dict[str, Any] = copy.deepcopy(SMALL_MANIFEST)
    raw["slots"][1]["style"]["font"] = "assets/brand.ttf"  # the number slot: digits and 円
    files = {
        "assets/brand.ttf": font_bytes("0123456789,円"),
        "assets/a.jpeg": _image("JPEG"),
        "assets/b.webp": _image("WEBP"),
    }
    load_bundle(write_bundle(tmp_path / "b", raw, clip=clip, files=files))


def test_a_text_file_the_template_uses_must_be_utf8(tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    path.write_bytes("氏名,金額\n".encode("cp932"))
    with pytest.raises(BundleError) as info:
        files.check(path, asset=False)
    assert str(info.value) == "table.csv: has a byte at 0 that is not UTF-8, not UTF-8 text; save it as UTF-8"
    path.write_bytes(_image("GIF"))
    with pytest.raises(BundleError, match="is a GIF image, not UTF-8 text"):
        files.check(path, asset=False)
    path.write_text("氏名,金額\n", encoding="utf-8")
    files.check(path, asset=False)


@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "dotdot"])
def test_style_font_outside_the_bundle_is_refused_naming_the_slot(tmp_path: Path, clip: Path, relative: bool) -> None:
    """A shipped key was joined onto the shipped folder: `/any/where/x` found `/any/where/x.ttf`."""
    (tmp_path / "outside.ttf").write_bytes(font_bytes("お客様こんにちは"))
    outside = str(tmp_path / "outside")
    raw: dict[str, Any] = copy.deepcopy(SMALL_MANIFEST)
    raw["slots"][0]["style"]["font"] = os.path.relpath(outside, fonts.SHIPPED_DIR) if relative else outside
    with pytest.raises(BundleError) as info:
        load_bundle(write_bundle(tmp_path / "b", raw, clip=clip))
    [problem] = info.value.problems
    assert problem.where == "template.yaml: slots[greeting].style.font"
    assert problem.reason.endswith("must be a shipped font name or a path inside the bundle")


# --- video limits --------------------------------------------------------------------------


def test_video_duration_resolution_and_frame_rate_limits(tmp_path: Path, clip: Path) -> None:
    probe_video(clip)  # 6 s, 320x180, 30 fps: fine
    with pytest.raises(MediaRejected, match="duration") as info:
        probe_video(clip, max_seconds=5)
    assert info.value.where == clip.name
    with pytest.raises(MediaRejected, match="resolution"):
        probe_video(clip, max_pixels=320 * 180 - 1)
    fast = make_clip(tmp_path / "fast.mp4", seconds=1, fps=90)
    with pytest.raises(MediaRejected, match="frame rate"):
        probe_video(fast)


# --- archives ------------------------------------------------------------------------------


def _entry(name: str, mode: int = stat.S_IFREG | 0o644) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = mode << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _zip(dest: Path, entries: list[tuple[zipfile.ZipInfo, bytes]]) -> Path:
    with zipfile.ZipFile(dest, "w") as zf:
        for info, data in entries:
            zf.writestr(info, data)
    return dest


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize(
    ("args", "codec"),
    [
        (["-c:v", "ffv1", "-an"], "ffv1"),  # lossless: a decoder a phone never feeds us
        (["-c:v", "libx264", "-c:a", "pcm_u8"], "pcm_u8"),
        (["-map", "0:v", "-map", "0:v", "-map", "1:a", "-c:v:0", "libx264", "-c:v:1", "ffv1", "-c:a", "aac"], "ffv1"),
    ],
)
def test_base_clips_outside_the_codec_allow_list_are_rejected(tmp_path: Path, args: list[str], codec: str) -> None:
    clip = tmp_path / "odd.mkv"
    ffmpeg.run(["-f", "lavfi", "-i", "testsrc=s=64x64:d=1:r=10", "-f", "lavfi", "-i", "sine=d=1",
                "-shortest", *args, str(clip)], what="odd clip")  # fmt: skip
    with pytest.raises(MediaRejected, match=codec) as info:
        probe_video(clip)
    assert info.value.where == "odd.mkv"


def test_a_base_clip_whose_resolution_changes_midway_is_rejected(tmp_path: Path) -> None:
    """Two streams of different sizes joined with `-c copy`: ffmpeg would rescale the second part
    silently and every slot box would move on it."""
    parts = []
    for size in ("64x48", "128x96"):
        part = tmp_path / f"{size}.ts"
        ffmpeg.run(["-f", "lavfi", "-i", f"testsrc=s={size}:d=1:r=10", "-c:v", "libx264", "-f", "mpegts", str(part)])
        parts.append(part.read_bytes())
    joined = tmp_path / "joined.ts"
    joined.write_bytes(b"".join(parts))
    clip = tmp_path / "joined.mkv"
    ffmpeg.run(["-i", str(joined), "-c", "copy", str(clip)])
    with pytest.raises(MediaRejected, match="resolution changes from 64x48 to 128x96") as info:
        probe_video(clip)
    assert info.value.where == "joined.mkv"


@pytest.mark.parametrize(
    ("name", "mode", "reason"),
    [
        ("/tmp/evil.txt", stat.S_IFREG | 0o644, "unsafe path"),
        ("../evil.txt", stat.S_IFREG | 0o644, "unsafe path"),
        ("assets/../../evil.txt", stat.S_IFREG | 0o644, "unsafe path"),
        ("assets/link.png", stat.S_IFLNK | 0o777, "links"),
        ("assets/fifo", stat.S_IFIFO | 0o644, "special files"),
        ("assets/tty", stat.S_IFCHR | 0o644, "special files"),
        ("assets/disk", stat.S_IFBLK | 0o644, "special files"),
        ("assets/sock", stat.S_IFSOCK | 0o644, "special files"),
    ],
    ids=["absolute", "dotdot", "nested-dotdot", "symlink", "fifo", "char-device", "block-device", "socket"],
)
def test_hostile_archive_entries_are_rejected_and_nothing_is_written(
    tmp_path: Path, name: str, mode: int, reason: str
) -> None:
    archive = _zip(tmp_path / "b.zip", [(_entry("template.yaml"), b"id: x\n"), (_entry(name, mode), b"/etc/passwd")])
    before = _tree(tmp_path)
    with pytest.raises(BundleError, match=reason) as info:
        extract_zip(archive, tmp_path / "out")
    assert name in info.value.where
    assert _tree(tmp_path) == before  # nothing inside, nothing outside
    assert not Path("/tmp/evil.txt").exists()


def test_too_many_files_and_too_many_bytes(tmp_path: Path) -> None:
    many = _zip(tmp_path / "many.zip", [(_entry(f"f{i}"), b"x") for i in range(11)])
    with pytest.raises(BundleError, match="11 files"):
        extract_zip(many, tmp_path / "out", ArchiveLimits(max_files=10))
    bomb = _zip(tmp_path / "bomb.zip", [(_entry("template.yaml"), b"id: x\n"), (_entry("pad.bin"), b"\0" * 5_000_000)])
    assert bomb.stat().st_size < 10_000  # 5 MB of zeros in a few kB
    with pytest.raises(BundleError, match="uncompressed size"):
        extract_zip(bomb, tmp_path / "out", ArchiveLimits(max_bytes=1_000_000))
    assert not (tmp_path / "out").exists()


def _patch_sizes(archive: Path, name: str, declared: int) -> None:
    """Make the headers of `name` lie about its uncompressed size (a zip bomb's trick)."""
    data = bytearray(archive.read_bytes())
    info = zipfile.ZipFile(archive).getinfo(name)
    real = info.file_size.to_bytes(4, "little")
    fake = declared.to_bytes(4, "little")
    for offset in (info.header_offset + 22, data.rfind(b"PK\x01\x02") + 24):  # local and central headers
        assert data[offset : offset + 4] == real
        data[offset : offset + 4] = fake
    archive.write_bytes(bytes(data))


def test_an_entry_lying_about_its_size_is_rejected_and_cleaned_up(tmp_path: Path) -> None:
    archive = _zip(
        tmp_path / "lie.zip", [(_entry("template.yaml"), b"id: x\n"), (_entry("pad.bin"), b"\0" * 3_000_000)]
    )
    _patch_sizes(archive, "pad.bin", 100)  # declares 100 bytes, inflates to 3 MB
    with pytest.raises(BundleError) as info:
        extract_zip(archive, tmp_path / "out", ArchiveLimits(max_bytes=1_000_000))
    assert "pad.bin" in info.value.where
    assert not (tmp_path / "out").exists()  # the half-extracted bundle is gone


def test_a_damaged_entry_is_a_bundle_error_not_a_crash(tmp_path: Path) -> None:
    """A bad CRC used to escape as zipfile.BadZipFile (a 500 on upload)."""
    archive = _zip(tmp_path / "crc.zip", [(_entry("template.yaml"), b"id: x\n" * 100)])
    data = bytearray(archive.read_bytes())
    payload_at = data.find(b"PK\x03\x04") + 30 + len("template.yaml")
    data[payload_at + 5] ^= 0xFF
    archive.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="damaged or unsupported entry"):
        extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_file_and_a_folder_of_the_same_name_is_a_bundle_error(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "clash.zip", [(_entry("assets"), b"x"), (_entry("assets/a.png"), b"y")])
    with pytest.raises(BundleError, match="damaged or unsupported"):
        extract_zip(archive, tmp_path / "out")


def test_an_existing_destination_is_not_removed_on_failure(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep").write_text("mine")
    archive = _zip(tmp_path / "b.zip", [(_entry("../evil"), b"x")])
    with pytest.raises(BundleError):
        extract_zip(archive, tmp_path / "out")
    assert (tmp_path / "out" / "keep").read_text() == "mine"


# --- ffmpeg --------------------------------------------------------------------------------


def test_every_input_gets_the_format_and_protocol_allow_lists() -> None:
    argv = ffmpeg.command(["-f", "lavfi", "-i", "x", "-i", "y.mp4", "out.mp4"], formats="mp4,lavfi")
    inputs = [i for i, arg in enumerate(argv) if arg == "-i"]
    assert len(inputs) == 2
    for i in inputs:  # a per-input option: given once, it would guard only the first input
        assert argv[i - 4 : i] == ["-format_whitelist", "mp4,lavfi", "-protocol_whitelist", "file,pipe"]


def _hls_playlist(tmp: Path) -> Path:
    ffmpeg.run(["-f", "lavfi", "-i", "testsrc=d=1:s=64x64:r=10", "-c:v", "libx264", "-f", "mpegts", str(tmp / "s.ts")])
    playlist = tmp / "list.m3u8"
    playlist.write_text("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\ns.ts\n#EXT-X-ENDLIST\n")
    return playlist


@pytest.mark.parametrize("position", ["first", "second"])
def test_ffmpeg_refuses_an_hls_playlist_in_any_input(tmp_path: Path, position: str) -> None:
    playlist = _hls_playlist(tmp_path)
    other = ["-f", "lavfi", "-i", "testsrc=d=1:s=64x64"]
    inputs = ["-i", str(playlist), *other] if position == "first" else [*other, "-i", str(playlist)]
    args = [*inputs, "-map", "0" if position == "first" else "1", "-f", "null", "-"]
    ffmpeg.run(args, formats=ffmpeg.INTERNAL_FORMATS + ",hls")  # control: the playlist itself is valid
    with pytest.raises(FFmpegError, match="whitelist"):
        ffmpeg.run(args)


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.parametrize("nice", [0, 10])
def test_a_timeout_kills_ffmpeg_and_its_process_group(tmp_path: Path, nice: int) -> None:
    """Also when ffmpeg runs under `nice` (segments due later): nice execs it in place."""
    marker = f"timeout-{uuid.uuid4().hex}"
    out = tmp_path / f"{marker}.mp4"
    began = time.monotonic()
    with pytest.raises(FFmpegError, match="timed out"):
        ffmpeg.run(
            ["-re", "-f", "lavfi", "-i", "testsrc=d=600", "-c:v", "libx264", str(out)],
            limits=ffmpeg.Limits(timeout=1.0, nice=nice),
        )
    assert time.monotonic() - began < 10
    assert _processes_with(marker) == []


def test_threads_are_capped_and_passed_through(tmp_path: Path) -> None:
    argv = ffmpeg.command(["-i", "a.mp4", "out.mp4"], threads=2)
    assert argv[argv.index("-filter_threads") + 1] == "2"
    assert argv[argv.index("-i") - 2 : argv.index("-i")] == ["-threads", "2"]
    assert "-threads" not in ffmpeg.command(["-i", "a.mp4", "out.mp4"])  # 0: ffmpeg's default
    assert ffmpeg.command(["-i", "a.mp4", "out.mp4"], nice=10)[:4] == ["nice", "-n", "10", ffmpeg.binary()]
    ffmpeg.run(  # ffmpeg accepts the options
        ["-f", "lavfi", "-i", "testsrc=d=0.5:s=64x64", "-c:v", "libx264", "-threads", "1", str(tmp_path / "t.mp4")],
        limits=ffmpeg.Limits(threads=1),
    )
    settings = Settings(data_dir=tmp_path / "data", ffmpeg_threads=3, ffmpeg_timeout=42)
    assert open_runtime(settings).limits == ffmpeg.Limits(timeout=42, threads=3, nice=ffmpeg.ENCODER_NICE)


def test_no_ffmpeg_is_left_behind_after_an_error(tmp_path: Path) -> None:
    marker = f"err-{uuid.uuid4().hex}"
    with pytest.raises(FFmpegError):
        ffmpeg.run(["-i", str(tmp_path / f"{marker}-missing.mp4"), "-f", "null", "-"])
    assert _processes_with(marker) == []


# --- a chunked upload is bounded while it streams (issue 25, item 11) ----------------------------

UPLOAD_LIMIT = 2_000_000


@pytest.fixture(scope="module")
def small_limit_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    server = Api(tmp_path_factory.mktemp("limit"), env={"VIDMERGE_MAX_BUNDLE_BYTES": str(UPLOAD_LIMIT)})
    server.start()
    yield server
    server.stop()


def test_a_chunked_upload_is_refused_413_while_it_streams_not_after_spooling(small_limit_api: Api) -> None:
    """No Content-Length: the guard had nothing to check, and FastAPI spooled the whole body (299 MB
    in the issue) before the endpoint refused it (422). Now the body is counted as it arrives: a
    body just past the limit, never finished, is answered 413 (before, the server waited for its
    end; the socket's timeout only bounds that failure)."""
    boundary = "vidmerge-test-boundary"
    preamble = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="b.zip"\r\n'
                "Content-Type: application/zip\r\n\r\n").encode()  # fmt: skip
    over = UPLOAD_LIMIT + MULTIPART_SLACK + 1  # body bytes: the first one past what the guard allows
    url = httpx.URL(small_limit_api.url)
    with socket.create_connection((url.host, url.port or 80), timeout=30) as sock:
        head = (f"POST /v1/templates HTTP/1.1\r\nHost: {url.host}\r\nTransfer-Encoding: chunked\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n")  # fmt: skip
        sock.sendall(head.encode() + _chunk(preamble))
        for at in range(len(preamble), over, 1 << 16):
            sock.sendall(_chunk(b"\0" * min(1 << 16, over - at)))
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        problem = json.loads(answer.read())
    assert answer.status == 413, problem
    assert problem["problems"] == [{"where": "file", "reason": f"upload exceeds the limit of {UPLOAD_LIMIT} bytes"}]


def _chunk(data: bytes) -> bytes:
    """One chunk of a body sent with Transfer-Encoding: chunked."""
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"
