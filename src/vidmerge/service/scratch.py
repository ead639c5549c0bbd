"""The scratch area, `data_dir/tmp`: where the service's processes keep their temporary files.

Encodes, uploads, downloads from S3 and a render's packaging write pictures of a customer's
values there for a moment (`segment.ts`, `email.gif.part.gif`). In the system's temporary
directory they would stay where erasure never looks; here:

- Each process works in a folder of its own, `proc-<pid>-<random>`, and holds an exclusive lock
  (flock) on its `.lock` file for as long as it lives. The lock, not the age of a file, says
  whether a folder is in use: an encode may run for minutes, and what a killed process left may be
  seconds old. The kernel drops the lock when the process dies, however it dies; Celery's forked
  pool processes inherit it (and the folder) from the worker.
- At start (`use`) and at every sweep of the API (`sweep`), a process folder whose lock is free
  is removed at once: its process is dead.
- A render's own temporary files (its packaging; its MP4 assembled on request) are in a folder
  named after its id (`render_dir`), so its erasure removes them in every process folder of this
  data dir (`erase_render`), a dead process's too. A process still writing there stops: its
  render is gone (work/tasks.run_render).

Entries outside process folders were left by a vidmerge from before process folders, which may
still be running during an upgrade: they go once they are older than any live work can be.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import secrets
import shutil
import tempfile
import time
from pathlib import Path

from vidmerge.config import Settings

log = logging.getLogger("vidmerge.scratch")
PROCESS_PREFIX = "proc-"
RENDER_PREFIX = "render-"
LOCK = ".lock"
_held: list[int] = []  # this process's lock (its file descriptor stays open until the process ends)
_area: list[Path] = []  # the scratch area this process uses, once `use` has run


def use(settings: Settings) -> Path:
    """Make this process's temporary files (every `tempfile` user) go to a locked folder of its
    own in `data_dir/tmp`, and remove what dead processes left there. For process entry points
    (`serve`, `worker`), before any work. Returns the folder."""
    area = settings.data_dir / "tmp"
    area.mkdir(parents=True, exist_ok=True)
    folder = _claim(area)
    tempfile.tempdir = str(folder)
    _area[:] = [area]
    sweep(settings)
    return folder


def _claim(area: Path) -> Path:
    """A new folder, locked before it gets the name a sweep looks for (so no sweep can take it
    for a dead process's in between)."""
    starting = Path(tempfile.mkdtemp(prefix=".starting-", dir=area))
    fd = os.open(starting / LOCK, os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    _held.append(fd)
    folder = area / f"{PROCESS_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
    starting.rename(folder)
    return folder


def sweep(settings: Settings) -> int:
    """Remove from `data_dir/tmp` the folders of dead processes, and entries from before process
    folders once older than any live work can be (an hour, or four ffmpeg timeouts). How many."""
    area = settings.data_dir / "tmp"
    oldest = time.time() - max(3600.0, 4 * settings.ffmpeg_timeout)
    removed = 0
    for entry in sorted(area.iterdir()) if area.is_dir() else []:
        if entry.name.startswith(PROCESS_PREFIX) and entry.is_dir() and not entry.is_symlink():
            removed += _remove_if_dead(entry)
        else:
            removed += _remove_if_older(entry, oldest)
    if removed:
        log.info("removed %d temporary entries left by interrupted processes", removed)
    return removed


def _remove_if_dead(folder: Path) -> int:
    try:
        fd = os.open(folder / LOCK, os.O_RDWR)
    except FileNotFoundError:  # a folder is born locked: this one is being removed (or a removal stopped)
        _remove(folder)
        return 1
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return 0  # its process is alive (this process's own folder, too)
    try:
        _remove(folder)
    finally:
        os.close(fd)
    return 1


def _remove_if_older(entry: Path, oldest: float) -> int:
    try:
        if entry.lstat().st_mtime > oldest:
            return 0
    except FileNotFoundError:
        return 0  # its owner finished after all
    _remove(entry)
    return 1


def _remove(entry: Path) -> None:
    try:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    except FileNotFoundError:
        pass  # removed meanwhile (its owner finished, or another sweep)


def render_dir(render_id: str) -> tempfile.TemporaryDirectory[str]:
    """A temporary folder for one render's own files, named so that its erasure finds it."""
    return tempfile.TemporaryDirectory(prefix=f"{RENDER_PREFIX}{render_id}-")


def erase_render(render_id: str) -> int:
    """Remove the render's temporary folders from every process folder of this data dir (or, in a
    process that has no scratch area, from its temporary directory). How many."""
    if not re.fullmatch(r"[0-9A-Za-z_]+", render_id):
        return 0  # ids are hex: nothing else may reach the glob below
    roots = [p for p in _area[0].glob(f"{PROCESS_PREFIX}*") if p.is_dir()] if _area else [Path(tempfile.gettempdir())]
    found = [path for root in roots for path in root.glob(f"{RENDER_PREFIX}{render_id}-*")]
    for path in found:
        _remove(path)
    return len(found)
