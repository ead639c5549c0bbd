"""Webhook deliveries and the MA pushers against receivers that answer too much or too slowly:
an attempt reads at most its byte cap and ends within its deadline (resolver/outbound.py does
both for every outbound call). The delivery is a real record (SQLite); the receivers run here,
loopback allow-listed as an operator would."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from support.receiver import Receiver

from vidmerge.config import Settings
from vidmerge.records import Database, DeliveryRecord, utcnow
from vidmerge.resolver import outbound
from vidmerge.service import pushers, webhooks

MiB = 1024 * 1024


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Any]:
    """What `webhooks.deliver` uses of a runtime: the database and the settings."""
    outbound.allow(["127.0.0.1"])
    db = Database(f"sqlite:///{tmp_path / 'vidmerge.db'}")
    db.migrate()
    yield SimpleNamespace(db=db, settings=Settings(data_dir=tmp_path, webhook_retry_scale=0.001))
    db.dispose()
    outbound.allow([])


def delivery_to(rt: Any, url: str) -> str:
    endpoint = webhooks.register(url, None, None)
    rt.db.endpoints.add(endpoint)
    delivery = DeliveryRecord(id="msg_test", target=endpoint.id, render_id="r" * 32, payload={"type": "video.play"},
                              status="pending", attempts=0, next_at=utcnow(), created_at=utcnow())  # fmt: skip
    rt.db.deliveries.add([delivery])
    return delivery.id


def huge() -> Iterator[bytes]:
    chunk = b"x" * (64 * 1024)
    for _ in range(50 * MiB // len(chunk)):
        yield chunk


def drip() -> Iterator[bytes]:
    for _ in range(30):  # 9 s, a byte every 0.3 s: within any per-read timeout
        yield b" "
        time.sleep(0.3)


def _deliver(rt: Any, stream: Callable[[], Iterator[bytes]]) -> tuple[str, Any, float, int]:
    """One delivery to a receiver answering 200 with `stream`: its outcome, record, seconds, and
    the bytes the receiver sent."""
    receiver = Receiver(lambda request: 200, stream=stream)
    try:
        delivery_id = delivery_to(rt, f"{receiver.url}/hook")
        began = time.monotonic()
        outcome = webhooks.deliver(rt, delivery_id)
        elapsed = time.monotonic() - began
    finally:
        receiver.close()
    return outcome, rt.db.deliveries.get(delivery_id), elapsed, receiver.sent


def test_a_receivers_huge_answer_ends_the_attempt_at_the_cap(rt: Any) -> None:
    outcome, record, elapsed, sent = _deliver(rt, huge)
    assert outcome == "retry" and record.last_error == f"TooLarge: answer over {webhooks.ANSWER_BYTES} bytes"
    assert sent < 16 * MiB and elapsed < 5.0  # not the 50 MB it had to send


def test_a_dripping_receiver_ends_the_attempt_at_its_deadline(rt: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webhooks, "TIMEOUT", 1.0)  # 10 s in service; 1 s keeps the test short
    outcome, record, elapsed, _ = _deliver(rt, drip)
    assert outcome == "retry" and record.last_error == "Late: no complete answer within 1 s"
    assert elapsed < 2.5  # the receiver would hold it 9 s


def test_a_pusher_call_has_the_same_bounds(rt: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pushers, "TIMEOUT", 1.0)
    for stream, error in ((huge, outbound.TooLarge), (drip, outbound.Late)):
        receiver = Receiver(lambda request: 200, stream=stream)
        try:
            began = time.monotonic()
            with pytest.raises(error):
                pushers._send("PATCH", f"{receiver.url}/crm/v3/objects/contacts/1", {}, json={"properties": {}})
            assert time.monotonic() - began < 2.5
        finally:
            receiver.close()
        assert receiver.sent < 16 * MiB
