"""The one place that runs ffmpeg: which binary (checked at start), its limits (memory, CPU time),
and a producer that fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vidmerge.config import Settings
from vidmerge.engine import ffmpeg
from vidmerge.errors import FFmpegError

pytestmark = pytest.mark.slow


def _encode(size: str, seconds: int) -> list[str]:
    return ["-f", "lavfi", "-i", f"testsrc2=s={size}:d={seconds}:r=30", "-c:v", "libx264", "-f", "null", "-"]


def test_an_ffmpeg_past_its_memory_limit_fails_instead_of_growing() -> None:
    ffmpeg.run(_encode("1280x720", 1))  # the default limit leaves room for an ordinary encode
    with pytest.raises(FFmpegError, match="exited with"):
        ffmpeg.run(_encode("1280x720", 1), limits=ffmpeg.Limits(memory_mb=64))


def test_an_ffmpeg_past_its_cpu_time_is_stopped() -> None:
    """Twenty seconds of 1080p need many CPU seconds on any machine; one is allowed."""
    with pytest.raises(FFmpegError, match="exited with"):
        ffmpeg.run(_encode("1920x1080", 20), limits=ffmpeg.Limits(cpu_seconds=1))


def test_an_encoder_shares_our_autogroup_so_its_nice_ranks_it_below_the_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With sched_autogroup on, a process in a session of its own is weighed against the server
    as a whole whatever its nice value: each encoder stays in our session (in a process group of
    its own, which a timeout kills as one), so `nice` ranks it below the API's threads; a
    server's limits give every encoder a nice above the server's own."""
    seen: list[tuple[str, str, int, int]] = []
    popen = subprocess.Popen

    def watching(*args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        proc = popen(*args, **kwargs)  # type: ignore[call-overload]
        if any("testsrc2" in str(a) for a in args[0]):  # type: ignore[union-attr]
            with open(f"/proc/{proc.pid}/autogroup") as f:
                group = f.read()
            for _ in range(1000):  # the fork, then coreutils' nice, until it execs ffmpeg
                if Path(f"/proc/{proc.pid}/comm").read_text().startswith("ffmpeg"):  # not python, not nice
                    break
                time.sleep(0.005)
            nice = os.getpriority(os.PRIO_PROCESS, proc.pid) - os.getpriority(os.PRIO_PROCESS, 0)
            seen.append((group, str(os.getsid(proc.pid)), os.getpgid(proc.pid) - proc.pid, nice))
        return proc

    monkeypatch.setattr(subprocess, "Popen", watching)
    ffmpeg.run(_encode("320x180", 1), limits=ffmpeg.Limits.of(Settings(data_dir=tmp_path)))
    with open("/proc/self/autogroup") as f:
        mine = f.read()  # empty when we sit in the kernel's default autogroup, as some CI runners do
    assert seen == [(mine, str(os.getsid(0)), 0, ffmpeg.ENCODER_NICE)]
    assert ffmpeg.ENCODER_NICE > 0


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]  # R, S, T (stopped), ...


def _bulk_run(results: list[object], seconds: int, limits: ffmpeg.Limits) -> threading.Thread:
    """A bulk ffmpeg reading a test picture at its native rate (`-re`: it lasts `seconds` of
    wall time, whatever the machine's load), on a thread of its own."""
    args = ["-re", *_encode("160x90", seconds)]

    def run() -> None:
        try:
            results.append(ffmpeg.run(args, limits=limits))
        except Exception as exc:
            results.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _started_bulk() -> int:
    deadline = time.monotonic() + 10
    while not ffmpeg.BULK._pids:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return next(iter(ffmpeg.BULK._pids))


def test_bulk_ffmpegs_are_stopped_while_interactive_work_runs_and_their_timeout_waits() -> None:
    """A campaign's encoder is stopped (SIGSTOP) while a viewer's segment is encoded, continued
    after; the time it was stopped does not count towards its timeout. One started meanwhile is
    stopped at once."""
    results: list[object] = []
    thread = _bulk_run(results, 2, ffmpeg.Limits(timeout=3.5, nice=10, bulk=True))
    pid = _started_bulk()
    with ffmpeg.BULK.held():
        time.sleep(0.3)
        assert _state(pid) == "T"
        later: list[object] = []
        other = _bulk_run(later, 1, ffmpeg.Limits(nice=10, bulk=True))
        deadline = time.monotonic() + 10
        while len(ffmpeg.BULK._pids) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        second = next(p for p in ffmpeg.BULK._pids if p != pid)
        time.sleep(0.3)
        assert _state(second) == "T"
        time.sleep(2.5)  # 3.1 s stopped in all: past its timeout had the clock run on
    assert _state(pid) != "T"
    thread.join(30)
    other.join(30)
    assert results == [b""] and later == [b""]


def test_a_bulk_ffmpeg_a_viewer_waits_for_is_promoted_and_runs_on() -> None:
    results: list[object] = []
    thread = _bulk_run(results, 1, ffmpeg.Limits(nice=10, bulk=True))
    pid = _started_bulk()
    ffmpeg.BULK.promote(thread.ident or 0)
    with ffmpeg.BULK.held():
        time.sleep(0.3)
        assert _state(pid) != "T"
    thread.join(30)
    assert results == [b""]


def test_a_bulk_ffmpeg_stopped_too_long_is_continued_for_good() -> None:
    """A stream of interactive work never stops a campaign's encode for ever: one stopped longer
    than `bound`'s seconds in a row is continued (at its lower priority) and not stopped again,
    by this hold or the next."""
    results: list[object] = []
    thread = _bulk_run(results, 2, ffmpeg.Limits(nice=10, bulk=True))
    pid = _started_bulk()
    with ffmpeg.BULK.held():
        time.sleep(0.3)
        assert _state(pid) == "T" and ffmpeg.BULK.bound(5.0) == []  # not stopped long enough yet
        assert ffmpeg.BULK.bound(0.2) == [thread.ident]
        time.sleep(0.3)
        assert _state(pid) != "T"
    with ffmpeg.BULK.held():
        time.sleep(0.3)
        assert _state(pid) != "T"
    thread.join(30)
    assert results == [b""]


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread nice values are Linux's")
def test_pictures_are_drawn_at_the_encodes_cpu_priority_and_the_server_keeps_its_own() -> None:
    """The feeder thread draws the overlay's pictures (a count-up: one per frame): at the
    encode's nice, so the API's threads go first; the process's other threads keep theirs."""
    seen: list[int] = []

    def pictures() -> Iterator[bytes]:
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        yield bytes(16 * 16 * 4)

    layer = ["-f", "rawvideo", "-pix_fmt", "rgba", "-s", "16x16", "-i", "pipe:0", "-f", "null", "-"]
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    ffmpeg.run(layer, limits=ffmpeg.Limits(nice=7), stdin_chunks=pictures())
    assert seen == [min(19, mine + 7)] and os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine


def test_limits_come_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDMERGE_FFMPEG_MEMORY_MB", "512")
    monkeypatch.setenv("VIDMERGE_FFMPEG_CPU_SECONDS", "30")
    limits = ffmpeg.Limits.of(Settings.from_env())
    assert (limits.memory_mb, limits.cpu_seconds) == (512, 30)


def test_a_picture_that_cannot_be_drawn_fails_the_run_instead_of_an_output_without_it() -> None:
    def pictures() -> Iterator[bytes]:
        yield bytes(16 * 16 * 4) * 3
        raise ValueError("glyph missing")  # what a drawing error looks like to the feeder

    args = ["-f", "rawvideo", "-pix_fmt", "rgba", "-s", "16x16", "-r", "10", "-i", "pipe:0", "-f", "null", "-"]
    with pytest.raises(ValueError, match="glyph missing"):
        ffmpeg.run(args, stdin_chunks=pictures())
    assert ffmpeg.run(args, stdin_chunks=iter([bytes(16 * 16 * 4) * 3])) == b""  # the control


FAKE = """#!/bin/sh
case "$2" in
  -version) echo "ffmpeg version {version} Copyright (c) 2000-2023 the FFmpeg developers" ;;
  -encoders) for e in {encoders}; do echo " V....D $e   an encoder"; done ;;
  -filters) for f in {filters}; do echo " ... $f   V->V   a filter"; done ;;
  *) exit 1 ;;
esac
"""


def _fake_ffmpeg(folder: Path, version: str = "7.1", encoders: tuple[str, ...] = ffmpeg.ENCODERS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / "ffmpeg"
    exe.write_text(FAKE.format(version=version, encoders=" ".join(encoders), filters=" ".join(ffmpeg.FILTERS)))
    exe.chmod(0o755)
    return exe


def _vidmerge(tmp: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "VIDMERGE_DATA_DIR": str(tmp / "data"), **env}
    return subprocess.run(
        [sys.executable, "-m", "vidmerge", *args], capture_output=True, text=True, env=full, timeout=300
    )


def test_an_ffmpeg_on_path_is_never_the_one_run(tmp_path: Path) -> None:
    """Debian's ffmpeg 5.1 on PATH shifted colours at the splice: the bundled build runs unless
    VIDMERGE_FFMPEG names another."""
    fake = _fake_ffmpeg(tmp_path / "bin", version="5.1.6-0+deb12u1")
    env = {**os.environ, "PATH": f"{fake.parent}{os.pathsep}{os.environ['PATH']}"}
    code = "from vidmerge.engine import ffmpeg; print(ffmpeg.binary())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, check=True)
    assert done.stdout.strip() != str(fake) and Path(done.stdout.strip()).is_file()


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("old", "needs ffmpeg 6 or newer"),
        ("no-x264", "lacks what vidmerge uses: libx264"),
        ("missing", "cannot be run as ffmpeg"),
    ],
)
def test_an_unsuitable_ffmpeg_is_refused_at_start_with_the_reason(tmp_path: Path, kind: str, reason: str) -> None:
    if kind == "missing":
        exe = tmp_path / "no-such-ffmpeg"
    else:
        exe = _fake_ffmpeg(tmp_path / "bin", "5.1.6-0+deb12u1" if kind == "old" else "7.1",
                           tuple(e for e in ffmpeg.ENCODERS if kind != "no-x264" or e != "libx264"))  # fmt: skip
    done = _vidmerge(tmp_path, "demo", str(tmp_path / "demo"), VIDMERGE_FFMPEG=str(exe))
    assert done.returncode == 2, done.stderr
    problem = json.loads(done.stderr)
    assert problem["error"] == "ConfigError" and reason in problem["detail"]
    assert problem["problems"][0]["where"] == "VIDMERGE_FFMPEG"
    assert not (tmp_path / "demo").exists()  # refused before anything was done


def test_the_bundled_ffmpeg_named_explicitly_is_accepted() -> None:
    assert ffmpeg.check(ffmpeg.binary()).startswith("ffmpeg version")
