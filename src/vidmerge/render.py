"""Rendering: dynamic segments re-encoded with the mezzanine's exact settings, audio copied.

`render_segment` is the unit of work the queue runs (one segment, idempotent, keyed by content).
`full_render` is the one-pass fallback used when a splice fails verification.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

from . import ffmpeg
from .bundle import Template
from .errors import FFmpegError, VerificationError
from .frames import FrameCache, Frames
from .overlay import Layer, segment_layer, timeline_layer
from .package import concat_mp4
from .plan import Drawn, SegmentPlan, visible
from .prepare import TS_CLOCK, Prepared, ts_muxer_args, video_encoder_args
from .storage import Storage
from .verify import verify_segment

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """Everything needed to render segments of one template version."""

    template: Template
    prepared: Prepared
    storage: Storage
    limits: ffmpeg.Limits = ffmpeg.Limits()
    rush: bool = False  # quickest x264 search for dynamic segments (same headers); see prepare
    frames: FrameCache | None = None  # decoded base frames of dynamic segments, on local disk


def side_by_side(job: Job) -> Job:
    """The job for segments rendered several at once: one thread per encoder.

    A 2 s segment is one short GOP; x264's frame threads ramp up and drain at each end of it,
    so on a small machine several one-thread encoders side by side get more done than a few
    multi-threaded ones (measured in docs/bench.md).
    """
    return replace(job, limits=replace(job.limits, threads=1))


def render_segment(job: Job, seg: SegmentPlan) -> bool:
    """Render one dynamic segment into storage. Returns False when it was already there."""
    if not seg.dynamic or job.storage.exists(seg.key):
        return False
    shared = job.prepared.segments[seg.index].key
    with local_copy(job.storage, shared) as source, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "segment.ts"
        try:
            _encode_segment(job, seg, source, out)
        except VerificationError:
            if not job.rush:
                raise
            log.warning("segment %d: rushed encode did not verify; encoding it in full", seg.index)
            _encode_segment(replace(job, rush=False), seg, source, out)
        job.storage.put_file(seg.key, out, "video/mp2t")
    return True


def _encode_segment(job: Job, seg: SegmentPlan, source: Path, out: Path) -> None:
    layer = segment_layer(job.template, seg, job.prepared.fps)
    offset = _frame_offset(seg.pts0, job.prepared.fps)
    frames = _base_frames(job, seg.index, source)
    args = overlay_args(source, layer, offset, job.prepared, job.limits, rush=job.rush, frames=frames)
    ffmpeg.run([*args, *ts_muxer_args(), "-f", "mpegts", str(out)], limits=job.limits,
               stdin_chunks=layer.pictures, what=f"segment {seg.index}")  # fmt: skip
    verify_segment(out, frames=seg.frames, pts0=seg.pts0, reference=source)


def _base_frames(job: Job, index: int, source: Path) -> Frames | None:
    """The decoded base pictures, or None (decode here) when there is no cache or it fails: a
    full disk or a broken cache directory slows a render down, it never fails it."""
    if job.frames is None:
        return None
    try:
        return job.frames.frames(job.prepared, index, source, job.limits)
    except (OSError, FFmpegError) as exc:
        log.warning("segment %d: decoded frames unavailable (%s); decoding in the encode", index, exc)
        return None


def warm_frames(job: Job) -> None:
    """Decode the base pictures of every segment a slot can touch: part of preparing a template
    version on a machine (renders decode any that are missing themselves)."""
    if job.frames is None:
        return
    p = job.prepared
    for info in p.segments:
        if any(visible(slot, *p.window(info.index)) for slot in job.template.slots):
            with local_copy(job.storage, info.key) as source:
                _base_frames(job, info.index, source)


def overlay_args(
    source: Path,
    layer: Layer,
    offset_frames: int,
    p: Prepared,
    limits: ffmpeg.Limits,
    *,
    rush: bool = False,
    frames: Frames | None = None,
) -> list[str]:
    """Input `source` with the raw RGBA layer from stdin laid over it; audio copied.

    The layer sends only pictures that differ from the one before: setpts puts each on the
    source's clock (kept by -copyts) at the frame it is first shown, and the overlay filter keeps
    laying it over every base frame until the next picture (the last one to the end). With
    `frames` (the source's pictures decoded before, see frames.py) the base pictures are read
    from there, shifted the same way, and only the audio is taken from `source`.
    """
    b = layer.box
    rate = f"{p.fps_num}/{p.fps_den}"
    layer_in = ["-f", "rawvideo", "-pix_fmt", "rgba", "-s", f"{b.w}x{b.h}", "-framerate", rate, "-i", "pipe:0"]
    if frames is None:
        inputs, base, audio = ["-i", str(source), *layer_in], "[0:v]", "0:a?"
    else:
        raw = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{p.width}x{p.height}", "-framerate", rate]
        inputs = [*raw, "-i", str(frames.path), *layer_in, "-i", str(source)]
        base, audio = f"[0:v]setpts=N+{offset_frames},{frames.tags}[b];[b]", "2:a?"
    graph = f"[1:v]setpts={layer.pts_expr(offset_frames)}[o];{base}[o]overlay=x={b.x}:y={b.y}:format=auto[v]"
    return [
        "-copyts", *inputs,
        "-filter_complex", graph, "-map", "[v]", "-map", audio, "-c:a", "copy",
        *video_encoder_args(p, limits.threads, rush=rush),
    ]  # fmt: skip


def _frame_offset(pts0: int, fps: Fraction) -> int:
    return round(Fraction(pts0, TS_CLOCK) * fps)


@contextmanager
def local_copy(storage: Storage, key: str) -> Iterator[Path]:
    """A local file with the object's bytes: the file itself on local storage, else a download."""
    path = storage.local_path(key)
    if path is not None:
        yield path
        return
    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp) / Path(key).name
        storage.download(key, dest)
        yield dest


def full_render(job: Job, drawn: dict[str, Drawn], dest: Path) -> None:
    """One pass over the whole clip with every overlay: the fallback when a splice fails."""
    p = job.prepared
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base.mp4"
        with _shared_segments(job) as files:
            concat_mp4(files, base, job.limits)
        layer = timeline_layer(job.template, drawn, p.fps, p.frames)
        out = Path(tmp) / "full.mp4"
        args = overlay_args(base, layer, 0, p, job.limits)
        args = [a for a in args if a != "-copyts"]
        ffmpeg.run([*args, "-movflags", "+faststart", str(out)], limits=job.limits,
                   stdin_chunks=layer.pictures, what="full render")  # fmt: skip
        out.replace(dest)


@contextmanager
def _shared_segments(job: Job) -> Iterator[list[Path]]:
    with ExitStack() as stack:
        yield [stack.enter_context(local_copy(job.storage, s.key)) for s in job.prepared.segments]
