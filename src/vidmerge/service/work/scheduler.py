"""Earliest deadline first for dynamic segments, across every render in this process.

A segment's deadline is when its viewer's playhead reaches it: the moment the render was
accepted plus the segment's start (bulk renders a long way later). A segment due soon (urgent)
is encoded on one thread with x264's quickest search, which keeps the stream headers
(`engine.argv.RUSH_X264`): urgent segments run side by side, one per CPU, whether they are one
viewer's next two or the first segments of a crowd that arrived at once, and nothing due later
starts beside them. Segments due later get full-effort encodes with x264's own threading, one
per CPU, at a lower CPU priority; as many spare encoder threads, for urgent work only, let urgent
segments start one per CPU while those hold every CPU (a crowd arriving at a busy server), and
they yield the CPU to them. Every encode ranks below the API's threads (ffmpeg.ENCODER_NICE): a
webhook, a playlist or a segment request is answered first. A bulk render's segments (a
campaign's) wait while any interactive one is queued or encoded here, and those running are
stopped meanwhile (ffmpeg.Bulk): a lower priority alone still gives them a share of the CPU;
stopped, they hold no CPU, and an interactive segment due later starts beside them. A player
asking for a segment that is not ready moves it to the front. One entry per segment key: asking
again only ever brings its deadline forward. Each segment still goes through `segments.ensure`,
so across processes exactly one renders it. `admits` says whether a viewer's request can be met
in time without making other viewers' segments late, each segment priced at what rushed encodes
of its size took here (a low rendition's is cheap): delivery refuses a higher rendition's
segment it does not admit.

The rule that keeps mixed work moving (issue 24: a campaign's stopped encodes once held every
thread while the renders that stopped them waited for a thread): no thread waits while holding
bulk work stopped (the scheduler holds `ffmpeg.BULK` while an interactive segment is queued or
encoding, and nothing waits on that), and no thread is lost to a stopped encode: bulk encodes
take at most one of the three encoder threads per CPU and none starts while bulk work is
stopped, so interactive work always finds a thread. Bulk work is never stopped for good: an
encode stopped `stop_limit` seconds in a row is continued and never stopped again, and a bulk
segment that waited `stop_limit` seconds without any bulk encode starting starts as such an
encode (at its low priority). A watchdog checks all of it: when no encode has started or ended
for `watchdog` seconds while segments wait, it says so (log, `vidmerge_encoder_stalls_total`),
continues bulk work and sets the running encodes aside (they no longer count against the CPUs;
threads are added for them).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any

from vidmerge.engine import ffmpeg
from vidmerge.engine.loaded import LoadedVersion, side_by_side
from vidmerge.errors import NotReady
from vidmerge.plan import SegmentPlan
from vidmerge.records import Database
from vidmerge.service.metrics import METRICS
from vidmerge.service.work import segments

log = logging.getLogger("vidmerge.scheduler")

BULK_DELAY = 3600.0  # seconds added to a bulk render's deadlines: interactive ones go first
URGENT = 3.0  # seconds: a segment due sooner than this is rushed, and nothing due later runs beside it
LATER_NICE = 13  # CPU priority of encodes not urgent when they started (rushed ones: ffmpeg.ENCODER_NICE)
CONTENTION = 2.0  # a crowd's rushed encodes took about twice their price, side by side (docs/bench.md)
STOP_LIMIT = 30.0  # seconds bulk work stays stopped at most, however long interactive work goes on
WATCHDOG = 60.0  # seconds without an encode starting or ending, with segments waiting: a wedge


@dataclass
class _Entry:
    loaded: LoadedVersion
    seg: SegmentPlan
    deadline: float
    future: Future[segments.Outcome] = field(default_factory=Future)
    started: bool = False
    viewer: bool = False  # a viewer asked for it: rushed whenever it starts (priced, and cheap)
    rush: bool = False  # urgent or a viewer's when it started: one thread, quickest x264 search
    shared: bool = False  # another rushed encode ran beside it (its time is not its price)
    bulk: bool = False  # a bulk render's, when it started: stopped while interactive work runs
    freed: bool = False  # a bulk encode never stopped: it waited or was stopped `stop_limit` seconds
    aside: bool = False  # the watchdog found it making no progress: it no longer counts as running
    queued: float = field(default_factory=time.monotonic)
    thread: int = 0  # the encoder thread, once started
    began: float = 0.0  # time.time() when it started


def yielding(loaded: LoadedVersion, *, bulk: bool) -> LoadedVersion:
    """Work due later runs at a lower CPU priority: an urgent segment started beside it (a new
    viewer arriving) gets the CPU it needs, and an idle machine loses nothing. Bulk work is also
    stopped while interactive work runs in this process (ffmpeg.Bulk)."""
    return replace(loaded, limits=replace(loaded.limits, nice=LATER_NICE, bulk=bulk))


class Scheduler:
    def __init__(
        self, db: Database, *, workers: int, wait: float, contention: float = CONTENTION,
        stop_limit: float = STOP_LIMIT, watchdog: float = WATCHDOG,
    ) -> None:  # fmt: skip
        self.db, self.workers, self.wait, self.contention = db, max(1, workers), wait, contention
        self.stop_limit, self.watchdog = stop_limit, watchdog
        self._heap: list[tuple[float, int, _Entry]] = []
        self._entries: dict[str, _Entry] = {}
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._running: dict[int, _Entry] = {}  # id(entry) -> entry, while encoding
        self._closed = False
        self._holding = False  # ffmpeg.BULK held: an interactive segment is queued or encoding
        self._progress = time.monotonic()  # when an encode last started or ended
        self._bulk_began = time.monotonic()  # when a bulk encode last started
        self._prices: dict[tuple[int, int], float] = {}  # (width, height) -> rushed seconds per frame (EWMA)
        self._factors: dict[tuple[str, int, int], float] = {}  # a version's segment -> its time over its size's price

    def submit(
        self, loaded: LoadedVersion, seg: SegmentPlan, deadline: float, *, viewer: bool = False
    ) -> Future[segments.Outcome]:
        with self._cv:
            if self._closed:
                return _closing()
            self._start_threads()
            entry = self._entries.get(seg.key)
            if entry is None:
                entry = self._entries[seg.key] = _Entry(loaded, seg, deadline, viewer=viewer)
            elif entry.started and entry.bulk and not _bulk(deadline):  # a viewer waits for it now
                entry.bulk = False
                ffmpeg.BULK.promote(entry.thread)
                self._hold()
                return entry.future
            elif entry.started or deadline >= entry.deadline:
                entry.viewer = entry.viewer or (viewer and not entry.started)
                return entry.future
            entry.viewer = entry.viewer or viewer
            entry.deadline = deadline
            heapq.heappush(self._heap, (deadline, next(self._seq), entry))
            self._hold()
            self._cv.notify()
            return entry.future

    def _hold(self) -> None:
        """Bulk work stopped while an interactive segment is queued or encoding, continued after."""
        entries = [] if self._closed else self._entries.values()
        interactive = any(not (e.bulk if e.started else _bulk(e.deadline)) for e in entries)
        if interactive != self._holding:
            self._holding = interactive
            if interactive:
                ffmpeg.BULK.hold()
            else:
                ffmpeg.BULK.unhold()

    def _start_threads(self) -> None:
        """Three per CPU: one for work due later, one spare for urgent work, one for bulk work
        (which may be stopped); one more for each encode set aside by the watchdog."""
        if not self._threads:
            threading.Thread(target=self._watch, name="vidmerge-segments-watchdog", daemon=True).start()
        aside = sum(e.aside for e in self._running.values())
        while len(self._threads) < min(3 * self.workers + aside, 6 * self.workers):
            n = len(self._threads)
            thread = threading.Thread(target=self._loop, name=f"vidmerge-segments-{n}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def close(self) -> None:
        """Stop the encoder threads once their current segment is done. Queued segments are
        dropped: whoever waits for one gets NotReady (a render stays accepted in the database, and
        is taken up again by the next start's sweep)."""
        with self._cv:
            self._closed = True
            for entry in self._entries.values():
                if not entry.started and not entry.future.done():
                    entry.future.set_exception(_closing().exception())
            self._hold()
            self._cv.notify_all()

    def _next(self) -> _Entry | None:
        """The earliest-deadline entry; while an urgent segment is being encoded, only another
        urgent one starts beside it."""
        with self._cv:
            while True:
                while not self._closed and (not self._heap or self._hold_back()):
                    self._cv.wait(timeout=0.25)  # urgency changes with the clock, not only on events
                if self._closed:
                    return None
                deadline, _, entry = heapq.heappop(self._heap)
                if not entry.started and deadline == entry.deadline:  # else a stale copy
                    entry.started, entry.thread, entry.began = True, threading.get_ident(), time.time()
                    entry.rush, entry.bulk = self._urgent(deadline) or entry.viewer, _bulk(deadline)
                    if entry.bulk:
                        entry.freed = self._starving(entry)
                        self._bulk_began = time.monotonic()
                    beside = [e for e in self._running.values() if e.rush]
                    if entry.rush and beside:
                        for e in (entry, *beside):
                            e.shared = True
                    self._running[id(entry)] = entry
                    self._progress = time.monotonic()
                    return entry

    def _hold_back(self) -> bool:
        """Urgent segments, and those a viewer asked for, take up to one encoder per CPU, even
        when segments due later hold every CPU (those run at a lower priority and yield). A
        segment due later starts only on a free CPU with no urgent encode running: its x264
        threads would slow the urgent one."""
        running = [e for e in self._running.values() if not e.aside]
        rushed = sum(e.rush for e in running)
        deadline, _, head = self._heap[0]
        if self._urgent(deadline) or head.viewer:
            return rushed >= self.workers
        stopped = ffmpeg.BULK.holding  # bulk encodes stopped meanwhile hold no CPU
        bulk = sum(e.bulk for e in running)  # a thread per CPU at most
        if _bulk(deadline) and self._starving(head):
            return bulk >= self.workers  # it starts never to be stopped, at its low priority
        if rushed > 0 or sum(not (e.bulk and stopped and not e.freed) for e in running) >= self.workers:
            return True
        if not _bulk(deadline):
            return False
        return stopped or any(not e.bulk for e in running) or bulk >= self.workers  # none starts to be stopped

    def _starving(self, entry: _Entry) -> bool:
        """A bulk segment that has waited `stop_limit` seconds while no bulk encode started."""
        return time.monotonic() - max(entry.queued, self._bulk_began) > self.stop_limit

    def admits(self, loaded: LoadedVersion, seg: SegmentPlan, deadline: float, margin: float) -> bool:
        """Whether `seg`, asked for now and due at `deadline`, can be ready `margin` seconds
        before it without making a segment due after it late that would not have been: the
        interactive segments waiting are laid out earliest deadline first on the CPUs (free
        once their rushed encodes are done), with and without it. Each is priced at what
        rushed encodes of its size took here (a low rendition's segment is cheap), or of the
        nearest size timed, by its pixels, times `contention` (encodes side by side with the
        server's own work take longer than one alone), but for one that would run alone (no
        encode running or waiting here); admitted while nothing was timed."""
        with self._cv:
            if not self._prices:
                return True
            now = time.time()
            entry = self._entries.get(seg.key)
            if entry is not None and entry.started:
                return now + self._left(entry, now) + margin <= deadline
            waiting = [(e.deadline, n, self._cost(e.loaded, e.seg)) for n, e in enumerate(self._entries.values())
                       if not e.started and not _bulk(e.deadline) and e is not entry]  # fmt: skip
            if entry is not None:
                deadline = min(deadline, entry.deadline)
            free = sorted(now + self._left(e, now) for e in self._running.values() if e.rush)
            free = (free + [now] * self.workers)[: max(self.workers, len(free))]
            before = _finishes(free, waiting)
            alone = not waiting and not self._running
            after = _finishes(free, [*waiting, (deadline, -1, self._cost(loaded, seg, alone=alone))])
        late = {n for n, (due, done) in before.items() if done + margin > due}
        return all(done + margin <= due or n in late for n, (due, done) in after.items())

    def _cost(self, loaded: LoadedVersion, seg: SegmentPlan, *, alone: bool = False) -> float:
        size = _size(loaded)
        price = self._prices.get(size)
        if price is None:  # a size not timed yet: the nearest one timed, by pixels
            pixels = size[0] * size[1]
            near = min(self._prices, key=lambda s: abs(s[0] * s[1] - pixels), default=None)
            price = self._prices[near] * pixels / (near[0] * near[1]) if near else 0.0
        factor = self._factors.get(_layout(loaded, seg), 1.0)  # e.g. a count-up: a picture per frame to draw
        return price * factor * seg.frames * (1.0 if alone else self.contention)

    def _left(self, entry: _Entry, now: float) -> float:
        return max(0.0, self._cost(entry.loaded, entry.seg) - (now - entry.began))

    def _learn(self, entry: _Entry, outcome: segments.Outcome) -> None:
        """A rushed encode made here prices the next ones of its size (wall seconds per frame,
        what a viewer waits), and its segment of the version against its size's price (in
        every size: its pictures are drawn at the version's size whatever the rendition's)."""
        if not (entry.rush and outcome.rendered):
            return
        price = (time.time() - entry.began) / entry.seg.frames
        with self._cv:
            size = _size(entry.loaded)
            if (old := self._prices.get(size)) is not None:
                _average(self._factors, _layout(entry.loaded, entry.seg), price / old, entry.shared)
            _average(self._prices, size, price, entry.shared)

    @staticmethod
    def _urgent(deadline: float) -> bool:
        return deadline - time.time() < URGENT

    def _loop(self) -> None:
        while (entry := self._next()) is not None:
            if entry.rush:
                loaded = replace(side_by_side(entry.loaded), rush=True)
            else:
                loaded = yielding(entry.loaded, bulk=entry.bulk and not entry.freed)
            try:
                outcome = segments.ensure(self.db, loaded, entry.seg, wait=self.wait)
                self._learn(entry, outcome)
                entry.future.set_result(outcome)
            except BaseException as exc:  # handed to whoever waits on the future
                entry.future.set_exception(exc)
            finally:
                with self._cv:
                    self._entries.pop(entry.seg.key, None)
                    self._running.pop(id(entry), None)
                    self._progress = time.monotonic()
                    self._hold()
                    self._cv.notify_all()

    def _watch(self) -> None:
        """Once a second: bound bulk work's stop, and look for a wedge."""
        with self._cv:
            while not self._closed:
                self._cv.wait(timeout=1.0)
                self._free(ffmpeg.BULK.bound(self.stop_limit))
                self._check_progress()

    def _free(self, threads: list[int]) -> None:
        """The bulk encodes of `threads` were continued for good (ffmpeg.Bulk.bound)."""
        for e in self._running.values():
            if e.thread in threads:
                e.freed = True
        if threads:
            log.info("%d bulk encodes stopped too long: continued at their low priority", len(threads))

    def _check_progress(self) -> None:
        waiting = sum(not e.started for e in self._entries.values())
        idle = time.monotonic() - self._progress if waiting else 0.0
        METRICS.encoder_idle.set(idle)
        if idle <= self.watchdog:
            return
        stuck = [e for e in self._running.values() if not e.aside]
        log.warning("no encode started or ended for %.0f s with %d segments waiting: continuing bulk work, "
                    "setting %d running encodes aside", idle, waiting, len(stuck))  # fmt: skip
        METRICS.encoder_stalls.inc()
        self._free(ffmpeg.BULK.bound(0.0))
        for e in stuck:
            e.aside = True
        self._progress = time.monotonic()
        self._start_threads()
        self._cv.notify_all()


def _closing() -> Future[segments.Outcome]:
    """What a closed scheduler answers: NotReady (whoever waits stops waiting)."""
    future: Future[segments.Outcome] = Future()
    future.set_exception(NotReady("the server is shutting down", where="scheduler"))
    return future


def _finishes(free: list[float], jobs: list[tuple[float, int, float]]) -> dict[int, tuple[float, float]]:
    """Job -> (deadline, when done) of (deadline, job, cost) jobs taken earliest deadline first,
    each on the CPU free first (`free`: when each CPU is)."""
    free = list(free)
    heapq.heapify(free)
    out = {}
    for deadline, job, cost in sorted(jobs):
        done = heapq.heappop(free) + cost
        heapq.heappush(free, done)
        out[job] = (deadline, done)
    return out


def _size(loaded: LoadedVersion) -> tuple[int, int]:
    return loaded.prepared.width, loaded.prepared.height


def _layout(loaded: LoadedVersion, seg: SegmentPlan) -> tuple[str, int, int]:
    """A segment of a version, in any rendition: what its encodes draw and overlay."""
    return loaded.template.id, loaded.template.version, seg.index


def _average(values: dict[Any, float], key: Any, value: float, shared: bool) -> None:
    """A moving average of what encodes took: the first sets it, even one that ran beside others
    (`contention` stands for encodes side by side); later ones that ran alone move it, and ones
    that ran beside others only lower it (alone they would have been quicker still)."""
    old = values.get(key)
    if old is None or not shared or value < old:
        values[key] = value if old is None else 0.8 * old + 0.2 * value


def _bulk(deadline: float) -> bool:
    """Due so far off that it is a bulk render's (BULK_DELAY later than an interactive one's)."""
    return deadline - time.time() > BULK_DELAY / 2
