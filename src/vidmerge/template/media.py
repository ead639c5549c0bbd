"""Probing media files with PyAV before ffmpeg reads them for real.

Uploaded files are opened with a demuxer allow-list and the file protocol only, so a playlist
(HLS, DASH, ffconcat) renamed to `.mp4` is rejected instead of followed.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image, UnidentifiedImageError

from vidmerge.errors import MediaRejected

# Pillow decoders an image asset may use (image slots read assets with Pillow, not ffmpeg).
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP")
MAX_IMAGE_PIXELS = 4096 * 4096
VIDEO_DEMUXERS = frozenset({"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"})
IMAGE_DEMUXERS = frozenset({"png_pipe", "jpeg_pipe", "webp_pipe", "image2"})
# Codecs a base clip may carry: what phones, cameras and editing tools export. Anything else
# (exotic or lossless codecs whose decoders are rarely exercised) is refused before decoding.
VIDEO_CODECS = frozenset({"h264", "hevc", "vp8", "vp9", "av1", "mpeg4", "prores"})
AUDIO_CODECS = frozenset({"aac", "mp3", "opus", "vorbis", "flac", "alac", "ac3", "eac3", "pcm_s16le", "pcm_s24le"})
_WHITELIST = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,png_pipe,jpeg_pipe,webp_pipe,mpegts"
# What a refusal of another container tells the marketer to export instead.
ACCEPTED = f"accepted: MP4, MOV, Matroska or WebM with video {', '.join(sorted(VIDEO_CODECS))}"


@dataclass(frozen=True)
class MediaInfo:
    format: str
    duration: float
    width: int
    height: int
    fps: Fraction
    frames: int
    has_audio: bool
    audio_rate: int = 0
    colour: str = ""  # "hdr" (HLG or PQ: tone-mapped), a matrix other than BT.709 (converted), "" (kept)
    variable_rate: bool = False  # frames missing from the rate (dropped by a phone): laid by their timestamps


def _open(path: Path) -> av.container.InputContainer:
    try:
        return av.open(
            str(path),
            options={"format_whitelist": _WHITELIST, "protocol_whitelist": "file"},
        )
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        reason = f"{_reason(exc)}: damaged, cut short or not media"
        raise MediaRejected(f"not a readable media file ({reason})", where=path.name) from None


def _reason(exc: Exception) -> str:
    """What went wrong, without the file name ffmpeg quotes: that is the server's working path,
    or an internal function's name."""
    strerror = getattr(exc, "strerror", None)
    return str(strerror) if strerror else type(exc).__name__


# Frame rates a clip is laid on: a measured rate within 1 % of one of them is taken as it (a clip
# looped with `-stream_loop -c copy` or variable-rate phone footage averages an odd rate).
STANDARD_RATES = tuple(Fraction(n, d) for n, d in (
    (24000, 1001), (24, 1), (25, 1), (30000, 1001), (30, 1), (48, 1), (50, 1), (60000, 1001), (60, 1)))  # fmt: skip
HDR_TRANSFERS = (16, 18)  # AVColorTransferCharacteristic: SMPTE ST 2084 (PQ), ARIB STD-B67 (HLG)
OTHER_MATRICES = {5: "bt470bg", 6: "smpte170m", 9: "bt2020nc"}  # AVColorSpace, converted to BT.709
MEASURED_STEPS = 240  # timestamp steps the frame rate is measured on


def probe_video(path: Path, *, max_seconds: float = 600, max_pixels: int = 3840 * 2160) -> MediaInfo:
    """Probe a video against the allow-list and limits; raise MediaRejected naming the file. The
    size is the displayed one (a phone's rotation applied: prepare encodes the clip upright)."""
    with _open(path) as container:
        fmt = container.format.name
        if fmt not in VIDEO_DEMUXERS:
            raise MediaRejected(f"{_what(container)} is not an allowed video format; {ACCEPTED}", where=path.name)
        if not container.streams.video:
            raise MediaRejected("has no video stream", where=path.name)
        v = container.streams.video[0]
        _check_codecs(container, path.name)
        duration, average = _duration(container, v), Fraction(v.average_rate or v.guessed_rate or 0)
        stored = (v.codec_context.width, v.codec_context.height)
        _check_limits(path.name, duration, stored, average, max_seconds, max_pixels)  # before any decoding
        rotation, step = _scan(container, v, stored, path.name)
        fps = _frame_rate(step, average)
        width, height = stored[::-1] if rotation % 180 else stored
        info = MediaInfo(
            format=fmt,
            duration=duration,
            width=width,
            height=height,
            fps=fps,
            frames=round(duration * fps),
            has_audio=bool(container.streams.audio),
            audio_rate=container.streams.audio[0].rate if container.streams.audio else 0,
            colour=_colour(v.codec_context),
            variable_rate=v.frames not in (0, round(duration * fps)),  # 0: the container does not say
        )
    _check_limits(path.name, duration, (width, height), fps, max_seconds, max_pixels)
    return info


def _what(container: av.container.InputContainer) -> str:
    """A file as probed, e.g. "MPEG-TS (MPEG-2 Transport Stream) with mpeg2video video, mp2 audio"."""
    streams = ", ".join(f"{s.codec_context.name} {s.type}" for s in container.streams if s.type in ("video", "audio"))
    return (container.format.long_name or container.format.name) + (f" with {streams}" if streams else "")


def _scan(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, stored: tuple[int, int], name: str
) -> tuple[int, Fraction | None]:
    """One pass over the video packets, decoding key frames only: the display rotation (degrees),
    the typical frame duration (the median of the first timestamp steps, in seconds), and one
    stored size throughout. A clip whose resolution changes midway (streams joined with `-c copy`)
    would be rescaled silently and its slot boxes would move; in H.264 and HEVC the size can
    change only at a key frame."""
    stream.codec_context.skip_frame = "NONKEY"
    rotation: int | None = None
    stamps: list[int] = []
    try:
        for packet in container.demux(stream):
            if packet.pts is not None and len(stamps) <= MEASURED_STEPS:
                stamps.append(packet.pts)
            for frame in packet.decode():
                if (frame.width, frame.height) != stored:
                    change = (
                        f"{stored[0]}x{stored[1]} to {frame.width}x{frame.height} at {float(frame.time or 0):.2f} s"
                    )
                    raise MediaRejected(
                        f"resolution changes from {change}; a base clip needs one resolution", where=name
                    )
                rotation = int(frame.rotation or 0) if rotation is None else rotation
    except av.FFmpegError as exc:
        raise MediaRejected(f"cannot be decoded ({_reason(exc)}: damaged or cut short)", where=name) from None
    stamps.sort()
    steps = sorted(b - a for a, b in zip(stamps, stamps[1:], strict=False) if b > a)
    step = Fraction(steps[len(steps) // 2]) * stream.time_base if steps and stream.time_base else None
    return rotation or 0, step


def _colour(codec: av.video.codeccontext.VideoCodecContext) -> str:
    if codec.color_trc in HDR_TRANSFERS:
        return "hdr"
    return OTHER_MATRICES.get(codec.colorspace, "")


def _frame_rate(step: Fraction | None, average: Fraction) -> Fraction:
    """The clip's frame rate: measured from its timestamps, a standard rate when it is near one."""
    measured = 1 / step if step else average
    if not measured:
        return average
    nearest = min(STANDARD_RATES, key=lambda rate: abs(rate - measured))
    return nearest if abs(nearest - measured) <= measured / 100 else measured.limit_denominator(1001)


def _check_codecs(container: av.container.InputContainer, name: str) -> None:
    """Every video and audio stream, not only those vidmerge uses: ffmpeg opens them all."""
    for stream in container.streams.video:
        if stream.codec_context.name not in VIDEO_CODECS:
            allowed = ", ".join(sorted(VIDEO_CODECS))
            raise MediaRejected(f"video codec {stream.codec_context.name!r} is not allowed ({allowed})", where=name)
    for audio in container.streams.audio:
        if audio.codec_context.name not in AUDIO_CODECS:
            allowed = ", ".join(sorted(AUDIO_CODECS))
            raise MediaRejected(f"audio codec {audio.codec_context.name!r} is not allowed ({allowed})", where=name)


def _duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return 0.0


def _check_limits(
    name: str, duration: float, size: tuple[int, int], fps: Fraction, max_seconds: float, max_pixels: int
) -> None:
    width, height = size
    if not 0 < duration <= max_seconds:
        raise MediaRejected(f"duration {duration:.2f} s is outside (0, {max_seconds}]", where=name)
    if width * height > max_pixels or width < 16 or height < 16:
        raise MediaRejected(f"resolution {width}x{height} is not allowed", where=name)
    if not 1 <= fps <= 60:
        raise MediaRejected(f"frame rate {float(fps):.3f} is outside 1–60", where=name)
    if width % 2 or height % 2:
        raise MediaRejected(f"resolution {width}x{height} must be even", where=name)


def probe_image_format(path: Path) -> str:
    """The demuxer name of an image file, rejecting anything outside the allow-list."""
    with _open(path) as container:
        fmt = container.format.name
    if fmt not in IMAGE_DEMUXERS:
        raise MediaRejected(f"format {fmt!r} is not an allowed image format", where=path.name)
    return fmt


def probe_image(path: Path, *, max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[int, int]:
    """(width, height) of an image asset that passes both allow-lists and the pixel limit.

    The demuxer probe sees what ffmpeg would make of the file; Pillow, limited to PNG, JPEG and
    WebP, sees what an image slot will decode: a GIF, BMP, SVG or EPS renamed `.png` fails here.
    The size is read from the header, before any pixel is decoded (decompression bombs).
    """
    probe_image_format(path)
    guard_pillow(max_pixels)
    try:
        with warnings.catch_warnings():  # the explicit check below replaces Pillow's warning
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path, formats=IMAGE_FORMATS)
        with im:
            width, height = im.size
            if width * height > max_pixels:
                raise MediaRejected(f"{width}x{height} pixels; at most {max_pixels} allowed", where=path.name)
            im.verify()  # checksums and structure, without keeping the pixels
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise MediaRejected(f"not an allowed image ({type(exc).__name__})", where=path.name) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise MediaRejected(f"damaged image ({type(exc).__name__})", where=path.name) from None
    return width, height


def image_type(path: Path) -> str:
    """The MIME type of an image asset (one that passed `probe_image` at upload)."""
    with Image.open(path, formats=IMAGE_FORMATS) as im:
        return Image.MIME.get(im.format or "", "application/octet-stream")


def guard_pillow(max_pixels: int = MAX_IMAGE_PIXELS) -> None:
    """Pillow's own decompression-bomb guard, process-wide: it raises at twice this many pixels.

    Set wherever bundles are loaded (API and workers), so every later Image.open is guarded too.
    """
    Image.MAX_IMAGE_PIXELS = max_pixels
