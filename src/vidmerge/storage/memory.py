"""MemoryStorage: a dict behind the Storage protocol, for unit tests (like httpx.MockTransport)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

from vidmerge.errors import NotFound
from vidmerge.storage.base import atomic_write, clamp_range, slice_chunks, validate_key, validate_prefix


class MemoryStorage:
    def __init__(self) -> None:
        self._objects: dict[str, tuple[bytes, str]] = {}
        self._lock = threading.Lock()

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        self.put_bytes(key, Path(path).read_bytes(), content_type)

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        validate_key(key)
        with self._lock:
            self._objects[key] = (bytes(data), content_type)

    def exists(self, key: str) -> bool:
        validate_key(key)
        return key in self._objects

    def get_bytes(self, key: str) -> bytes:
        validate_key(key)
        try:
            return self._objects[key][0]
        except KeyError:
            raise NotFound(f"no object at {key!r}", where=key) from None

    def content_type(self, key: str) -> str:
        validate_key(key)
        try:
            return self._objects[key][1]
        except KeyError:
            raise NotFound(f"no object at {key!r}", where=key) from None

    def download(self, key: str, dest: Path) -> None:
        data = self.get_bytes(key)
        atomic_write(Path(dest), [data])

    def open_range(self, key: str, start: int, end: int | None) -> tuple[Iterator[bytes], int]:
        data = self.get_bytes(key)
        first, stop = clamp_range(start, end, len(data))
        return slice_chunks(data, first, stop), len(data)

    def size(self, key: str) -> int:
        return len(self.get_bytes(key))

    def delete(self, key: str) -> None:
        validate_key(key)
        with self._lock:
            self._objects.pop(key, None)

    def delete_prefix(self, prefix: str) -> int:
        validate_prefix(prefix)
        with self._lock:
            doomed = [key for key in self._objects if key.startswith(prefix)]
            for key in doomed:
                del self._objects[key]
        return len(doomed)

    def presigned_url(self, key: str, expires: int = 3600) -> str | None:
        validate_key(key)
        return None

    def local_path(self, key: str) -> Path | None:
        validate_key(key)
        return None

    def check(self) -> None:
        return None

    def keys(self) -> list[str]:
        """Every stored key, sorted (handy in assertions)."""
        return sorted(self._objects)
