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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vidmerge.draw.values import drawn_values
from vidmerge.engine.encode import encode_full, encode_segment
from vidmerge.engine.loaded import LoadedVersion, side_by_side
from vidmerge.engine.package import GIF_BUDGET, concat_mp4, gif, playlist, poster
from vidmerge.engine.verify import verify_mp4
from vidmerge.errors import FFmpegError, VerificationError
from vidmerge.plan import GIF, MP4, PLAYLIST, POSTER, Drawn, Prepared, RenderPlan, SegmentPlan, content_hash, make_plan
from vidmerge.storage import local_copy


@dataclass(frozen=True)
class Personalized:
    """The resolved, drawable form of one customer's data, and the plan that follows."""

    context: Mapping[str, Any]
    explanations: Mapping[str, Any]
    drawn: Mapping[str, Drawn]
    plan: RenderPlan


def personalize(loaded: LoadedVersion, data: Mapping[str, Any]) -> Personalized:
    """Validate and resolve data, evaluate every slot, plan the segments. No encoding."""
    template = loaded.template
    resolved = template.spec.resolve(dict(data))
    drawn = drawn_values(template, resolved.context)
    plan = make_plan(template.id, template.version, loaded.prepared, template.slots, drawn)
    return Personalized(resolved.context, resolved.explanations, drawn, plan)


def in_rendition(loaded: LoadedVersion, plan: RenderPlan, rung: Prepared) -> tuple[LoadedVersion, RenderPlan]:
    """The render in one rendition of the ladder (`rung`, from `loaded.prepared.ladder`): the
    version with that rendition's segments, and the plan drawing the same values over them."""
    if rung is loaded.prepared:
        return loaded, plan
    drawn = {d.slot_id: d for s in plan.dynamic for d in s.draws}
    t = loaded.template
    return replace(loaded, prepared=rung), make_plan(t.id, t.version, rung, t.slots, drawn)


def encode_dynamic(loaded: LoadedVersion, plan: RenderPlan, *, parallel: int = 1) -> int:
    """Render every dynamic segment not yet in storage, in playhead order. Returns how many."""
    segments = plan.dynamic
    if parallel <= 1:
        return sum(encode_segment(loaded, s) for s in segments)
    narrow = side_by_side(loaded)
    with ThreadPoolExecutor(parallel) as pool:
        return sum(pool.map(lambda s: encode_segment(narrow, s), segments))


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


def splice(loaded: LoadedVersion, person: Personalized, mp4: Path, timer: Timer) -> bool:
    """The render's MP4 into `mp4`, verified frame for frame; when the splice does not remux or
    verify, a full render instead. Returns True for that fallback."""
    try:
        with timer.stage("mp4"):
            assemble_mp4(loaded, person.plan, mp4)
        with timer.stage("verify"):
            verify_mp4(mp4, frames=loaded.prepared.frames, fps=loaded.prepared.fps)
        return False
    except (VerificationError, FFmpegError):
        with timer.stage("fallback"):
            encode_full(loaded, dict(person.drawn), mp4)
            verify_mp4(mp4, frames=loaded.prepared.frames, fps=loaded.prepared.fps)
        return True


def assemble_mp4(loaded: LoadedVersion, plan: RenderPlan, mp4: Path) -> None:
    """The MP4 remuxed from the plan's shared and personal segments (no encode)."""
    with segment_files(loaded, plan) as files:
        concat_mp4(files, mp4, loaded.limits)


@dataclass(frozen=True)
class Picture:
    """The poster or the email GIF of a render. It is taken from the segments it covers alone,
    so every render whose segments there are the same shares it: its key is theirs, hashed with
    the picture's settings."""

    name: str  # POSTER or GIF
    key: str
    segments: tuple[SegmentPlan, ...]
    first: int  # its first frame in the clip
    skip: int  # the same, counted from the first of its segments' first frame
    frames: int


def pictures(loaded: LoadedVersion, plan: RenderPlan) -> tuple[Picture, Picture]:
    fps = loaded.prepared.fps
    start, duration, width, rate = gif_window(loaded)
    diameter = play_diameter(loaded)
    play = (diameter,) if diameter else ()  # without the button, the keys pictures always had
    return (
        _picture(POSTER, plan, int(poster_time(loaded) * fps), 1, play),
        _picture(GIF, plan, int(start * fps), max(1, round(duration * fps)), (width, rate, *play)),
    )


def play_diameter(loaded: LoadedVersion) -> int:
    """The ▶ button over the poster and the GIF (`output.play_overlay`), in the clip's pixels: a
    quarter of its short side; 0 for none."""
    p = loaded.prepared
    return min(p.width, p.height) // 4 if loaded.template.manifest.output.play_overlay else 0


def _picture(name: str, plan: RenderPlan, first: int, frames: int, settings: tuple[object, ...]) -> Picture:
    covered: list[SegmentPlan] = []
    offset = at = 0
    for seg in plan.segments:
        if at + seg.frames > first and at < first + frames:
            offset = offset if covered else first - at
            covered.append(seg)
        at += seg.frames
    digest = content_hash([name, offset, frames, *settings, *(s.key for s in covered)])
    key = f"pic/{plan.prepared_key}/{digest}{Path(name).suffix}"
    return Picture(name, key, tuple(covered), first, offset, frames)


def make_picture(loaded: LoadedVersion, picture: Picture, dest: Path, clip: Path | None = None) -> None:
    """The picture from its segments, or from the render's whole `clip` (a full render's)."""
    with ExitStack() as stack:
        if clip is not None:
            source: Path | list[Path] = clip
            first = picture.first
        else:
            source = [stack.enter_context(local_copy(loaded.storage, s.key)) for s in picture.segments]
            first = picture.skip
        play = play_diameter(loaded)
        if picture.name == POSTER:
            poster(source, first, dest, loaded.limits, play)
        else:
            _, _, width, fps = gif_window(loaded)
            key = _gif_key(loaded)
            _, _GIF_TRY[key] = gif(source, first, picture.frames, width, fps, dest, loaded.limits,
                                   start=_GIF_TRY.get(key, 0), play=play)  # fmt: skip


# The try (of argv.GIF_TRIES) that made this process's last GIF of a clip with these GIF
# settings: the overlays change a GIF's size little, so the next render's starts there (a GIF
# over the budget is not made twice for every customer).
_GIF_TRY: dict[tuple[object, ...], int] = {}


def _gif_key(loaded: LoadedVersion) -> tuple[object, ...]:
    return loaded.prepared.key, gif_window(loaded)


@dataclass(frozen=True)
class Outputs:
    mp4: Path
    poster: Path
    gif: Path
    fallback: bool  # True when the splice failed verification and a full render shipped instead


def package_outputs(loaded: LoadedVersion, person: Personalized, out_dir: Path, timer: Timer | None = None) -> Outputs:
    """MP4 (verified; full-render fallback), poster and GIF into out_dir, as files (the CLI's and
    the bench's outputs)."""
    timer = timer or Timer()
    out_dir.mkdir(parents=True, exist_ok=True)
    fallback = splice(loaded, person, out_dir / MP4, timer)
    for picture in pictures(loaded, person.plan):
        with timer.stage("poster" if picture.name == POSTER else "gif"):
            make_picture(loaded, picture, out_dir / picture.name, out_dir / MP4 if fallback else None)
    return Outputs(out_dir / MP4, out_dir / POSTER, out_dir / GIF, fallback)


@contextmanager
def segment_files(loaded: LoadedVersion, plan: RenderPlan) -> Iterator[list[Path]]:
    with ExitStack() as stack:
        yield [stack.enter_context(local_copy(loaded.storage, s.key)) for s in plan.segments]


def poster_time(loaded: LoadedVersion) -> float:
    """When the poster is taken: `poster_at`, else the middle of the first slot's window."""
    at = loaded.template.manifest.output.poster_at
    if at is None:
        first = min(loaded.template.slots, key=lambda s: s.start)
        at = (first.start + first.end) / 2
    return max(0.0, min(at, loaded.prepared.duration - 1 / float(loaded.prepared.fps)))


def gif_window(loaded: LoadedVersion) -> tuple[float, float, int, int]:
    spec = loaded.template.manifest.output.gif
    start = spec.start
    if start is None:
        first = min(loaded.template.slots, key=lambda s: s.start)
        start = first.start + first.style.fade_in + 0.1
    start = max(0.0, min(start, loaded.prepared.duration - spec.duration))
    return start, spec.duration, spec.width, spec.fps


def gif_warnings(loaded: LoadedVersion, scratch: Path) -> list[str]:
    """The email GIF tried on the base clip at upload (the overlays change its size little): a
    template whose GIF settings cannot fit GIF_BUDGET even at the smallest try is told so."""
    start, duration, width, fps = gif_window(loaded)
    rate = loaded.prepared.fps
    size, _GIF_TRY[_gif_key(loaded)] = gif(
        loaded.template.base, int(start * rate), round(duration * rate), width, fps, scratch / GIF, loaded.limits
    )
    if size <= GIF_BUDGET:
        return []
    return [
        f"output.gif: {duration:g} s of this clip at {width} px and {fps} fps is a {size / 1e6:.1f} MB GIF even "
        f"at 3/4 width, 32 colours and half the rate (email clients take {GIF_BUDGET / 1e6:g} MB): shorten "
        "output.gif.duration, or lower its width or fps"
    ]


def copy_hls(loaded: LoadedVersion, plan: RenderPlan, dest: Path, name: Callable[[SegmentPlan], str]) -> Path:
    """A self-contained HLS folder (the CLI's output): playlist plus every segment."""
    dest.mkdir(parents=True, exist_ok=True)
    with segment_files(loaded, plan) as files:
        for seg, path in zip(plan.segments, files, strict=True):
            shutil.copyfile(path, dest / name(seg))
    index = dest / PLAYLIST
    index.write_text(playlist(plan, name))
    return index
