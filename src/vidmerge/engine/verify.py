"""Verification of outputs: what ships must match the mezzanine frame for frame.

Checks: video frame count and duration, strictly increasing decode timestamps, audio as long as
video; and each freshly rendered segment, before it is published, decodes cleanly on the
mezzanine's clock. A failure raises VerificationError,
which the caller answers with a full render rather than shipping a broken file.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from vidmerge.errors import VerificationError

AUDIO_SLACK = 0.05  # seconds: one AAC frame is 21 ms; segment cuts shift audio by less than one
# A segment's streams are known from its PMT: probing them (decoding frames to fill in what the
# scan does not use) cost as much as the scan itself, 50 ms a 1080p segment.
TS_PROBE = {"probesize": "32", "analyzeduration": "0"}


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
        raise VerificationError(f"video lasts {report.video_seconds:.3f} s, expected {expected:.3f} s", where=path.name)
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
                raise VerificationError(f"{kind} timestamps go backwards at dts {packet.dts}", where=path.name)
            last_dts[kind] = packet.dts
            tb = packet.time_base
            starts[kind] = min(starts.get(kind, float(packet.pts * tb)), float(packet.pts * tb))
            ends[kind] = max(ends[kind], float((packet.pts + (packet.duration or 0)) * tb))
            frames += kind == "video"
    return StreamReport(frames, ends["video"] - starts.get("video", 0.0), ends["audio"] - starts.get("audio", 0.0))


def verify_segment(path: Path, *, frames: int, pts0: int, reference: Path) -> None:
    """A freshly rendered segment, before it is published, must splice into the mezzanine:
    the segment's frame count, the mezzanine's clock (first pts), strictly increasing decode
    timestamps, an IDR first that decodes, and the same SPS/PPS as the shared segment it
    replaces (so no decoder has to reinitialize at the join).

    Decoding every frame would cost about a quarter of the encode; the x264 bitstream after a
    good IDR is not where splices break, timestamps and parameter sets are.
    """
    packets, parameter_sets = _scan(path)
    if len(packets) != frames:
        raise VerificationError(f"{len(packets)} video frames, expected {frames}", where=path.name)
    if min(p[0] for p in packets) != pts0:
        raise VerificationError(f"starts at pts {min(p[0] for p in packets)}, the mezzanine at {pts0}", where=path.name)
    dts = [p[1] for p in packets]
    if any(b <= a for a, b in zip(dts, dts[1:], strict=False)) or not packets[0][2]:
        raise VerificationError("decode timestamps not increasing, or no keyframe first", where=path.name)
    if parameter_sets != _reference_sets(str(reference), *_identity(reference)):
        raise VerificationError(f"SPS/PPS differ from the mezzanine's: {_difference(path, reference)}", where=path.name)


def _difference(path: Path, reference: Path) -> str:
    """Which of what the SPS says differs, in words, for the log (read again: this is the failure
    path). When none does, it is an encoder setting the PPS carries (another CRF, say)."""
    ours, shared = _stream_header(path), _stream_header(reference)
    for (what, value), theirs in zip(ours.items(), shared.values(), strict=True):
        if value != theirs:
            return f"{what} {value}, the shared segment's {theirs}"
    return "an encoder setting (same size, aspect, profile, level and colour tags)"


def _stream_header(path: Path) -> dict[str, str]:
    with av.open(str(path), format="mpegts") as container:
        cc = container.streams.video[0].codec_context
        sar = cc.sample_aspect_ratio
        return {
            "size": f"{cc.width}x{cc.height}",
            "sample aspect ratio": f"{sar.numerator}:{sar.denominator}" if sar else "unset",
            "profile": f"{cc.profile} level {cc.level}",
            "colour tags (range, matrix, primaries, transfer)":
                f"{cc.color_range}, {cc.colorspace}, {cc.color_primaries}, {cc.color_trc}",
        }  # fmt: skip


def _identity(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


@functools.lru_cache(maxsize=1024)
def _reference_sets(path: str, mtime_ns: int, size: int) -> list[bytes]:
    """A shared segment's SPS/PPS, read once per file version (every render of it compares)."""
    return _scan(Path(path), first_only=True)[1]


def _scan(path: Path, *, first_only: bool = False) -> tuple[list[tuple[int, int, bool]], list[bytes]]:
    """One pass over a segment's video packets: (pts, dts, keyframe) of each, and the SPS/PPS
    of the first, which is also decoded unless first_only (a decoder error raises)."""
    packets: list[tuple[int, int, bool]] = []
    parameter_sets: list[bytes] = []
    try:
        with av.open(str(path), format="mpegts", options=TS_PROBE) as container:
            stream = container.streams.video[0]
            for packet in container.demux(stream):
                if packet.pts is None or packet.dts is None:
                    continue
                if not packets:
                    parameter_sets = _parameter_sets(bytes(packet))
                    if not first_only and not [
                        *stream.codec_context.decode(packet),
                        *stream.codec_context.decode(None),
                    ]:
                        raise VerificationError("the first frame does not decode", where=path.name)
                packets.append((packet.pts, packet.dts, packet.is_keyframe))
                if first_only:
                    break
    except av.FFmpegError as exc:
        raise VerificationError(f"decode error: {exc}", where=path.name) from None
    return packets, parameter_sets


def _parameter_sets(data: bytes) -> list[bytes]:
    """The SPS and PPS NAL units of an Annex B access unit."""
    units = [u.strip(b"\x00") for u in data.split(b"\x00\x00\x01")]  # 3- or 4-byte start codes
    return [u for u in units if u and u[0] & 0x1F in (7, 8)]
