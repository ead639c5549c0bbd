"""A hung S3 (it takes the TCP connection and never answers): every storage call fails within
its retry budget, not in botocore's 60 s read timeout, and /readyz answers within a second or
two, reporting the storage as unavailable."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from vidmerge.config import Settings
from vidmerge.errors import StorageError
from vidmerge.service.app import create_app
from vidmerge.storage.s3 import S3Storage

RETRY_SECONDS = 3.0


@pytest.fixture
def hung_s3() -> Iterator[str]:
    """An endpoint that accepts every connection and never says a word."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return  # closed: the test is over

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()
    for connection in held:
        connection.close()


@pytest.mark.parametrize("call", ["put", "get"])
def test_a_call_to_a_hung_store_fails_within_the_retry_budget(hung_s3: str, call: str) -> None:
    storage = S3Storage(hung_s3, "hung", access_key="k", secret_key="s", retry_seconds=RETRY_SECONDS)
    began = time.monotonic()
    with pytest.raises(StorageError):
        if call == "put":
            storage.put_bytes("r/x/poster.jpg", b"jpeg", "image/jpeg")
        else:
            storage.get_bytes("r/x/poster.jpg")
    assert time.monotonic() - began < RETRY_SECONDS + 2  # botocore alone would wait 60 s per attempt


def test_readiness_answers_at_once_with_a_hung_store(hung_s3: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, s3_endpoint=hung_s3, s3_bucket="hung", s3_access_key="k",
                        s3_secret_key="s", s3_retry_seconds=RETRY_SECONDS)  # fmt: skip
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        for _ in range(2):  # the first also makes the probe's client
            began = time.monotonic()
            ready = client.get("/readyz")
            assert time.monotonic() - began < 2.0  # it took 60 s (a whole read timeout)
            assert ready.status_code == 503 and ready.json()["checks"]["storage"] == "unavailable: StorageError"
