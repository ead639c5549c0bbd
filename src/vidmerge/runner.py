"""One render, start to finish, on this machine: what `vidmerge render` runs."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .bundle import Template, extract_zip, load_bundle
from .config import Settings
from .ffmpeg import Limits
from .frames import open_frame_cache
from .pipeline import Timer, copy_hls, package_outputs, personalize, render_dynamic
from .prepare import prepare
from .render import Job, warm_frames
from .storage import open_storage


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
    timer = Timer()
    t0 = time.perf_counter()
    with timer.stage("load"):
        template = open_template(template_path, scratch)
    storage = open_storage(settings)
    limits = Limits(timeout=settings.ffmpeg_timeout, threads=settings.ffmpeg_threads)
    with timer.stage("prepare"):
        prepared = prepare(template, storage, limits=limits)
        job = Job(template, prepared, storage, limits, frames=open_frame_cache(settings))
        warm_frames(job)
    with timer.stage("resolve"):
        person = personalize(job, data)
    with timer.stage("segments"):
        rendered = render_dynamic(job, person.plan, parallel=parallel)
    outputs = package_outputs(job, person, out, timer)
    with timer.stage("hls"):
        index = copy_hls(job, person.plan, out / "hls", lambda s: f"seg_{s.index:05d}.ts")
    timer.stages["total"] = round(time.perf_counter() - t0, 4)
    return {
        "template": {"id": template.id, "version": template.version},
        "values": {slot_id: d.text for slot_id, d in person.drawn.items()},
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
