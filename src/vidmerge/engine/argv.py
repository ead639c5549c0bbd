"""Every ffmpeg command line vidmerge runs, built as plain data from plan values.

Pure functions, no I/O: `ffmpeg.run` is the one place that spawns the binary. Keeping the argv
together shows at a glance that a dynamic segment is encoded exactly like the mezzanine it
splices into (same x264 settings, same clock, same muxer), which is what makes splicing work.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from vidmerge.plan import Prepared

LEAD_FRAMES = 6  # the mezzanine's clock starts this many frames after zero (see timeline_args)

# x264's quickest analysis, for a segment a viewer reaches within seconds (service/work/scheduler.py).
# It changes decisions only, never the stream headers, for presets whose subme is below 6 (from 6
# on, psy-rd moves the chroma QP offset in the PPS). Same CRF, on R30's first greeting segment:
# 17 % more bytes, SSIM 0.960 against 0.963, about half the CPU time.
RUSH_X264 = "subme=1:me=dia:trellis=0:rc-lookahead=0:mbtree=0:b-adapt=0:partitions=i8x8,i4x4"
RUSH_PRESETS = ("superfast", "veryfast", "faster")
# (width scale, colours, fps scale): a GIF over budget is made again, smaller, then at half the rate
GIF_TRIES = ((1.0, 64, 1.0), (0.75, 32, 1.0), (0.75, 32, 0.5))


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
    return ["-output_ts_offset", f"{lead_us(fps)}us", "-avoid_negative_ts", "disabled"]


def lead_us(fps: Fraction) -> int:
    """Where the mezzanine's clock puts the clip's first frame, in microseconds."""
    return round(Fraction(LEAD_FRAMES) / fps * 1_000_000)


# Every mezzanine is SDR BT.709 in TV range, tagged so (a browser shows an untagged clip as
# BT.709; the tags make the shared and the personalized segments agree, and the SPS match).
BT709 = "setparams=range=tv:colorspace=bt709:color_primaries=bt709:color_trc=bt709"
# HDR (HLG or PQ, BT.2020) to SDR as ITU-R BT.2408 pairs them: HDR reference white (203 cd/m²: HLG
# 75 %, PQ 58 %) becomes SDR white, so the HDR export of an SDR master looks like that master (Hable's
# curve from 100 cd/m² made it about a fifth darker). Light above 80 % of white rolls off (Möbius)
# up to 1000 cd/m², HLG's nominal peak and a phone's PQ, instead of clipping.
REFERENCE_WHITE = 203
TONEMAP = (f"zscale=t=linear:npl={REFERENCE_WHITE},format=gbrpf32le,zscale=p=bt709,"
           f"tonemap=tonemap=mobius:param=0.8:desat=0:peak={1000 / REFERENCE_WHITE:.4f},"
           "zscale=t=bt709:m=bt709:r=tv,format=yuv420p")  # fmt: skip


def colour_filter(colour: str) -> str:
    """The filter turning a clip's colours into the mezzanine's: `colour` is "hdr", a source
    matrix other than BT.709 (e.g. "smpte170m", converted), or "" (BT.709 or untagged: kept)."""
    if colour == "hdr":
        return f"{TONEMAP},{BT709}"
    convert = f"in_color_matrix={colour}:out_color_matrix=bt709:" if colour else ""
    return f"scale={convert}out_range=tv,{BT709}"


def mezzanine_args(
    base: Path, has_audio: bool, p: Prepared, total: int, threads: int, pattern: Path, *, colour: str = "",
    scaled: bool = False,
) -> list[str]:  # fmt: skip
    """The base clip re-encoded on the segment grid (a keyframe on every boundary) and cut into
    MPEG-TS segments. Every segment has an audio track: a clip without audio gets silence, audio
    shorter than the video is padded with silence, longer audio is cut: it lasts what the video does.
    Colours become SDR BT.709 in TV range (`colour_filter`), what every segment is tagged as.
    Frames are laid on the rate by their timestamps first (the fps filter: each output frame is the
    source frame nearest its time), so a variable-rate clip whose phone dropped frames stays in sync
    with its audio (`-r` alone put the video two frames behind after five dropped ones).
    `scaled`: the picture is scaled to `p`'s size (a lower rendition of the ladder), with square
    pixels: scale keeps the display aspect by a non-square one (351:352 for a 9:16 clip at 132×234)
    where the size, rounded to even, is not exactly the clip's aspect."""
    cuts = ",".join(str(n) for n in range(p.gop, total, p.gop))
    audio_in = [] if has_audio else ["-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo"]
    rate = f"{p.fps_num}/{p.fps_den}"
    size = f"scale={p.width}:{p.height},setsar=1," if scaled else ""
    picture = f"fps={rate},{size}{colour_filter(colour)}"
    return [
        "-i", str(base), *audio_in,
        "-map", "0:v:0", "-map", "0:a:0" if has_audio else "1:a:0",
        "-r", rate, "-frames:v", str(total), "-vf", picture,
        *video_encoder_args(p, threads),
        "-force_key_frames", f"expr:eq(mod(n,{p.gop}),0)",
        "-c:a", "aac", "-b:a", p.audio_bitrate, "-ar", "48000", "-ac", "2",
        "-af", f"apad=whole_dur={float(total / p.fps):.6f},atrim=duration={float(total / p.fps):.6f}",
        *timeline_args(p.fps),
        "-f", "segment", "-segment_format", "mpegts", "-segment_frames", cuts or str(total + 1),
        *ts_muxer_args(), str(pattern),
    ]  # fmt: skip


def overlay_args(
    source: Path,
    box: tuple[int, int, int, int],
    pts_expr: str,
    offset_frames: int,
    p: Prepared,
    threads: int,
    *,
    rush: bool = False,
    raw_frames: tuple[Path, str] | None = None,
    scale: Fraction = Fraction(1),
) -> list[str]:
    """Input `source` with a raw RGBA layer from stdin laid over it at `box` (x, y, w, h); audio
    copied.

    The layer sends only pictures that differ from the one before: setpts (`pts_expr`) puts each
    on the source's clock (kept by -copyts) at the frame it is first shown, and the overlay filter
    keeps laying it over every base frame until the next picture (the last one to the end). With
    `raw_frames` (the source's pictures decoded before, and the filter giving back their tags; see
    frames.py) the base pictures are read from there, shifted the same way, and only the audio is
    taken from `source`.

    `scale` below 1 (a lower rendition of the ladder): the layer, drawn at the top rendition's
    size (so its line breaks are the same everywhere), is scaled down with the box.
    """
    x, y, w, h = box
    picture = f"setpts={pts_expr}"
    if scale != 1:
        picture += f",scale={max(1, round(w * scale))}:{max(1, round(h * scale))}:flags=area"
        x, y = round(x * scale), round(y * scale)
    rate = f"{p.fps_num}/{p.fps_den}"
    layer_in = ["-f", "rawvideo", "-pix_fmt", "rgba", "-s", f"{w}x{h}", "-framerate", rate, "-i", "pipe:0"]
    if raw_frames is None:
        inputs, base, audio = ["-i", str(source), *layer_in], "[0:v]", "0:a?"
    else:
        path, tags = raw_frames
        raw = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{p.width}x{p.height}", "-framerate", rate]
        inputs = [*raw, "-i", str(path), *layer_in, "-i", str(source)]
        base, audio = f"[0:v]setpts=N+{offset_frames},{tags}[b];[b]", "2:a?"
    graph = f"[1:v]{picture}[o];{base}[o]overlay=x={x}:y={y}:format=auto[v]"
    return [
        "-copyts", *inputs,
        "-filter_complex", graph, "-map", "[v]", "-map", audio, "-c:a", "copy",
        *video_encoder_args(p, threads, rush=rush),
    ]  # fmt: skip


def segment_out_args(out: Path) -> list[str]:
    """Where an encoded dynamic segment goes: MPEG-TS on the mezzanine's clock."""
    return [*ts_muxer_args(), "-f", "mpegts", str(out)]


def decode_args(source: Path, out: Path) -> list[str]:
    """A segment's pictures as raw yuv420p, every frame as it is (frames.py)."""
    return ["-i", str(source), "-map", "0:v:0", "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "yuv420p",
            str(out)]  # fmt: skip


def concat_args(out: Path) -> list[str]:
    """MPEG-TS segments piped in one after another, remuxed into one MP4, every packet as it is."""
    return ["-f", "mpegts", "-i", "pipe:0", "-map", "0:v", "-map", "0:a?", "-c", "copy", "-movflags", "+faststart",
            str(out)]  # fmt: skip


def input_args(source: Path | None) -> list[str]:
    """A clip file, or (None) MPEG-TS segments piped in one after another, as one input."""
    return ["-i", str(source)] if source is not None else ["-f", "mpegts", "-i", "pipe:0"]


def filtered(source: Path | None, graph: str, button: Path | None) -> list[str]:
    """The source's video through `graph`; with a `button` (a picture), the button is laid over
    the middle of every frame first."""
    if button is None:
        return [*input_args(source), "-map", "0:v:0", "-vf", graph]
    return [*input_args(source), "-i", str(button), "-filter_complex",
            f"[0:v:0][1:v]overlay=(W-w)/2:(H-h)/2,{graph}"]  # fmt: skip


def poster_args(source: Path | None, frame: int, out: Path, button: Path | None = None) -> list[str]:
    """The source's frame number `frame` (counted from its first, 0) as a JPEG."""
    return [*filtered(source, f"select=eq(n\\,{frame})", button), "-frames:v", "1", "-q:v", "3", str(out)]


def gif_args(source: Path | None, first: int, frames: int, width: int, fps: int, colours: int, out: Path,
             button: Path | None = None) -> list[str]:  # fmt: skip
    """`frames` frames of the source from its frame number `first` on, as an email GIF: denoised
    first (grain is what makes GIFs large), then a small palette."""
    graph = (
        f"trim=start_frame={first}:end_frame={first + frames},setpts=PTS-STARTPTS,"
        f"fps={fps},scale={width}:-2:flags=area,hqdn3d=20:15:20:20,split[a][b];"
        f"[a]palettegen=max_colors={colours}:stats_mode=full[p];"
        "[b][p]paletteuse=dither=bayer:bayer_scale=5:diff_mode=rectangle"
    )
    return [*filtered(source, graph, button), "-loop", "0", str(out)]
