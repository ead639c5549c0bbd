"""Verification of outputs: what ships must match the mezzanine frame for frame.

Checks: video frame count and duration, strictly increasing decode timestamps, audio as long as
video; and each freshly rendered segment, before it is published, decodes cleanly on the
mezzanine's clock. A failure raises VerificationError,
which the caller answers with a full render rather than shipping a broken file.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from .errors import VerificationError

AUDIO_SLACK = 0.05  # seconds: one AAC frame is 21 ms; segment cuts shift audio by less than one


@dataclass(frozen=True)
class StreamReport:
    frames: int
    video_seconds: float
    audio_seconds: float


def verify_mp4(path: Path, *, frames: int, fps: Fraction) -> StreamReport:
    report = _demux_report(path)
    expected = float(frames / fps)
    if report.frames != frames:
        raise VerificationError(f"{report.frames} video frames, expected {frames}", where=path.name)
    if abs(report.video_seconds - expected) > 1.5 / float(fps):
        raise VerificationError(
            f"video lasts {report.video_seconds:.3f} s, expected {expected:.3f} s", where=path.name
        )
    if abs(report.audio_seconds - report.video_seconds) > AUDIO_SLACK + 1 / float(fps):
        raise VerificationError(
            f"audio lasts {report.audio_seconds:.3f} s, video {report.video_seconds:.3f} s",
            where=path.name,
        )
    return report


def _demux_report(path: Path) -> StreamReport:
    ends = {"video": 0.0, "audio": 0.0}
    starts: dict[str, float] = {}
    last_dts: dict[str, int] = {}
    frames = 0
    with av.open(str(path)) as container:
        for packet in container.demux():
            kind = packet.stream.type
            if kind not in ends or packet.dts is None or packet.pts is None:
                continue
            if kind in last_dts and packet.dts <= last_dts[kind]:
                raise VerificationError(
                    f"{kind} timestamps go backwards at dts {packet.dts}", where=path.name
                )
            last_dts[kind] = packet.dts
            tb = packet.time_base
            starts[kind] = min(starts.get(kind, float(packet.pts * tb)), float(packet.pts * tb))
            ends[kind] = max(ends[kind], float((packet.pts + (packet.duration or 0)) * tb))
            frames += kind == "video"
    return StreamReport(
        frames, ends["video"] - starts.get("video", 0.0), ends["audio"] - starts.get("audio", 0.0)
    )


def verify_segment(path: Path, *, frames: int, pts0: int) -> None:
    """A freshly rendered segment, before it is published: it starts on the mezzanine's clock
    (first pts), has the segment's frame count, and every frame decodes."""
    decoded = 0
    first: int | None = None
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                decoded += 1
                if frame.pts is not None:
                    first = frame.pts if first is None else min(first, frame.pts)
    except av.FFmpegError as exc:
        raise VerificationError(f"decode error: {exc}", where=path.name) from None
    if decoded != frames:
        raise VerificationError(f"decoded {decoded} frames, expected {frames}", where=path.name)
    if first != pts0:
        raise VerificationError(f"starts at pts {first}, the mezzanine at {pts0}", where=path.name)
