"""The API seen from outside: what `vidmerge campaign` does against a running server.

Upload the CSV (every bad row is printed with its row and column), start, follow the progress
with a bar, then write the results CSV (to a temporary name first: a half-written file is never
seen under the name asked for). Run again with the same file, it is the same campaign: nothing
is rendered twice, and the results are fetched again.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from tqdm import tqdm

POLL_SECONDS = 1.0


class ClientError(Exception):
    """The server refused a call: its status and problem details, for the user."""


def run_campaign(
    server: str, template_id: str, source: Path, out: Path, *, api_key: str | None = None,
    mapping: dict[str, str] | None = None, campaign_id: str | None = None, timeout: float = 24 * 3600,
) -> int:  # fmt: skip
    """0 when every row rendered; 1 when some rows were invalid or failed (the results say which)."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with httpx.Client(base_url=server.rstrip("/"), headers=headers, timeout=120) as client:
        uploaded = _upload(client, template_id, source, mapping, campaign_id)
        path = f"/v1/campaigns/{uploaded['campaign_id']}"
        state = _call(client, "POST", f"{path}/start") if uploaded["valid"] else _call(client, "GET", path)
        state = _follow(client, path, state, time.monotonic() + timeout)
        _download(client, f"{path}/results.csv", out)
    print(f"campaign {state['campaign_id']}: {state['done']} done, {state['failed']} failed, "
          f"{state['invalid']} invalid; results in {out}", file=sys.stderr)  # fmt: skip
    return 0 if state["failed"] == state["invalid"] == 0 and state["status"] == "done" else 1


def _upload(client: httpx.Client, template_id: str, source: Path, mapping: dict[str, str] | None,
            campaign_id: str | None) -> dict[str, Any]:  # fmt: skip
    form = {"template_id": template_id}
    if mapping:
        form["mapping"] = json.dumps(mapping, ensure_ascii=False)
    if campaign_id:
        form["campaign_id"] = campaign_id
    with source.open("rb") as f:
        body = _call(client, "POST", "/v1/campaigns", data=form, files={"file": (source.name, f, "text/csv")})
    print(f"campaign {body['campaign_id']}: {body['rows']} rows, {body['valid']} valid, {body['invalid']} invalid"
          + (f", {body['unchanged']} unchanged" if body.get("unchanged") else ""), file=sys.stderr)  # fmt: skip
    for error in body["errors"]:
        column = f", {error['column']}" if error["column"] else ""
        print(f"  row {error['row']}{column}: {error['reason']}", file=sys.stderr)
    if body["ignored_columns"]:
        print(f"  columns not used: {', '.join(body['ignored_columns'])}", file=sys.stderr)
    return body


def _follow(client: httpx.Client, path: str, state: dict[str, Any], deadline: float) -> dict[str, Any]:
    with tqdm(total=state["total"], unit="video", desc="rendering", file=sys.stderr) as bar:
        while True:
            bar.total = state["total"]
            bar.update(state["done"] + state["failed"] - bar.n)
            if state["status"] != "running" or time.monotonic() > deadline:
                return state
            time.sleep(POLL_SECONDS)
            state = _call(client, "GET", path)


def _download(client: httpx.Client, path: str, out: Path) -> None:
    partial = out.with_name(f".{out.name}.part")
    with client.stream("GET", path) as response:
        if response.status_code != 200:
            response.read()
            raise ClientError(_explain(response))
        with partial.open("wb") as f:
            for chunk in response.iter_bytes():
                f.write(chunk)
    partial.replace(out)


def _call(client: httpx.Client, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    response = client.request(method, path, **kwargs)
    if response.status_code >= 400:
        raise ClientError(_explain(response))
    return dict(response.json())


def _explain(response: httpx.Response) -> str:
    try:
        problem = response.json()
        where = "; ".join(f"{p['where']}: {p['reason']}" for p in problem.get("problems") or [])
        return f"{response.status_code} {problem.get('title', '')}: {where or problem.get('detail', '')}"
    except ValueError:
        return f"{response.status_code}: {response.text[:200]}"
