"""Decoded base frames of the dynamic segments, kept on local disk once per template version.

Every customer's dynamic segment starts from the same base pictures. Decoding them from the
shared segment each time costs about a third of a segment encode's CPU when encoders run side by
side (docs/bench.md), so each machine decodes them once into raw YUV files that later renders
read through the page cache. At 720p a 2 s segment is 83 MB. The directory is a cache: files
appear atomically, the least recently used go when it outgrows its limit, and a missing file is
decoded again from the shared segment.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av

from vidmerge.config import Settings
from vidmerge.engine import argv, ffmpeg
from vidmerge.errors import FFmpegError
from vidmerge.plan import Prepared

log = logging.getLogger(__name__)

IN_USE_SECONDS = 600.0  # a file used this recently is never evicted: an encoder may be reading it
RANGES = {1: "tv", 2: "pc"}  # AVColorRange
MATRICES = {1: "bt709", 5: "bt470bg", 6: "smpte170m", 9: "bt2020nc"}  # AVColorSpace


@dataclass(frozen=True)
class Frames:
    """A segment's base pictures as raw yuv420p, and the filter that gives them back what raw
    video loses: the sample aspect ratio (the encoder writes it into the SPS, which must match
    the shared segment's) and the colour range and matrix (untagged, the overlay would convert
    the pictures' levels)."""

    path: Path
    tags: str


@dataclass(frozen=True)
class FrameCache:
    root: Path
    max_bytes: int = 4 << 30
    min_free_bytes: int = 512 << 20  # never fill the disk below this: decode in the encode instead
    _tags: dict[str, str | None] = field(default_factory=dict, compare=False, repr=False)

    def frames(self, prepared: Prepared, index: int, source: Path, limits: ffmpeg.Limits) -> Frames | None:
        """The base pictures of segment `index`, decoded from `source` (its shared segment) if
        absent. None when the source's colour tags are ones raw frames cannot carry here."""
        if prepared.key not in self._tags:  # one mezzanine, one set of tags: probed once
            self._tags[prepared.key] = source_tags(source)
        tags = self._tags[prepared.key]
        return Frames(self._raw(prepared, index, source, limits), tags) if tags else None

    def _raw(self, prepared: Prepared, index: int, source: Path, limits: ffmpeg.Limits) -> Path:
        path = self.root / prepared.key / f"{index:05d}.yuv"
        expected = prepared.segments[index].frames * frame_bytes(prepared)
        if path.is_file() and path.stat().st_size == expected:
            os.utime(path)  # least recently used goes first
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        if shutil.disk_usage(path.parent).free - expected < self.min_free_bytes:
            raise OSError(errno.ENOSPC, f"frame cache: fewer than {self.min_free_bytes >> 20} MB would stay free")
        with tempfile.TemporaryDirectory(dir=path.parent, prefix=".decode-") as tmp:
            part = Path(tmp) / "frames.yuv"
            ffmpeg.run(argv.decode_args(source, part), limits=limits, what=f"decode segment {index}")
            if part.stat().st_size != expected:
                raise FFmpegError(f"decode segment {index}: {part.stat().st_size} bytes, expected {expected}")
            part.replace(path)
        self.evict()
        return path

    def evict(self) -> None:
        """Remove the least recently used files until the cache fits, sparing files in use."""
        files = [(p.stat().st_mtime, p.stat().st_size, p) for p in self.root.glob("**/*.yuv")]
        total = sum(size for _, size, _ in files)
        now = time.time()
        for mtime, size, p in sorted(files):
            if total <= self.max_bytes or now - mtime < IN_USE_SECONDS:
                break
            p.unlink(missing_ok=True)
            total -= size
            log.info("frame cache: evicted %s", p.name)


def open_frame_cache(settings: Settings) -> FrameCache | None:
    if settings.frame_cache_mb <= 0:
        return None
    return FrameCache(settings.data_dir / "frames", settings.frame_cache_mb << 20, 2 * settings.min_free_mb << 20)


def source_tags(source: Path) -> str | None:
    """The filter restoring the shared segment's aspect and colour tags on raw pictures."""
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        sar = stream.sample_aspect_ratio or Fraction(0)
        cc = stream.codec_context
        colour_range, matrix = RANGES.get(cc.color_range), MATRICES.get(cc.colorspace)
    if colour_range is None or matrix is None:
        return None
    # setsar's `max` (100 by default) bounds the terms it reduces the ratio to: 351/352 would become
    # 1/1. Primaries and transfer as every mezzanine is encoded (argv.video_encoder_args): raw
    # pictures carry none, and x264 would write "unspecified" into the SPS; either would not splice.
    return (f"setsar={sar.numerator}/{sar.denominator}:max={max(100, sar.numerator, sar.denominator)},"
            f"setparams=range={colour_range}:colorspace={matrix}:color_primaries=bt709:color_trc=bt709")  # fmt: skip


def frame_bytes(p: Prepared) -> int:
    """Bytes of one yuv420p picture."""
    chroma = ((p.width + 1) // 2) * ((p.height + 1) // 2)
    return p.width * p.height + 2 * chroma
