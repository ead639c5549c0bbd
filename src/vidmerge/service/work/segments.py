"""Single-flight making of one object: a dynamic segment, a picture, a render's MP4.

Whoever needs a segment (a worker walking a render in playhead order, or a player's request
arriving first) calls `ensure`. Exactly one caller across processes holds the database lease
and renders; the others wait for the object to appear, and take over if the lease expires.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from vidmerge.engine.encode import encode_segment
from vidmerge.engine.loaded import LoadedVersion
from vidmerge.errors import NotReady
from vidmerge.plan import SegmentPlan
from vidmerge.records import Database
from vidmerge.service.metrics import METRICS
from vidmerge.storage import Storage

log = logging.getLogger(__name__)
LEASE_SECONDS = 20.0  # far above one segment's encode; a dead renderer's claim frees up soon
POLL_SECONDS = 0.05


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Outcome:
    rendered: bool  # this caller encoded it
    waited: float  # seconds spent waiting for another renderer


def ensure(db: Database, loaded: LoadedVersion, seg: SegmentPlan, *, wait: float) -> Outcome:
    """Make sure the segment's object exists; render it here if nobody else is. NotReady when
    another renderer holds it longer than `wait` seconds."""
    outcome = single_flight(db, loaded.storage, seg.key, lambda: encode_segment(loaded, seg), wait=wait,
                            where=f"segment {seg.index}", alive=lambda: db.renders.in_use(seg.key))  # fmt: skip
    if outcome.rendered:
        METRICS.segments.labels("rendered").inc()
    return outcome


def single_flight(db: Database, storage: Storage, key: str, make: Callable[[], bool], *, wait: float,
                  where: str, alive: Callable[[], bool]) -> Outcome:  # fmt: skip
    """Make sure the object `key` exists: `make` it here (True when it made it) if nobody else is
    making it; else wait for it, and take over if its maker's lease expires. An object made for
    renders all erased meanwhile (`alive()` is false after) is deleted again: its content must
    not outlive them."""
    started = time.monotonic()
    owner = owner_id()
    while True:
        if storage.exists(key):
            return Outcome(False, time.monotonic() - started)
        if db.leases.claim(key, owner, LEASE_SECONDS):
            return Outcome(_make_claimed(db, storage, key, make, alive), time.monotonic() - started)
        if db.leases.reopen(key):  # done, yet not in storage: make it again
            continue
        if time.monotonic() - started > wait:
            raise NotReady(f"{where} is still being made", where=where)
        time.sleep(POLL_SECONDS)


def _make_claimed(
    db: Database, storage: Storage, key: str, make: Callable[[], bool], alive: Callable[[], bool]
) -> bool:
    try:
        made = make()
    except BaseException as exc:
        db.leases.finish(key, ok=False, error=type(exc).__name__)
        raise
    db.leases.finish(key, ok=True)
    if not alive():  # every render using it was erased while it was made
        storage.delete(key)
        db.leases.forget(key)
        log.info("an object made for renders erased meanwhile: deleted")
    return made
