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


def _open(path: Path) -> av.container.InputContainer:
    try:
        return av.open(
            str(path),
            options={"format_whitelist": _WHITELIST, "protocol_whitelist": "file"},
        )
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise MediaRejected(f"not a readable media file ({exc})", where=path.name) from None


def probe_video(path: Path, *, max_seconds: float = 600, max_pixels: int = 3840 * 2160) -> MediaInfo:
    """Probe a video against the allow-list and limits; raise MediaRejected naming the file."""
    with _open(path) as container:
        fmt = container.format.name
        if fmt not in VIDEO_DEMUXERS:
            raise MediaRejected(f"format {fmt!r} is not an allowed video format", where=path.name)
        if not container.streams.video:
            raise MediaRejected("has no video stream", where=path.name)
        v = container.streams.video[0]
        _check_codecs(container, path.name)
        fps = Fraction(v.average_rate or v.guessed_rate or 0)
        duration = _duration(container, v)
        info = MediaInfo(
            format=fmt,
            duration=duration,
            width=v.codec_context.width,
            height=v.codec_context.height,
            fps=fps,
            frames=v.frames or round(duration * fps),
            has_audio=bool(container.streams.audio),
            audio_rate=container.streams.audio[0].rate if container.streams.audio else 0,
        )
        _check_limits(info, path.name, max_seconds, max_pixels)
        _check_constant_size(container, v, info, path.name)
    return info


def _check_constant_size(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, info: MediaInfo, name: str
) -> None:
    """Every key frame has the size the stream declares. A clip whose resolution changes midway
    (streams joined with `-c copy`) would be rescaled silently and its slot boxes would move; the
    size can change only at a key frame in H.264 and HEVC, so only key frames are decoded."""
    stream.codec_context.skip_frame = "NONKEY"
    try:
        for frame in container.decode(stream):
            if (frame.width, frame.height) != (info.width, info.height):
                change = f"{info.width}x{info.height} to {frame.width}x{frame.height} at {float(frame.time or 0):.2f} s"
                raise MediaRejected(f"resolution changes from {change}; a base clip needs one resolution", where=name)
    except av.FFmpegError as exc:
        raise MediaRejected(f"cannot be decoded ({exc})", where=name) from None


def _check_codecs(container: av.container.InputContainer, name: str) -> None:
    """Every video and audio stream, not only those vidmerge uses: ffmpeg opens them all."""
    for stream in container.streams.video:
        if stream.codec_context.name not in VIDEO_CODECS:
            allowed = ", ".join(sorted(VIDEO_CODECS))
            raise MediaRejected(f"video codec {stream.codec_context.name!r} is not allowed ({allowed})", where=name)
    for audio in container.streams.audio:
        if audio.codec_context.name not in AUDIO_CODECS:
            raise MediaRejected(f"audio codec {audio.codec_context.name!r} is not allowed", where=name)


def _duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return 0.0


def _check_limits(info: MediaInfo, name: str, max_seconds: float, max_pixels: int) -> None:
    if not 0 < info.duration <= max_seconds:
        raise MediaRejected(f"duration {info.duration:.2f} s is outside (0, {max_seconds}]", where=name)
    if info.width * info.height > max_pixels or info.width < 16 or info.height < 16:
        raise MediaRejected(f"resolution {info.width}x{info.height} is not allowed", where=name)
    if not 1 <= info.fps <= 60:
        raise MediaRejected(f"frame rate {float(info.fps):.3f} is outside 1–60", where=name)
    if info.width % 2 or info.height % 2:
        raise MediaRejected(f"resolution {info.width}x{info.height} must be even", where=name)


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


def guard_pillow(max_pixels: int = MAX_IMAGE_PIXELS) -> None:
    """Pillow's own decompression-bomb guard, process-wide: it raises at twice this many pixels.

    Set wherever bundles are loaded (API and workers), so every later Image.open is guarded too.
    """
    Image.MAX_IMAGE_PIXELS = max_pixels
