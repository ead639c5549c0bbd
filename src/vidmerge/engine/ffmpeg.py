"""The one place that runs ffmpeg.

Callers build argv as plain data (lists of strings); `run` spawns the binary in its own process
group with a timeout, memory and CPU-time limits and a format allow-list, feeds stdin from an
iterator of byte chunks when given one (raw overlay frames), and raises FFmpegError carrying the
tail of stderr.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vidmerge.errors import ConfigError, FFmpegError

if TYPE_CHECKING:
    from vidmerge.config import Settings

# Demuxers ffmpeg may open. Uploaded files are probed against a stricter list first (media.py);
# this list covers what vidmerge itself writes and reads back.
INTERNAL_FORMATS = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,mpegts,image2,png_pipe,jpeg_pipe,webp_pipe,rawvideo,lavfi,wav"
# Local files and our own stdin only: a crafted input can never make ffmpeg fetch a URL.
PROTOCOLS = "file,pipe"


# What vidmerge asks of an ffmpeg: checked once at start on the binary it will run.
MIN_VERSION = 6
ENCODERS = ("libx264", "aac", "mjpeg", "gif")
FILTERS = ("setpts", "overlay", "setsar", "setparams", "fps", "scale", "hqdn3d", "split", "palettegen", "paletteuse",
           "apad", "atrim", "zscale", "tonemap", "trim", "select")  # fmt: skip
_chosen = ""


def binary() -> str:
    """The ffmpeg vidmerge runs: the one `use` chose, else the static build of the imageio-ffmpeg
    wheel (never whatever `ffmpeg` is on PATH: another build shifts colours at the splice)."""
    return _chosen or _bundled()


@functools.cache
def _bundled() -> str:
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def use(path: str) -> str:
    """Check `path` ('' for the bundled build) and run it from now on; its version line."""
    global _chosen
    exe = path or _bundled()
    version = check(exe)
    _chosen = exe
    return version


@functools.cache
def check(exe: str) -> str:
    """The version line of `exe`, or ConfigError saying why vidmerge cannot use it."""
    where = "VIDMERGE_FFMPEG"
    try:
        version = _ask(exe, "-version").splitlines()[0]
        encoders, filters = _ask(exe, "-encoders"), _ask(exe, "-filters")
    except (OSError, subprocess.SubprocessError, IndexError) as exc:
        raise ConfigError(f"{exe} cannot be run as ffmpeg ({type(exc).__name__})", where=where) from None
    match = re.match(r"ffmpeg version n?(\d+)\.", version)
    if match is None or int(match.group(1)) < MIN_VERSION:
        raise ConfigError(f"{exe}: '{version[:80]}', vidmerge needs ffmpeg {MIN_VERSION} or newer", where=where)
    missing = [e for e in ENCODERS if not re.search(rf"^ \S+ {e} ", encoders, re.M)]
    missing += [f for f in FILTERS if not re.search(rf"^ \S+ {f} ", filters, re.M)]
    if missing:
        raise ConfigError(f"{exe} lacks what vidmerge uses: {', '.join(missing)}", where=where)
    return version


def _ask(exe: str, flag: str) -> str:
    done = subprocess.run([exe, "-hide_banner", flag], capture_output=True, timeout=30, check=True)
    return done.stdout.decode("utf-8", "replace")


ENCODER_NICE = 3  # a webhook's or a segment request's few milliseconds go before any encode (docs/bench.md)


@dataclass(frozen=True)
class Limits:
    timeout: float = 300.0
    threads: int = 0  # 0: encoder default
    nice: int = 0  # >0: a lower CPU priority (work due later yields to work due now)
    bulk: bool = False  # stopped while `interactive()` work runs in this process (see Bulk)
    memory_mb: int = 4096  # writable memory of one ffmpeg (RLIMIT_DATA); 0: unlimited
    cpu_seconds: int = 1200  # CPU time of one ffmpeg, all threads (RLIMIT_CPU); 0: unlimited

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        """A server's or a worker's: every encode ranks below the API's threads."""
        return cls(timeout=settings.ffmpeg_timeout, threads=settings.ffmpeg_threads, nice=ENCODER_NICE,
                   memory_mb=settings.ffmpeg_memory_mb, cpu_seconds=settings.ffmpeg_cpu_seconds)  # fmt: skip


def command(args: Sequence[str], *, formats: str = INTERNAL_FORMATS, threads: int = 0, nice: int = 0) -> list[str]:
    """The full argv: the binary, quiet logging, no stdin prompts, the demuxer allow-list.

    `-format_whitelist` and `-protocol_whitelist` are per-input options in the ffmpeg CLI: given
    once up front they guard only the first input, so they are repeated before every `-i`.
    `threads` (when > 0) caps decoder and filter threads; encoders get theirs from the caller.
    `nice` (when > 0 and coreutils' nice exists) lowers the process's CPU priority.
    """
    guard = ["-format_whitelist", formats, "-protocol_whitelist", PROTOCOLS]
    if threads > 0:
        guard += ["-threads", str(threads)]
    argv = [binary(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    if threads > 0:
        argv += ["-filter_threads", str(threads), "-filter_complex_threads", str(threads)]
    for arg in args:
        if arg == "-i":
            argv += guard
        argv.append(arg)
    if nice > 0 and shutil.which("nice"):
        argv = ["nice", "-n", str(nice), *argv]
    return argv


def run(
    args: Sequence[str],
    *,
    limits: Limits = Limits(),
    stdin_chunks: Iterable[bytes] | None = None,
    formats: str = INTERNAL_FORMATS,
    what: str = "ffmpeg",
) -> bytes:
    """Run ffmpeg; return stdout. Kills the whole process group on timeout (for a bulk one, the
    time it spent stopped does not count)."""
    argv = command(args, formats=formats, threads=limits.threads, nice=limits.nice)
    if stdin_chunks is not None:
        argv.remove("-nostdin")
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE if stdin_chunks is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        process_group=0,  # its own group (killed as one) in our session: nice ranks it below the API
    )
    _limit(proc.pid, limits)
    failed: list[BaseException] = []  # what the pictures' iterator raised, if it did
    feeder = _start_feeder(proc, stdin_chunks, failed, limits.nice) if stdin_chunks is not None else None
    clock = BULK.add(proc.pid) if limits.bulk else time.monotonic
    try:
        out, err = _communicate(proc, limits.timeout, clock)
    except subprocess.TimeoutExpired:
        _kill(proc)
        raise FFmpegError(f"{what}: timed out after {limits.timeout:.0f} s") from None
    finally:
        BULK.discard(proc.pid)
        if feeder is not None:
            feeder.join(timeout=5)
        if proc.poll() is None:
            _kill(proc)
    if failed:  # e.g. a picture that could not be drawn: never an output without it
        raise failed[0]
    if proc.returncode != 0:
        tail = err.decode("utf-8", "replace")[-2000:]
        raise FFmpegError(f"{what}: ffmpeg exited with {proc.returncode}", stderr_tail=tail)
    return out


def _communicate(proc: subprocess.Popen[bytes], timeout: float, clock: Callable[[], float]) -> tuple[bytes, bytes]:
    """Its output, once it exits within `timeout` seconds of `clock` (which stops while it is)."""
    end = clock() + timeout
    while True:
        try:
            return proc.communicate(timeout=max(0.01, end - clock()))
        except subprocess.TimeoutExpired:
            if clock() >= end:
                raise


@dataclass
class _Stoppable:
    """A bulk ffmpeg: the thread that started it, and the time it spent stopped."""

    thread: int
    started: float
    stopped_since: float | None = None
    stopped_total: float = 0.0

    def stop(self, pid: int, now: float) -> None:
        if self.stopped_since is None:
            self.stopped_since = now
            _signal(pid, signal.SIGSTOP)

    def cont(self, pid: int, now: float) -> None:
        if self.stopped_since is not None:
            self.stopped_total += now - self.stopped_since
            self.stopped_since = None
            _signal(pid, signal.SIGCONT)

    def running(self, now: float) -> float:
        """Seconds it has run (its timeout's clock): not those it was stopped."""
        stopped = self.stopped_total + (now - self.stopped_since if self.stopped_since is not None else 0.0)
        return now - self.started - stopped


class Bulk:
    """The bulk ffmpegs of this process (a campaign's segment encodes), stopped (SIGSTOP) while
    interactive work is held here (a viewer's render or segment is due) and continued after: on
    two cores, a lower CPU priority alone still leaves them a share of the CPU a viewer is waiting
    for. A bulk encode a viewer comes to wait for is `promote`d: continued, never stopped again;
    so is one `bound` finds stopped too long (a campaign never waits on a stream of webhooks for
    ever: it runs on at its lower priority)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pids: dict[int, _Stoppable] = {}
        self._holders = 0

    def add(self, pid: int) -> Callable[[], float]:
        """Register a bulk ffmpeg (stopped at once while bulk work is); its clock, which does not
        run while it is stopped."""
        with self._lock:
            now = time.monotonic()
            encode = self._pids[pid] = _Stoppable(threading.get_ident(), now)
            if self._holders:
                encode.stop(pid, now)
        return lambda: encode.running(time.monotonic())

    def discard(self, pid: int) -> None:
        with self._lock:
            self._pids.pop(pid, None)

    def promote(self, thread: int) -> None:
        """The bulk ffmpegs started by `thread` become interactive: continued, not stopped again."""
        with self._lock:
            for pid in [p for p, e in self._pids.items() if e.thread == thread]:
                self._pids.pop(pid).cont(pid, time.monotonic())

    def bound(self, seconds: float) -> list[int]:
        """Bulk ffmpegs stopped for more than `seconds` in a row are continued and never stopped
        again; the threads that started them."""
        with self._lock:
            now = time.monotonic()
            long = [p for p, e in self._pids.items() if e.stopped_since is not None and now - e.stopped_since > seconds]
            for pid in long:
                self._pids[pid].cont(pid, now)
            return [self._pids.pop(pid).thread for pid in long]

    def hold(self) -> None:
        """Every bulk ffmpeg of this process is stopped until each `hold` has its `unhold`."""
        with self._lock:
            self._holders += 1
            if self._holders == 1:
                now = time.monotonic()
                for pid, encode in self._pids.items():
                    encode.stop(pid, now)

    def unhold(self) -> None:
        with self._lock:
            self._holders -= 1
            if self._holders == 0:
                now = time.monotonic()
                for pid, encode in self._pids.items():
                    encode.cont(pid, now)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """While this runs (and any other holder), every bulk ffmpeg of this process is stopped."""
        self.hold()
        try:
            yield
        finally:
            self.unhold()

    @property
    def holding(self) -> bool:
        """Whether bulk work is stopped now (but for encodes continued for good)."""
        with self._lock:
            return self._holders > 0


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


BULK = Bulk()


def _limit(pid: int, limits: Limits) -> None:
    """Memory and CPU-time limits on the child, set as it starts (before it has read any input:
    preexec_fn is not safe in a threaded server). An allocation past the memory limit fails
    inside ffmpeg, which exits with an error; past the CPU time it gets SIGXCPU (ffmpeg stops, as
    on SIGTERM), 5 s later SIGKILL."""
    with contextlib.suppress(ProcessLookupError):  # it has exited already
        if limits.memory_mb > 0:
            size = limits.memory_mb << 20
            resource.prlimit(pid, resource.RLIMIT_DATA, (size, size))
        if limits.cpu_seconds > 0:
            resource.prlimit(pid, resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))


def _start_feeder(
    proc: subprocess.Popen[bytes], chunks: Iterable[bytes], failed: list[BaseException], nice: int = 0
) -> threading.Thread:
    """Write chunks to stdin on a thread, so stderr and stdout keep draining meanwhile.

    The chunks are drawn on that thread (a count-up is a picture per frame): at the encode's CPU
    priority (`nice`, for this thread alone on Linux), so that the API's threads go first.

    The pipe is taken away from `proc` so that `communicate` does not close it early. When the
    iterator raises, ffmpeg is killed (it would otherwise finish without the missing pictures)
    and the exception is put in `failed` for `run` to raise.
    """
    pipe, proc.stdin = proc.stdin, None
    assert pipe is not None

    def feed() -> None:
        _lower_this_thread(nice)
        try:
            for chunk in chunks:
                try:
                    pipe.write(chunk)
                except (ValueError, OSError):
                    return  # ffmpeg exited early; its stderr tells why
        except Exception as exc:  # the producer's own failure (OSError included: a font, say)
            failed.append(exc)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        finally:
            with contextlib.suppress(OSError):
                pipe.close()

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    return thread


def _lower_this_thread(nice: int) -> None:
    """Linux gives each thread its own nice value (setpriority on its thread id); elsewhere that
    call would reach the whole process or another one, so nothing is done there."""
    if nice > 0 and sys.platform == "linux":
        me = threading.get_native_id()
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, me, min(19, os.getpriority(os.PRIO_PROCESS, me) + nice))


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
