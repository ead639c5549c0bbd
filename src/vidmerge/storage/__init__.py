"""Where segments and outputs live: one small protocol, interchangeable backends.

    base.py    the Storage protocol, key rules, atomic local writes, content types
    local.py   LocalStorage: a directory (the embedded default; ffmpeg reads files in place)
    s3.py      S3Storage: any S3 API via boto3, with a bounded retry budget
    memory.py  MemoryStorage: a dict, for unit tests

`open_storage(settings)` picks the backend from the settings object; boto3 is imported only when
S3 is configured.
"""

from __future__ import annotations

from vidmerge.config import Settings
from vidmerge.storage.base import Storage, guess_content_type, local_copy, validate_key
from vidmerge.storage.local import LocalStorage
from vidmerge.storage.memory import MemoryStorage

__all__ = [
    "LocalStorage",
    "MemoryStorage",
    "Storage",
    "guess_content_type",
    "local_copy",
    "open_storage",
    "validate_key",
]


def open_storage(settings: Settings) -> Storage:
    """S3 when `s3_endpoint` is set, else a directory `objects/` under `data_dir`."""
    if settings.s3_endpoint:
        from vidmerge.storage.s3 import S3Storage  # boto3 is heavy: only where S3 is configured

        return S3Storage(
            settings.s3_endpoint,
            settings.s3_bucket,
            settings.s3_region,
            settings.s3_access_key,
            settings.s3_secret_key,
            retry_seconds=settings.s3_retry_seconds,
            public_endpoint=settings.s3_public_endpoint,
        )
    return LocalStorage(settings.data_dir / "objects")
