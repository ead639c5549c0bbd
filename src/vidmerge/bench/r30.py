"""`vidmerge bench`: the reference workload R30 and its baselines, side by side.

Every figure is measured in the same run on the same machine; nothing is hard-coded.

    prepare  once per template version: mezzanine + segments, and the decoded base frames of
             the dynamic segments (engine/frames.py) (reported, never in V)
    L        one ffmpeg run encoding only the personalized seconds (the slot windows, cut from
             the mezzanine), no overlay, no audio, the mezzanine's x264 settings: the floor
    F        the hand-written one-pass full re-encode a careful engineer would write: the base
             clip, each slot drawn once to PNG with vidmerge's own drawing (the count-up as one
             PNG per frame), composited by ffmpeg `overlay` with `enable='between(t,a,b)'` and
             alpha fades, audio copied, same preset/crf
    F_full_render   vidmerge's own one-pass fallback (`engine.encode.encode_full`), shown beside F
    V        vidmerge, cold cache, in a fresh worker process: personalize + encode_dynamic +
             MP4 + verification (poster and GIF reported apart, and V including them)
    repeat   the same request again: plan + cache lookup, and how many encodes it did
    M        moviepy 2: CompositeVideoClip + TextClip/ImageClip written with moviepy's defaults
             (libx264 medium): the obvious approach; M_same_preset forces the template's preset
    live     a real `vidmerge serve`: TTFP p50/p95 over fresh customers, N fresh viewers at
             once playing at 1x (stalls), the repeated request over HTTP (bench/live.py); the
             webhook's latency under 50 concurrent calls, and an N-row campaign's renders per
             hour and CPU seconds per render, with new and with repeating values (bench/campaign.py)

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
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from vidmerge.bench.baselines import floor_encode, hand_written_full, moviepy_available, moviepy_full
from vidmerge.bench.live import live_figures
from vidmerge.bench.load import Cpu, watched
from vidmerge.bench.report import assemble, format_table
from vidmerge.bench.workload import Workload, build_bundle, r30
from vidmerge.engine.encode import encode_full, warm_frames
from vidmerge.engine.frames import FrameCache
from vidmerge.engine.loaded import LoadedVersion
from vidmerge.engine.pipeline import Timer, encode_dynamic, package_outputs, personalize
from vidmerge.engine.prepare import load_prepared, prepare, prepared_key
from vidmerge.storage import LocalStorage
from vidmerge.template.bundle import load_bundle

# --- entry point ----------------------------------------------------------------------------


RESOLUTIONS = {"720p": (1280, 720), "1080p": (1920, 1080), "vertical": (720, 1280)}


def run_bench(
    work: Path | None, *, as_json: bool, with_moviepy: bool, segment_seconds: float | None = None,
    campaign_rows: int = 20, viewers: int = 4, bulk_rows: int = 40, resolution: str = "720p", seconds: float = 30.0,
    mixed_rows: int = 24,
) -> int:  # fmt: skip
    width, height = RESOLUTIONS[resolution]
    with _work_dir(work) as root:
        workload = replace(r30(), segment_seconds=segment_seconds, campaign_rows=campaign_rows, viewers=viewers,
                           bulk_rows=bulk_rows, width=width, height=height, seconds=seconds,
                           mixed_rows=mixed_rows)  # fmt: skip
        report = measure(workload, root, with_moviepy=with_moviepy)
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
    loaded = LoadedVersion(template, prepared, LocalStorage(store / "objects"), frames=FrameCache(store / "frames"))
    warm_frames(loaded)
    prepare_s = time.perf_counter() - t0
    person = personalize(loaded, workload.data)
    figures: dict[str, float] = {"prepare": prepare_s}
    cpu: dict[str, Cpu] = {}
    figures["L"] = _best(cpu, "L", workload.best_of, lambda n: floor_encode(loaded, person, root / f"L{n}"))
    figures["F"] = _best(cpu, "F", workload.best_of, lambda n: hand_written_full(loaded, person, root / f"F{n}"))
    figures["F_full_render"] = _timed(cpu, "F_full_render",
                                      lambda: encode_full(loaded, dict(person.drawn), root / "Ffr.mp4"))  # fmt: skip
    v_runs = {p: _best_v(workload, root, store, p, cpu) for p in workload.parallels}
    if with_moviepy and moviepy_available():
        for name, same in (("M", False), ("M_same_preset", True)):
            out = root / f"{name}.mp4"
            figures[name] = _timed(cpu, name, lambda o=out, s=same: moviepy_full(loaded, person, o, same_preset=s))  # type: ignore[misc]
    live = None
    if workload.live:
        live = live_figures(root / "bundle", workload.data, root / "live", ttfp_n=workload.ttfp_samples,
                            campaign_rows=workload.campaign_rows, webhook_calls=workload.webhook_calls,
                            viewers=workload.viewers, bulk_rows=workload.bulk_rows,
                            mixed_rows=workload.mixed_rows)  # fmt: skip
    return assemble(workload, loaded, person, figures, v_runs, load_before, live, cpu)


def _timed(cpu: dict[str, Cpu], name: str, action: Callable[[], object]) -> float:
    with watched() as cpu[name]:
        action()
    return cpu[name].wall


def _best(cpu: dict[str, Cpu], name: str, n: int, action: Callable[[int], object]) -> float:
    """The fastest of n runs (its CPU figures kept as `name`); action gets the run number (for
    its own output folder)."""
    runs = []
    for i in range(max(1, n)):
        with watched() as run:
            action(i)
        runs.append(run)
    cpu[name] = min(runs, key=lambda r: r.wall)
    return cpu[name].wall


# --- V: vidmerge, cold, in a fresh worker process -------------------------------------------


def _best_v(workload: Workload, root: Path, store: Path, parallel: int, cpu: dict[str, Cpu]) -> dict[str, Any]:
    runs = []
    for n in range(max(1, workload.best_of)):
        with watched() as section:  # the worker's own start-up and the copy included: a bound
            run = _v_run(workload, root, store, parallel, n)
        runs.append((run, section))
    best, cpu[f"V_p{parallel}"] = min(runs, key=lambda r: r[0]["V"])
    return best


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
    loaded = LoadedVersion(template, prepared, storage, frames=FrameCache(Path(frames)))
    timer = Timer()
    with timer.stage("personalize"):
        person = personalize(loaded, data)
    with timer.stage("encode_dynamic"):
        encodes = encode_dynamic(loaded, person.plan, parallel=parallel)
    outputs = package_outputs(loaded, person, Path(run_root) / "out", timer)
    t0 = time.perf_counter()
    repeat_encodes = encode_dynamic(loaded, personalize(loaded, data).plan, parallel=parallel)
    repeat_s = time.perf_counter() - t0
    st = timer.stages
    v = sum(st.get(k, 0.0) for k in ("personalize", "encode_dynamic", "mp4", "verify", "fallback"))
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
