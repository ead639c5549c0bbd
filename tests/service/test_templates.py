"""Uploading a template answers at once; the workers prepare it, with progress, then `ready` or
`failed` with the reason; a preparation lost with its process is sent again."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from support.media import SMALL_MANIFEST, make_clip, write_bundle, zip_folder

from vidmerge.config import Settings
from vidmerge.engine.prepare import prepare
from vidmerge.errors import FFmpegError
from vidmerge.records import utcnow
from vidmerge.service.app import create_app
from vidmerge.service.registry import Registry
from vidmerge.service.runtime import open_runtime
from vidmerge.service.work import tasks
from vidmerge.storage import LocalStorage
from vidmerge.template.bundle import load_bundle

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4")


def _zip(tmp: Path, clip: Path, **changes: Any) -> Path:
    manifest = {**copy.deepcopy(SMALL_MANIFEST), **changes}
    return zip_folder(write_bundle(tmp / "bundle", manifest, clip=clip), tmp / "bundle.zip")


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(data_dir=tmp_path / "data")), raise_server_exceptions=False) as client:
        yield client


def _upload(client: TestClient, archive: Path) -> Any:
    with archive.open("rb") as f:
        return client.post("/v1/templates", files={"file": ("bundle.zip", f, "application/zip")})


def _status(client: TestClient, version: int = 1) -> dict[str, Any]:
    return dict(client.get("/v1/templates/small", params={"version": version}).json())


def _settled(client: TestClient, version: int = 1) -> dict[str, Any]:
    """The version's record once it is no longer `preparing` (at most a minute)."""
    for _ in range(600):
        record = _status(client, version)
        if record["status"] != "preparing":
            return record
        time.sleep(0.1)
    raise AssertionError("still preparing after a minute")


def test_an_upload_answers_preparing_at_once_and_becomes_ready(
    client: TestClient, tmp_path: Path, clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, release = threading.Event(), threading.Event()
    real = Registry.prepare

    def held(self: Registry, *args: Any, **kwargs: Any) -> Any:
        started.set()
        assert release.wait(60)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Registry, "prepare", held)
    answer = _upload(client, _zip(tmp_path, clip))
    assert answer.status_code == 202, answer.text
    assert (answer.json()["status"], answer.json()["error"]) == ("preparing", None)
    assert started.wait(60)  # preparing runs on the workers, not in the request
    assert _status(client)["status"] == "preparing"
    assert client.post("/v1/renders", json={"template_id": "small", "data": {}}).status_code == 404  # not yet
    release.set()
    done = _settled(client)
    assert (done["status"], done["segments"], done["progress"]) == ("ready", 3, None), done
    again = _upload(client, _zip(tmp_path / "again", clip))
    assert (again.status_code, again.json()["status"]) == (200, "ready")  # the same version: nothing to do
    assert client.post("/v1/renders", json={"template_id": "small", "data": {}}).status_code == 202


def test_a_preparation_that_fails_ends_failed_with_the_reason_and_may_be_uploaded_again(
    client: TestClient, tmp_path: Path, clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = Registry.prepare

    def broken(self: Registry, *args: Any, **kwargs: Any) -> Any:
        raise FFmpegError("prepare small: ffmpeg exited with 1", stderr_tail="/secret/path: error")

    monkeypatch.setattr(Registry, "prepare", broken)
    assert _upload(client, _zip(tmp_path, clip)).status_code == 202
    failed = _settled(client)
    assert failed["status"] == "failed" and failed["error"] == "FFmpegError at the base clip", failed
    monkeypatch.setattr(Registry, "prepare", real)
    changed = _zip(tmp_path / "changed", clip, title="直した版")  # same version, other content: allowed
    assert _upload(client, changed).status_code == 202
    settled = _settled(client)
    assert (settled["status"], settled["title"], settled["error"]) == ("ready", "直した版", None)


def test_prepare_reports_its_progress(tmp_path: Path, clip: Path) -> None:
    template = load_bundle(write_bundle(tmp_path / "bundle", clip=clip))
    heard: list[tuple[int, int]] = []
    prepare(template, LocalStorage(tmp_path / "objects"), progress=lambda done, total: heard.append((done, total)))
    assert heard[-1] == (3, 3) and all(total == 3 for _, total in heard)
    assert [done for done, _ in heard] == sorted(done for done, _ in heard)


def test_a_preparation_lost_with_its_process_is_sent_again(tmp_path: Path, clip: Path) -> None:
    rt = open_runtime(Settings(data_dir=tmp_path / "data", requeue_after_seconds=1, ffmpeg_timeout=1))
    try:
        record, new = rt.registry.upload(_zip(tmp_path, clip))
        assert new and record.status == "preparing"
        assert tasks.stale_templates(rt) == []  # just uploaded: its task is on its way
        rt.db.templates.save("small", 1, created_at=utcnow() - timedelta(minutes=5))  # its worker died
        assert tasks.stale_templates(rt) == [("small", 1)]
        assert tasks.stale_templates(rt) == []  # sent once; the next sweep waits for that task
        assert tasks.run_prepare(rt, "small", 1) == "ready"
        assert tasks.run_prepare(rt, "small", 1) == "ready"  # a duplicate message changes nothing
    finally:
        rt.scheduler.close()
        rt.db.dispose()


def test_versions_are_activated_deactivated_and_deleted_and_renders_made_from_them_keep_working(
    client: TestClient, tmp_path: Path, clip: Path
) -> None:
    def version(n: int, **query: str) -> None:
        archive = _zip(tmp_path / f"v{n}", clip, version=n, title=f"v{n}")
        with archive.open("rb") as f:
            files = {"file": ("bundle.zip", f, "application/zip")}
            assert client.post("/v1/templates", files=files, params=query).status_code == 202
        assert _settled(client, n)["status"] == "ready"

    def renders_with() -> int:
        answer = client.post("/v1/renders", json={"template_id": "small", "data": {}})
        return int(answer.json()["template_version"]) if answer.status_code == 202 else answer.status_code

    version(1)
    version(2, active="false")  # uploaded inactive: checked and prepared, used by nobody yet
    assert _status(client, 2)["state"] == "inactive" and renders_with() == 1
    old = client.post("/v1/renders", json={"template_id": "small", "data": {"name": "旧版"}}).json()
    assert client.post("/v1/templates/small/versions/2/activate").json()["state"] == "active"
    assert renders_with() == 2
    assert client.post("/v1/templates/small/versions/2/deactivate").json()["state"] == "inactive"
    assert renders_with() == 1
    explicit = {"template_id": "small", "template_version": 2, "data": {}}
    assert client.post("/v1/renders", json=explicit).status_code == 404  # an inactive version takes no new renders
    assert client.delete("/v1/templates/small/versions/1").status_code == 204
    assert renders_with() == 404 and [t["version"] for t in client.get("/v1/templates").json()] == [2]
    page = client.get(urlsplit(old["page_url"]).path)
    assert page.status_code == 200  # a render made from the deleted version keeps its link
    assert client.post("/v1/templates/small/versions/1/activate").status_code == 404  # deleted stays deleted
