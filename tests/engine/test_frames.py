"""Decoded base frames (frames.py) and rushed encodes: faster, and the same stream."""

from __future__ import annotations

import copy
import logging
import os
import shutil
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import pytest
from support.media import SMALL_MANIFEST, fingerprint, make_clip, write_bundle

from vidmerge.engine import argv, ffmpeg
from vidmerge.engine import frames as frames_module
from vidmerge.engine.argv import video_encoder_args
from vidmerge.engine.encode import encode_segment, warm_frames
from vidmerge.engine.frames import FrameCache, frame_bytes
from vidmerge.engine.loaded import LoadedVersion
from vidmerge.engine.pipeline import personalize
from vidmerge.engine.prepare import prepare
from vidmerge.plan import Prepared, SegmentPlan
from vidmerge.storage import LocalStorage
from vidmerge.template.bundle import load_bundle

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def prepared_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A veryfast template (rushing applies to it) prepared once: (bundle, objects)."""
    work = tmp_path_factory.mktemp("frames")
    manifest = copy.deepcopy(SMALL_MANIFEST)
    manifest["output"]["preset"] = "veryfast"
    bundle = write_bundle(work / "bundle", manifest, clip=make_clip(work / "clip.mp4"))
    prepare(load_bundle(bundle), LocalStorage(work / "objects"))
    return bundle, work / "objects"


def fresh_job(prepared_dir: tuple[Path, Path], tmp: Path, **changes: object) -> LoadedVersion:
    """A loaded over a copy of the prepared storage: nothing personal rendered in it yet."""
    bundle, objects = prepared_dir
    shutil.copytree(objects, tmp / "objects")
    template, storage = load_bundle(bundle), LocalStorage(tmp / "objects")
    return replace(LoadedVersion(template, prepare(template, storage), storage), **changes)  # type: ignore[arg-type]


def greeting(loaded: LoadedVersion) -> SegmentPlan:
    return personalize(loaded, {"name": "髙橋"}).plan.segments[1]


def rendered(loaded: LoadedVersion, seg: SegmentPlan) -> str:
    """Encode the segment; its fingerprint (byte-identical encodes have equal ones)."""
    assert encode_segment(loaded, seg)
    path = loaded.storage.local_path(seg.key)
    assert path is not None
    return fingerprint(path.read_bytes())


def test_segments_from_decoded_frames_are_byte_identical(prepared_dir: tuple[Path, Path], tmp_path: Path) -> None:
    plain = fresh_job(prepared_dir, tmp_path / "plain")
    cache = FrameCache(tmp_path / "frames")
    cached = fresh_job(prepared_dir, tmp_path / "cached", frames=cache)
    warm_frames(cached)
    p = cached.prepared
    raw = sorted((tmp_path / "frames" / p.key).glob("*.yuv"))
    # the slots touch segments 1 and 2 (2-4 s, 4.5-6 s); segment 0 is never re-encoded
    assert [f.name for f in raw] == ["00001.yuv", "00002.yuv"]
    assert all(f.stat().st_size == 60 * frame_bytes(p) for f in raw)
    for index in (1, 2):
        seg = personalize(plain, {"name": "髙橋", "amount": 98765}).plan.segments[index]
        assert rendered(cached, seg) == rendered(plain, seg), f"segment {index}"


def test_a_missing_frames_file_is_decoded_again(prepared_dir: tuple[Path, Path], tmp_path: Path) -> None:
    loaded = fresh_job(prepared_dir, tmp_path, frames=FrameCache(tmp_path / "frames"))
    seg = greeting(loaded)
    rendered(loaded, seg)
    raw = tmp_path / "frames" / loaded.prepared.key / "00001.yuv"
    assert raw.is_file()
    raw.write_bytes(b"short")  # damaged: the wrong size is never used
    loaded.storage.delete(seg.key)
    rendered(loaded, seg)
    assert raw.stat().st_size == 60 * frame_bytes(loaded.prepared)


def test_eviction_keeps_the_cache_under_its_limit_but_spares_files_in_use(tmp_path: Path) -> None:
    cache = FrameCache(tmp_path, max_bytes=150)
    old, recent = tmp_path / "k" / "00001.yuv", tmp_path / "k" / "00002.yuv"
    old.parent.mkdir()
    old.write_bytes(b"x" * 100)
    recent.write_bytes(b"x" * 100)
    long_ago = time.time() - 3600
    os.utime(old, (long_ago, long_ago))
    cache.evict()
    assert not old.exists() and recent.exists()
    cache.evict()  # over the limit still, but the one left was used a moment ago
    assert recent.exists()


def test_a_rushed_segment_is_a_different_encode_with_the_same_headers(
    prepared_dir: tuple[Path, Path], tmp_path: Path
) -> None:
    """encode_segment verifies SPS/PPS against the shared segment: passing it is the proof."""
    normal = fresh_job(prepared_dir, tmp_path / "normal")
    rushed = fresh_job(prepared_dir, tmp_path / "rushed", rush=True)
    seg = greeting(normal)
    assert rendered(rushed, seg) != rendered(normal, seg)


def test_a_rushed_encode_that_does_not_verify_is_encoded_in_full(
    prepared_dir: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # another CRF moves pic_init_qp in the PPS: such a segment would not splice
    monkeypatch.setattr(argv, "RUSH_X264", "subme=1:crf=40")
    normal = fresh_job(prepared_dir, tmp_path / "normal")
    rushed = fresh_job(prepared_dir, tmp_path / "rushed", rush=True)
    seg = greeting(normal)
    with caplog.at_level(logging.WARNING, logger="vidmerge.engine.encode"):
        assert rendered(rushed, seg) == rendered(normal, seg)
    assert "rushed encode did not verify (SPS/PPS differ from the mezzanine's: an encoder setting" in caplog.text


def test_a_broken_frame_cache_slows_a_render_down_but_never_fails_it(
    prepared_dir: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_bytes(b"")  # the cache cannot create anything below it (as with a full disk)
    plain = fresh_job(prepared_dir, tmp_path / "plain")
    broken = fresh_job(prepared_dir, tmp_path / "broken", frames=FrameCache(blocked))
    seg = greeting(plain)
    with caplog.at_level(logging.WARNING, logger="vidmerge.engine.encode"):
        warm_frames(broken)  # preparing (an upload) goes on too
        assert rendered(broken, seg) == rendered(plain, seg)
    assert "decoded frames unavailable" in caplog.text


def test_unknown_colour_tags_mean_decoding_in_the_encode(
    prepared_dir: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Raw pictures whose range or matrix cannot be restored are never used: they would shift levels."""
    monkeypatch.setattr(frames_module, "MATRICES", {})
    plain = fresh_job(prepared_dir, tmp_path / "plain")
    untagged = fresh_job(prepared_dir, tmp_path / "untagged", frames=FrameCache(tmp_path / "frames"))
    seg = greeting(plain)
    assert rendered(untagged, seg) == rendered(plain, seg)
    assert not list((tmp_path / "frames").rglob("*.yuv"))


def test_the_tags_are_probed_once_per_template_version(
    prepared_dir: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    probes: list[Path] = []
    probe = frames_module.source_tags
    monkeypatch.setattr(frames_module, "source_tags", lambda source: probes.append(source) or probe(source))
    loaded = fresh_job(prepared_dir, tmp_path, frames=FrameCache(tmp_path / "frames"))
    warm_frames(loaded)
    for index in (1, 2):
        rendered(loaded, personalize(loaded, {"name": "一度"}).plan.segments[index])
    assert len(probes) == 1


def test_the_tags_give_raw_pictures_the_shared_segments_sample_aspect_exactly(tmp_path: Path) -> None:
    """A rung with non-square pixels (prepared before rungs had square ones: a landscape clip's
    whose size is not exactly the clip's aspect) keeps them, and its personalized segments must
    have the very same: setsar reduces the ratio to terms up to 100 unless told otherwise, which
    made 351:352 into 1:1, and the SPS differed."""
    shared, again = tmp_path / "shared.ts", tmp_path / "again.ts"
    encode = ["-c:v", "libx264", "-preset", "ultrafast", "-an", "-f", "mpegts"]
    clip = make_clip(tmp_path / "clip.mp4", seconds=1)
    ffmpeg.run(["-i", str(clip), "-vf", f"setsar=351/352:max=352,{argv.BT709}", *encode, str(shared)])
    tags = frames_module.source_tags(shared)
    assert tags is not None
    ffmpeg.run(["-i", str(shared), "-vf", f"setsar=1,{tags}", *encode, str(again)])  # as the raw pictures come
    with av.open(str(again)) as container:
        assert container.streams.video[0].sample_aspect_ratio == Fraction(351, 352)


@pytest.mark.parametrize(
    ("preset", "rushed"), [("veryfast", True), ("faster", True), ("fast", False), ("ultrafast", False)]
)
def test_only_presets_whose_headers_survive_are_rushed(preset: str, rushed: bool) -> None:
    p = Prepared("k", 320, 180, 30, 1, 60, preset, 20, "128k", ())
    args = video_encoder_args(p, 1, rush=True)
    assert ("-x264-params" in args) is rushed
    assert "-x264-params" not in video_encoder_args(p, 1)


def test_the_frame_cache_keeps_its_free_space_reserve(prepared_dir: tuple[Path, Path], tmp_path: Path) -> None:
    """A cache that would leave less than its reserve free decodes in the encode instead."""
    plain = fresh_job(prepared_dir, tmp_path / "plain")
    reserve = shutil.disk_usage(tmp_path).free + (1 << 30)  # as if the disk were nearly full
    full = fresh_job(prepared_dir, tmp_path / "full", frames=FrameCache(tmp_path / "frames", min_free_bytes=reserve))
    seg = greeting(plain)
    assert rendered(full, seg) == rendered(plain, seg)
    assert not list((tmp_path / "frames").rglob("*.yuv"))
