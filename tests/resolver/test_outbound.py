"""outbound.request, the one place that makes an outbound request, against a real local receiver
(loopback allow-listed as an operator would): a byte cap on the answer and one total deadline."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from support.receiver import Receiver

from vidmerge.resolver import outbound

MiB = 1024 * 1024


@pytest.fixture(autouse=True)
def loopback_allowed() -> Iterator[None]:
    outbound.allow(["127.0.0.1"])
    yield
    outbound.allow([])


def huge() -> Iterator[bytes]:
    """50 MB without a length, as fast as the client takes it."""
    chunk = b"x" * (64 * 1024)
    for _ in range(50 * MiB // len(chunk)):
        yield chunk


def drip(every: float, count: int) -> Iterator[bytes]:
    """A byte every `every` seconds: each read is well within any per-read timeout."""
    for _ in range(count):
        yield b" "
        time.sleep(every)


def test_an_answer_past_the_cap_is_refused_without_reading_it_all() -> None:
    receiver = Receiver(lambda request: 200, stream=huge)
    try:
        began = time.monotonic()
        with pytest.raises(outbound.TooLarge, match="answer over 65536 bytes"):
            outbound.request("POST", f"{receiver.url}/hook", deadline=10.0, max_bytes=64 * 1024, content=b"{}")
        elapsed = time.monotonic() - began
    finally:
        receiver.close()
    assert elapsed < 3.0
    assert receiver.sent < 16 * MiB  # what the sockets' buffers held, not the 50 MB


def test_an_announced_length_past_the_cap_is_refused_before_the_body() -> None:
    receiver = Receiver(lambda request: 200)
    receiver.reply = lambda request: b"[" + b"0," * 100_000 + b"0]"  # type: ignore[method-assign]
    try:
        with pytest.raises(outbound.TooLarge, match="answer over 1000 bytes"):
            outbound.request("GET", f"{receiver.url}/big", deadline=5.0, max_bytes=1000)
        small = outbound.request("GET", f"{receiver.url}/big", deadline=5.0)  # the default cap: 1 MB
    finally:
        receiver.close()
    assert small.status == 200 and len(small.json()) == 100_001


def test_a_dripping_server_meets_the_total_deadline() -> None:
    """A byte every 0.4 s for 8 s: each read is within any per-read timeout, so only a total
    deadline ends the request (at 1 s here, not at the 8 s the server would take)."""
    receiver = Receiver(lambda request: 200, stream=lambda: drip(0.4, 20))
    try:
        began = time.monotonic()
        with pytest.raises(outbound.Late, match="within 1 s"):
            outbound.request("POST", f"{receiver.url}/hook", deadline=1.0, content=b"{}")
        elapsed = time.monotonic() - began
    finally:
        receiver.close()
    assert elapsed < 2.0


def test_a_server_silent_between_bytes_for_longer_than_the_deadline_is_cut_at_it() -> None:
    """One byte, then a pause longer than the deadline: the read waiting for the next one ends
    at the deadline (the watchdog shuts the socket), not when the pause does."""
    receiver = Receiver(lambda request: 200, stream=lambda: drip(3.0, 2))
    try:
        began = time.monotonic()
        with pytest.raises(outbound.Late):
            outbound.request("GET", f"{receiver.url}/slow", deadline=0.5)
        elapsed = time.monotonic() - began
    finally:
        receiver.close()
    assert elapsed < 1.5
