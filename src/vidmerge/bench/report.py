"""The report of a bench run: figures, ratios, targets and the printed table."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from vidmerge.bench.load import Cpu
from vidmerge.bench.workload import Workload, windows
from vidmerge.engine.loaded import LoadedVersion
from vidmerge.engine.pipeline import Personalized
from vidmerge.plan import Prepared


@dataclass(frozen=True)
class Target:
    name: str
    value: float | None
    op: str  # "<=", "<", ">=" or "=="
    limit: float

    @property
    def passed(self) -> bool | None:
        if self.value is None:
            return None
        return {
            "<=": self.value <= self.limit,
            "<": self.value < self.limit,
            ">=": self.value >= self.limit,
            "==": self.value == self.limit,
        }[self.op]


# --- the report -----------------------------------------------------------------------------


def assemble(
    workload: Workload,
    loaded: LoadedVersion,
    person: Personalized,
    figures: dict[str, float],
    v_runs: Mapping[int, dict[str, Any]],
    load_before: tuple[float, float, float],
    live: Mapping[str, Any] | None = None,
    cpu: Mapping[str, Cpu] | None = None,
) -> dict[str, Any]:
    best = min(v_runs.values(), key=lambda r: r["V"])
    cpu = cpu or {}
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
        "workload": _describe(workload, loaded, person, load_before),
        "figures": {k: round(v, 3) for k, v in figures.items()},
        "ratios": ratios,
        "v": {"parallel": best["parallel"], "runs": {f"p{p}": r for p, r in v_runs.items()}},
        "memory_mb": {
            "worker_peak_rss": round(best["rss_self_mb"], 1),
            "ffmpeg_peak_rss": round(best["rss_children_mb"], 1),
        },
        "live": dict(live) if live else None,
        "cpu": {name: c.json() for name, c in cpu.items()},
        "warnings": [
            f"{name}: other processes took {c.others:.1f} CPU-s during its {c.wall:.1f} s: compare it with care"
            for name, c in cpu.items()
            if c.contended
        ],
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
    """The project's targets for R30 (docs/bench.md)."""
    found = [
        Target("V/L", ratios["V/L"], "<=", 1.1),
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
            Target(f"webhook p99 ms, {live['webhook']['calls']} at once", live["webhook"]["p99_ms"], "<=", 500.0),
        ]
        asked = live.get("viewers_asked", live["crowds"][-1]["viewers"])
        found.append(Target(f"viewers, 0 stalls (of {asked})", float(live["max_viewers_without_stalls"]), ">=",
                            min(16.0, asked)))  # fmt: skip
        if "crowd_during_campaign" in live:
            busy = live["crowd_during_campaign"]
            name = f"stalls, 4 viewers, {busy['campaign_rows']}-row bulk"
            found.append(Target(name, float(busy["stalls"]), "==", 0.0))
        for m in live.get("mixed", []):
            during = f"{m['rows']}-row {m['background']}"
            found.append(Target(f"renders not done, during {during}", float(m["renders_not_done"]), "==", 0.0))
            found.append(Target(f"render done p95 s, during {during}", m["render_done_p95_s"], "<=", 150.0))
            found.append(Target(f"longest stop s, during {during}", m["longest_stopped_s"], "<", 60.0))
            if m["viewers"]:
                found.append(Target(f"stalls, {m['viewers']['viewers']} viewers, during {during}",
                                    float(m["viewers"]["stalls"]), "==", 0.0))  # fmt: skip
        if "campaign_new" in live:  # a customer's bytes: their segments, poster and GIF, no MP4 copy
            new = live["campaign_new"]
            found.append(Target("stored bytes / personal", new["stored_bytes_ratio"], "<=", 1.3))
            found.append(Target(f"server RSS MB, {new['rows']} rows", float(new["server_peak_rss_mb"]), "<=", 400.0))
    return found


def _target_json(t: Target) -> dict[str, Any]:
    return {"name": t.name, "value": t.value, "op": t.op, "limit": t.limit, "pass": t.passed}


def _describe(
    workload: Workload, loaded: LoadedVersion, person: Personalized, load_before: tuple[float, float, float]
) -> dict[str, Any]:
    p: Prepared = loaded.prepared
    return {
        "name": workload.name,
        "base_clip": f"{workload.seconds} s {workload.width}x{workload.height} {workload.fps} fps "
        "H.264 High + AAC 48 kHz stereo, generated by vidmerge.bench.clip.make_base_clip",
        "bundle": f"template.yaml and assets copied from {workload.bundle_source}",
        "personalized_seconds": round(sum(b - a for a, b in windows(loaded.template.slots)), 3),
        "segments": len(p.segments),
        "dynamic_segments": len(person.plan.dynamic),
        "segment_seconds": loaded.template.manifest.output.segment_seconds,
        "preset": p.preset,
        "crf": p.crf,
        "best_of": workload.best_of,
        "cpus": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


ROWS = (
    ("prepare", "prepare (once per template version, not in V)"),
    ("L", "L  floor: encode only the personalized seconds"),
    ("F", "F  hand-written one-pass re-encode (PNG overlays)"),
    ("F_full_render", "   vidmerge encode_full (one pass, raw overlay pipe)"),
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
        f"load before {w['load_average_before']}, after {w.get('load_average_after')}; "
        f"best of {w['best_of']} for L, F, V",
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
        ttfp, repeat = (live["ttfp_p50"], live["ttfp_p95"]), (live["repeat_latency"], live["repeat_encodes"])
        rows = {
            "TTFP p50 / p95 (webhook -> playlist + first segment)": "{:.3f} / {:.3f}".format(*ttfp),
            "repeated request over HTTP: seconds / encodes": "{:.4f} / {:g}".format(*repeat),
            "webhook ms p50 / p99, {calls} calls at once".format(
                **live["webhook"]
            ): "{p50_ms:.0f} / {p99_ms:.0f}".format(**live["webhook"]),
        }
        for c in live["crowds"]:
            played = f" ({', '.join(c['renditions'])}; {c['refused']} refused)" if c.get("renditions") else ""
            rows[f"{c['viewers']} viewers{played}: stalls / stall s / margin s / TTFP max"] = (
                "{stalls} / {stall_seconds} / {worst_segment_margin} / {ttfp_max}".format(**c))  # fmt: skip
        if "crowd_during_campaign" in live:
            busy = live["crowd_during_campaign"]
            rows[f"4 viewers during a {busy['campaign_rows']}-row campaign: stalls / stall s"] = (
                "{stalls} / {stall_seconds}".format(**busy))  # fmt: skip
        for m in live.get("mixed", []):
            during = f"during a {m['rows']}-row {m['background']}"
            rows[f"{m['renders']} renders {during}: done s p50 / p95"] = (
                f"{m['render_done_p50_s']} / {m['render_done_p95_s']}")  # fmt: skip
            kind = m["background"]
            if m["viewers"]:
                rows[f"   {kind}: {m['viewers']['viewers']} viewers: stalls / stall s"] = (
                    "{stalls} / {stall_seconds}".format(**m["viewers"]))  # fmt: skip
            rows[f"   {kind}: bulk done before / during / all done s"] = (
                f"{m['bulk_done_before']} / {m['bulk_done_during']} / {m['bulk_seconds']}")  # fmt: skip
            rows[f"   {kind}: longest an ffmpeg stayed stopped, s"] = str(m["longest_stopped_s"])
        for key, label in (("campaign_new", "new values"), ("campaign_repeating", "repeating values")):
            if key in live:
                rows[f"campaign, {live[key]['rows']} rows, {label}: renders/h, CPU s/render"] = (
                    "{renders_per_hour} / {cpu_s_per_render:.2f}".format(**live[key]))  # fmt: skip
                rows[f"   {label}: stored bytes per render, all / personal"] = (
                    "{stored_bytes_per_render} / {personal_bytes_per_render}".format(**live[key]))  # fmt: skip
                rows[f"   {label}: server peak RSS MB"] = str(live[key]["server_peak_rss_mb"])
        lines += [f"{label:<56}{value:>16}" for label, value in rows.items()]
    cpu = report.get("cpu", {})
    if cpu:
        lines += ["", f"{'section: wall s / our CPU s / others CPU s':<56}"]
        lines += [
            f"   {name:<53}{c['wall']:>8.2f} / {c['own_cpu']:.1f} / {c['others_cpu']:.1f}" for name, c in cpu.items()
        ]
    lines += [f"WARNING {w}" for w in report.get("warnings", [])]
    lines += ["", f"{'target':<24}{'value':>10}  {'goal':<10}result"]
    for t in report["targets"]:
        value = "n/a" if t["value"] is None else f"{t['value']:.3f}"
        result = {True: "PASS", False: "MISS", None: "not measured"}[t["pass"]]
        lines.append(f"{t['name']:<24}{value:>10}  {t['op']} {t['limit']:<7g}{result}")
    return "\n".join(lines)
