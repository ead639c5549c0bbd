"""The storage protocol every backend implements, and the rules shared by all of them.

Keys are relative, `/`-separated paths such as `segments/ab/abcdef.ts`. The same key rules hold
for every backend so that a key that works in tests works in production: no empty or absolute
keys, no backslashes, no `.` / `..` segments, and no segment starting with `.` (hidden names are
reserved for the temporary files that make local writes atomic).

Byte ranges follow HTTP: `open_range(key, start, end)` treats `end` as inclusive, `None` meaning
"to the last byte", and an `end` past the object is clamped. When `start` is at or past the end,
the chunks are empty and the caller answers 416 with `total_size`.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from vidmerge.errors import DiskFull, InvalidInput

CHUNK_SIZE = 256 * 1024


@runtime_checkable
class Storage(Protocol):
    def put_file(self, key: str, path: Path, content_type: str) -> None:
        """Store the file at `path`; a partial object is never visible at `key`."""

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None: ...

    def exists(self, key: str) -> bool: ...

    def get_bytes(self, key: str) -> bytes:
        """The whole object; NotFound if missing."""
        ...

    def download(self, key: str, dest: Path) -> None:
        """Copy the object to `dest` atomically (a temporary file, then a rename)."""

    def open_range(self, key: str, start: int, end: int | None) -> tuple[Iterator[bytes], int]:
        """(chunks of bytes start..end inclusive, total size); NotFound if missing."""
        ...

    def size(self, key: str) -> int: ...

    def delete(self, key: str) -> None:
        """Remove the object; a missing object is not an error."""

    def delete_prefix(self, prefix: str) -> int:
        """Remove every object whose key starts with `prefix`; returns how many."""
        ...

    def presigned_url(self, key: str, expires: int = 3600) -> str | None:
        """A time-limited direct URL (S3), or None when the backend has none."""
        ...

    def local_path(self, key: str) -> Path | None:
        """The object's file on disk (local storage: ffmpeg reads it directly), else None."""
        ...

    def check(self) -> None:
        """Readiness: raise StorageError when the backend cannot be reached."""


def validate_key(key: str) -> str:
    """Return `key` unchanged, or raise InvalidInput saying what is wrong with it."""
    if not isinstance(key, str) or not key:
        raise InvalidInput("storage key is empty", where="key")
    if "\\" in key or "\x00" in key:
        raise InvalidInput(f"storage key {key!r} contains a backslash or NUL", where="key")
    if key.startswith("/"):
        raise InvalidInput(f"storage key {key!r} is absolute", where="key")
    for part in key.split("/"):
        if not part:
            raise InvalidInput(f"storage key {key!r} has an empty segment", where="key")
        if part.startswith("."):
            raise InvalidInput(f"storage key {key!r} has a segment starting with '.'", where="key")
    return key


def validate_prefix(prefix: str) -> str:
    """A prefix follows the key rules; a trailing `/` is allowed (whole "directory")."""
    validate_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


def clamp_range(start: int, end: int | None, total: int) -> tuple[int, int]:
    """(first, last_exclusive) inside an object of `total` bytes; empty when start >= total."""
    if start < 0 or (end is not None and end < start):
        raise InvalidInput(f"bad byte range {start}-{end}", where="range")
    if start >= total:
        return total, total
    last = total - 1 if end is None else min(end, total - 1)
    return start, last + 1


def slice_chunks(data: bytes, first: int, stop: int) -> Iterator[bytes]:
    for offset in range(first, stop, CHUNK_SIZE):
        yield data[offset : min(offset + CHUNK_SIZE, stop)]


def atomic_write(dest: Path, chunks: Iterable[bytes]) -> None:
    """Write `chunks` to `dest` so that `dest` is either absent/old or complete, never partial.

    The temporary file lives in the same directory (a rename across file systems is a copy) and
    is hidden (`.name.xxxx.tmp`, which no valid key can name); it is fsynced before the rename
    and removed on any error. A crash can leave a hidden temporary file, never a partial `dest`.
    """
    fd, tmp_name = _mkstemp_in(dest)
    try:
        with os.fdopen(fd, "wb") as tmp:
            for chunk in chunks:
                tmp.write(chunk)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, dest)
    except BaseException as exc:
        Path(tmp_name).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFull(f"no space left to write {dest.name}", where=str(dest.parent)) from exc
        raise
    _fsync_dir(dest.parent)


def _mkstemp_in(dest: Path) -> tuple[int, str]:
    # A concurrent delete_prefix may remove the emptied directory between mkdir and mkstemp.
    for _ in range(3):
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            return tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
        except FileNotFoundError:
            continue
    return tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on directories; the rename itself is atomic
    finally:
        os.close(fd)


def file_chunks(f: BinaryIO, first: int = 0, stop: int | None = None) -> Iterator[bytes]:
    """Bytes first..stop (exclusive) of an open file, CHUNK_SIZE at a time; closes the file."""
    with f:
        f.seek(first)
        remaining = None if stop is None else stop - first
        while remaining is None or remaining > 0:
            chunk = f.read(CHUNK_SIZE if remaining is None else min(CHUNK_SIZE, remaining))
            if not chunk:
                return
            if remaining is not None:
                remaining -= len(chunk)
            yield chunk


CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".m4s": "video/iso.segment",
    ".ts": "video/mp2t",
    ".m3u8": "application/vnd.apple.mpegurl",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
    ".vtt": "text/vtt",
}


def guess_content_type(key: str) -> str:
    """The content type vidmerge serves for a key, from its extension (octet-stream if unknown)."""
    return CONTENT_TYPES.get(Path(key).suffix.lower(), "application/octet-stream")


@contextmanager
def local_copy(storage: Storage, key: str) -> Iterator[Path]:
    """A local file with the object's bytes: the file itself on local storage, else a download."""
    path = storage.local_path(key)
    if path is not None:
        yield path
        return
    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp) / Path(key).name
        storage.download(key, dest)
        yield dest
