"""LocalStorage: objects are files under one root directory.

Writes go to a hidden temporary file in the target directory, are fsynced, then renamed over the
key with os.replace, so a reader (or ffmpeg via `local_path`) never sees a partial object.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from vidmerge.errors import NotFound, StorageError
from vidmerge.storage.base import atomic_write, clamp_range, file_chunks, validate_key, validate_prefix


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        dest = self._path(key)
        atomic_write(dest, file_chunks(open(path, "rb")))  # noqa: SIM115 - file_chunks closes it

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        atomic_write(self._path(key), [data])

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"no object at {key!r}", where=key) from None

    def download(self, key: str, dest: Path) -> None:
        atomic_write(Path(dest), file_chunks(self._open(key)))

    def open_range(self, key: str, start: int, end: int | None) -> tuple[Iterator[bytes], int]:
        f = self._open(key)
        total = os.fstat(f.fileno()).st_size
        try:
            first, stop = clamp_range(start, end, total)
        except BaseException:
            f.close()
            raise
        return file_chunks(f, first, stop), total

    def size(self, key: str) -> int:
        path = self._path(key)
        if not path.is_file():
            raise NotFound(f"no object at {key!r}", where=key)
        return path.stat().st_size

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> int:
        validate_prefix(prefix)
        top = self.root / prefix.rpartition("/")[0]
        count = 0
        for dirpath, _dirs, files in os.walk(top, topdown=False):
            directory = Path(dirpath)
            for name in files:
                key = (directory / name).relative_to(self.root).as_posix()
                if not name.startswith(".") and key.startswith(prefix):
                    (directory / name).unlink(missing_ok=True)
                    count += 1
            relative = directory.relative_to(self.root).as_posix()
            if directory != self.root and f"{relative}/".startswith(prefix):
                _remove_if_empty(directory)  # every key below it matched the prefix
        return count

    def presigned_url(self, key: str, expires: int = 3600) -> str | None:
        validate_key(key)
        return None

    def local_path(self, key: str) -> Path | None:
        path = self._path(key)
        if not path.is_file():
            raise NotFound(f"no object at {key!r}", where=key)
        return path

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create storage root: {exc}", where=str(self.root)) from exc
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StorageError("storage root is not writable", where=str(self.root))

    def _open(self, key: str) -> BinaryIO:
        try:
            return open(self._path(key), "rb")  # noqa: SIM115 - the caller's generator closes it
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"no object at {key!r}", where=key) from None


def _remove_if_empty(directory: Path) -> None:
    # Not empty (a leftover temp file or a concurrent write): leave it.
    with contextlib.suppress(OSError):
        directory.rmdir()
