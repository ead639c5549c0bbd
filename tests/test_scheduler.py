"""Earliest deadline first across renders; a waiting viewer moves a segment to the front."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from vidmerge.plan import SegmentPlan
from vidmerge.render import Job
from vidmerge.service import scheduler as scheduler_module
from vidmerge.service.scheduler import Scheduler
from vidmerge.service.segments import Outcome


def _seg(key: str) -> SegmentPlan:
    return SegmentPlan(index=1, start=2.0, end=4.0, frames=60, pts0=0, key=key)


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], threading.Event]:
    """segments.ensure replaced by a recorder; the first call blocks until released."""
    order: list[str] = []
    release = threading.Event()

    def ensure(db: Any, job: Job, seg: SegmentPlan, *, wait: float) -> Outcome:
        order.append(seg.key)
        if len(order) == 1:
            release.wait(10)
        return Outcome(rendered=True, waited=0.0)

    monkeypatch.setattr(scheduler_module.segments, "ensure", ensure)
    return order, release


def test_earliest_deadline_first_and_a_viewer_jumps_the_queue(recorded: tuple[list[str], threading.Event]) -> None:
    order, release = recorded
    sched = Scheduler(db=None, workers=1, wait=1.0)  # type: ignore[arg-type]
    job = Job(None, None, None)  # type: ignore[arg-type]
    busy = sched.submit(job, _seg("A"), deadline=10)
    while not order:  # A is being rendered; the rest queue up behind it
        threading.Event().wait(0.01)
    later = [sched.submit(job, _seg(k), deadline=d) for k, d in (("B", 30), ("C", 20), ("D", 40))]
    again = sched.submit(job, _seg("C"), deadline=25)  # a later deadline changes nothing
    urgent = sched.submit(job, _seg("D"), deadline=5)  # a viewer is waiting for D
    assert again is later[1] and urgent is later[2]
    release.set()
    for future in (busy, *later):
        assert future.result(5).rendered
    assert order == ["A", "D", "C", "B"]
    sched.close()


def test_an_urgent_segment_is_encoded_alone(recorded: tuple[list[str], threading.Event]) -> None:
    """With two encoders, the second waits while the first encodes something due soon."""
    import time

    order, release = recorded
    sched = Scheduler(db=None, workers=2, wait=1.0)  # type: ignore[arg-type]
    job = Job(None, None, None)  # type: ignore[arg-type]
    urgent = sched.submit(job, _seg("now"), deadline=time.time() + 1)
    while not order:
        threading.Event().wait(0.01)
    later = sched.submit(job, _seg("later"), deadline=time.time() + 60)
    threading.Event().wait(0.5)
    assert order == ["now"]  # "later" did not start beside the urgent one
    release.set()
    assert urgent.result(5).rendered and later.result(5).rendered
    assert order == ["now", "later"]
    sched.close()


def test_several_urgent_segments_use_every_encoder(recorded: tuple[list[str], threading.Event]) -> None:
    """Viewers at once: a second urgent segment starts beside the first, not after it."""
    import time

    order, release = recorded
    sched = Scheduler(db=None, workers=2, wait=1.0)  # type: ignore[arg-type]
    job = Job(None, None, None)  # type: ignore[arg-type]
    first = sched.submit(job, _seg("viewer-a"), deadline=time.time() + 1)
    while not order:
        threading.Event().wait(0.01)
    second = sched.submit(job, _seg("viewer-b"), deadline=time.time() + 1)
    assert second.result(5).rendered  # done while viewer-a's encode is still held
    assert not first.done()
    release.set()
    assert first.result(5).rendered
    sched.close()


def test_urgent_segments_of_a_crowd_are_rushed_a_lone_one_is_not(monkeypatch: pytest.MonkeyPatch) -> None:
    """One viewer gets full quality; several viewers due at once get the quickest encodes."""
    import time

    seen: dict[str, tuple[bool, int]] = {}
    release = threading.Event()

    def ensure(db: Any, job: Job, seg: SegmentPlan, *, wait: float) -> Outcome:
        seen[seg.key] = (job.rush, job.limits.threads)
        if seg.key == "alone":
            release.wait(10)
        return Outcome(rendered=True, waited=0.0)

    monkeypatch.setattr(scheduler_module.segments, "ensure", ensure)
    sched = Scheduler(db=None, workers=2, wait=1.0)  # type: ignore[arg-type]
    job = Job(None, None, None)  # type: ignore[arg-type]
    alone = sched.submit(job, _seg("alone"), deadline=time.time() + 1)
    while "alone" not in seen:
        threading.Event().wait(0.01)
    crowd = sched.submit(job, _seg("crowd"), deadline=time.time() + 1)
    assert crowd.result(5).rendered
    release.set()
    assert alone.result(5).rendered
    later = sched.submit(job, _seg("later"), deadline=time.time() + 60)
    assert later.result(5).rendered
    assert seen == {"alone": (False, 0), "crowd": (True, 1), "later": (False, 0)}
    sched.close()


def test_one_viewers_next_segment_waits_for_the_current_one(recorded: tuple[list[str], threading.Event]) -> None:
    """Both urgent, but a segment apart: encoding them side by side would make the first late."""
    import time

    order, release = recorded
    sched = Scheduler(db=None, workers=2, wait=1.0)  # type: ignore[arg-type]
    job = Job(None, None, None)  # type: ignore[arg-type]
    now = time.time()
    current = sched.submit(job, _seg("seg-1"), deadline=now + 0.5)
    while not order:
        threading.Event().wait(0.01)
    following = sched.submit(job, _seg("seg-2"), deadline=now + 2.5)
    threading.Event().wait(0.5)
    assert order == ["seg-1"]
    release.set()
    assert current.result(5).rendered and following.result(5).rendered
    assert order == ["seg-1", "seg-2"]
    sched.close()
