"""A bounded load run: 200 concurrent webhook calls (20 customer requests, each sent ten times at
once with its Idempotency-Key, as an MA tool retries) against one real `vidmerge serve` with a
small template."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.media import make_clip, write_bundle, zip_folder
from support.server import Api

from vidmerge.bench.loadtest import run_load
from vidmerge.records import Database, RenderRecord

pytestmark = pytest.mark.slow
CALLS, UNIQUE = 200, 20


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    tmp = tmp_path_factory.mktemp("load")
    root = write_bundle(tmp / "bundle", clip=make_clip(tmp / "clip.mp4"))
    server = Api(tmp, {"VIDMERGE_WORKERS": "4"})
    server.start()
    server.post_template(zip_folder(root, tmp / "small.zip"))
    yield server
    server.stop()


def _done_count(api: Api) -> float:
    match = re.search(r'^vidmerge_renders_total\{status="done"\} (\S+)$', api.client.get("/metrics").text, re.M)
    return float(match.group(1)) if match else 0.0


def test_200_concurrent_webhooks_render_each_customer_exactly_once(api: Api) -> None:
    done_before = _done_count(api)
    report = asyncio.run(run_load(api.url, "small", calls=CALLS, unique=UNIQUE))
    print("\nload:", report)
    assert report.errors == 0, report.error_samples
    assert report.accepted == CALLS
    assert report.exactly_once, {k: sorted(v) for k, v in report.renders.items() if len(v) != 1}
    assert report.created == UNIQUE  # one 202 per request; every retry got 200 and the same URLs
    render_ids = {next(iter(ids)) for ids in report.renders.values()}
    assert len(render_ids) == UNIQUE
    statuses = {rid: api.wait_done(rid, timeout=300)["status"] for rid in render_ids}
    assert set(statuses.values()) == {"done"}, statuses
    time.sleep(1)  # let a duplicate message, if any were still queued, run
    assert _done_count(api) - done_before == UNIQUE  # packaged once each, never twice
    db = Database(f"sqlite:///{Path(api.env['VIDMERGE_DATA_DIR']).resolve() / 'vidmerge.db'}")
    with db.session() as s:
        stored = {r.id for r in s.query(RenderRecord).filter_by(template_id="small").all()}
    db.dispose()
    assert stored == render_ids  # none lost, none extra
