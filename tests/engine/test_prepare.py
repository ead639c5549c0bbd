"""The ladder's rungs and the prepared key, exactly: pure parts of engine/prepare.py (the encodes
are in test_engine.py)."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from support.media import make_clip, write_bundle

from vidmerge.engine.prepare import ladder_sizes, prepared_key
from vidmerge.template.bundle import Template, load_bundle


@pytest.mark.parametrize(
    ("size", "ladder", "rungs"),
    [
        ((1280, 720), None, [(416, 234), (640, 360), (960, 540)]),  # 16:9: by the height, as always
        ((720, 1280), None, [(234, 416), (360, 640), (540, 960)]),  # 9:16: by the width
        ((1080, 1920), None, [(234, 416), (360, 640), (540, 960), (720, 1280)]),
        ((1080, 1350), None, [(234, 292), (360, 450), (540, 676), (720, 900)]),  # 4:5: the long side rounded to even
        ((1080, 1080), None, [(234, 234), (360, 360), (540, 540), (720, 720)]),
        ((360, 640), (180, 234, 360, 540), [(180, 320), (234, 416)]),  # only below the short side
        ((1280, 720), (), []),
    ],
)
def test_a_rung_is_the_short_side_and_the_long_side_follows_the_aspect(
    size: tuple[int, int], ladder: tuple[int, ...] | None, rungs: list[tuple[int, int]]
) -> None:
    assert list(ladder_sizes(*size, ladder)) == rungs


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    work = tmp_path_factory.mktemp("key")
    return load_bundle(write_bundle(work / "bundle", clip=make_clip(work / "clip.mp4")))


def _v3_key(template: Template) -> str:
    """The key as it was before the ladder went by the short side."""
    out = template.manifest.output
    profile = f"{out.preset}|{out.crf}|{out.segment_seconds}|{out.audio_bitrate}|v3"
    return hashlib.sha256(f"{template.digest}|{profile}".encode()).hexdigest()[:32]


@pytest.mark.parametrize(
    ("size", "kept"), [((1280, 720), True), ((320, 180), True), ((1080, 1080), True), ((720, 1280), False),
                       ((1080, 1350), False)],
)  # fmt: skip
def test_a_landscape_version_keeps_its_key_and_a_portrait_one_gets_a_new_one(
    template: Template, size: tuple[int, int], kept: bool
) -> None:
    """A landscape or square clip's rungs are what they were: its stored preparation is used. A
    portrait clip's were by its long side and never served a personalized segment: uploaded
    again, it must not find that preparation."""
    shaped = replace(template, media=replace(template.media, width=size[0], height=size[1]))
    assert (prepared_key(shaped) == _v3_key(shaped)) is kept


@pytest.mark.parametrize(
    ("change", "kept"), [({}, True), ({"colour": "hdr"}, False), ({"variable_rate": True}, False),
                         ({"colour": "smpte170m"}, True)],
)  # fmt: skip
def test_a_version_whose_preparation_changed_gets_a_new_key(
    template: Template, change: dict[str, object], kept: bool
) -> None:
    """HDR is tone-mapped brighter now and a variable-rate clip's frames are laid by their
    timestamps: their stored preparations, made the old way, must not be found again."""
    changed = replace(template, media=replace(template.media, **change))  # type: ignore[arg-type]
    assert (prepared_key(changed) == _v3_key(changed)) is kept
