"""Earliest deadline first across renders; a waiting viewer moves a segment to the front."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest

from vidmerge.engine import ffmpeg
from vidmerge.engine.loaded import LoadedVersion
from vidmerge.errors import NotReady
from vidmerge.plan import SegmentPlan
from vidmerge.service.metrics import METRICS
from vidmerge.service.work import queue as queue_module
from vidmerge.service.work import scheduler as scheduler_module
from vidmerge.service.work.scheduler import Scheduler
from vidmerge.service.work.segments import Outcome


def _seg(key: str) -> SegmentPlan:
    return SegmentPlan(index=1, start=2.0, end=4.0, frames=60, pts0=0, key=key)


def _loaded(width: int = 416, height: int = 234) -> LoadedVersion:
    """A version whose segments are `width` x `height` (all the scheduler reads of one, but for
    its id and version)."""
    version = SimpleNamespace(id="t", version=1)
    return LoadedVersion(version, SimpleNamespace(width=width, height=height), None)  # type: ignore[arg-type]


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], threading.Event]:
    """segments.ensure replaced by a recorder; the first call blocks until released."""
    order: list[str] = []
    release = threading.Event()

    def ensure(db: Any, loaded: LoadedVersion, seg: SegmentPlan, *, wait: float) -> Outcome:
        order.append(seg.key)
        if len(order) == 1:
            release.wait(10)
        return Outcome(rendered=True, waited=0.0)

    monkeypatch.setattr(scheduler_module.segments, "ensure", ensure)
    return order, release


def _held(
    order: list[str], *, workers: int, key: str, deadline: float
) -> tuple[Scheduler, LoadedVersion, Future[Outcome]]:
    """A scheduler whose first encode (segment `key`) is held by the `recorded` fixture."""
    sched = Scheduler(db=None, workers=workers, wait=1.0)  # type: ignore[arg-type]
    loaded = _loaded()
    first = sched.submit(loaded, _seg(key), deadline=deadline)
    while not order:
        threading.Event().wait(0.01)
    return sched, loaded, first


def test_earliest_deadline_first_and_a_viewer_jumps_the_queue(recorded: tuple[list[str], threading.Event]) -> None:
    order, release = recorded
    sched, loaded, busy = _held(order, workers=1, key="A", deadline=10)  # the rest queue up behind A
    later = [sched.submit(loaded, _seg(k), deadline=d) for k, d in (("B", 30), ("C", 20), ("D", 40))]
    again = sched.submit(loaded, _seg("C"), deadline=25)  # a later deadline changes nothing
    urgent = sched.submit(loaded, _seg("D"), deadline=5)  # a viewer is waiting for D
    assert again is later[1] and urgent is later[2]
    release.set()
    for future in (busy, *later):
        assert future.result(5).rendered
    assert order == ["A", "D", "C", "B"]
    sched.close()


def test_an_urgent_segment_is_encoded_alone(recorded: tuple[list[str], threading.Event]) -> None:
    """With two encoders, the second waits while the first encodes something due soon."""
    order, release = recorded
    sched, loaded, urgent = _held(order, workers=2, key="now", deadline=time.time() + 1)
    later = sched.submit(loaded, _seg("later"), deadline=time.time() + 60)
    threading.Event().wait(0.5)
    assert order == ["now"]  # "later" did not start beside the urgent one
    release.set()
    assert urgent.result(5).rendered and later.result(5).rendered
    assert order == ["now", "later"]
    sched.close()


def test_urgent_segments_are_rushed_on_one_thread_later_ones_are_not(monkeypatch: pytest.MonkeyPatch) -> None:
    """Due within URGENT: quickest search, one thread (the other CPUs stay free for the next
    urgent one). Due later: full effort, x264's own threading, lower CPU priority."""
    seen: dict[str, tuple[bool, int, int]] = {}

    def ensure(db: Any, loaded: LoadedVersion, seg: SegmentPlan, *, wait: float) -> Outcome:
        seen[seg.key] = (loaded.rush, loaded.limits.threads, loaded.limits.nice)
        return Outcome(rendered=True, waited=0.0)

    monkeypatch.setattr(scheduler_module.segments, "ensure", ensure)
    sched = Scheduler(db=None, workers=2, wait=1.0)  # type: ignore[arg-type]
    loaded = _loaded()
    assert sched.submit(loaded, _seg("soon"), deadline=time.time() + 1).result(5).rendered
    assert sched.submit(loaded, _seg("later"), deadline=time.time() + 60).result(5).rendered
    assert seen == {"soon": (True, 1, 0), "later": (False, 0, scheduler_module.LATER_NICE)}
    sched.close()


def test_urgent_segments_run_side_by_side(recorded: tuple[list[str], threading.Event]) -> None:
    """One viewer's next two segments, or a crowd's first ones: each urgent encode is one
    thread, so a second urgent segment takes the other CPU instead of waiting."""
    order, release = recorded
    now = time.time()
    sched, loaded, current = _held(order, workers=2, key="seg-1", deadline=now + 0.5)
    following = sched.submit(loaded, _seg("seg-2"), deadline=now + 2.5)
    assert following.result(5).rendered  # done while seg-1's encode is still held
    assert not current.done()
    release.set()
    assert current.result(5).rendered
    sched.close()


def test_an_urgent_segment_starts_while_later_ones_hold_every_encoder(
    recorded: tuple[list[str], threading.Event],
) -> None:
    """A new viewer at a busy server: its first segment does not wait for a full-effort encode
    of someone's later segment to finish; that one runs at a lower CPU priority meanwhile."""
    order, release = recorded
    sched, loaded, later = _held(order, workers=1, key="later", deadline=time.time() + 60)
    arriving = sched.submit(loaded, _seg("arriving"), deadline=time.time() + 1)
    assert arriving.result(5).rendered  # done while "later" is still encoding
    assert not later.done()
    queued = sched.submit(loaded, _seg("queued"), deadline=time.time() + 60)
    threading.Event().wait(0.5)
    assert order == ["later", "arriving"]  # the spare encoder takes urgent work only
    release.set()
    assert later.result(5).rendered and queued.result(5).rendered
    sched.close()


def test_a_crowd_gets_an_urgent_encoder_per_cpu_while_later_ones_hold_every_cpu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Viewers arriving at once while two renders' later segments hold both CPUs: their first
    segments are encoded two at a time, not one after another on a single spare encoder."""
    started: list[str] = []
    release = threading.Event()

    def ensure(db: Any, loaded: LoadedVersion, seg: SegmentPlan, *, wait: float) -> Outcome:
        started.append(seg.key)
        release.wait(10)
        return Outcome(rendered=True, waited=0.0)

    monkeypatch.setattr(scheduler_module.segments, "ensure", ensure)
    sched = Scheduler(db=None, workers=2, wait=1.0)  # type: ignore[arg-type]
    loaded = _loaded()
    futures = [sched.submit(loaded, _seg(f"later-{n}"), deadline=time.time() + 60) for n in range(2)]
    _until(lambda: len(started) == 2)
    futures += [sched.submit(loaded, _seg(f"viewer-{n}"), deadline=time.time() + 1) for n in range(3)]
    _until(lambda: len(started) == 4)
    threading.Event().wait(0.3)
    assert sorted(started) == ["later-0", "later-1", "viewer-0", "viewer-1"]  # the third waits for a CPU
    release.set()
    assert all(f.result(5).rendered for f in futures)
    sched.close()


def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        threading.Event().wait(0.01)


def test_bulk_segments_wait_for_interactive_ones_and_are_stopped_while_those_encode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A campaign's segment (due an hour on) does not start beside a viewer's, even one due
    later than URGENT; it runs as bulk (stopped while interactive work runs), the viewer's holds
    bulk work stopped while it encodes; a viewer coming to wait for a running bulk segment
    promotes its encoder."""
    seen: dict[str, tuple[bool, int]] = {}
    release, promoted = threading.Event(), []

    def ensure(db: Any, loaded: LoadedVersion, seg: SegmentPlan, *, wait: float) -> Outcome:
        seen[seg.key] = (loaded.limits.bulk, ffmpeg.BULK._holders)
        if seg.key in ("viewer", "campaign-2"):
            release.wait(10)
        return Outcome(rendered=True, waited=0.0)

    monkeypatch.setattr(scheduler_module.segments, "ensure", ensure)
    monkeypatch.setattr(ffmpeg.BULK, "promote", promoted.append)
    sched = Scheduler(db=None, workers=2, wait=1.0)  # type: ignore[arg-type]
    loaded = _loaded()
    viewer = sched.submit(loaded, _seg("viewer"), deadline=time.time() + 20)  # interactive, not urgent
    while "viewer" not in seen:
        time.sleep(0.01)
    campaign = sched.submit(loaded, _seg("campaign"), deadline=time.time() + scheduler_module.BULK_DELAY)
    time.sleep(0.5)
    assert "campaign" not in seen  # a CPU is free, yet bulk waits for the viewer's encode
    release.set()
    assert viewer.result(5).rendered and campaign.result(5).rendered
    assert seen == {"viewer": (False, 1), "campaign": (True, 0)}

    release.clear()
    running = sched.submit(loaded, _seg("campaign-2"), deadline=time.time() + scheduler_module.BULK_DELAY)
    while "campaign-2" not in seen:
        time.sleep(0.01)
    assert sched.submit(loaded, _seg("campaign-2"), deadline=time.time() + 2) is running  # a viewer asks
    assert len(promoted) == 1  # its encoder thread's ffmpeg runs on, not stopped again
    release.set()
    assert running.result(5).rendered
    sched.close()


def test_a_viewers_render_never_waits_for_a_thread_held_by_a_campaign(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every bulk thread busy with a campaign's renders (waiting on their segments, held back):
    an interactive render still starts at once, on its lane's own threads."""
    release, ran = threading.Event(), []

    def run_render(rt: Any, render_id: str) -> str:
        ran.append(render_id)
        if render_id.startswith("bulk"):
            release.wait(10)
        return "done"

    monkeypatch.setattr(queue_module.tasks, "run_render", run_render)
    lanes = queue_module.EmbeddedQueue(None, workers=1)  # type: ignore[arg-type]
    lanes.start()
    for n in range(3):
        lanes.enqueue(f"bulk-{n}", "bulk")
    lanes.enqueue("viewer", "interactive")
    deadline = time.monotonic() + 10
    while "viewer" not in ran:
        assert time.monotonic() < deadline, ran
        time.sleep(0.01)
    assert ran == ["bulk-0", "viewer"] or ran == ["viewer", "bulk-0"]  # one bulk thread, busy
    release.set()
    while len(ran) < 4:
        assert time.monotonic() < deadline + 10, ran
        time.sleep(0.01)
    lanes.stop()
    assert sorted(ran) == ["bulk-0", "bulk-1", "bulk-2", "viewer"]


def test_stopped_bulk_encodes_hold_no_cpu_a_viewers_later_segment_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    """A campaign's encode holds the only CPU; while interactive work holds bulk work stopped, a
    viewer's segment due later than URGENT starts all the same (else it would wait until urgent)."""
    started: list[str] = []
    release = threading.Event()

    def ensure(db: Any, loaded: LoadedVersion, seg: SegmentPlan, *, wait: float) -> Outcome:
        started.append(seg.key)
        if seg.key == "campaign":
            release.wait(10)
        return Outcome(rendered=True, waited=0.0)

    monkeypatch.setattr(scheduler_module.segments, "ensure", ensure)
    sched = Scheduler(db=None, workers=1, wait=1.0)  # type: ignore[arg-type]
    loaded = _loaded()
    campaign = sched.submit(loaded, _seg("campaign"), deadline=time.time() + scheduler_module.BULK_DELAY)
    while "campaign" not in started:
        time.sleep(0.01)
    with ffmpeg.BULK.held():  # a viewer's render is in progress: the campaign's encoder is stopped
        later = sched.submit(loaded, _seg("top"), deadline=time.time() + 20)
        assert later.result(5).rendered
    release.set()
    assert campaign.result(5).rendered
    sched.close()


def test_closing_ends_the_wait_for_queued_segments(recorded: tuple[list[str], threading.Event]) -> None:
    """A stopping server: whoever waits for a segment not started gets NotReady at once (its
    render stays accepted, taken up again later); the one encoding finishes."""
    order, release = recorded
    sched, loaded, busy = _held(order, workers=1, key="A", deadline=10)
    queued = sched.submit(loaded, _seg("B"), deadline=20)
    sched.close()
    with pytest.raises(NotReady):
        queued.result(1)
    with pytest.raises(NotReady):  # asked after closing: no encoder would ever take it
        sched.submit(loaded, _seg("C"), deadline=5).result(1)
    release.set()
    assert busy.result(5).rendered and order == ["A"]


@pytest.fixture
def release(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """segments.ensure replaced by an encode of 0.2 s at least, held while the event is clear
    (set at first)."""
    event = threading.Event()
    event.set()

    def ensure(db: Any, loaded: LoadedVersion, seg: SegmentPlan, *, wait: float) -> Outcome:
        time.sleep(0.2)
        event.wait(10)
        return Outcome(rendered=True, waited=0.0)

    monkeypatch.setattr(scheduler_module.segments, "ensure", ensure)
    return event


def test_a_segment_is_admitted_when_it_and_those_due_after_it_can_be_ready_in_time(release: threading.Event) -> None:
    """Priced at what a rushed encode of its size took here, or of another size by its pixels
    (admitted while none was timed), a segment asked for is admitted when it can be ready by
    its deadline without making a segment queued after it late."""
    sched = Scheduler(db=None, workers=1, wait=1.0, contention=1.0)  # type: ignore[arg-type]
    small, big = _loaded(416, 234), _loaded(832, 468)
    assert sched.admits(small, _seg("x"), time.time() + 0.01, 0.0)  # nothing timed yet
    started = time.time()
    assert sched.submit(small, _seg("timed"), deadline=time.time() + 1).result(5).rendered  # rushed
    cost = time.time() - started  # at most what it was priced at
    assert not sched.admits(small, _seg("x"), time.time() + 0.1, 0.0)  # it takes 0.2 s at least
    assert sched.admits(small, _seg("x"), time.time() + cost + 0.5, 0.0)
    assert not sched.admits(small, _seg("x"), time.time() + cost + 0.5, 1.0)  # nor 1 s before
    assert sched.admits(big, _seg("y"), time.time() + 5 * cost, 0.0)  # not timed: four times the pixels
    assert not sched.admits(big, _seg("y"), time.time() + 2 * cost, 0.0)

    release.clear()  # the next encode holds the only encoder; q waits behind it
    sched.submit(small, _seg("held"), deadline=time.time() + 1)
    _until(lambda: sched.admits(small, _seg("held"), time.time() + 0.05, 0.0))  # running, past its price
    now = time.time()
    queued = sched.submit(small, _seg("q"), deadline=now + 1.5 * cost)  # ready in time, alone
    assert not sched.admits(small, _seg("first"), now + 1.2 * cost, 0.0)  # in time itself, but q would not be
    assert sched.admits(small, _seg("after"), now + 3 * cost, 0.0)
    assert not sched.admits(small, _seg("after"), now + 1.6 * cost, 0.0)  # itself late behind q
    release.set()
    assert queued.result(5).rendered
    sched.close()


def test_a_segment_that_would_run_alone_is_priced_without_contention(release: threading.Event) -> None:
    """Side by side, encodes take `contention` times their price; a segment asked for on an idle
    server runs alone, at its price (a size first timed in a crowd is not refused for ever)."""
    sched = Scheduler(db=None, workers=2, wait=1.0, contention=2.0)  # type: ignore[arg-type]
    small = _loaded(416, 234)
    assert sched.submit(small, _seg("timed"), deadline=time.time() + 1).result(5).rendered
    cost = sched._prices[(416, 234)] * _seg("x").frames  # its price: 0.2 s at least
    assert sched.admits(small, _seg("x"), time.time() + 1.5 * cost, 0.0)  # alone: its price
    release.clear()
    sched.submit(small, _seg("beside"), deadline=time.time() + 60)  # the other encoder busy
    _until(lambda: bool(sched._running))
    assert not sched.admits(small, _seg("x"), time.time() + 1.5 * cost, 0.0)  # side by side: twice it
    assert sched.admits(small, _seg("x"), time.time() + 2.5 * cost, 0.0)
    release.set()
    sched.close()


def test_a_segment_a_viewer_asked_for_is_rushed_whenever_it_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    """A viewer's segment due later is still rushed (one thread, quickest search: what the
    admission prices it at) at the version's own CPU priority; a render's own segment due later
    gets the full-effort encode, at the lower priority."""
    seen: dict[str, tuple[bool, int]] = {}

    def ensure(db: Any, loaded: LoadedVersion, seg: SegmentPlan, *, wait: float) -> Outcome:
        seen[seg.key] = (loaded.rush, loaded.limits.nice)
        return Outcome(rendered=True, waited=0.0)

    monkeypatch.setattr(scheduler_module.segments, "ensure", ensure)
    sched = Scheduler(db=None, workers=2, wait=1.0)  # type: ignore[arg-type]
    loaded = _loaded()
    assert sched.submit(loaded, _seg("asked"), deadline=time.time() + 60, viewer=True).result(5).rendered
    assert sched.submit(loaded, _seg("asked soon"), deadline=time.time() + 1, viewer=True).result(5).rendered
    assert sched.submit(loaded, _seg("own"), deadline=time.time() + 60).result(5).rendered
    later = scheduler_module.LATER_NICE
    assert seen == {"asked": (True, 0), "asked soon": (True, 0), "own": (False, later)}
    sched.close()


def test_an_encode_beside_others_only_lowers_its_sizes_price() -> None:
    """The first encode of a size prices it, even in a crowd; a later one that ran beside others
    (slower than alone) may lower the price, never raise it."""
    sched = Scheduler(db=None, workers=2, wait=1.0)  # type: ignore[arg-type]
    loaded, seg = _loaded(), _seg("a")

    def learn(seconds: float) -> float:
        entry = scheduler_module._Entry(loaded, seg, 0.0, rush=True, shared=True, began=time.time() - seconds)
        sched._learn(entry, Outcome(rendered=True, waited=0.0))
        return sched._prices[(416, 234)] * seg.frames

    first = learn(1.0)
    assert first == pytest.approx(1.0, abs=0.05)
    assert learn(3.0) == first  # slower beside others: not its price
    assert learn(0.2) < first * 0.9  # quicker: the crowd's first price comes down


def test_a_segment_drawing_a_picture_per_frame_is_priced_above_its_sizes_others() -> None:
    """A count-up draws a picture for every frame: its segment takes several times what the
    version's others take at that size, and is priced so, in every rendition (the pictures are
    drawn at the version's size whatever the rendition's)."""
    sched = Scheduler(db=None, workers=1, wait=1.0, contention=1.0)  # type: ignore[arg-type]
    small, big = _loaded(416, 234), _loaded(832, 468)
    plain, counting = _seg("a"), replace(_seg("b"), index=6)

    def learn(seg: SegmentPlan, seconds: float) -> None:
        entry = scheduler_module._Entry(small, seg, 0.0, rush=True, began=time.time() - seconds)
        sched._learn(entry, Outcome(rendered=True, waited=0.0))

    learn(plain, 0.2)
    learn(counting, 0.6)
    for loaded in (small, big):
        assert sched._cost(loaded, counting) == pytest.approx(3 * sched._cost(loaded, plain), rel=0.1)
    due = time.time() + 1.5 * sched._cost(small, plain)
    assert sched.admits(small, _seg("c"), due, 0.0) and not sched.admits(small, replace(counting, key="d"), due, 0.0)


def _bulk_encodes_are_real(monkeypatch: pytest.MonkeyPatch, seconds: int = 1) -> None:
    """segments.ensure: a bulk segment is a real ffmpeg of `seconds` wall time (`-re`), which
    `ffmpeg.BULK` stops and continues; any other is done at once."""

    def ensure(db: Any, loaded: LoadedVersion, seg: SegmentPlan, *, wait: float) -> Outcome:
        if loaded.limits.bulk:
            source = f"testsrc=size=64x36:rate=10:duration={seconds}"
            ffmpeg.run(["-re", "-f", "lavfi", "-i", source, "-f", "null", "-"], limits=loaded.limits)
        return Outcome(rendered=True, waited=0.0)

    monkeypatch.setattr(scheduler_module.segments, "ensure", ensure)


def test_bulk_encodes_never_take_the_threads_interactive_work_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 24's wedge: a campaign encoding, then something holds bulk work stopped (an
    interactive render's packaging) while viewers' segments and a render's later ones arrive.
    Bulk encodes take one thread per CPU at most and none starts while bulk work is stopped, so
    every interactive segment is encoded while the hold lasts; the campaign finishes after."""
    _bulk_encodes_are_real(monkeypatch)
    sched = Scheduler(db=None, workers=2, wait=1.0)  # type: ignore[arg-type]
    loaded = _loaded()
    far = time.time() + scheduler_module.BULK_DELAY
    campaign = [sched.submit(loaded, _seg(f"campaign-{n}"), deadline=far + n) for n in range(6)]
    _until(lambda: len(ffmpeg.BULK._pids) == 2)
    with ffmpeg.BULK.held():
        time.sleep(0.5)  # today's code started two more bulk encodes here, stopped at once: 4 of 4 threads
        now = time.time()
        viewers = [sched.submit(loaded, _seg(f"viewer-{n}"), deadline=now + 1 + n, viewer=True) for n in range(2)]
        later = [sched.submit(loaded, _seg(f"top-{n}"), deadline=now + 40 + n) for n in range(2)]
        assert all(f.result(20).rendered for f in (*viewers, *later))
        assert len(ffmpeg.BULK._pids) <= 2
    assert all(f.result(60).rendered for f in campaign)
    sched.close()


def test_bulk_work_is_stopped_while_interactive_segments_wait_but_never_for_good(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The scheduler holds bulk work while an interactive segment is queued or encoding (no
    thread waits inside that hold). However long that lasts, a campaign goes on: its encode
    stopped `stop_limit` seconds is continued for good, and its next segment, having waited as
    long, starts never to be stopped."""
    _bulk_encodes_are_real(monkeypatch, seconds=2)
    release = threading.Event()
    real = scheduler_module.segments.ensure

    def ensure(db: Any, loaded: LoadedVersion, seg: SegmentPlan, *, wait: float) -> Outcome:
        if seg.key == "viewer":
            release.wait(30)
        return real(db, loaded, seg, wait=wait)

    monkeypatch.setattr(scheduler_module.segments, "ensure", ensure)
    sched = Scheduler(db=None, workers=1, wait=1.0, stop_limit=1.5)  # type: ignore[arg-type]
    loaded = _loaded()
    far = time.time() + scheduler_module.BULK_DELAY
    first = sched.submit(loaded, _seg("campaign-1"), deadline=far)
    _until(lambda: len(ffmpeg.BULK._pids) == 1)
    pid = next(iter(ffmpeg.BULK._pids))
    viewer = sched.submit(loaded, _seg("viewer"), deadline=time.time() + 1, viewer=True)
    _until(lambda: ffmpeg.BULK.holding)
    _until(lambda: _state(pid) == "T")
    second = sched.submit(loaded, _seg("campaign-2"), deadline=far + 1)
    assert first.result(20).rendered and second.result(20).rendered  # while the viewer's encode goes on
    assert ffmpeg.BULK.holding and not viewer.done()
    release.set()
    assert viewer.result(5).rendered
    _until(lambda: ffmpeg.BULK._holders == 0)
    sched.close()


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "gone"


def test_the_watchdog_says_so_and_sets_a_stuck_encode_aside(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An encode that never ends holds the only CPU while a viewer's segment waits: after
    `watchdog` seconds without progress the server logs it, counts it in /metrics and sets the
    stuck encode aside, so the waiting segment is encoded."""
    stuck = threading.Event()

    def ensure(db: Any, loaded: LoadedVersion, seg: SegmentPlan, *, wait: float) -> Outcome:
        if seg.key == "stuck":
            stuck.wait(30)
        return Outcome(rendered=True, waited=0.0)

    monkeypatch.setattr(scheduler_module.segments, "ensure", ensure)
    stalls = METRICS.encoder_stalls._value.get()
    sched = Scheduler(db=None, workers=1, wait=1.0, watchdog=1.0)  # type: ignore[arg-type]
    loaded = _loaded()
    first = sched.submit(loaded, _seg("stuck"), deadline=time.time() + 1, viewer=True)
    _until(lambda: bool(sched._running))
    waiting = sched.submit(loaded, _seg("waiting"), deadline=time.time() + 2, viewer=True)
    assert waiting.result(15).rendered and not first.done()
    assert METRICS.encoder_stalls._value.get() == stalls + 1
    assert any("no encode started or ended" in r.getMessage() for r in caplog.records)
    stuck.set()
    assert first.result(5).rendered
    sched.close()
