"""The workload a bench run measures: R30 is the demo template's layout and data
over a freshly generated 30 s 720p clip with real-looking motion and grain."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vidmerge.bench.clip import make_base_clip
from vidmerge.bench.demo import DEMO_TEMPLATE
from vidmerge.draw.slots import Slot
from vidmerge.template.bundle import Template, load_bundle


@dataclass(frozen=True)
class Workload:
    """What to measure: a bundle folder (template.yaml + assets/) and a generated base clip."""

    name: str
    bundle_source: Path  # its template.yaml must say `base: base.mp4`
    data: Mapping[str, Any]
    seconds: float = 30.0
    width: int = 1280
    height: int = 720
    layout_width: int = 1280  # the size the template's boxes are laid out for, scaled to fit
    layout_height: int = 720  # `width` x `height` (a 9:16 clip: to its width, the top of the picture)
    fps: int = 30
    best_of: int = 2  # L, F and each V configuration: best of this many runs
    parallels: tuple[int, ...] = (1, 2, 4)  # V configurations (segments rendered at once)
    segment_seconds: float | None = None  # None: the template's grid; else override it (1 vs 2 s)
    live: bool = True  # TTFP, concurrent viewers and the repeat through a real `vidmerge serve`
    ttfp_samples: int = 10
    campaign_rows: int = 20  # rows of each live campaign (new values, repeating values); 0: none
    webhook_calls: int = 50  # concurrent webhook calls whose latency is measured
    viewers: int = 4  # the largest crowd of fresh viewers (crowds of 4, 8, 16, ... up to it)
    bulk_rows: int = 40  # rows of the campaign 4 viewers arrive during (bulk must not stall them); 0: none
    mixed_rows: int = 24  # rows of bulk work (a campaign, then bulk renders) 6 renders and 4 viewers arrive during


def r30() -> Workload:
    """R30: the demo template's layout and data over a freshly generated 30 s 720p clip."""
    source = DEMO_TEMPLATE
    data = json.loads((source / "sample.json").read_text(encoding="utf-8"))
    return Workload("R30", source, data)


# --- the bundle -----------------------------------------------------------------------------


def build_bundle(workload: Workload, dest: Path) -> Template:
    """A copy of the workload's template.yaml and assets, over a generated base clip."""
    dest.mkdir(parents=True, exist_ok=True)
    manifest = yaml.safe_load((workload.bundle_source / "template.yaml").read_text(encoding="utf-8"))
    if workload.segment_seconds:
        manifest.setdefault("output", {})["segment_seconds"] = workload.segment_seconds
    _scale(manifest, min(workload.width / workload.layout_width, workload.height / workload.layout_height))
    (dest / "template.yaml").write_text(yaml.safe_dump(manifest, allow_unicode=True), encoding="utf-8")
    assets = workload.bundle_source / "assets"
    if assets.is_dir():
        shutil.copytree(assets, dest / "assets", dirs_exist_ok=True)
    make_base_clip(
        dest / "base.mp4",
        seconds=workload.seconds,
        width=workload.width,
        height=workload.height,
        fps=workload.fps,
    )
    return load_bundle(dest)


def _scale(manifest: dict[str, Any], factor: float) -> None:
    """The slots laid out for 720p, at another resolution: boxes and type sizes scaled (R30 at
    1080p draws the same layout, 1.5 times larger; on a 720x1280 clip, 0.5625 times, at the top)."""
    if factor == 1:
        return
    for slot in manifest.get("slots", []):
        slot["box"] = {k: round(v * factor) for k, v in slot["box"].items()}
        style = slot.get("style", {})
        for key in ("size", "min_size", "stroke_width"):
            if key in style:
                style[key] = round(style[key] * factor)
        if "shadow" in style:
            style["shadow"] = [round(v * factor) for v in style["shadow"]]


def windows(slots: tuple[Slot, ...]) -> list[tuple[float, float]]:
    """The union of the slot windows, as sorted disjoint [start, end) intervals."""
    merged: list[tuple[float, float]] = []
    for start, end in sorted((s.start, s.end) for s in slots):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
