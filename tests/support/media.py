"""Small generated media and bundles for the engine tests.

Everything here is built with the real ffmpeg (`vidmerge.engine.ffmpeg.run`) and PyAV; nothing is
downloaded. The default clip is 6 s, 320×180, 30 fps with music-like stereo audio: big enough to
have three 2 s segments, small enough that a prepare plus a render takes about a second.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import av
import numpy as np
import yaml
from PIL import Image

from vidmerge.bench.clip import base_clip_args
from vidmerge.engine import ffmpeg

SMALL = {"seconds": 6, "width": 320, "height": 180}


def make_clip(dest: Path, **kwargs: Any) -> Path:
    """A base clip like the demo's (motion, grain, music), small by default."""
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        ffmpeg.run(base_clip_args(dest, **{**SMALL, **kwargs}), what="test clip")
    return dest


def fingerprint(data: bytes) -> str:
    """Short enough for an assertion message (pytest on CI prints whole byte strings)."""
    return f"{len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:16]}"


def make_png(dest: Path, color: tuple[int, int, int, int] = (255, 80, 0, 255), size: int = 32) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGBA", (size, size), color).save(dest)
    return dest


# A manifest for the small clip: a name greeting at [2, 4) — exactly segment 1 of a 2 s grid —
# and a number at [4.5, 6) — segment 2. Segment 0 is static.
SMALL_MANIFEST: dict[str, Any] = {
    "id": "small",
    "version": 1,
    "title": "small test template",
    "base": "base.mp4",
    "output": {"preset": "ultrafast", "crf": 23, "segment_seconds": 2},
    "inputs": {
        "name": {"type": "string", "default": "お客様", "max_length": 40},
        "amount": {"type": "number", "default": 12340},
    },
    "slots": [
        {
            "id": "greeting",
            "kind": "text",
            "start": 2.0,
            "end": 4.0,
            "text": "{{ name | honorific }}",
            "box": {"x": 10, "y": 40, "w": 300, "h": 100},
            "style": {"size": 40, "stroke_width": 2, "max_lines": 2},
        },
        {
            "id": "amount",
            "kind": "number",
            "start": 4.5,
            "end": 6.0,
            "value": "{{ amount }}",
            "format": "yen",
            "box": {"x": 10, "y": 120, "w": 300, "h": 50},
            "style": {"size": 32},
        },
    ],
}


def write_bundle(
    root: Path,
    manifest: Mapping[str, Any] | None = None,
    *,
    clip: Path | None = None,
    files: Mapping[str, bytes] | None = None,
) -> Path:
    """A bundle folder: template.yaml (YAML from `manifest`), the base clip linked or copied in
    as `base.mp4`, and any extra `files` (relative path -> bytes)."""
    root.mkdir(parents=True, exist_ok=True)
    raw = json.loads(json.dumps(SMALL_MANIFEST if manifest is None else manifest))
    (root / "template.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    if clip is not None:
        (root / "base.mp4").write_bytes(clip.read_bytes())
    for rel, data in (files or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def zip_folder(folder: Path, dest: Path, *, prefix: str = "") -> Path:
    """Zip every file of `folder`, optionally under a single top folder `prefix/`."""
    with zipfile.ZipFile(dest, "w") as zf:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            zf.write(path, prefix + str(path.relative_to(folder)))
    return dest


def png_bytes(color: tuple[int, int, int, int] = (255, 80, 0, 255), size: int = 32) -> bytes:
    buf = io.BytesIO()
    Image.new("RGBA", (size, size), color).save(buf, format="PNG")
    return buf.getvalue()


# --- reading outputs back ------------------------------------------------------------------


def frames_at(path: Path, times: list[float]) -> dict[float, np.ndarray]:
    """Decoded RGB frames (exact arrays) of a video at the frames covering each time."""
    wanted = sorted(times)
    found: dict[float, np.ndarray] = {}
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate)
        first: float | None = None
        for n, frame in enumerate(container.decode(stream)):
            t = float(frame.pts * frame.time_base) if frame.pts is not None else n / fps
            first = t if first is None else first
            index = round((t - first) * fps)
            for w in wanted:
                if w not in found and index == round(w * fps):
                    found[w] = frame.to_ndarray(format="rgb24")
            if len(found) == len(wanted):
                break
    return found


def all_frames(path: Path) -> Iterator[np.ndarray]:
    with av.open(str(path)) as container:
        for frame in container.decode(container.streams.video[0]):
            yield frame.to_ndarray(format="rgb24")


def video_pts(path: Path) -> list[int]:
    """Presentation timestamps of every video packet, in presentation order."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sorted(p.pts for p in container.demux(stream) if p.pts is not None)


def audio_payload(paths: list[Path]) -> bytes:
    """The concatenated bytes of every audio packet of the files, in order."""
    out = bytearray()
    for path in paths:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                continue
            for packet in container.demux(container.streams.audio[0]):
                if packet.size:
                    out += bytes(packet)
    return bytes(out)


def stream_seconds(path: Path) -> dict[str, float]:
    """Duration of each stream from its packets: last pts + duration - first pts."""
    spans: dict[str, list[float]] = {}
    with av.open(str(path)) as container:
        for packet in container.demux():
            if packet.pts is None or packet.stream.type not in ("video", "audio"):
                continue
            tb = packet.time_base
            start, end = float(packet.pts * tb), float((packet.pts + (packet.duration or 0)) * tb)
            span = spans.setdefault(packet.stream.type, [start, end])
            span[0], span[1] = min(span[0], start), max(span[1], end)
    return {kind: end - start for kind, (start, end) in spans.items()}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def strip_adts(payload: bytes) -> bytes:
    """Raw AAC frames from a stream of ADTS frames (what MPEG-TS carries and MP4 does not)."""
    out = bytearray()
    at = 0
    while at < len(payload):
        assert payload[at] == 0xFF and payload[at + 1] & 0xF0 == 0xF0, f"no ADTS sync at {at}"
        header = 7 if payload[at + 1] & 0x01 else 9  # protection_absent
        length = ((payload[at + 3] & 0x03) << 11) | (payload[at + 4] << 3) | (payload[at + 5] >> 5)
        out += payload[at + header : at + length]
        at += length
    return bytes(out)


def decoded_frames(path: Path) -> int:
    """Decode every video frame (any decoder error raises); return how many there were."""
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(container.streams.video[0]))


# --- what a slot should look like ----------------------------------------------------------


def text_style(template: Any, slot_id: str) -> Any:
    """The typography style of a slot, built from the manifest as documented."""
    from vidmerge.draw.typography import TextStyle

    slot = next(s for s in template.slots if s.id == slot_id)
    s = slot.style
    return TextStyle(
        font=template.fonts[slot_id], size=s.size, color=s.color, stroke_width=s.stroke_width,
        stroke_color=s.stroke_color, shadow=s.shadow, shadow_color=s.shadow_color, align=s.align,
        valign=s.valign, max_lines=s.max_lines, min_size=s.min_size, line_spacing=s.line_spacing,
        background=s.background,
    )  # fmt: skip


def expected_box(base: np.ndarray, template: Any, slot_id: str, text: str) -> tuple[np.ndarray, np.ndarray]:
    """(the slot's box of `base` with `text` composited as the slot draws it, mask of the
    pixels the text covers opaquely, shrunk by one pixel so chroma subsampling at glyph
    edges does not count)."""
    from vidmerge.draw.typography import draw_text

    slot = next(s for s in template.slots if s.id == slot_id)
    b = slot.box
    layer = draw_text(text, text_style(template, slot_id), b.w, b.h)
    under = Image.fromarray(base[b.y : b.y + b.h, b.x : b.x + b.w]).convert("RGBA")
    under.alpha_composite(layer)
    alpha = np.asarray(layer.getchannel("A")) == 255
    solid = alpha.copy()
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (-1, -1), (1, -1), (-1, 1)):
        solid &= np.roll(np.roll(alpha, dy, axis=0), dx, axis=1)
    return np.asarray(under.convert("RGB")), solid


def box_of(frame: np.ndarray, template: Any, slot_id: str) -> np.ndarray:
    b = next(s for s in template.slots if s.id == slot_id).box
    return frame[b.y : b.y + b.h, b.x : b.x + b.w]


def text_psnr(frame: np.ndarray, base: np.ndarray, template: Any, slot_id: str, text: str) -> float:
    """PSNR of the slot's box in `frame` against `text` drawn over `base`, on the text's solid
    pixels: high when `frame` shows exactly that text, low for any other text."""
    expected, solid = expected_box(base, template, slot_id, text)
    assert solid.sum() > 50, "the text covers almost no pixels"
    # luma only: 4:2:0 chroma subsampling smears colour across glyph strokes by design
    got = luma(box_of(frame, template, slot_id))
    return psnr(got[solid], luma(expected)[solid])


def luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float64) @ np.array([0.2126, 0.7152, 0.0722])
