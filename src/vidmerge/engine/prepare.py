"""Prepare once per template version: re-encode the base clip into a mezzanine on a fixed
segment grid (closed GOPs, a keyframe on every boundary), cut it into MPEG-TS segments and store
them once. Every render of that version shares the static ones.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from fractions import Fraction
from pathlib import Path

import av

from vidmerge.engine import argv, ffmpeg
from vidmerge.errors import VerificationError
from vidmerge.plan import Prepared, SegmentInfo
from vidmerge.storage import Storage
from vidmerge.template.bundle import Template
from vidmerge.template.manifest import Output

Progress = Callable[[int, int], None]  # (segments encoded, segments in all)


def prepared_key(template: Template) -> str:
    out = template.manifest.output
    # v3: audio padded or cut to the video, HDR tone-mapped, frame rate measured, rotation applied
    profile = f"{out.preset}|{out.crf}|{out.segment_seconds}|{out.audio_bitrate}|v3"
    return hashlib.sha256(f"{template.digest}|{profile}".encode()).hexdigest()[:32]


def gop_frames(output: Output, fps: Fraction) -> int:
    return max(1, round(output.segment_seconds * fps))


def load_prepared(storage: Storage, key: str) -> Prepared | None:
    manifest_key = f"shared/{key}/prepared.json"
    if not storage.exists(manifest_key):
        return None
    return Prepared.from_json(storage.get_bytes(manifest_key).decode())


def prepare(
    template: Template, storage: Storage, *, limits: ffmpeg.Limits = ffmpeg.Limits(), progress: Progress | None = None
) -> Prepared:
    """Build (or find) the shared segments of a template version. Idempotent. `progress` hears
    how many segments the encode has written, about twice a second."""
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
        files = _encode_mezzanine(template, shell, Path(tmp), limits, progress)
        segments = tuple(_store_segment(storage, key, i, f) for i, f in enumerate(files))
    prepared = Prepared(**{**asdict(shell), "segments": segments})
    if abs(prepared.duration - template.media.duration) > 1.0 / float(fps) + 0.05:
        raise VerificationError(
            f"mezzanine lasts {prepared.duration:.3f} s, base clip {template.media.duration:.3f} s",
            where=template.manifest.base,
        )
    storage.put_bytes(f"shared/{key}/prepared.json", prepared.to_json().encode(), "application/json")
    return prepared


def _encode_mezzanine(
    template: Template, p: Prepared, tmp: Path, limits: ffmpeg.Limits, progress: Progress | None
) -> list[Path]:
    total = round(template.media.duration * p.fps)
    media = template.media
    args = argv.mezzanine_args(template.base, media.has_audio, p, total, limits.threads, tmp / "seg_%05d.ts",
                               colour=media.colour)  # fmt: skip
    with _watching(tmp, -(-total // p.gop), progress):
        ffmpeg.run(args, limits=limits, what=f"prepare {template.id}")
    return sorted(tmp.glob("seg_*.ts"))


@contextmanager
def _watching(folder: Path, segments: int, progress: Progress | None) -> Iterator[None]:
    """Report the segments the segment muxer has finished (all but the one it is writing)."""
    if progress is None:
        yield
        return
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.5):
            progress(max(0, len(list(folder.glob("seg_*.ts"))) - 1), segments)

    thread = threading.Thread(target=watch, name="vidmerge-prepare-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
    progress(segments, segments)


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
