"""A bundle's captions.vtt: read back as written, and a hostile one refused at upload naming the
file and the line."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.media import make_clip, write_bundle

from vidmerge.errors import BundleError
from vidmerge.template import captions
from vidmerge.template.bundle import load_bundle
from vidmerge.template.captions import Cue

GOOD = """WEBVTT

NOTE the narration

intro
00:00.500 --> 00:02.000
電気代の見直しのご案内です。

00:00:02.500 --> 00:00:05.900 align:center line:90%
毎月の電気代が
おトクになります。
"""


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "small.mp4")  # 6 s


def test_cues_are_read_as_written_and_written_back() -> None:
    cues = captions.parse(GOOD, 6.0)
    assert cues == (
        Cue(500, 2000, "電気代の見直しのご案内です。"),
        Cue(2500, 5900, "毎月の電気代が\nおトクになります。", " align:center line:90%"),
    )
    assert captions.render(cues) == (
        "WEBVTT\n\n00:00:00.500 --> 00:00:02.000\n電気代の見直しのご案内です。\n\n"
        "00:00:02.500 --> 00:00:05.900 align:center line:90%\n毎月の電気代が\nおトクになります。\n"
    )
    segment = captions.render(cues, mpegts=18000)
    assert segment.startswith("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:18000,LOCAL:00:00:00.000\n\n00:00:00.500")
    assert captions.parse(captions.render(cues), 6.0) == cues


def test_a_bundle_carries_its_captions_and_they_count_in_its_digest(tmp_path: Path, clip: Path) -> None:
    plain = load_bundle(write_bundle(tmp_path / "a", clip=clip))
    captioned = load_bundle(write_bundle(tmp_path / "b", clip=clip, files={"captions.vtt": GOOD.encode()}))
    assert plain.captions is None
    assert captioned.captions is not None and len(captioned.captions) == 2
    assert captioned.digest != plain.digest


TOO_MANY = "WEBVTT\n" + "\n00:01.000 --> 00:05.000\nx\n" * (captions.MAX_CUES + 1)
REFUSED = [
    ("x" * (captions.MAX_BYTES + 1)).encode(),
    ("WEBVTT\n\n00:01.000 --> 00:02.000\n" + "あ" * (captions.MAX_LINE + 1) + "\n").encode(),
    TOO_MANY.encode(),
    b"WEBVTT\n\n00:01.000 --> 00:02.000\n\x83\x65\x83\x58\x83\x67\n",  # Shift_JIS
    b"hello\n",
    b"WEBVTT\n\n00:01.000 -> 00:02.000\nx\n",
    b"WEBVTT\n\n00:03.000 --> 00:02.000\nx\n",
    b"WEBVTT\n\n00:01.000 --> 00:09.000\nx\n",  # past the 6 s clip
    b"WEBVTT\n\n00:02.000 --> 00:03.000\nx\n\n00:01.000 --> 00:04.000\ny\n",
    b"WEBVTT\n\n00:01.000 --> 00:02.000\n",
    b"WEBVTT\n\n00:01.000 --> 00:02.000\n{{ name }}\xe6\xa7\x98\n",
    b"WEBVTT\n\n00:01.000 --> 00:02.000\na\n\nx\n",  # a text without its timing
]
EXPECTED = [
    ("captions.vtt", f"more than {captions.MAX_BYTES}"),
    ("captions.vtt: line 4", f"longer than {captions.MAX_LINE} characters"),
    (f"captions.vtt: line {3 + 3 * captions.MAX_CUES}", f"more than {captions.MAX_CUES} cues"),
    ("captions.vtt: line 4", "byte 32 is not UTF-8"),
    ("captions.vtt: line 1", "must start with WEBVTT"),
    ("captions.vtt: line 3", "is not a cue timing"),
    ("captions.vtt: line 3", "ends before it starts"),
    ("captions.vtt: line 3", "after the base clip"),
    ("captions.vtt: line 6", "starts before the cue above"),
    ("captions.vtt: line 3", "cue has no text"),
    ("captions.vtt: line 4", "nor an expression"),
    ("captions.vtt: line 6", "is not a cue timing"),
]


@pytest.mark.parametrize(("data", "expected"), list(zip(REFUSED, EXPECTED, strict=True)), ids=[w for _, w in EXPECTED])
def test_a_hostile_captions_file_is_refused_at_upload_naming_the_line(
    tmp_path: Path, clip: Path, data: bytes, expected: tuple[str, str]
) -> None:
    root = write_bundle(tmp_path / "b", clip=clip, files={"captions.vtt": data})
    with pytest.raises(BundleError) as info:
        load_bundle(root)
    [problem] = info.value.problems
    assert problem.where == expected[0] and expected[1] in problem.reason, problem
