"""Earliest deadline first for dynamic segments, across every render in this process.

A segment's deadline is when its viewer's playhead reaches it: the moment the render was
accepted plus the segment's start (bulk renders a long way later). There is one encoder per
CPU, each with x264's own threading: a viewer waiting on one segment needs that segment fast,
which one-thread encoders side by side (best for a batch) do not give. A player asking for a
segment that is not ready moves it to the front. When several segments are urgent at once (a
crowd of fresh viewers), each is encoded on one thread with x264's quickest search, which keeps
the stream headers (`prepare.RUSH_X264`). One entry per segment key: asking again only ever
brings its deadline forward. Each segment still goes through `segments.ensure`, so across
processes exactly one renders it.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field, replace

from ..plan import SegmentPlan
from ..records import Database
from ..render import Job, side_by_side
from . import segments

BULK_DELAY = 3600.0  # seconds added to a bulk render's deadlines: interactive ones go first
URGENT = 3.0  # seconds: a segment due sooner than this is encoded with the machine to itself
WAVE = 1.0  # seconds: urgent segments due this close together are several viewers' (encoded at once)


@dataclass
class _Entry:
    job: Job
    seg: SegmentPlan
    deadline: float
    future: Future[segments.Outcome] = field(default_factory=Future)
    started: bool = False
    rush: bool = False  # urgent while another segment is urgent too: quickest x264 search


class Scheduler:
    def __init__(self, db: Database, *, workers: int, wait: float) -> None:
        self.db, self.workers, self.wait = db, max(1, workers), wait
        self._heap: list[tuple[float, int, _Entry]] = []
        self._entries: dict[str, _Entry] = {}
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._running_deadlines: dict[int, float] = {}  # id(entry) -> deadline, while encoding
        self._closed = False

    def submit(self, job: Job, seg: SegmentPlan, deadline: float) -> Future[segments.Outcome]:
        with self._cv:
            self._start_threads()
            entry = self._entries.get(seg.key)
            if entry is None:
                entry = self._entries[seg.key] = _Entry(job, seg, deadline)
            elif entry.started or deadline >= entry.deadline:
                return entry.future
            entry.deadline = deadline
            heapq.heappush(self._heap, (deadline, next(self._seq), entry))
            self._cv.notify()
            return entry.future

    def _start_threads(self) -> None:
        while len(self._threads) < self.workers:
            n = len(self._threads)
            thread = threading.Thread(target=self._loop, name=f"vidmerge-segments-{n}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def close(self) -> None:
        """Stop the encoder threads once their current segment is done; queued ones are dropped."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()

    def _next(self) -> _Entry | None:
        """The earliest-deadline entry. While an urgent segment is being encoded, the other
        encoders wait unless the next one is urgent and due about as soon: a segment due later
        would only slow the urgent one down, while several viewers at once need every CPU."""
        with self._cv:
            while True:
                while not self._closed and (not self._heap or self._hold_back()):
                    self._cv.wait(timeout=0.25)  # urgency changes with the clock, not only on events
                if self._closed:
                    return None
                deadline, _, entry = heapq.heappop(self._heap)
                if not entry.started and deadline == entry.deadline:  # else a stale copy
                    entry.started = True
                    entry.rush = self._crowded(deadline)
                    self._running_deadlines[id(entry)] = deadline
                    return entry

    def _hold_back(self) -> bool:
        """Beside an urgent encode, only a segment due about as soon (another viewer's) starts:
        one viewer's next segment, due a segment later, gets the CPUs after it."""
        now = time.time()
        urgent = [deadline for deadline in self._running_deadlines.values() if deadline - now < URGENT]
        if not urgent:
            return False
        due = self._heap[0][0]
        return due - now >= URGENT or due - min(urgent) >= WAVE

    def _crowded(self, deadline: float) -> bool:
        """This segment is urgent and another one is due about as soon (encoding, or next in the
        queue): several viewers are about to reach segments at once, more than full-quality
        encodes keep up with."""
        if deadline - time.time() >= URGENT:
            return False
        others = [*self._running_deadlines.values(), *(self._heap[0][:1] if self._heap else ())]
        return any(abs(other - deadline) < WAVE for other in others)

    def _loop(self) -> None:
        while (entry := self._next()) is not None:
            job = replace(side_by_side(entry.job), rush=True) if entry.rush else entry.job
            try:
                entry.future.set_result(segments.ensure(self.db, job, entry.seg, wait=self.wait))
            except BaseException as exc:  # handed to whoever waits on the future
                entry.future.set_exception(exc)
            finally:
                with self._cv:
                    self._entries.pop(entry.seg.key, None)
                    self._running_deadlines.pop(id(entry), None)
                    self._cv.notify_all()
