"""Rendering: dynamic segments re-encoded with the mezzanine's exact settings, audio copied.

`render_segment` is the unit of work the queue runs (one segment, idempotent, keyed by content).
`full_render` is the one-pass fallback used when a splice fails verification.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

from . import ffmpeg
from .bundle import Template
from .overlay import Layer, segment_layer, timeline_layer
from .package import concat_mp4
from .plan import Drawn, SegmentPlan
from .prepare import TS_CLOCK, Prepared, ts_muxer_args, video_encoder_args
from .storage import Storage
from .verify import verify_segment


@dataclass(frozen=True)
class Job:
    """Everything needed to render segments of one template version."""

    template: Template
    prepared: Prepared
    storage: Storage
    limits: ffmpeg.Limits = ffmpeg.Limits()


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
        layer = segment_layer(job.template, seg, job.prepared.fps)
        args = overlay_args(source, layer, _frame_offset(seg.pts0, job.prepared.fps), job.prepared, job.limits)
        ffmpeg.run([*args, *ts_muxer_args(), "-f", "mpegts", str(out)], limits=job.limits,
                   stdin_chunks=layer.frames, what=f"segment {seg.index}")  # fmt: skip
        verify_segment(out, frames=seg.frames, pts0=seg.pts0, reference=source)
        job.storage.put_file(seg.key, out, "video/mp2t")
    return True


def overlay_args(source: Path, layer: Layer, offset_frames: int, p: Prepared, limits: ffmpeg.Limits) -> list[str]:
    """Input `source` with the raw RGBA layer from stdin laid over it; audio copied.

    The layer's frames are numbered from 0, so setpts shifts them onto the source's clock
    (kept by -copyts) before the overlay filter pairs frames by timestamp.
    """
    b = layer.box
    graph = f"[1:v]setpts=N+{offset_frames}[o];[0:v][o]overlay=x={b.x}:y={b.y}:eof_action=pass:format=auto[v]"
    return [
        "-copyts", "-i", str(source),
        "-f", "rawvideo", "-pix_fmt", "rgba", "-s", f"{b.w}x{b.h}",
        "-framerate", f"{p.fps_num}/{p.fps_den}", "-i", "pipe:0",
        "-filter_complex", graph, "-map", "[v]", "-map", "0:a?", "-c:a", "copy",
        *video_encoder_args(p, limits.threads),
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
                   stdin_chunks=layer.frames, what="full render")  # fmt: skip
        out.replace(dest)


@contextmanager
def _shared_segments(job: Job) -> Iterator[list[Path]]:
    with ExitStack() as stack:
        yield [stack.enter_context(local_copy(job.storage, s.key)) for s in job.prepared.segments]
