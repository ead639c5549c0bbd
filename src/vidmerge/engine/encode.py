"""Encoding: dynamic segments re-encoded with the mezzanine's exact settings, audio copied.

`encode_segment` is the unit of work the queue runs (one segment, idempotent, keyed by content).
`encode_full` is the one-pass fallback used when a splice fails verification.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

from vidmerge.draw.layers import Layer, segment_layer, timeline_layer
from vidmerge.engine import argv, ffmpeg
from vidmerge.engine.frames import Frames
from vidmerge.engine.loaded import LoadedVersion
from vidmerge.engine.package import concat_mp4
from vidmerge.engine.verify import verify_segment
from vidmerge.errors import FFmpegError, VerificationError
from vidmerge.plan import TS_CLOCK, Drawn, SegmentPlan
from vidmerge.storage import local_copy

log = logging.getLogger(__name__)


def encode_segment(loaded: LoadedVersion, seg: SegmentPlan) -> bool:
    """Encode one dynamic segment into storage. Returns False when it was already there."""
    if not seg.dynamic or loaded.storage.exists(seg.key):
        return False
    shared = loaded.prepared.segments[seg.index].key
    with local_copy(loaded.storage, shared) as source, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "segment.ts"
        try:
            _encode(loaded, seg, source, out)
        except VerificationError as exc:
            if not loaded.rush:
                raise
            # which check failed, in verify.py's words (counts, timestamps, stream headers: no values)
            log.warning("segment %d: rushed encode did not verify (%s); encoding it in full", seg.index, exc.message)
            _encode(replace(loaded, rush=False), seg, source, out)
        loaded.storage.put_file(seg.key, out, "video/mp2t")
    return True


def _encode(loaded: LoadedVersion, seg: SegmentPlan, source: Path, out: Path) -> None:
    layer = segment_layer(loaded.template, seg, loaded.prepared.fps)
    offset = _frame_offset(seg.pts0, loaded.prepared.fps)
    frames = _base_frames(loaded, seg.index, source)
    args = _overlay(loaded, source, layer, offset, frames)
    ffmpeg.run([*args, *argv.segment_out_args(out)], limits=loaded.limits, stdin_chunks=layer.pictures,
               what=f"segment {seg.index}")  # fmt: skip
    verify_segment(out, frames=seg.frames, pts0=seg.pts0, reference=source)


def _overlay(loaded: LoadedVersion, source: Path, layer: Layer, offset: int, frames: Frames | None) -> list[str]:
    b = layer.box
    raw = (frames.path, frames.tags) if frames is not None else None
    scale = Fraction(loaded.prepared.height, loaded.template.media.height)  # below 1 for a lower rendition
    return argv.overlay_args(source, (b.x, b.y, b.w, b.h), layer.pts_expr(offset), offset, loaded.prepared,
                             loaded.limits.threads, rush=loaded.rush, raw_frames=raw, scale=scale)  # fmt: skip


def _base_frames(loaded: LoadedVersion, index: int, source: Path) -> Frames | None:
    """The decoded base pictures, or None (decode here) when there is no cache or it fails: a
    full disk or a broken cache directory slows a render down, it never fails it."""
    if loaded.frames is None:
        return None
    try:
        return loaded.frames.frames(loaded.prepared, index, source, loaded.limits)
    except (OSError, FFmpegError) as exc:
        log.warning("segment %d: decoded frames unavailable (%s); decoding in the encode", index, exc)
        return None


def warm_frames(loaded: LoadedVersion) -> None:
    """Decode the base pictures of every segment a slot can touch, in every rendition: part of
    preparing a template version on a machine (renders decode any that are missing themselves)."""
    if loaded.frames is None:
        return
    for p in loaded.prepared.ladder:
        for info in p.segments:
            if any(p.shows(slot, info.index) for slot in loaded.template.slots):
                with local_copy(loaded.storage, info.key) as source:
                    _base_frames(replace(loaded, prepared=p), info.index, source)


def _frame_offset(pts0: int, fps: Fraction) -> int:
    return round(Fraction(pts0, TS_CLOCK) * fps)


def encode_full(loaded: LoadedVersion, drawn: dict[str, Drawn], dest: Path) -> None:
    """One pass over the whole clip with every overlay: the fallback when a splice fails."""
    p = loaded.prepared
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base.mp4"
        with shared_segments(loaded) as files:
            concat_mp4(files, base, loaded.limits)
        layer = timeline_layer(loaded.template, drawn, p.fps, p.frames)
        out = Path(tmp) / "full.mp4"
        args = [a for a in _overlay(loaded, base, layer, 0, None) if a != "-copyts"]
        ffmpeg.run([*args, "-movflags", "+faststart", str(out)], limits=loaded.limits,
                   stdin_chunks=layer.pictures, what="full render")  # fmt: skip
        out.replace(dest)


@contextmanager
def shared_segments(loaded: LoadedVersion) -> Iterator[list[Path]]:
    """Local files of every shared segment of the version, in order."""
    with ExitStack() as stack:
        yield [stack.enter_context(local_copy(loaded.storage, s.key)) for s in loaded.prepared.segments]
