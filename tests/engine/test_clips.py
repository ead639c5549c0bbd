"""Clips as marketers export them, each rendered end to end: upright, every frame there, audio as
long as the video, the greeting where and when it belongs, and the same colours in a shared and a
personalized segment. HDR is as bright as its SDR master, a variable-rate clip stays in sync, and
a clip refused at upload is named with what it is and what would be accepted."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from fastapi.testclient import TestClient
from support.media import SMALL_MANIFEST, decoded_frames, frames_at, stream_seconds, write_bundle, zip_folder

from vidmerge.config import Settings
from vidmerge.engine import ffmpeg
from vidmerge.engine.prepare import load_prepared, prepare, prepared_key
from vidmerge.engine.runner import render_to_folder
from vidmerge.service.app import create_app
from vidmerge.storage import LocalStorage
from vidmerge.template.bundle import load_bundle
from vidmerge.template.media import probe_video

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


# --- a short clip prepared on its own: one 2 s segment with the greeting inside it ------------


def _prepared(tmp: Path, clip: Path) -> Path:
    """The first segment of `clip` prepared as a template's base clip."""
    manifest: dict[str, Any] = copy.deepcopy(SMALL_MANIFEST)
    manifest["slots"] = [{**manifest["slots"][0], "start": 0.5, "end": 1.5}]
    template = load_bundle(write_bundle(tmp / "bundle", manifest, clip=clip))
    storage = LocalStorage(tmp / "objects")
    path = storage.local_path(prepare(template, storage).segments[0].key)
    assert path is not None
    return path


def _mean_light(path: Path) -> float:
    """Mean luma above black (Y - 16) over every frame."""
    with av.open(str(path)) as container:
        planes = [f.reformat(format="yuv420p").to_ndarray()[: f.height] for f in container.decode(video=0)]
    return float(np.mean(planes)) - 16


# An SDR master turned into HDR as ITU-R BT.2408 pairs them (SDR white at 203 cd/m²: HLG 75 %, PQ 58 %),
# tagged and, for PQ, with the mastering metadata a phone writes.
PQ_METADATA = ":master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1):max-cll=1000,400"


@pytest.mark.parametrize(("trc", "x265"), [("arib-std-b67", ""), ("smpte2084", PQ_METADATA)], ids=["HLG", "PQ"])
def test_an_hdr_export_is_as_bright_as_its_sdr_master(tmp_path: Path, trc: str, x265: str) -> None:
    master, hdr = tmp_path / "master.mp4", tmp_path / "hdr.mp4"
    tags = ["-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709"]
    bars = ["-f", "lavfi", "-i", "smptehdbars=s=320x180:r=30:d=2"]  # saturated, but in large patches
    ffmpeg.run([*bars, *H264, *tags, str(master)], what="test clip")
    to_hdr = ("zscale=tin=bt709:min=bt709:pin=bt709:rin=tv:p=bt709:t=linear:npl=203,format=gbrpf32le,"
              f"zscale=p=bt2020:t={trc}:m=bt2020nc:r=tv:npl=203,format=yuv420p10le")  # fmt: skip
    params = f"log-level=error:colorprim=bt2020:transfer={trc}:colormatrix=bt2020nc{x265}"
    ffmpeg.run(["-i", str(master), "-vf", to_hdr, "-c:v", "libx265", "-preset", "ultrafast", "-crf", "12",
                "-x265-params", params, "-color_primaries", "bt2020", "-color_trc", trc, "-colorspace", "bt2020nc",
                str(hdr)], what="test clip")  # fmt: skip
    assert probe_video(hdr).colour == "hdr"

    ratio = _mean_light(_prepared(tmp_path, hdr)) / _mean_light(master)
    assert abs(ratio - 1) <= 0.03, f"prepared HDR has {ratio:.3f} of its SDR master's light"


FLASH = 1.5  # seconds: one white frame, and a beep starting with it


def _flash_and_beep(path: Path) -> tuple[float, float]:
    """When the white frame is shown and when the beep is first heard, in seconds."""
    with av.open(str(path)) as container:
        frames = container.decode(video=0)
        flash = next(float(f.time or 0) for f in frames if f.to_ndarray(format="gray").mean() > 200)
    with av.open(str(path)) as container:
        for f in container.decode(audio=0):
            loud = np.flatnonzero(np.abs(f.to_ndarray()[0]) > 0.2)
            if loud.size:
                return flash, float(f.time or 0) + loud[0] / f.sample_rate
    raise AssertionError("no beep")


def test_a_clip_with_dropped_frames_stays_in_sync_with_its_audio(tmp_path: Path) -> None:
    """A phone that drops frames keeps the others' timestamps (variable frame rate)."""
    video = (f"testsrc2=s=320x180:r=30:d=2,drawbox=c=white:t=fill:enable='between(t,{FLASH - 0.001},{FLASH + 0.02})',"
             "select='not(between(n,20,24))'")  # frames 20-24 dropped, before the flash  # fmt: skip
    beep = f"aevalsrc='if(between(t,{FLASH},{FLASH + 0.1}),0.8*sin(2*PI*1000*t),0)':s=48000:d=2"
    clip = tmp_path / "vfr.mp4"
    ffmpeg.run(["-f", "lavfi", "-i", video, "-f", "lavfi", "-i", beep, "-fps_mode", "vfr", *H264, *AAC, str(clip)],
               what="test clip")  # fmt: skip
    flash, heard = _flash_and_beep(clip)
    assert abs(flash - heard) < 0.01, "the test clip itself is out of sync"

    flash, heard = _flash_and_beep(_prepared(tmp_path, clip))
    assert abs(flash - heard) <= 0.5 / 30, f"the flash is shown {(flash - heard) * 30:+.2f} frames from the beep"


# --- refused at upload: the file as uploaded, what it is, never a server path ----------------


def _refusal(tmp: Path, name: str, data: bytes) -> dict[str, Any]:
    """The problem answered for a bundle whose base clip is `name` holding `data`, uploaded over HTTP."""
    manifest: dict[str, Any] = {**copy.deepcopy(SMALL_MANIFEST), "base": name}
    archive = zip_folder(write_bundle(tmp / "bundle", manifest, files={name: data}), tmp / "bundle.zip")
    app = create_app(Settings(data_dir=tmp / "data"))
    with TestClient(app, raise_server_exceptions=False) as client, archive.open("rb") as f:
        answer = client.post("/v1/templates", files={"file": ("bundle.zip", f, "application/zip")})
    assert answer.status_code == 422, answer.text
    assert str(tmp) not in answer.text and "/tmp" not in answer.text, answer.text
    problem: dict[str, Any] = answer.json()["problems"][0]
    assert problem["where"] == name and "/" not in problem["reason"], problem
    return problem


def test_an_mpeg2_ts_is_refused_saying_what_it_is_and_what_is_accepted(tmp_path: Path) -> None:
    clip = tmp_path / "made.ts"
    ffmpeg.run([*_lavfi(seconds=1, audio=1), "-c:v", "mpeg2video", "-c:a", "mp2", str(clip)], what="test clip")
    reason = _refusal(tmp_path, "export.ts", clip.read_bytes())["reason"]
    assert "MPEG-TS" in reason and "mpeg2video video" in reason and "mp2 audio" in reason, reason
    assert "accepted: MP4, MOV, Matroska or WebM with video" in reason and "h264" in reason, reason


@pytest.mark.parametrize("faststart", [False, True], ids=["index last", "index first"])
def test_a_truncated_upload_is_refused_naming_the_file_as_uploaded(tmp_path: Path, faststart: bool) -> None:
    clip = tmp_path / "made.mp4"
    ffmpeg.run([*_lavfi(seconds=2, audio=2), *H264, *AAC, *(["-movflags", "+faststart"] if faststart else []),
                str(clip)], what="test clip")  # fmt: skip
    data = clip.read_bytes()
    reason = _refusal(tmp_path, "base.mp4", data[: len(data) * 6 // 10])["reason"]
    assert "damaged" in reason and "cut short" in reason, reason
