"""One render, start to finish, on this machine: what `vidmerge render` runs."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vidmerge.config import Settings
from vidmerge.draw.values import warnings
from vidmerge.engine.encode import warm_frames
from vidmerge.engine.ffmpeg import Limits
from vidmerge.engine.frames import open_frame_cache
from vidmerge.engine.loaded import LoadedVersion
from vidmerge.engine.pipeline import Timer, copy_hls, encode_dynamic, package_outputs, personalize
from vidmerge.engine.prepare import prepare
from vidmerge.resolver import outbound
from vidmerge.storage import open_storage
from vidmerge.template.archive import extract_zip
from vidmerge.template.bundle import Template, load_bundle


def open_template(path: Path, scratch: Path) -> Template:
    """A bundle folder as it is, or a zipped bundle extracted into `scratch`."""
    if path.is_file():
        return load_bundle(extract_zip(path, scratch / "bundle"))
    return load_bundle(path)


def render_to_folder(
    template_path: Path,
    data: Mapping[str, Any],
    out: Path,
    settings: Settings,
    scratch: Path,
    *,
    parallel: int = 4,
) -> dict[str, Any]:
    outbound.allow(settings.outbound_allow)
    timer = Timer()
    t0 = time.perf_counter()
    with timer.stage("load"):
        template = open_template(template_path, scratch)
    storage = open_storage(settings)
    limits = Limits.of(settings)
    with timer.stage("prepare"):
        prepared = prepare(template, storage, limits=limits)
        loaded = LoadedVersion(template, prepared, storage, limits, frames=open_frame_cache(settings))
        warm_frames(loaded)
    with timer.stage("resolve"):
        person = personalize(loaded, data)
    with timer.stage("segments"):
        rendered = encode_dynamic(loaded, person.plan, parallel=parallel)
    outputs = package_outputs(loaded, person, out, timer)
    with timer.stage("hls"):
        index = copy_hls(loaded, person.plan, out / "hls", lambda s: f"seg_{s.index:05d}.ts")
    timer.stages["total"] = round(time.perf_counter() - t0, 4)
    return {
        "template": {"id": template.id, "version": template.version},
        "values": {slot_id: d.text for slot_id, d in person.drawn.items()},
        "warnings": warnings({slot_id: d.text for slot_id, d in person.drawn.items()}),
        "explanations": person.explanations,
        "outputs": {
            "mp4": str(outputs.mp4),
            "hls": str(index),
            "poster": str(outputs.poster),
            "gif": str(outputs.gif),
        },
        "segments": {
            "total": len(person.plan.segments),
            "dynamic": len(person.plan.dynamic),
            "rendered": rendered,
        },
        "fallback": outputs.fallback,
        "timings": timer.stages,
    }
