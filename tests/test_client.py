"""`vidmerge campaign`'s client alone, against an in-memory server (httpx's MockTransport) that
drops connections: it tries again, and writes what results there are, whole or not at all.
The real command against a real server is in tests/service/test_campaigns.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from vidmerge import client
from vidmerge.client import run_campaign

RESULTS = b'"row","external_id","status"\r\n2,"c-1","done"\r\n'
DONE = {"campaign_id": "c1", "status": "done", "total": 1, "done": 1, "failed": 0, "invalid": 0}


class Server:
    """Answers the campaign calls; `down` lists, per path, how many calls fail to connect first."""

    def __init__(self, down: dict[str, int], results: httpx.SyncByteStream | None = None) -> None:
        self.down, self.results = dict(down), results
        self.calls: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.calls.append(f"{request.method} {path}")
        if self.down.get(path, 0) > 0:
            self.down[path] -= 1
            raise httpx.ConnectError("connection refused", request=request)
        if path == "/v1/campaigns":
            return httpx.Response(201, json={"campaign_id": "c1", "rows": 1, "valid": 1, "invalid": 0,
                                             "errors": [], "ignored_columns": []})  # fmt: skip
        if path.endswith("/results.csv"):
            return httpx.Response(200, stream=self.results) if self.results else httpx.Response(200, content=RESULTS)
        return httpx.Response(202 if request.method == "POST" else 200, json=DONE)


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(client.time, "sleep", slept.append)
    return slept


def _run(tmp_path: Path, server: Server, retry_seconds: float = 300) -> int:
    source = tmp_path / "c.csv"
    source.write_bytes("顧客ID,氏名\r\nc-1,田中\r\n".encode("cp932"))
    return run_campaign("http://vidmerge.test", "small", source, tmp_path / "results.csv",
                        retry_seconds=retry_seconds, transport=httpx.MockTransport(server))  # fmt: skip


def test_connection_errors_are_tried_again_with_growing_pauses(tmp_path: Path, pauses: list[float]) -> None:
    server = Server({"/v1/campaigns": 2, "/v1/campaigns/c1/start": 1, "/v1/campaigns/c1/results.csv": 3})
    assert _run(tmp_path, server) == 0
    assert pauses == [1, 2, 1, 1, 2, 4]  # each call starts again at 1 s
    assert (tmp_path / "results.csv").read_bytes() == RESULTS
    assert server.calls.count("POST /v1/campaigns") == 3  # the same upload again: the same campaign


def test_when_following_fails_the_results_there_are_are_written_before_giving_up(
    tmp_path: Path, pauses: list[float]
) -> None:
    server = Server({"/v1/campaigns/c1/start": 5})
    with pytest.raises(httpx.ConnectError):
        _run(tmp_path, server, retry_seconds=0)
    assert (tmp_path / "results.csv").read_bytes() == RESULTS
    assert pauses == []  # no time to try again


def test_a_download_cut_off_leaves_no_file_half_written(tmp_path: Path, pauses: list[float]) -> None:
    class Cut(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield RESULTS[:10]
            raise httpx.ReadError("connection reset")

    with pytest.raises(httpx.ReadError):
        _run(tmp_path, Server({}, results=Cut()), retry_seconds=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.csv"]
