"""Verification catches what breaks a splice: frame count, clock, parameter sets, timestamps."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
from support.media import make_clip

from vidmerge.engine import ffmpeg
from vidmerge.engine.verify import verify_mp4, verify_segment
from vidmerge.errors import VerificationError


def _segment(src: Path, dest: Path, *extra: str, profile: str = "high", frames: int = 30) -> Path:
    ffmpeg.run([
        "-i", str(src), "-frames:v", str(frames), "-an", "-c:v", "libx264", "-preset", "veryfast",
        "-profile:v", profile, "-pix_fmt", "yuv420p", *extra, "-muxdelay", "0", "-muxpreload", "0",
        "-f", "mpegts", str(dest),
    ])  # fmt: skip
    return dest


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("verify") / "base.mp4")


def _pts0(path: Path) -> int:
    import av

    with av.open(str(path)) as c:
        return min(p.pts for p in c.demux(c.streams.video[0]) if p.pts is not None)


def test_a_matching_segment_passes(clip: Path, tmp_path: Path) -> None:
    ref = _segment(clip, tmp_path / "ref.ts")
    same = _segment(clip, tmp_path / "same.ts", "-vf", "negate")  # other pixels, same settings
    verify_segment(same, frames=30, pts0=_pts0(ref), reference=ref)


def test_wrong_frame_count_clock_or_parameter_sets_fail(clip: Path, tmp_path: Path) -> None:
    ref = _segment(clip, tmp_path / "ref.ts")
    with pytest.raises(VerificationError, match="frames"):
        verify_segment(_segment(clip, tmp_path / "short.ts", frames=29), frames=30, pts0=_pts0(ref), reference=ref)
    shifted = _segment(clip, tmp_path / "shifted.ts", "-output_ts_offset", "1")
    with pytest.raises(VerificationError, match="starts at pts"):
        verify_segment(shifted, frames=30, pts0=_pts0(ref), reference=ref)
    main = _segment(clip, tmp_path / "main.ts", profile="main")
    with pytest.raises(VerificationError, match="SPS/PPS"):
        verify_segment(main, frames=30, pts0=_pts0(ref), reference=ref)


def test_differing_parameter_sets_are_named_for_the_log(clip: Path, tmp_path: Path) -> None:
    """The failure says which of what the SPS carries differs (the log line is then the cause),
    and an encoder setting otherwise."""
    ref = _segment(clip, tmp_path / "ref.ts", "-vf", "setsar=351/352:max=352")
    square = _segment(clip, tmp_path / "square.ts")
    with pytest.raises(VerificationError, match="sample aspect ratio 1:1, the shared segment's 351:352$"):
        verify_segment(square, frames=30, pts0=_pts0(ref), reference=ref)
    ref = _segment(clip, tmp_path / "ref.ts")
    main = _segment(clip, tmp_path / "main.ts", profile="main")
    with pytest.raises(VerificationError, match=r"profile Main level \d+, the shared segment's High level"):
        verify_segment(main, frames=30, pts0=_pts0(ref), reference=ref)
    crf = _segment(clip, tmp_path / "crf.ts", "-crf", "40")  # pic_init_qp in the PPS
    with pytest.raises(VerificationError, match="an encoder setting"):
        verify_segment(crf, frames=30, pts0=_pts0(ref), reference=ref)


def test_a_reference_replaced_on_disk_is_read_again(clip: Path, tmp_path: Path) -> None:
    """The reference's SPS/PPS are read once per file version, not once per path."""
    ref = _segment(clip, tmp_path / "ref.ts")
    same = _segment(clip, tmp_path / "same.ts", "-vf", "negate")
    verify_segment(same, frames=30, pts0=_pts0(ref), reference=ref)  # reads and keeps ref's
    _segment(clip, ref, profile="main")  # another encode at the same path
    with pytest.raises(VerificationError, match="SPS/PPS"):
        verify_segment(same, frames=30, pts0=_pts0(ref), reference=ref)


def test_mp4_frame_count_and_audio_length(clip: Path, tmp_path: Path) -> None:
    verify_mp4(clip, frames=180, fps=Fraction(30))
    with pytest.raises(VerificationError, match="video frames"):
        verify_mp4(clip, frames=181, fps=Fraction(30))
    no_audio_tail = tmp_path / "cut.mp4"
    ffmpeg.run(["-i", str(clip), "-c:v", "copy", "-af", "atrim=0:3", "-c:a", "aac", str(no_audio_tail)])
    with pytest.raises(VerificationError, match="audio lasts"):
        verify_mp4(no_audio_tail, frames=180, fps=Fraction(30))


def test_a_file_that_is_not_a_segment_fails(clip: Path, tmp_path: Path) -> None:
    """The scan reads the streams from the segment's PMT without probing: anything else is an error."""
    ref = _segment(clip, tmp_path / "ref.ts")
    junk = tmp_path / "junk.ts"
    junk.write_bytes(clip.read_bytes()[:200_000])  # an MP4's bytes under a segment's name
    with pytest.raises(VerificationError):
        verify_segment(junk, frames=30, pts0=_pts0(ref), reference=ref)
