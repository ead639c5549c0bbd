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
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av

from vidmerge.engine import argv, ffmpeg
from vidmerge.errors import VerificationError
from vidmerge.plan import Prepared, Rendition, SegmentInfo
from vidmerge.storage import Storage
from vidmerge.template.bundle import Template
from vidmerge.template.manifest import AUTO_LADDER, Output

Progress = Callable[[int, int], None]  # (segments encoded, segments in all)


def prepared_key(template: Template) -> str:
    out = template.manifest.output
    # v3: audio padded or cut to the video, HDR tone-mapped, frame rate measured, rotation applied
    profile = f"{out.preset}|{out.crf}|{out.segment_seconds}|{out.audio_bitrate}|v3"
    if template.media.width < template.media.height:
        # A portrait clip's rungs were by its long side (132×234, its personalized segments never
        # verified): a new key, so it is prepared again. A landscape or square clip's rungs keep
        # their sizes, names and key (one whose size is not exactly the clip's aspect keeps its
        # non-square pixels, which frames.source_tags gives personalized segments exactly).
        profile += "|short-side"
    # Changes in what the encode makes of these clips: prepared before, they must be prepared again.
    if template.media.colour == "hdr":
        profile += "|bt2408"  # HDR tone-mapped with reference white as SDR white
    if template.media.variable_rate:
        profile += "|fps-filter"  # frames laid on the rate by their timestamps
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
    sized = [replace(shell, width=w, height=h) for w, h in ladder_sizes(shell.width, shell.height, out.ladder)]
    lower = [replace(r, key=f"{key}/{r.name}") for r in sized]  # where Prepared.rendition finds it
    passes = _Passes(progress, 1 + len(lower))
    with tempfile.TemporaryDirectory(prefix="vidmerge-prep-") as tmp:
        top = _rung(template, shell, storage, Path(tmp) / "top", limits, passes)
        renditions = tuple(
            _rendition(template, top, _rung(template, r, storage, Path(tmp) / r.name, limits, passes)) for r in lower
        )
    prepared = replace(top, renditions=renditions)
    if abs(prepared.duration - template.media.duration) > 1.0 / float(fps) + 0.05:
        raise VerificationError(
            f"mezzanine lasts {prepared.duration:.3f} s, base clip {template.media.duration:.3f} s",
            where=template.manifest.base,
        )
    storage.put_bytes(f"shared/{key}/prepared.json", prepared.to_json().encode(), "application/json")
    return prepared


def ladder_sizes(width: int, height: int, ladder: tuple[int, ...] | None) -> tuple[tuple[int, int], ...]:
    """(width, height) of each lower rendition of a clip, the lowest first. A rung is its short
    side (`ladder`, the manifest's `output.ladder`, else AUTO_LADDER; those below the clip's
    short side only): a 9:16 clip's 360p is 360×640, as a 16:9 one's is 640×360. The long side
    follows the clip's aspect, rounded to even."""
    short, long = sorted((width, height))
    rungs = [(s, _even(long * s / short)) for s in (AUTO_LADDER if ladder is None else ladder) if s < short]
    return tuple((s, n) if width < height else (n, s) for s, n in rungs)


def _even(x: float) -> int:
    return max(2, round(x / 2) * 2)


class _Passes:
    """Progress over every encode of the ladder, one pass after another."""

    def __init__(self, progress: Progress | None, passes: int) -> None:
        self.progress, self.passes, self.done = progress, passes, 0

    def report(self) -> Progress | None:
        if self.progress is None:
            return None
        progress, done, passes = self.progress, self.done, self.passes
        self.done += 1
        return lambda n, total: progress(done * total + n, passes * total)


def _rung(
    template: Template, shell: Prepared, storage: Storage, tmp: Path, limits: ffmpeg.Limits, passes: _Passes
) -> Prepared:
    """One rendition encoded on the grid and stored: the top (the base clip's size) or a lower one."""
    tmp.mkdir()
    files = _encode_mezzanine(template, shell, tmp, limits, passes.report())
    segments = tuple(_store_segment(storage, shell.key, i, f) for i, f in enumerate(files))
    return replace(shell, segments=segments, bandwidth=_bandwidth(files, shell), codecs=_codecs(files[0]))


def _rendition(template: Template, top: Prepared, rung: Prepared) -> Rendition:
    """A lower rung, checked to lie on the top's grid: the same frames at the same timestamps."""
    if [(s.frames, s.pts0) for s in rung.segments] != [(s.frames, s.pts0) for s in top.segments]:
        raise VerificationError(f"the {rung.name} rendition is not on the segment grid", where=template.manifest.base)
    return Rendition(rung.name, rung.width, rung.height, rung.bandwidth, rung.codecs, rung.segments)


# A personalized segment is encoded in a hurry when a viewer is about to reach it (argv.RUSH_X264:
# about 17 % more bytes than the shared one), and it carries the overlay's edges: room for both.
PERSONAL_ROOM = 1.3


def _bandwidth(files: list[Path], p: Prepared) -> int:
    """BANDWIDTH of RFC 8216 (the peak segment bit rate), from the shared segments, with room for
    personalized ones."""
    seconds = float(p.gop / p.fps)
    return round(max(f.stat().st_size for f in files) * 8 / seconds * PERSONAL_ROOM)


def _codecs(segment: Path) -> str:
    """RFC 6381 codecs of a segment: avc1 with the profile, constraints and level of its
    sequence parameter set, and AAC-LC."""
    data = segment.read_bytes()
    at = data.find(b"\x00\x00\x01\x67")
    if at < 0:
        raise VerificationError("no H.264 sequence parameter set in the first segment", where=segment.name)
    return f"avc1.{data[at + 4 : at + 7].hex()},mp4a.40.2"


def _encode_mezzanine(
    template: Template, p: Prepared, tmp: Path, limits: ffmpeg.Limits, progress: Progress | None
) -> list[Path]:
    total = round(template.media.duration * p.fps)
    media = template.media
    args = argv.mezzanine_args(template.base, media.has_audio, p, total, limits.threads, tmp / "seg_%05d.ts",
                               colour=media.colour, scaled=p.height != media.height)  # fmt: skip
    with _watching(tmp, -(-total // p.gop), progress):
        ffmpeg.run(args, limits=limits, what=f"prepare {template.id} {p.name}")
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
    seg_key = f"shared/{key}/seg_{index:05d}.ts"  # a lower rendition's key is "<prepared key>/<name>"
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
