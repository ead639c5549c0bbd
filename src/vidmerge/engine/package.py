"""Packaging without re-encoding: the HLS playlist over shared and personal segments, the MP4
by stream copy (`+faststart`), the poster JPEG and the email GIF.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from PIL import Image, ImageDraw

from vidmerge.engine import argv, ffmpeg
from vidmerge.plan import Prepared, RenderPlan, SegmentPlan


def playlist(plan: RenderPlan, url_for: Callable[[SegmentPlan], str]) -> str:
    """A complete VOD playlist: known in full before any dynamic segment exists."""
    target = max(math.ceil(s.end - s.start) for s in plan.segments)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        f"#EXT-X-TARGETDURATION:{target}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    for seg in plan.segments:
        lines += [f"#EXTINF:{seg.end - seg.start:.6f},", url_for(seg)]
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


LANGUAGES = {"ja": "日本語", "en": "English"}  # a subtitles track's NAME, by its LANGUAGE


def master_playlist(
    prepared: Prepared, url_for: Callable[[Prepared], str], subtitles: str | None = None, lang: str = "ja"
) -> str:
    """The ladder's master playlist (RFC 8216 4.3.4.2), the lowest rendition first: a player
    that starts on the first one listed (Safari) starts on the one that renders and arrives
    soonest. `subtitles`: the URI of a subtitles playlist, on by default, in `lang`."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    group = ""
    if subtitles is not None:
        lines.append(f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",LANGUAGE="{lang}",NAME="{LANGUAGES[lang]}",'
                     f'DEFAULT=YES,AUTOSELECT=YES,URI="{subtitles}"')  # fmt: skip
        group = ',SUBTITLES="subs"'
    for p in prepared.ladder:
        lines += [
            f"#EXT-X-STREAM-INF:BANDWIDTH={p.bandwidth},RESOLUTION={p.width}x{p.height},"
            f'CODECS="{p.codecs}",FRAME-RATE={float(p.fps):.3f}{group}',
            url_for(p),
        ]
    return "\n".join(lines) + "\n"


def subtitles_playlist(duration: float, uri: str) -> str:
    """A subtitles media playlist of one WebVTT segment as long as the video."""
    head = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{math.ceil(duration)}", "#EXT-X-MEDIA-SEQUENCE:0"]
    lines = [*head, "#EXT-X-PLAYLIST-TYPE:VOD", f"#EXTINF:{duration:.6f},", uri, "#EXT-X-ENDLIST"]
    return "\n".join(lines) + "\n"


def start_pts(prepared: Prepared) -> int:
    """The TS segments' time (90 kHz) of the clip's first frame: a subtitles segment's MPEGTS."""
    return round(argv.lead_us(prepared.fps) * 90_000 / 1_000_000)


def concat_mp4(segments: Sequence[Path], dest: Path, limits: ffmpeg.Limits = ffmpeg.Limits()) -> None:
    """Remux MPEG-TS segments into one MP4 (+faststart), every packet and timestamp as it is.

    The segments' bytes are piped in one after another: MPEG-TS is a packet stream and the
    segments carry the mezzanine's continuous clock, so one demuxer reads them as one stream
    (one probe instead of one per file).
    """
    tmp = dest.with_name(dest.name + ".part.mp4")
    ffmpeg.run(argv.concat_args(tmp), limits=limits, stdin_chunks=_file_chunks(segments), what="mp4")
    tmp.replace(dest)


def _file_chunks(paths: Sequence[Path]) -> Iterator[bytes]:
    for path in paths:
        with path.open("rb") as f:
            yield from iter(lambda: f.read(1 << 20), b"")


def poster(source: Path | Sequence[Path], frame: int, dest: Path, limits: ffmpeg.Limits, play: int = 0) -> None:
    """A JPEG of the source's frame number `frame` (a clip, or MPEG-TS segments read as one): a
    personalized frame, so the email shows the name. `play`: a ▶ button of that diameter (source
    pixels) over its middle; 0, none."""
    tmp = dest.with_name(dest.name + ".part.jpg")
    clip, chunks = _source(source)
    with _button(dest, play) as button:
        ffmpeg.run(argv.poster_args(clip, frame, tmp, button), limits=limits, stdin_chunks=chunks, what="poster")
    tmp.replace(dest)


@functools.lru_cache(maxsize=16)
def play_button(diameter: int) -> bytes:
    """A ▶ button as a PNG with transparency: a white triangle in a translucent dark disc with a
    white ring (the email GIF's and poster's, and the placeholders'). Drawn four times larger and
    scaled down, for smooth edges."""
    big = diameter * 4
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    ring = max(4, big // 24)
    draw.ellipse((0, 0, big - 1, big - 1), fill=(17, 24, 39, 150), outline=(255, 255, 255, 235), width=ring)
    r = big / 2
    draw.polygon([(r * 0.78, r * 0.55), (r * 0.78, r * 1.45), (r * 1.5, r)], fill=(255, 255, 255, 245))
    out = io.BytesIO()
    image.resize((diameter, diameter), Image.Resampling.LANCZOS).save(out, "PNG")
    return out.getvalue()


@contextmanager
def _button(dest: Path, diameter: int) -> Iterator[Path | None]:
    """The ▶ button as a file beside `dest` while ffmpeg reads it (None for diameter 0)."""
    if diameter <= 0:
        yield None
        return
    path = dest.with_name(dest.name + ".play.png")
    path.write_bytes(play_button(diameter))
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _source(source: Path | Sequence[Path]) -> tuple[Path | None, Iterator[bytes] | None]:
    """A clip file is read by ffmpeg; segments are piped to it."""
    return (source, None) if isinstance(source, Path) else (None, _file_chunks(source))


GIF_BUDGET = 1_000_000  # bytes: what email clients and inboxes take without complaint


def gif(source: Path | Sequence[Path], first: int, frames: int, width: int, fps: int, dest: Path,
        limits: ffmpeg.Limits, start: int = 0, play: int = 0) -> tuple[int, int]:  # fmt: skip
    """An animated GIF for email: `frames` frames from the source's frame `first` on (a clip, or
    MPEG-TS segments read as one), denoised, small palette, under GIF_BUDGET if it can be, with a
    ▶ button of diameter `play` (source pixels, 0: none) over its middle.
    Returns its size and the try (of argv.GIF_TRIES) that made it.

    Film grain is what makes GIFs large, so frames are denoised first; a GIF still over the
    budget is made again at three quarters of the width and fewer colours, then at half the
    frame rate. What is still over after that ships as it is (the upload warned of it). A
    caller that knows the first tries will not fit (the same clip's GIF did not) `start`s later.
    """
    tmp = dest.with_name(dest.name + ".part.gif")
    with _button(dest, play) as button:
        for attempt in range(min(start, len(argv.GIF_TRIES) - 1), len(argv.GIF_TRIES)):
            scale, colours, rate = argv.GIF_TRIES[attempt]
            w = max(64, round(width * scale / 2) * 2)
            clip, chunks = _source(source)
            args = argv.gif_args(clip, first, frames, w, max(1, round(fps * rate)), colours, tmp, button)
            ffmpeg.run(args, limits=limits, stdin_chunks=chunks, what="gif", formats=ffmpeg.INTERNAL_FORMATS + ",gif")
            if tmp.stat().st_size <= GIF_BUDGET:
                break
    size = tmp.stat().st_size
    tmp.replace(dest)
    return size, attempt
