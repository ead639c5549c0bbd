"""The baselines vidmerge is measured against, each built as its authors would write it:

L  the floor: only the personalized seconds encoded, nothing else
F  a careful engineer's one-pass full re-encode with ffmpeg overlays
M  moviepy 2 compositing every frame (an optional extra: `pip install vidmerge[bench]`)
"""

from __future__ import annotations

import importlib.util
from fractions import Fraction
from pathlib import Path
from typing import Any

from PIL import Image

from vidmerge.bench.workload import windows
from vidmerge.draw.layers import slot_state
from vidmerge.draw.slots import NumberSlot, Slot
from vidmerge.engine import ffmpeg
from vidmerge.engine.argv import video_encoder_args
from vidmerge.engine.loaded import LoadedVersion
from vidmerge.engine.pipeline import Personalized
from vidmerge.plan import Drawn
from vidmerge.template.bundle import Template

# --- L: the floor ---------------------------------------------------------------------------


def floor_encode(loaded: LoadedVersion, person: Personalized, out_dir: Path) -> Path:
    """Encode exactly the personalized seconds, cut from the mezzanine, in one ffmpeg run."""
    p = loaded.prepared
    inputs: list[str] = []
    graph: list[str] = []
    for w, (start, end) in enumerate(windows(loaded.template.slots)):
        first = int(start // (p.gop / p.fps))
        covering = [s for s in p.segments if p.start(s.index) < end and s.index >= first]
        labels = "".join(f"[{inputs.count('-i') + i}:v]" for i in range(len(covering)))
        for seg in covering:
            inputs += ["-i", str(_local(loaded, seg.key))]
        offset = start - p.start(first)
        graph.append(
            f"{labels}concat=n={len(covering)}:v=1:a=0,"
            f"trim=start={offset:.6f}:end={offset + end - start:.6f},setpts=PTS-STARTPTS[w{w}]"
        )
    n = len(graph)
    graph.append("".join(f"[w{w}]" for w in range(n)) + f"concat=n={n}:v=1:a=0[v]")
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "floor.ts"
    ffmpeg.run([*inputs, "-filter_complex", ";".join(graph), "-map", "[v]", "-an",
                *video_encoder_args(p, loaded.limits.threads), "-f", "mpegts", str(out)],
               limits=loaded.limits, what="bench L")  # fmt: skip
    return out


def _local(loaded: LoadedVersion, key: str) -> Path:
    path = loaded.storage.local_path(key)
    assert path is not None, "the bench prepares into local storage"
    return path


# --- F: the careful engineer's one pass -----------------------------------------------------


def hand_written_full(loaded: LoadedVersion, person: Personalized, out_dir: Path) -> Path:
    """Base clip + per-slot PNGs composited by ffmpeg's overlay filter; audio copied."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fps = loaded.prepared.fps
    inputs: list[str] = ["-i", str(loaded.template.base)]
    chains: list[str] = []
    last = "0:v"
    for i, slot in enumerate(loaded.template.slots):
        stream, slot_inputs = _slot_stream(loaded, slot, person.drawn[slot.id], out_dir, fps, i)
        first = inputs.count("-i")
        chains.append(stream.format(*(f"[{first + k}:v]" for k in range(slot_inputs.count("-i")))))
        inputs += slot_inputs
        win = f"between(t,{slot.start},{slot.end})"
        chains.append(f"[{last}][s{i}]overlay=x={slot.box.x}:y={slot.box.y}:eof_action=pass:enable='{win}'[o{i}]")
        last = f"o{i}"
    out = out_dir / "full.mp4"
    o = loaded.template.manifest.output
    ffmpeg.run([*inputs, "-filter_complex", ";".join(chains), "-map", f"[{last}]",
                "-map", "0:a?", "-c:a", "copy",
                "-c:v", "libx264", "-preset", o.preset, "-crf", str(o.crf),
                "-profile:v", "high", "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(out)],
               limits=loaded.limits, what="bench F")  # fmt: skip
    return out


def _slot_stream(
    loaded: LoadedVersion, slot: Slot, drawn: Drawn, out_dir: Path, fps: Fraction, i: int
) -> tuple[str, list[str]]:
    """A filter chain template ({} = input labels) producing `[s{i}]`, and its inputs."""
    frames = round((slot.end - slot.start) * fps)
    final = slot_image(loaded.template, slot, drawn, slot.end - 1e-6)
    final.save(out_dir / f"slot{i}.png")
    rate = f"{fps.numerator}/{fps.denominator}"
    hold = f"format=rgba,loop=loop={{n}}:size=1:start=0,setpts=N/({rate})/TB"
    tail = _fades(slot, frames / fps) + f"setpts=PTS+{slot.start}/TB[s{i}]"
    counting = _count_up_frames(slot, fps)
    if not counting:
        chain = "{}" + hold.format(n=frames - 1) + "," + tail
        return chain, ["-i", str(out_dir / f"slot{i}.png")]
    for n in range(counting):  # one PNG per count-up frame: the exact pixels vidmerge draws
        t = slot.start + float(n / fps)
        slot_image(loaded.template, slot, drawn, t).save(out_dir / f"slot{i}_{n:04d}.png")
    seq = f"format=rgba,setpts=N/({rate})/TB"
    chain = (
        "{}" + seq + f"[c{i}];" + "{}" + hold.format(n=frames - counting - 1) + f"[h{i}];"
        f"[c{i}][h{i}]concat=n=2:v=1:a=0," + tail
    )
    return chain, [
        "-framerate", rate, "-i", str(out_dir / f"slot{i}_%04d.png"),
        "-i", str(out_dir / f"slot{i}.png"),
    ]  # fmt: skip


def _count_up_frames(slot: Slot, fps: Fraction) -> int:
    if not isinstance(slot, NumberSlot) or slot.count_up <= 0:
        return 0
    return min(round(slot.count_up * fps), round((slot.end - slot.start) * fps) - 1)


def _fades(slot: Slot, duration: Fraction) -> str:
    s = slot.style
    parts = []
    if s.fade_in > 0:
        parts.append(f"fade=t=in:st=0:d={s.fade_in}:alpha=1,")
    if s.fade_out > 0:
        parts.append(f"fade=t=out:st={float(duration) - s.fade_out:.6f}:d={s.fade_out}:alpha=1,")
    return "".join(parts)


def slot_image(template: Template, slot: Slot, drawn: Drawn, t: float) -> Image.Image:
    """The slot as vidmerge draws it at time t, at full opacity (fades are applied apart)."""
    state = slot_state(slot, drawn, t)
    content = drawn.text if state is None else state[0]
    return slot.picture(content, drawn, template)


# --- M: moviepy -----------------------------------------------------------------------------


def moviepy_available() -> bool:
    """moviepy is an optional extra (`pip install 'vidmerge[bench]'`); without it M is not measured."""
    return importlib.util.find_spec("moviepy") is not None


def moviepy_full(loaded: LoadedVersion, person: Personalized, out: Path, *, same_preset: bool) -> Path:
    """The obvious Python approach: moviepy composites every frame of the whole clip.

    M writes with moviepy's defaults (libx264 `medium`, as `write_videofile(path, fps=…)` does);
    M_same_preset forces the template's preset and CRF, to show how much of M is the encoder.
    """
    from moviepy import CompositeVideoClip, VideoFileClip

    o = loaded.template.manifest.output
    base = VideoFileClip(str(loaded.template.base))
    layers = [base]
    for slot in loaded.template.slots:
        layers += _moviepy_slot(loaded, slot, person.drawn[slot.id])
    video = CompositeVideoClip(layers, size=base.size).with_duration(base.duration)
    encoder: dict[str, Any] = {"preset": o.preset, "ffmpeg_params": ["-crf", str(o.crf)]} if same_preset else {}
    video.write_videofile(
        str(out), fps=float(loaded.prepared.fps), codec="libx264", audio_codec="aac", logger=None,
        temp_audiofile=str(out.with_suffix(".audio.m4a")), **encoder,  # beside the output, not in the cwd
    )  # fmt: skip
    base.close()
    return out


def _moviepy_slot(loaded: LoadedVersion, slot: Slot, drawn: Drawn) -> list[Any]:
    """TextClips (one per count-up frame, then the final value) or an ImageClip for one slot."""
    from moviepy import ImageClip

    fps = loaded.prepared.fps
    counting = _count_up_frames(slot, fps)
    starts = [slot.start + float(n / fps) for n in range(counting)] + [slot.start + float(counting / fps)]
    clips = []
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else slot.end
        if slot.kind == "image":
            image = slot_image(loaded.template, slot, drawn, start)
            clip = ImageClip(_rgba_array(image), transparent=True)
        else:
            clip = _text_clip(loaded, slot, drawn, start)
        clips.append(_placed(clip, slot, start, end))
    return _faded(clips, slot)


def _text_clip(loaded: LoadedVersion, slot: Slot, drawn: Drawn, t: float) -> Any:
    from moviepy import TextClip

    state = slot_state(slot, drawn, t)
    text = drawn.text if state is None else state[0]
    s = slot.style
    return TextClip(
        font=str(loaded.template.fonts[slot.id]), text=text, font_size=s.size, color=s.color,
        stroke_color=s.stroke_color if s.stroke_width else None, stroke_width=s.stroke_width,
        text_align=s.align,
        method="label", margin=(s.stroke_width, s.size // 4),  # label sizing cuts CJK descenders
    )  # fmt: skip


def _placed(clip: Any, slot: Slot, start: float, end: float) -> Any:
    b = slot.box
    w, h = clip.size
    x = b.x if slot.style.align == "left" else b.x + (b.w - w) // 2
    return clip.with_start(start).with_duration(end - start).with_position((x, b.y + (b.h - h) // 2))


def _faded(clips: list[Any], slot: Slot) -> list[Any]:
    from moviepy import vfx

    s = slot.style
    if s.fade_in > 0:
        clips[0] = clips[0].with_effects([vfx.CrossFadeIn(s.fade_in)])
    if s.fade_out > 0:
        clips[-1] = clips[-1].with_effects([vfx.CrossFadeOut(s.fade_out)])
    return clips


def _rgba_array(image: Image.Image) -> Any:
    import numpy as np

    return np.asarray(image.convert("RGBA"))
