"""`vidmerge bench`: the reference workload R30 (DESIGN.md) and its baselines, side by side.

Every figure is measured in the same run on the same machine; nothing is hard-coded.

    prepare  once per template version: mezzanine + segments, and the decoded base frames of
             the dynamic segments (frames.py) (reported, never in V)
    L        one ffmpeg run encoding only the personalized seconds (the slot windows, cut from
             the mezzanine), no overlay, no audio, the mezzanine's x264 settings: the floor
    F        the hand-written one-pass full re-encode a careful engineer would write: the base
             clip, each slot drawn once to PNG with vidmerge's own drawing (the count-up as one
             PNG per frame), composited by ffmpeg `overlay` with `enable='between(t,a,b)'` and
             alpha fades, audio copied, same preset/crf
    F_full_render   vidmerge's own one-pass fallback (`render.full_render`), shown beside F
    V        vidmerge, cold cache, in a fresh worker process: personalize + render_dynamic +
             MP4 + verification (poster and GIF reported apart, and V including them)
    repeat   the same request again: plan + cache lookup, and how many encodes it did
    M        moviepy 2: CompositeVideoClip + TextClip/ImageClip written with moviepy's defaults
             (libx264 medium): the obvious approach; M_same_preset forces the template's preset
    live     a real `vidmerge serve`: TTFP p50/p95 over fresh customers, N fresh viewers at
             once playing at 1x (stalls), the repeated request over HTTP (livebench.py)

L, F and V are the best of `best_of` runs; M and F_full_render run once. Other processes on the
machine are not controlled; the load average before the run is recorded with the figures.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from fractions import Fraction
from multiprocessing import get_context
from pathlib import Path
from typing import Any, cast

import yaml
from PIL import Image

from . import ffmpeg
from .bundle import Template, load_bundle
from .demo import make_base_clip
from .frames import FrameCache
from .livebench import live_figures
from .manifest import NumberSlot, Slot
from .overlay import slot_pixels, slot_state
from .pipeline import Personalized, Timer, package_outputs, personalize, render_dynamic
from .plan import Drawn
from .prepare import Prepared, load_prepared, prepare, prepared_key, video_encoder_args
from .render import Job, full_render, warm_frames
from .storage import LocalStorage

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Workload:
    """What to measure: a bundle folder (template.yaml + assets/) and a generated base clip."""

    name: str
    bundle_source: Path  # its template.yaml must say `base: base.mp4`
    data: Mapping[str, Any]
    seconds: float = 30.0
    width: int = 1280
    height: int = 720
    fps: int = 30
    best_of: int = 2  # L, F and each V configuration: best of this many runs
    parallels: tuple[int, ...] = (1, 2, 4)  # V configurations (segments rendered at once)
    segment_seconds: float | None = None  # None: the template's grid; else override it (1 vs 2 s)
    live: bool = True  # TTFP, concurrent viewers and the repeat through a real `vidmerge serve`
    ttfp_samples: int = 10


def r30() -> Workload:
    """R30: the demo template's layout and data over a freshly generated 30 s 720p clip."""
    source = REPO / "templates_video" / "electricity"
    data = json.loads((source / "sample.json").read_text(encoding="utf-8"))
    return Workload("R30", source, data)


@dataclass(frozen=True)
class Target:
    name: str
    value: float | None
    op: str  # "<=", ">=" or "=="
    limit: float

    @property
    def passed(self) -> bool | None:
        if self.value is None:
            return None
        return {
            "<=": self.value <= self.limit,
            ">=": self.value >= self.limit,
            "==": self.value == self.limit,
        }[self.op]


# --- entry point ----------------------------------------------------------------------------


def run_bench(work: Path | None, *, as_json: bool, with_moviepy: bool, segment_seconds: float | None = None) -> int:
    with _work_dir(work) as root:
        report = measure(replace(r30(), segment_seconds=segment_seconds), root, with_moviepy=with_moviepy)
        (root / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2))
    print(json.dumps(report, ensure_ascii=False, indent=2) if as_json else format_table(report))
    return 0


@contextmanager
def _work_dir(work: Path | None) -> Iterator[Path]:
    if work is not None:
        work.mkdir(parents=True, exist_ok=True)
        yield work.resolve()
        return
    with tempfile.TemporaryDirectory(prefix="vidmerge-bench-") as tmp:
        yield Path(tmp)


def measure(workload: Workload, root: Path, *, with_moviepy: bool) -> dict[str, Any]:
    """Run every figure of `workload` under `root`; return the report (see format_table)."""
    load_before = os.getloadavg()
    template = build_bundle(workload, root / "bundle")
    store = root / "prepared"
    shutil.rmtree(store, ignore_errors=True)  # prepare is timed from scratch
    t0 = time.perf_counter()
    prepared = prepare(template, LocalStorage(store / "objects"))
    job = Job(template, prepared, LocalStorage(store / "objects"), frames=FrameCache(store / "frames"))
    warm_frames(job)
    prepare_s = time.perf_counter() - t0
    person = personalize(job, workload.data)
    figures: dict[str, float] = {"prepare": prepare_s}
    figures["L"] = _best(workload.best_of, lambda n: floor_encode(job, person, root / f"L{n}"))
    figures["F"] = _best(workload.best_of, lambda n: hand_written_full(job, person, root / f"F{n}"))
    figures["F_full_render"] = _timed(lambda: full_render(job, dict(person.drawn), root / "Ffr.mp4"))
    v_runs = {p: _best_v(workload, root, store, p) for p in workload.parallels}
    if with_moviepy:
        figures["M"] = _timed(lambda: moviepy_full(job, person, root / "M.mp4", same_preset=False))
        figures["M_same_preset"] = _timed(lambda: moviepy_full(job, person, root / "Ms.mp4", same_preset=True))
    live = (
        live_figures(root / "bundle", workload.data, root / "live", ttfp_n=workload.ttfp_samples)
        if workload.live
        else None
    )
    return assemble(workload, job, person, figures, v_runs, load_before, live)


def _timed(action: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    action()
    return time.perf_counter() - t0


def _best(n: int, action: Callable[[int], object]) -> float:
    """The fastest of n runs; action gets the run number (for its own output folder)."""
    times = []
    for i in range(max(1, n)):
        t0 = time.perf_counter()
        action(i)
        times.append(time.perf_counter() - t0)
    return min(times)


# --- the bundle -----------------------------------------------------------------------------


def build_bundle(workload: Workload, dest: Path) -> Template:
    """A copy of the workload's template.yaml and assets, over a generated base clip."""
    dest.mkdir(parents=True, exist_ok=True)
    manifest = yaml.safe_load((workload.bundle_source / "template.yaml").read_text(encoding="utf-8"))
    if workload.segment_seconds:
        manifest.setdefault("output", {})["segment_seconds"] = workload.segment_seconds
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


# --- L: the floor ---------------------------------------------------------------------------


def windows(slots: tuple[Slot, ...]) -> list[tuple[float, float]]:
    """The union of the slot windows, as sorted disjoint [start, end) intervals."""
    merged: list[tuple[float, float]] = []
    for start, end in sorted((s.start, s.end) for s in slots):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def floor_encode(job: Job, person: Personalized, out_dir: Path) -> Path:
    """Encode exactly the personalized seconds, cut from the mezzanine, in one ffmpeg run."""
    p = job.prepared
    inputs: list[str] = []
    graph: list[str] = []
    for w, (start, end) in enumerate(windows(job.template.slots)):
        first = int(start // (p.gop / p.fps))
        covering = [s for s in p.segments if p.start(s.index) < end and s.index >= first]
        labels = "".join(f"[{inputs.count('-i') + i}:v]" for i in range(len(covering)))
        for seg in covering:
            inputs += ["-i", str(_local(job, seg.key))]
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
                *video_encoder_args(p, job.limits.threads), "-f", "mpegts", str(out)],
               limits=job.limits, what="bench L")  # fmt: skip
    return out


def _local(job: Job, key: str) -> Path:
    path = job.storage.local_path(key)
    assert path is not None, "the bench prepares into local storage"
    return path


# --- F: the careful engineer's one pass -----------------------------------------------------


def hand_written_full(job: Job, person: Personalized, out_dir: Path) -> Path:
    """Base clip + per-slot PNGs composited by ffmpeg's overlay filter; audio copied."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fps = job.prepared.fps
    inputs: list[str] = ["-i", str(job.template.base)]
    chains: list[str] = []
    last = "0:v"
    for i, slot in enumerate(job.template.slots):
        stream, slot_inputs = _slot_stream(job, slot, person.drawn[slot.id], out_dir, fps, i)
        first = inputs.count("-i")
        chains.append(stream.format(*(f"[{first + k}:v]" for k in range(slot_inputs.count("-i")))))
        inputs += slot_inputs
        win = f"between(t,{slot.start},{slot.end})"
        chains.append(f"[{last}][s{i}]overlay=x={slot.box.x}:y={slot.box.y}:eof_action=pass:enable='{win}'[o{i}]")
        last = f"o{i}"
    out = out_dir / "full.mp4"
    o = job.template.manifest.output
    ffmpeg.run([*inputs, "-filter_complex", ";".join(chains), "-map", f"[{last}]",
                "-map", "0:a?", "-c:a", "copy",
                "-c:v", "libx264", "-preset", o.preset, "-crf", str(o.crf),
                "-profile:v", "high", "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(out)],
               limits=job.limits, what="bench F")  # fmt: skip
    return out


def _slot_stream(job: Job, slot: Slot, drawn: Drawn, out_dir: Path, fps: Fraction, i: int) -> tuple[str, list[str]]:
    """A filter chain template ({} = input labels) producing `[s{i}]`, and its inputs."""
    frames = round((slot.end - slot.start) * fps)
    final = slot_image(job.template, slot, drawn, slot.end - 1e-6)
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
        slot_image(job.template, slot, drawn, t).save(out_dir / f"slot{i}_{n:04d}.png")
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
    return slot_pixels(template, slot, content, drawn.text)


# --- V: vidmerge, cold, in a fresh worker process -------------------------------------------


def _best_v(workload: Workload, root: Path, store: Path, parallel: int) -> dict[str, Any]:
    runs = [_v_run(workload, root, store, parallel, n) for n in range(max(1, workload.best_of))]
    return min(runs, key=lambda r: r["V"])


def _v_run(workload: Workload, root: Path, store: Path, parallel: int, n: int) -> dict[str, Any]:
    """A fresh storage holding only the prepared shared segments, and a fresh process. The
    decoded base frames are the prepared ones, read in place: copying 0.6 GB would leave the
    kernel writing it back to disk while V is timed."""
    run_root = root / f"V-p{parallel}-{n}"
    shutil.rmtree(run_root, ignore_errors=True)
    shutil.copytree(store / "objects", run_root / "storage" / "objects")
    os.sync()  # nothing left for the kernel to write back while V is timed
    ctx = get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=ctx) as pool:
        args = (str(root / "bundle"), str(run_root), str(store / "frames"), dict(workload.data), parallel)
        return pool.submit(v_worker, *args).result()


def v_worker(bundle: str, run_root: str, frames: str, data: dict[str, Any], parallel: int) -> dict[str, Any]:
    """Runs in its own process, so ru_maxrss covers this render and nothing else."""
    template = load_bundle(Path(bundle))
    storage = LocalStorage(Path(run_root) / "storage" / "objects")
    prepared = load_prepared(storage, prepared_key(template))
    assert prepared is not None, "the bench copies the prepared segments in first"
    job = Job(template, prepared, storage, frames=FrameCache(Path(frames)))
    timer = Timer()
    with timer.stage("personalize"):
        person = personalize(job, data)
    with timer.stage("render_dynamic"):
        encodes = render_dynamic(job, person.plan, parallel=parallel)
    outputs = package_outputs(job, person, Path(run_root) / "out", timer)
    t0 = time.perf_counter()
    repeat_encodes = render_dynamic(job, personalize(job, data).plan, parallel=parallel)
    repeat_s = time.perf_counter() - t0
    st = timer.stages
    v = sum(st.get(k, 0.0) for k in ("personalize", "render_dynamic", "mp4", "verify", "fallback"))
    return {
        "parallel": parallel,
        "V": v,
        "V_with_poster_gif": v + st["poster"] + st["gif"],
        "stages": st,
        "encodes": encodes,
        "dynamic_segments": len(person.plan.dynamic),
        "fallback": outputs.fallback,
        "repeat": repeat_s,
        "repeat_encodes": repeat_encodes,
        "rss_self_mb": _maxrss_mb(resource.RUSAGE_SELF),
        "rss_children_mb": _maxrss_mb(resource.RUSAGE_CHILDREN),
    }


def _maxrss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


# --- M: moviepy -----------------------------------------------------------------------------


def moviepy_full(job: Job, person: Personalized, out: Path, *, same_preset: bool) -> Path:
    """The obvious Python approach: moviepy composites every frame of the whole clip.

    M writes with moviepy's defaults (libx264 `medium`, as `write_videofile(path, fps=…)` does);
    M_same_preset forces the template's preset and CRF, to show how much of M is the encoder.
    """
    from moviepy import CompositeVideoClip, VideoFileClip

    o = job.template.manifest.output
    base = VideoFileClip(str(job.template.base))
    layers = [base]
    for slot in job.template.slots:
        layers += _moviepy_slot(job, slot, person.drawn[slot.id])
    video = CompositeVideoClip(layers, size=base.size).with_duration(base.duration)
    encoder: dict[str, Any] = {"preset": o.preset, "ffmpeg_params": ["-crf", str(o.crf)]} if same_preset else {}
    video.write_videofile(
        str(out), fps=float(job.prepared.fps), codec="libx264", audio_codec="aac", logger=None, **encoder,
    )  # fmt: skip
    base.close()
    return out


def _moviepy_slot(job: Job, slot: Slot, drawn: Drawn) -> list[Any]:
    """TextClips (one per count-up frame, then the final value) or an ImageClip for one slot."""
    from moviepy import ImageClip

    fps = job.prepared.fps
    counting = _count_up_frames(slot, fps)
    starts = [slot.start + float(n / fps) for n in range(counting)] + [slot.start + float(counting / fps)]
    clips = []
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else slot.end
        if slot.kind == "image":
            image = slot_image(job.template, slot, drawn, start)
            clip = ImageClip(_rgba_array(image), transparent=True)
        else:
            clip = _text_clip(job, slot, drawn, start)
        clips.append(_placed(clip, slot, start, end))
    return _faded(clips, slot)


def _text_clip(job: Job, slot: Slot, drawn: Drawn, t: float) -> Any:
    from moviepy import TextClip

    state = slot_state(slot, drawn, t)
    text = drawn.text if state is None else state[0]
    s = slot.style
    return TextClip(
        font=str(job.template.fonts[slot.id]), text=text, font_size=s.size, color=s.color,
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


# --- the report -----------------------------------------------------------------------------


def assemble(
    workload: Workload,
    job: Job,
    person: Personalized,
    figures: dict[str, float],
    v_runs: Mapping[int, dict[str, Any]],
    load_before: tuple[float, float, float],
    live: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    best = min(v_runs.values(), key=lambda r: r["V"])
    figures = {**figures, **{f"V_p{p}": r["V"] for p, r in v_runs.items()}}
    figures.update(
        V=best["V"],
        V_with_poster_gif=best["V_with_poster_gif"],
        poster=best["stages"]["poster"],
        gif=best["stages"]["gif"],
        repeat=best["repeat"],
    )
    ratios = _ratios(figures)
    return {
        "workload": _describe(workload, job, person, load_before),
        "figures": {k: round(v, 3) for k, v in figures.items()},
        "ratios": ratios,
        "v": {"parallel": best["parallel"], "runs": {f"p{p}": r for p, r in v_runs.items()}},
        "memory_mb": {
            "worker_peak_rss": round(best["rss_self_mb"], 1),
            "ffmpeg_peak_rss": round(best["rss_children_mb"], 1),
        },
        "live": dict(live) if live else None,
        "targets": [_target_json(t) for t in targets(figures, ratios, best, live)],
    }


def _ratios(figures: Mapping[str, float]) -> dict[str, float | None]:
    def ratio(a: str, b: str) -> float | None:
        if a not in figures or b not in figures or figures[b] <= 0:
            return None
        return round(figures[a] / figures[b], 3)

    return {
        "V/L": ratio("V", "L"),
        "V/F": ratio("V", "F"),
        "M/V": ratio("M", "V"),
        "M_same_preset/V": ratio("M_same_preset", "V"),
    }


def targets(
    figures: Mapping[str, float],
    ratios: Mapping[str, float | None],
    best: Mapping[str, Any],
    live: Mapping[str, Any] | None = None,
) -> list[Target]:
    """DESIGN.md's targets for R30."""
    found = [
        Target("V/L", ratios["V/L"], "<=", 1.25),
        Target("V/F", ratios["V/F"], "<=", 0.55),
        Target("M/V", ratios["M/V"], ">=", 10.0),
        Target("repeat encodes", float(best["repeat_encodes"]), "==", 0.0),
        Target("worker peak RSS MB", round(best["rss_self_mb"], 1), "<=", 300.0),
    ]
    if live:
        ttfp_share = round(live["ttfp_p95"] / figures["F"], 4) if figures.get("F") else None
        found += [
            Target("TTFP p95 / F", ttfp_share, "<=", 0.05),
            Target(f"stalls, {live['crowd']['viewers']} viewers", float(live["crowd"]["stalls"]), "==", 0.0),
            Target("repeat encodes (HTTP)", float(live["repeat_encodes"]), "==", 0.0),
        ]
    return found


def _target_json(t: Target) -> dict[str, Any]:
    return {"name": t.name, "value": t.value, "op": t.op, "limit": t.limit, "pass": t.passed}


def _describe(
    workload: Workload, job: Job, person: Personalized, load_before: tuple[float, float, float]
) -> dict[str, Any]:
    p: Prepared = job.prepared
    return {
        "name": workload.name,
        "base_clip": f"{workload.seconds} s {workload.width}x{workload.height} {workload.fps} fps "
        "H.264 High + AAC 48 kHz stereo, generated by vidmerge.demo.make_base_clip",
        "bundle": f"template.yaml and assets copied from {workload.bundle_source}",
        "personalized_seconds": round(sum(b - a for a, b in windows(job.template.slots)), 3),
        "segments": len(p.segments),
        "dynamic_segments": len(person.plan.dynamic),
        "segment_seconds": job.template.manifest.output.segment_seconds,
        "preset": p.preset,
        "crf": p.crf,
        "best_of": workload.best_of,
        "cpus": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
    }


ROWS = (
    ("prepare", "prepare (once per template version, not in V)"),
    ("L", "L  floor: encode only the personalized seconds"),
    ("F", "F  hand-written one-pass re-encode (PNG overlays)"),
    ("F_full_render", "   vidmerge full_render (one pass, raw overlay pipe)"),
    ("M", "M  moviepy CompositeVideoClip + TextClip (its defaults)"),
    ("M_same_preset", "   M with the template's preset and CRF"),
    ("V", "V  vidmerge, cold cache, MP4 + verification"),
    ("V_p1", "   V with parallel=1"),
    ("V_p2", "   V with parallel=2"),
    ("V_p4", "   V with parallel=4"),
    ("poster", "   poster JPEG"),
    ("gif", "   email GIF"),
    ("V_with_poster_gif", "   V including poster and GIF"),
    ("repeat", "   repeated request (same data)"),
)


def format_table(report: Mapping[str, Any]) -> str:
    w = report["workload"]
    lines = [
        f"{w['name']}: {w['base_clip']}; {w['personalized_seconds']} s personalized, "
        f"{w['dynamic_segments']}/{w['segments']} segments dynamic; {w['cpus']} CPUs, "
        f"load before {w['load_average_before']}; best of {w['best_of']} for L, F, V",
        "",
        f"{'figure':<56}{'seconds':>10}",
    ]
    figures = cast(Mapping[str, float], report["figures"])
    lines += [f"{label:<56}{figures[key]:>10.2f}" for key, label in ROWS if key in figures]
    lines.append(f"   V uses parallel={report['v']['parallel']}")
    mem = report["memory_mb"]
    lines.append(
        f"{'peak RSS MB: worker / largest ffmpeg child':<56}"
        f"{mem['worker_peak_rss']:>6.0f} / {mem['ffmpeg_peak_rss']:.0f}"
    )
    live = report.get("live")
    if live:
        crowd = live["crowd"]
        ttfp, repeat = (live["ttfp_p50"], live["ttfp_p95"]), (live["repeat_latency"], live["repeat_encodes"])
        rows = {
            "TTFP p50 / p95 (webhook -> playlist + first segment)": "{:.3f} / {:.3f}".format(*ttfp),
            "viewers at once / stalls / stall seconds": "{viewers} / {stalls} / {stall_seconds}".format(**crowd),
            "repeated request over HTTP: seconds / encodes": "{:.4f} / {:g}".format(*repeat),
        }
        lines += [f"{label:<56}{value:>16}" for label, value in rows.items()]
    lines += ["", f"{'target':<24}{'value':>10}  {'goal':<10}result"]
    for t in report["targets"]:
        value = "n/a" if t["value"] is None else f"{t['value']:.3f}"
        result = {True: "PASS", False: "MISS", None: "not measured"}[t["pass"]]
        lines.append(f"{t['name']:<24}{value:>10}  {t['op']} {t['limit']:<7g}{result}")
    return "\n".join(lines)
