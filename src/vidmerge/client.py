"""The API seen from outside: what `vidmerge campaign` does against a running server.

Upload the CSV (every bad row is printed with its row and column), start, follow the progress
with a bar, then write the results CSV (to a temporary name first: a half-written file is never
seen under the name asked for). Run again with the same file, it is the same campaign: nothing
is rendered twice, and the results are fetched again.

A server that cannot be reached (or answers 502/503/504 while it restarts) is asked again, 1, 2,
4 … 30 s apart, for up to `retry_seconds` per call: every call is safe to repeat. When following
the progress fails all the same, the results the server has are still written before giving up.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import httpx
from tqdm import tqdm

POLL_SECONDS = 1.0
RETRY_SECONDS = 300.0  # how long a call is tried again while the server cannot be reached
MAX_PAUSE = 30.0
RESTARTING = {502, 503, 504}  # a proxy's answers while the server behind it restarts
T = TypeVar("T")


class ClientError(Exception):
    """The server refused a call: its status and problem details, for the user."""


def run_campaign(
    server: str, template_id: str, source: Path, out: Path, *, api_key: str | None = None,
    mapping: dict[str, str] | None = None, campaign_id: str | None = None, timeout: float = 24 * 3600,
    retry_seconds: float = RETRY_SECONDS, transport: httpx.BaseTransport | None = None,
) -> int:  # fmt: skip
    """0 when every row rendered; 1 when some rows were invalid or failed (the results say which)."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with httpx.Client(base_url=server.rstrip("/"), headers=headers, timeout=120, transport=transport) as http:
        client = _Client(http, retry_seconds)
        uploaded = _upload(client, template_id, source, mapping, campaign_id)
        path = f"/v1/campaigns/{uploaded['campaign_id']}"
        try:
            state = client.call("POST", f"{path}/start") if uploaded["valid"] else client.call("GET", path)
            state = _follow(client, path, state, time.monotonic() + timeout)
        except (ClientError, httpx.HTTPError):
            client.retried(lambda: _download(http, f"{path}/results.csv", out))  # what there is, then the error
            print(f"results so far in {out}", file=sys.stderr)
            raise
        client.retried(lambda: _download(http, f"{path}/results.csv", out))
    print(f"campaign {state['campaign_id']}: {state['done']} done, {state['failed']} failed, "
          f"{state['invalid']} invalid; results in {out}", file=sys.stderr)  # fmt: skip
    return 0 if state["failed"] == state["invalid"] == 0 and state["status"] == "done" else 1


class _Client:
    """Calls to the API, each tried again while the server cannot be reached."""

    def __init__(self, http: httpx.Client, retry_seconds: float) -> None:
        self.http, self.retry_seconds = http, retry_seconds

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return self.retried(lambda: _call(self.http, method, path, **kwargs))

    def retried(self, action: Callable[[], T]) -> T:
        """`action`, tried again on a connection error, 1, 2, 4 … 30 s apart, for `retry_seconds`."""
        deadline, pause = time.monotonic() + self.retry_seconds, 1.0
        while True:
            try:
                return action()
            except (httpx.TransportError, _Restarting) as exc:
                if time.monotonic() + pause > deadline:
                    raise
                print(f"vidmerge campaign: {exc or type(exc).__name__}; trying again in {pause:.0f} s", file=sys.stderr)
                time.sleep(pause)
                pause = min(2 * pause, MAX_PAUSE)


class _Restarting(ClientError):
    """A 502, 503 or 504: the server (or the one behind a proxy) is restarting."""


def _upload(client: _Client, template_id: str, source: Path, mapping: dict[str, str] | None,
            campaign_id: str | None) -> dict[str, Any]:  # fmt: skip
    form = {"template_id": template_id}
    if mapping:
        form["mapping"] = json.dumps(mapping, ensure_ascii=False)
    if campaign_id:
        form["campaign_id"] = campaign_id
    content = source.read_bytes()  # sent again as it is when a call is repeated
    body = client.call("POST", "/v1/campaigns", data=form, files={"file": (source.name, content, "text/csv")})
    print(f"campaign {body['campaign_id']}: {body['rows']} rows, {body['valid']} valid, {body['invalid']} invalid"
          + (f", {body['unchanged']} unchanged" if body.get("unchanged") else ""), file=sys.stderr)  # fmt: skip
    for error in body["errors"]:
        column = f", {error['column']}" if error["column"] else ""
        print(f"  row {error['row']}{column}: {error['reason']}", file=sys.stderr)
    if body["ignored_columns"]:
        print(f"  columns not used: {', '.join(body['ignored_columns'])}", file=sys.stderr)
    return body


def _follow(client: _Client, path: str, state: dict[str, Any], deadline: float) -> dict[str, Any]:
    with tqdm(total=state["total"], unit="video", desc="rendering", file=sys.stderr) as bar:
        while True:
            bar.total = state["total"]
            bar.update(state["done"] + state["failed"] - bar.n)
            if state["status"] != "running" or time.monotonic() > deadline:
                return state
            time.sleep(POLL_SECONDS)
            state = client.call("GET", path)


def _download(client: httpx.Client, path: str, out: Path) -> None:
    """The results, under `out` only once whole: a download cut off leaves nothing behind."""
    partial = out.with_name(f".{out.name}.part")
    try:
        with client.stream("GET", path) as response:
            if response.status_code != 200:
                response.read()
                _refused(response)
            with partial.open("wb") as f:
                for chunk in response.iter_bytes():
                    f.write(chunk)
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)


def _call(client: httpx.Client, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    response = client.request(method, path, **kwargs)
    if response.status_code >= 400:
        _refused(response)
    return dict(response.json())


def _refused(response: httpx.Response) -> NoReturn:
    raise (_Restarting if response.status_code in RESTARTING else ClientError)(_explain(response))


def _explain(response: httpx.Response) -> str:
    try:
        problem = response.json()
        where = "; ".join(f"{p['where']}: {p['reason']}" for p in problem.get("problems") or [])
        return f"{response.status_code} {problem.get('title', '')}: {where or problem.get('detail', '')}"
    except ValueError:
        return f"{response.status_code}: {response.text[:200]}"
