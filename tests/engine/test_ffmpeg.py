"""The one place that runs ffmpeg: its limits (memory, CPU time) and a producer that fails."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from vidmerge.config import Settings
from vidmerge.engine import ffmpeg
from vidmerge.errors import FFmpegError

pytestmark = pytest.mark.slow


def _encode(size: str, seconds: int) -> list[str]:
    return ["-f", "lavfi", "-i", f"testsrc2=s={size}:d={seconds}:r=30", "-c:v", "libx264", "-f", "null", "-"]


def test_an_ffmpeg_past_its_memory_limit_fails_instead_of_growing() -> None:
    ffmpeg.run(_encode("1280x720", 1))  # the default limit leaves room for an ordinary encode
    with pytest.raises(FFmpegError, match="exited with"):
        ffmpeg.run(_encode("1280x720", 1), limits=ffmpeg.Limits(memory_mb=64))


def test_an_ffmpeg_past_its_cpu_time_is_stopped() -> None:
    """Twenty seconds of 1080p need many CPU seconds on any machine; one is allowed."""
    with pytest.raises(FFmpegError, match="exited with"):
        ffmpeg.run(_encode("1920x1080", 20), limits=ffmpeg.Limits(cpu_seconds=1))


def test_limits_come_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDMERGE_FFMPEG_MEMORY_MB", "512")
    monkeypatch.setenv("VIDMERGE_FFMPEG_CPU_SECONDS", "30")
    limits = ffmpeg.Limits.of(Settings.from_env())
    assert (limits.memory_mb, limits.cpu_seconds) == (512, 30)


def test_a_picture_that_cannot_be_drawn_fails_the_run_instead_of_an_output_without_it() -> None:
    def pictures() -> Iterator[bytes]:
        yield bytes(16 * 16 * 4) * 3
        raise ValueError("glyph missing")  # what a drawing error looks like to the feeder

    args = ["-f", "rawvideo", "-pix_fmt", "rgba", "-s", "16x16", "-r", "10", "-i", "pipe:0", "-f", "null", "-"]
    with pytest.raises(ValueError, match="glyph missing"):
        ffmpeg.run(args, stdin_chunks=pictures())
    assert ffmpeg.run(args, stdin_chunks=iter([bytes(16 * 16 * 4) * 3])) == b""  # the control
