"""Synthetic base clips: the demo template's footage and the R30 benchmark clip.

No external footage: a slowly moving radial gradient (motion), a drifting grain texture
plus light live grain (so the encoder works as it would on footage) and a four-chord loop with a plucked
arpeggio (music-like audio, so clicks at segment joins would be audible).
"""

from __future__ import annotations

from pathlib import Path

from vidmerge.engine import ffmpeg

CHORDS = (130.81, 110.0, 87.31, 98.0)  # C3, A2, F2, G2: a I-vi-IV-V loop, two seconds each


def _root(scale: int) -> str:
    a, b, c, d = (f * scale for f in CHORDS)
    return f"if(lt(mod(t,8),2),{a},if(lt(mod(t,8),4),{b},if(lt(mod(t,8),6),{c},{d})))"


def _music() -> str:
    bass = f"0.14*sin(2*PI*t*{_root(1)})*exp(-1.5*mod(t,0.5))"
    pad = f"0.05*sin(2*PI*t*{_root(2)}*1.26)"  # a major third above the octave
    pluck = f"0.07*sin(2*PI*t*{_root(4)}*1.5)*exp(-6*mod(t,0.25))"  # the fifth, on eighths
    left, right = f"{bass}+{pad}+{pluck}", f"{bass}+{pad}*0.8+{pluck}*1.2"
    return f"aevalsrc='{left}|{right}':s=48000:c=stereo"


def base_clip_args(
    dest: Path, *, seconds: float = 30.0, width: int = 1280, height: int = 720, fps: int = 30
) -> list[str]:
    video = (
        f"gradients=s={width // 2}x{height // 2}:r={fps}:d={seconds}:nb_colors=4:speed=0.012:type=radial:seed=1"
        ":c0=0x0b2a6f:c1=0x1e88e5:c2=0x00bfa5:c3=0x283593,format=yuv420p,"
        # a fixed grain that drifts (a slow pan the encoder can track), plus a little live grain;
        # seeded, so every machine generates the same clip (benches and tests repeat exactly)
        f"noise=alls=25:allf=u:all_seed=1,scroll=h=0.0015:v=0.0007,scale={width}:{height},"
        "noise=alls=5:allf=t+u:all_seed=2"
    )
    return [
        "-f", "lavfi", "-i", video, "-f", "lavfi", "-t", str(seconds), "-i", _music(),
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-profile:v", "high",
        "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "160k", "-ar", "48000",
        "-movflags", "+faststart", "-shortest", str(dest),
    ]  # fmt: skip


def make_base_clip(dest: Path, **kwargs: float | int) -> Path:
    """Generate a base clip at `dest` (atomically) unless it exists already."""
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part.mp4")
    ffmpeg.run(base_clip_args(tmp, **kwargs), limits=ffmpeg.Limits(timeout=900), what="base clip")  # type: ignore[arg-type]
    tmp.replace(dest)
    return dest
