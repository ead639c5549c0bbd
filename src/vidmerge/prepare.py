"""Prepare once per template version: re-encode the base clip into a mezzanine on a fixed
segment grid (closed GOPs, a keyframe on every boundary), cut it into MPEG-TS segments and store
them once. Every render of that version shares the static ones.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av

from . import ffmpeg
from .bundle import Template
from .errors import VerificationError
from .manifest import Output
from .storage import Storage

TS_CLOCK = 90_000  # MPEG-TS timestamps tick at 90 kHz
LEAD_FRAMES = 6  # the mezzanine's clock starts this many frames after zero (see timeline_args)


@dataclass(frozen=True)
class SegmentInfo:
    index: int
    frames: int
    pts0: int  # first video presentation timestamp, 90 kHz ticks
    key: str  # storage key of the shared (unpersonalized) segment


@dataclass(frozen=True)
class Prepared:
    key: str
    width: int
    height: int
    fps_num: int
    fps_den: int
    gop: int  # frames per segment
    preset: str
    crf: int
    audio_bitrate: str
    segments: tuple[SegmentInfo, ...]

    @property
    def fps(self) -> Fraction:
        return Fraction(self.fps_num, self.fps_den)

    @property
    def frames(self) -> int:
        return sum(s.frames for s in self.segments)

    @property
    def duration(self) -> float:
        return float(self.frames / self.fps)

    def start(self, index: int) -> float:
        """Nominal start of a segment in seconds (the grid, not container timestamps)."""
        return float(index * self.gop / self.fps)

    def window(self, index: int) -> tuple[float, float]:
        """[start, end) of a segment in seconds."""
        start = self.start(index)
        return start, start + float(self.segments[index].frames / self.fps)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Prepared:
        raw = json.loads(text)
        raw["segments"] = tuple(SegmentInfo(**s) for s in raw["segments"])
        return cls(**raw)


def prepared_key(template: Template) -> str:
    out = template.manifest.output
    profile = f"{out.preset}|{out.crf}|{out.segment_seconds}|{out.audio_bitrate}|v2"
    return hashlib.sha256(f"{template.digest}|{profile}".encode()).hexdigest()[:32]


def gop_frames(output: Output, fps: Fraction) -> int:
    return max(1, round(output.segment_seconds * fps))


# x264's quickest analysis, for a segment a viewer reaches within seconds (service/scheduler.py).
# It changes decisions only, never the stream headers, for presets whose subme is below 6 (from 6
# on, psy-rd moves the chroma QP offset in the PPS). Same CRF, on R30's first greeting segment:
# 17 % more bytes, SSIM 0.960 against 0.963, about half the CPU time.
RUSH_X264 = "subme=1:me=dia:trellis=0:rc-lookahead=0:mbtree=0:b-adapt=0:partitions=i8x8,i4x4"
RUSH_PRESETS = ("superfast", "veryfast", "faster")


def video_encoder_args(p: Prepared, threads: int = 0, *, rush: bool = False) -> list[str]:
    """The exact x264 settings of the mezzanine; dynamic segments must use the same to splice.
    `rush` keeps every setting the stream headers carry and only makes the search quicker."""
    args = [
        "-c:v", "libx264", "-preset", p.preset, "-crf", str(p.crf),
        "-profile:v", "high", "-pix_fmt", "yuv420p",
        "-g", str(p.gop), "-keyint_min", str(p.gop), "-sc_threshold", "0", "-flags", "+cgop",
        "-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709",
    ]  # fmt: skip
    if rush and p.preset in RUSH_PRESETS:
        args += ["-x264-params", RUSH_X264]
    if threads:
        args += ["-threads", str(threads)]
    return args


def ts_muxer_args() -> list[str]:
    """No mux delay: segments keep the mezzanine's timestamps instead of starting at ~1.4 s."""
    return ["-muxdelay", "0", "-muxpreload", "0"]


def timeline_args(fps: Fraction) -> list[str]:
    """Start the mezzanine's clock a few whole frames after zero.

    Left to itself the muxer shifts everything by the larger of the B-frame delay and the AAC
    priming (1024 samples, 21.3 ms), which puts video timestamps between frame boundaries. The
    re-encode of a dynamic segment counts in whole frames, so it could not land on them.
    Six frames cover both delays; with negative-timestamp shifting off, video starts exactly
    there.
    """
    offset_us = round(Fraction(LEAD_FRAMES) / fps * 1_000_000)
    return ["-output_ts_offset", f"{offset_us}us", "-avoid_negative_ts", "disabled"]


def load_prepared(storage: Storage, key: str) -> Prepared | None:
    manifest_key = f"shared/{key}/prepared.json"
    if not storage.exists(manifest_key):
        return None
    return Prepared.from_json(storage.get_bytes(manifest_key).decode())


def prepare(template: Template, storage: Storage, *, limits: ffmpeg.Limits = ffmpeg.Limits()) -> Prepared:
    """Build (or find) the shared segments of a template version. Idempotent."""
    key = prepared_key(template)
    existing = load_prepared(storage, key)
    if existing is not None:
        return existing
    out = template.manifest.output
    fps = template.media.fps
    shell = Prepared(
        key=key, width=template.media.width, height=template.media.height,
        fps_num=fps.numerator, fps_den=fps.denominator, gop=gop_frames(out, fps),
        preset=out.preset, crf=out.crf, audio_bitrate=out.audio_bitrate, segments=(),
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="vidmerge-prep-") as tmp:
        files = _encode_mezzanine(template, shell, Path(tmp), limits)
        segments = tuple(_store_segment(storage, key, i, f) for i, f in enumerate(files))
    prepared = Prepared(**{**asdict(shell), "segments": segments})
    if abs(prepared.duration - template.media.duration) > 1.0 / float(fps) + 0.05:
        raise VerificationError(
            f"mezzanine lasts {prepared.duration:.3f} s, base clip {template.media.duration:.3f} s",
            where=template.manifest.base,
        )
    storage.put_bytes(f"shared/{key}/prepared.json", prepared.to_json().encode(), "application/json")
    return prepared


def _encode_mezzanine(template: Template, p: Prepared, tmp: Path, limits: ffmpeg.Limits) -> list[Path]:
    total = round(template.media.duration * p.fps)
    cuts = ",".join(str(n) for n in range(p.gop, total, p.gop))
    audio_in = [] if template.media.has_audio else ["-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo"]
    args = [
        "-i", str(template.base), *audio_in,
        "-map", "0:v:0", "-map", "0:a:0" if template.media.has_audio else "1:a:0",
        "-r", f"{p.fps_num}/{p.fps_den}", "-frames:v", str(total),
        *video_encoder_args(p, limits.threads),
        "-force_key_frames", f"expr:eq(mod(n,{p.gop}),0)",
        "-c:a", "aac", "-b:a", p.audio_bitrate, "-ar", "48000", "-ac", "2",
        *([] if template.media.has_audio else ["-shortest"]),
        *timeline_args(p.fps),
        "-f", "segment", "-segment_format", "mpegts", "-segment_frames", cuts or str(total + 1),
        *ts_muxer_args(), str(tmp / "seg_%05d.ts"),
    ]  # fmt: skip
    ffmpeg.run(args, limits=limits, what=f"prepare {template.id}")
    return sorted(tmp.glob("seg_*.ts"))


def _store_segment(storage: Storage, key: str, index: int, path: Path) -> SegmentInfo:
    frames, pts0 = _video_frames(path)
    seg_key = f"shared/{key}/seg_{index:05d}.ts"
    storage.put_file(seg_key, path, "video/mp2t")
    return SegmentInfo(index=index, frames=frames, pts0=pts0, key=seg_key)


def _video_frames(path: Path) -> tuple[int, int]:
    """(frame count, first pts in 90 kHz ticks) of a segment, by demuxing without decoding."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        pts = [p.pts for p in container.demux(stream) if p.pts is not None]
    if not pts:
        raise VerificationError("segment has no video frames", where=path.name)
    return len(pts), min(pts)
