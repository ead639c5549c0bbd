"""Shared fixtures. Real services come from `services.py`; each is started once per session on
free loopback ports and stopped at the end (see that module's docstring)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest
from support.media import make_clip, write_bundle, zip_folder
from support.server import DEMO, Api, zip_bundle
from support.services import (
    PostgresServer,
    RedisServer,
    SeaweedS3,
    start_postgres,
    start_redis,
    start_seaweed,
)

from vidmerge.bench.demo import write_demo
from vidmerge.config import Settings
from vidmerge.service.runtime import Runtime, open_runtime

STARTUP_SECONDS: dict[str, float] = {}

# Property tests: no per-example time limit (a 2-core CI box under load is slow, not wrong), and
# under CI the same examples every run, so a red CI always means the same failing input.
hypothesis.settings.register_profile("default", deadline=None)
hypothesis.settings.register_profile("ci", deadline=None, derandomize=True)
hypothesis.settings.load_profile("ci" if os.environ.get("CI") == "true" else "default")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis(tmp_path_factory.mktemp("redis"))
    STARTUP_SECONDS["redis"] = server.startup_seconds
    yield server
    server.stop()


@pytest.fixture(scope="session")
def seaweed_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    server = start_seaweed(tmp_path_factory.mktemp("seaweed"))
    STARTUP_SECONDS["seaweed"] = server.startup_seconds
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    began = time.monotonic()
    server, workdir = start_postgres()
    STARTUP_SECONDS["postgres"] = time.monotonic() - began  # initdb included
    yield server
    server.stop()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """A database created once per session on the throw-away server."""
    return postgres_server.create_database("vidmerge_test")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if STARTUP_SECONDS:
        times = ", ".join(f"{name} {secs:.2f}s" for name, secs in sorted(STARTUP_SECONDS.items()))
        terminalreporter.write_line(f"service startup: {times}")


@pytest.fixture(scope="session")
def demo_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo template (`vidmerge demo`) zipped, its base clip generated if missing."""
    write_demo(DEMO)
    return zip_bundle(DEMO, tmp_path_factory.mktemp("bundle") / "demo.zip")


@pytest.fixture(scope="session")
def demo_api(tmp_path_factory: pytest.TempPathFactory, demo_zip: Path) -> Iterator[Api]:
    """One real `vidmerge serve` on the embedded defaults with the demo uploaded (prepared once)."""
    server = Api(tmp_path_factory.mktemp("api"))
    server.start()
    server.post_template(demo_zip)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def small_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """A service runtime in this process (SQLite, local storage, no frame cache) with the small
    template uploaded and prepared: for tests that call the service's functions directly."""
    tmp = tmp_path_factory.mktemp("runtime")
    bundle = write_bundle(tmp / "bundle", clip=make_clip(tmp / "clip.mp4"))
    runtime = open_runtime(Settings(data_dir=tmp / "data", frame_cache_mb=0))
    record, _ = runtime.registry.upload(zip_folder(bundle, tmp / "small.zip"))
    runtime.registry.prepare(record.id, record.version)
    yield runtime
    runtime.scheduler.close()
    runtime.db.dispose()
