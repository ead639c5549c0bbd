"""Clips as marketers export them, each rendered end to end: upright, every frame there, audio as
long as the video, the greeting where and when it belongs, and the same colours in a shared and a
personalized segment."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.media import SMALL_MANIFEST, decoded_frames, frames_at, stream_seconds, write_bundle

from vidmerge.config import Settings
from vidmerge.engine import ffmpeg
from vidmerge.engine.prepare import load_prepared, prepared_key
from vidmerge.engine.runner import render_to_folder
from vidmerge.storage import LocalStorage
from vidmerge.template.bundle import load_bundle

pytestmark = pytest.mark.slow

H264 = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
AAC = ["-c:a", "aac"]


def _lavfi(
    size: str = "320x180", rate: str = "30", seconds: float = 6, audio: float | None = 6, ar: int = 48000
) -> list[str]:
    video = ["-f", "lavfi", "-i", f"testsrc2=s={size}:r={rate}:d={seconds}"]
    return video + ([] if audio is None else ["-f", "lavfi", "-i", f"sine=f=440:d={audio}:sample_rate={ar}"])


HLG = [
    "-vf", "format=yuv420p10le", "-c:v", "libx265", "-preset", "ultrafast",
    "-x265-params", "log-level=error:colorprim=bt2020:transfer=arib-std-b67:colormatrix=bt2020nc",
    "-color_primaries", "bt2020", "-color_trc", "arib-std-b67", "-colorspace", "bt2020nc", "-tag:v", "hvc1",
]  # fmt: skip
JITTER = ["-vf", "setpts='PTS+0.004*random(0)/TB'", "-fps_mode", "vfr"]
LANDSCAPE, PORTRAIT = (320, 180), (180, 320)
# name: (file suffix, ffmpeg argv before the output, a remux after it or None, displayed size)
CLIPS: dict[str, tuple[str, list[str], list[str] | None, tuple[int, int]]] = {
    "rotated 90°": (".mp4", [*_lavfi(), *H264, *AAC, "-shortest"], ["-display_rotation", "90"], PORTRAIT),
    "audio shorter than video": (".mp4", [*_lavfi(audio=3), *H264, *AAC], None, LANDSCAPE),
    "no audio": (".mp4", [*_lavfi(audio=None), *H264], None, LANDSCAPE),
    "mono 44.1 kHz": (".mp4", [*_lavfi(ar=44100), *H264, *AAC, "-ac", "1", "-shortest"], None, LANDSCAPE),
    "HLG 10-bit HEVC": (".mp4", [*_lavfi(), *HLG, *AAC, "-shortest"], None, LANDSCAPE),
    "29.97 fps": (".mp4", [*_lavfi(rate="30000/1001"), *H264, *AAC, "-shortest"], None, LANDSCAPE),
    "ProRes 422 with PCM in MOV": (".mov", [*_lavfi(), "-c:v", "prores_ks", "-c:a", "pcm_s16le", "-shortest"], None,
                                   LANDSCAPE),
    "VP9 and Opus in WebM": (".webm", [*_lavfi(), "-c:v", "libvpx-vp9", "-b:v", "400k", "-c:a", "libopus",
                                       "-shortest"], None, LANDSCAPE),
    "vertical 9:16": (".mp4", [*_lavfi(size="180x320"), *H264, *AAC, "-shortest"], None, PORTRAIT),
    "looped with -stream_loop -c copy": (".mp4", [*_lavfi(seconds=2, audio=2), *H264, *AAC, "-shortest"],
                                         ["-stream_loop", "2"], LANDSCAPE),
    "variable frame rate": (".mp4", [*_lavfi(), *JITTER, *H264, *AAC, "-shortest"], None, LANDSCAPE),
}  # fmt: skip
UPRIGHT = {"greeting": {"x": 10, "y": 40, "w": 160, "h": 100}, "amount": {"x": 10, "y": 150, "w": 160, "h": 50}}


def _clip(tmp: Path, suffix: str, args: list[str], remux: list[str] | None) -> Path:
    made = tmp / f"made{suffix}"
    ffmpeg.run([*args, str(made)], what="test clip")
    if remux is None:
        return made
    clip = tmp / f"clip{suffix}"
    ffmpeg.run([*remux, "-i", str(made), "-c", "copy", str(clip)], what="test clip")
    return clip


@pytest.mark.parametrize("name", list(CLIPS))
def test_a_clip_renders_upright_whole_and_in_the_same_colours(tmp_path: Path, name: str) -> None:
    suffix, args, remux, (width, height) = CLIPS[name]
    manifest: dict[str, Any] = copy.deepcopy(SMALL_MANIFEST)
    manifest["base"] = f"base{suffix}"
    manifest["slots"][1]["end"] = 5.9  # within every clip (29.97 fps: 5.97 s)
    if height > width:
        for slot in manifest["slots"]:
            slot["box"] = UPRIGHT[slot["id"]]
    bundle = write_bundle(tmp_path / "bundle", manifest)
    (bundle / manifest["base"]).write_bytes(_clip(tmp_path, suffix, args, remux).read_bytes())
    settings = Settings(data_dir=tmp_path / "data")
    summary = render_to_folder(bundle, {"name": "田中"}, tmp_path / "out", settings, tmp_path / "scratch", parallel=1)

    # the greeting (2-4 s) and the amount (4.5-5.9 s) personalize segments 1 and 2 only
    assert summary["segments"]["dynamic"] == 2, summary["segments"]
    template = load_bundle(bundle)
    storage = LocalStorage(settings.data_dir / "objects")
    prepared = load_prepared(storage, prepared_key(template))
    assert prepared is not None and (prepared.width, prepared.height) == (width, height)
    mp4 = tmp_path / "out" / "video.mp4"
    assert decoded_frames(mp4) == prepared.frames
    seconds = stream_seconds(mp4)
    assert abs(seconds["audio"] - seconds["video"]) <= 1 / float(prepared.fps) + 0.05, seconds

    shared = storage.local_path(prepared.segments[1].key)
    assert shared is not None
    offset = float(4 / prepared.fps)  # a few frames into segment 1, before the greeting fades in fully
    ours = frames_at(mp4, [3.0, float(prepared.start(1)) + offset])
    base = frames_at(shared, [3.0 - prepared.start(1), offset])
    box = manifest["slots"][0]["box"]
    inside = (slice(box["y"], box["y"] + box["h"]), slice(box["x"], box["x"] + box["w"]))
    drawn = np.abs(ours[3.0][inside].astype(int) - base[3.0 - prepared.start(1)][inside].astype(int)).mean()
    assert drawn > 10, f"the greeting is not where it belongs ({drawn:.1f})"
    outside = (slice(height - 20, height), slice(0, width))  # below every slot box
    a, b = ours[float(prepared.start(1)) + offset][outside], base[offset][outside]
    shift = np.abs(a.astype(int).mean(axis=(0, 1)) - b.astype(int).mean(axis=(0, 1))).max()
    assert shift <= 2, f"the personalized segment's colours moved by {shift:.1f} code values"
