"""Single-flight rendering of one dynamic segment.

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
from dataclasses import dataclass

from vidmerge.engine.encode import encode_segment
from vidmerge.engine.loaded import LoadedVersion
from vidmerge.errors import NotReady
from vidmerge.plan import SegmentPlan
from vidmerge.records import Database
from vidmerge.service.metrics import METRICS

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
    started = time.monotonic()
    owner = owner_id()
    while True:
        if loaded.storage.exists(seg.key):
            return Outcome(False, time.monotonic() - started)
        if db.leases.claim(seg.key, owner, LEASE_SECONDS):
            return Outcome(_encode_claimed(db, loaded, seg), time.monotonic() - started)
        if db.leases.reopen(seg.key):  # done, yet not in storage: encode it again
            continue
        if time.monotonic() - started > wait:
            raise NotReady(f"segment {seg.index} is still rendering", where=f"segment {seg.index}")
        time.sleep(POLL_SECONDS)


def _encode_claimed(db: Database, loaded: LoadedVersion, seg: SegmentPlan) -> bool:
    try:
        rendered = encode_segment(loaded, seg)
    except BaseException as exc:
        db.leases.finish(seg.key, ok=False, error=type(exc).__name__)
        raise
    db.leases.finish(seg.key, ok=True)
    if rendered:
        METRICS.segments.labels("rendered").inc()
    if not db.renders.in_use(seg.key):  # every render using it was erased while it was encoded
        loaded.storage.delete(seg.key)
        db.leases.forget(seg.key)
        log.info("segment %d: its renders were erased while it was encoded; deleted", seg.index)
    return rendered
