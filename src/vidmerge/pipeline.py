"""The render pipeline end to end: data -> values -> plan -> segments -> packaged outputs.

The service runs these steps on different machines (the webhook plans, workers render
segments, the last step packages); the CLI runs them in one go.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import FFmpegError, VerificationError
from .overlay import drawn_values
from .package import concat_mp4, gif, playlist, poster
from .plan import Drawn, RenderPlan, SegmentPlan, make_plan
from .render import Job, full_render, local_copy, render_segment, side_by_side
from .verify import verify_mp4


@dataclass(frozen=True)
class Personalized:
    """The resolved, drawable form of one customer's data, and the plan that follows."""

    context: Mapping[str, Any]
    explanations: Mapping[str, Any]
    drawn: Mapping[str, Drawn]
    plan: RenderPlan


def personalize(job: Job, data: Mapping[str, Any]) -> Personalized:
    """Validate and resolve data, evaluate every slot, plan the segments. No encoding."""
    template = job.template
    resolved = template.spec.resolve(dict(data))
    drawn = drawn_values(template, resolved.context)
    plan = make_plan(template.id, template.version, job.prepared, template.slots, drawn)
    return Personalized(resolved.context, resolved.explanations, drawn, plan)


def render_dynamic(job: Job, plan: RenderPlan, *, parallel: int = 1) -> int:
    """Render every dynamic segment not yet in storage, in playhead order. Returns how many."""
    segments = plan.dynamic
    if parallel <= 1:
        return sum(render_segment(job, s) for s in segments)
    narrow = side_by_side(job)
    with ThreadPoolExecutor(parallel) as pool:
        return sum(pool.map(lambda s: render_segment(narrow, s), segments))


@dataclass(frozen=True)
class Outputs:
    mp4: Path
    poster: Path
    gif: Path
    fallback: bool  # True when the splice failed verification and a full render shipped instead


@dataclass
class Timer:
    stages: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = round(self.stages.get(name, 0.0) + time.perf_counter() - t0, 4)


def package_outputs(job: Job, person: Personalized, out_dir: Path, timer: Timer | None = None) -> Outputs:
    """MP4 (verified; full-render fallback), poster and GIF into out_dir."""
    timer = timer or Timer()
    out_dir.mkdir(parents=True, exist_ok=True)
    mp4 = out_dir / "video.mp4"
    fallback = False
    try:
        with timer.stage("mp4"), segment_files(job, person.plan) as files:
            concat_mp4(files, mp4, job.limits)
        with timer.stage("verify"):
            verify_mp4(mp4, frames=job.prepared.frames, fps=job.prepared.fps)
    except (VerificationError, FFmpegError):  # a splice that does not remux or does not verify
        fallback = True
    if fallback:
        with timer.stage("fallback"):
            full_render(job, dict(person.drawn), mp4)
            verify_mp4(mp4, frames=job.prepared.frames, fps=job.prepared.fps)
    # poster and GIF come from the verified MP4, whichever way it was made
    with timer.stage("poster"):
        poster(mp4, poster_time(job), out_dir / "poster.jpg", job.limits)
    with timer.stage("gif"):
        start, duration, width, fps = gif_window(job)
        gif(mp4, start, duration, width, fps, out_dir / "email.gif", job.limits)
    return Outputs(mp4, out_dir / "poster.jpg", out_dir / "email.gif", fallback)


@contextmanager
def segment_files(job: Job, plan: RenderPlan) -> Iterator[list[Path]]:
    with ExitStack() as stack:
        yield [stack.enter_context(local_copy(job.storage, s.key)) for s in plan.segments]


def poster_time(job: Job) -> float:
    """When the poster is taken: `poster_at`, else the middle of the first slot's window."""
    at = job.template.manifest.output.poster_at
    if at is None:
        first = min(job.template.slots, key=lambda s: s.start)
        at = (first.start + first.end) / 2
    return max(0.0, min(at, job.prepared.duration - 1 / float(job.prepared.fps)))


def gif_window(job: Job) -> tuple[float, float, int, int]:
    spec = job.template.manifest.output.gif
    start = spec.start
    if start is None:
        first = min(job.template.slots, key=lambda s: s.start)
        start = first.start + first.style.fade_in + 0.1
    start = max(0.0, min(start, job.prepared.duration - spec.duration))
    return start, spec.duration, spec.width, spec.fps


def copy_hls(job: Job, plan: RenderPlan, dest: Path, name: Callable[[SegmentPlan], str]) -> Path:
    """A self-contained HLS folder (the CLI's output): playlist plus every segment."""
    dest.mkdir(parents=True, exist_ok=True)
    with segment_files(job, plan) as files:
        for seg, path in zip(plan.segments, files, strict=True):
            shutil.copyfile(path, dest / name(seg))
    index = dest / "index.m3u8"
    index.write_text(playlist(plan, name))
    return index
