"""Whether a timed section had the machine to itself.

For each timed section the bench records its wall time, the CPU seconds the bench itself and its
children (ffmpeg, the V worker) used, and the CPU seconds every other process on the machine took
meanwhile (all CPUs' busy time from /proc/stat, less ours). Figures are ratios measured side by
side, so a section that shared the CPUs with something else is flagged rather than trusted.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

CONTENDED = 0.25  # other processes averaging more than a quarter of a CPU: the figure is suspect
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Cpu:
    wall: float = 0.0
    own: float = 0.0  # CPU seconds of the bench and its children
    others: float = 0.0  # CPU seconds every other process took

    @property
    def contended(self) -> bool:
        return self.wall > 0 and self.others / self.wall > CONTENDED

    def json(self) -> dict[str, float]:
        return {"wall": round(self.wall, 3), "own_cpu": round(self.own, 2), "others_cpu": round(self.others, 2)}


@contextmanager
def watched() -> Iterator[Cpu]:
    """A Cpu filled in when the block ends."""
    cpu = Cpu()
    t0, own0, busy0 = time.perf_counter(), _own(), _busy()
    try:
        yield cpu
    finally:
        cpu.wall, cpu.own = time.perf_counter() - t0, _own() - own0
        cpu.others = max(0.0, _busy() - busy0 - cpu.own)


def _own() -> float:
    return sum(
        r.ru_utime + r.ru_stime for r in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    )


def _busy() -> float:
    """Seconds all CPUs spent busy since boot: every field of /proc/stat's `cpu` line but idle and iowait."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / TICKS
