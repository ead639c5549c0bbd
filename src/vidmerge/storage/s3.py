"""S3Storage: any S3 API (AWS, SeaweedFS, MinIO, R2...) through boto3.

Every call retries connection errors and 5xx answers with jittered exponential backoff for a
bounded time (`retry_seconds`), then raises StorageError, so a storage restart of a few seconds
is invisible to renders while a real outage fails in bounded time. botocore's own retries are
off so that this one budget is the whole story, and its connect and read timeouts are at most
half of it: a hung store (it takes the connection and never answers) fails a call in about
`retry_seconds`, not in botocore's 60 s read timeout per attempt. `check` (readiness) makes one
attempt on a client of its own with PROBE_SECONDS timeouts, so /readyz answers within a second.

Atomicity: a single PUT is atomic in S3. Large files go up as a multipart upload, which S3 only
makes visible on CompleteMultipartUpload; a failed multipart upload is aborted so its parts do not
linger (configure a lifecycle rule for uploads orphaned by a crash).
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from vidmerge.errors import InvalidInput, NotFound, StorageError
from vidmerge.storage.base import CHUNK_SIZE, atomic_write, clamp_range, validate_key, validate_prefix

log = logging.getLogger(__name__)
T = TypeVar("T")

_NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound"}
_TRANSIENT_CODES = {
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "RequestTimeout",
    "Throttling",
}
_MiB = 1024 * 1024
_NO_BUCKET = {"404", "NoSuchBucket", "NotFound"}
PROBE_SECONDS = 0.5  # readiness's connect and read timeouts


class S3Storage:
    def __init__(
        self,
        endpoint: str,
        bucket: str,
        region: str = "us-east-1",
        access_key: str = "",
        secret_key: str = "",
        *,
        retry_seconds: float = 30.0,
        multipart_threshold: int = 64 * _MiB,
        part_size: int = 16 * _MiB,
        connect_timeout: float = 3.0,
        read_timeout: float = 60.0,
        prefix: str = "",
        public_endpoint: str = "",
        session: boto3.session.Session | None = None,
    ) -> None:
        """`prefix` puts every key under `prefix/` (to share a bucket); `public_endpoint` is the
        address viewers reach the store at, when it differs from `endpoint` (presigned URLs are
        signed for it); `session` lets several storages share one boto3 session (creating a
        client from a new session is slow)."""
        self.endpoint = endpoint
        self.bucket = bucket
        self.prefix = f"{validate_key(prefix.strip('/'))}/" if prefix.strip("/") else ""
        self.region = region
        self.retry_seconds = retry_seconds
        self.multipart_threshold = multipart_threshold
        self.part_size = part_size
        connect_timeout, read_timeout = attempt_timeouts(retry_seconds, connect_timeout, read_timeout)
        config = Config(
            s3={"addressing_style": "path"},
            signature_version="s3v4",
            retries={"total_max_attempts": 1},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_pool_connections=32,
            # Trailing checksums (botocore >= 1.36) are not understood by every S3-compatible store.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        session = session or boto3.session.Session()
        credentials = {"aws_access_key_id": access_key or None, "aws_secret_access_key": secret_key or None}
        self.client: Any = session.client(
            "s3", endpoint_url=endpoint or None, region_name=region, config=config, **credentials
        )
        self._session, self._config, self._credentials = session, config, credentials
        self.signer: Any = self.client
        if public_endpoint and public_endpoint != endpoint:  # signing makes no request
            self.signer = session.client(
                "s3", endpoint_url=public_endpoint, region_name=region, config=config, **credentials
            )
        self._bucket_ready = False
        self._bucket_lock = threading.Lock()

    def _k(self, key: str) -> str:
        return f"{self.prefix}{key}"

    # -- writes -------------------------------------------------------------------------------

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        validate_key(key)
        self._retrying(
            "put",
            key,
            lambda: self.client.put_object(Bucket=self.bucket, Key=self._k(key), Body=data, ContentType=content_type),
        )

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        validate_key(key)
        if Path(path).stat().st_size > self.multipart_threshold:
            self._put_multipart(key, Path(path), content_type)
            return

        def attempt() -> None:
            with open(path, "rb") as body:  # reopened per attempt: a retry starts from byte 0
                self.client.put_object(Bucket=self.bucket, Key=self._k(key), Body=body, ContentType=content_type)

        self._retrying("put", key, attempt)

    def _put_multipart(self, key: str, path: Path, content_type: str) -> None:
        created = self._retrying(
            "create multipart upload",
            key,
            lambda: self.client.create_multipart_upload(Bucket=self.bucket, Key=self._k(key), ContentType=content_type),
        )
        upload_id = created["UploadId"]
        try:
            parts = self._upload_parts(key, path, upload_id)
            self._retrying(
                "complete multipart upload",
                key,
                lambda: self.client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=self._k(key),
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                ),
            )
        except BaseException:
            self._abort_multipart(key, upload_id)
            raise

    def _upload_parts(self, key: str, path: Path, upload_id: str) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        with open(path, "rb") as f:
            while chunk := f.read(self.part_size):
                number = len(parts) + 1
                upload = functools.partial(
                    self.client.upload_part,
                    Bucket=self.bucket,
                    Key=self._k(key),
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=chunk,
                )
                answer = self._retrying("upload part", key, upload)
                parts.append({"ETag": answer["ETag"], "PartNumber": number})
        return parts

    def _abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self._k(key), UploadId=upload_id)
        except (BotoCoreError, ClientError) as exc:
            log.warning("could not abort a failed multipart upload (%s); parts remain", exc)

    def delete(self, key: str) -> None:
        validate_key(key)
        self._retrying("delete", key, lambda: self.client.delete_object(Bucket=self.bucket, Key=self._k(key)))

    def delete_prefix(self, prefix: str) -> int:
        validate_prefix(prefix)
        return self._retrying("delete prefix", prefix, lambda: self._delete_listed(prefix))

    def _delete_listed(self, prefix: str) -> int:
        count = 0
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self._k(prefix))
        for page in pages:
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if not keys:
                continue
            answer = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise StorageError(
                    f"{len(answer['Errors'])} object(s) not deleted: {first.get('Message')}",
                    where=prefix,
                )
            count += len(keys)
        return count

    # -- reads --------------------------------------------------------------------------------

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except NotFound:
            return False
        return True

    def size(self, key: str) -> int:
        validate_key(key)
        head = self._retrying("head", key, lambda: self.client.head_object(Bucket=self.bucket, Key=self._k(key)))
        return int(head["ContentLength"])

    def get_bytes(self, key: str) -> bytes:
        validate_key(key)

        def attempt() -> bytes:
            body = self.client.get_object(Bucket=self.bucket, Key=self._k(key))["Body"]
            with body:
                return bytes(body.read())

        return self._retrying("get", key, attempt)

    def download(self, key: str, dest: Path) -> None:
        validate_key(key)

        def attempt() -> None:
            body = self.client.get_object(Bucket=self.bucket, Key=self._k(key))["Body"]
            with body:
                atomic_write(Path(dest), body.iter_chunks(CHUNK_SIZE))

        self._retrying("download", key, attempt)

    def open_range(self, key: str, start: int, end: int | None) -> tuple[Iterator[bytes], int]:
        validate_key(key)
        if start < 0 or (end is not None and end < start):
            raise InvalidInput(f"bad byte range {start}-{end}", where="range")
        wanted = f"bytes={start}-{'' if end is None else end}"
        try:
            answer = self._retrying(
                "get range",
                key,
                lambda: self.client.get_object(Bucket=self.bucket, Key=self._k(key), Range=wanted),
            )
        except _RangeNotSatisfiable:
            return iter(()), self.size(key)
        chunks = _stream(answer["Body"], key)
        if answer.get("ContentRange"):
            return chunks, _total_size(answer)
        # The server ignored the Range header and sent the whole object: cut it here.
        total = int(answer["ContentLength"])
        first, stop = clamp_range(start, end, total)
        return _cut(chunks, first, stop), total

    # -- urls and health ----------------------------------------------------------------------

    def presigned_url(self, key: str, expires: int = 3600) -> str | None:
        validate_key(key)
        url: str = self.signer.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._k(key)}, ExpiresIn=expires
        )
        return url

    def local_path(self, key: str) -> Path | None:
        validate_key(key)
        return None

    def check(self) -> None:
        """One quick attempt with short timeouts, no retry budget: readiness must answer fast."""
        self._retrying("check", self.bucket, self._probe_bucket, budget=0.0, ensure=False)

    def _probe_bucket(self) -> None:
        try:
            self._probe.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _code(exc) not in _NO_BUCKET:
                raise
            self._ensure_bucket()  # the store answers: a first start creates its bucket

    @functools.cached_property
    def _probe(self) -> Any:
        """A client for readiness only (made on first use: making a client takes a while)."""
        short = self._config.merge(Config(connect_timeout=PROBE_SECONDS, read_timeout=PROBE_SECONDS))
        return self._session.client("s3", endpoint_url=self.endpoint or None, region_name=self.region, config=short,
                                    **self._credentials)  # fmt: skip

    # -- the retry loop -----------------------------------------------------------------------

    def _retrying(
        self, what: str, key: str, fn: Callable[[], T], *, budget: float | None = None, ensure: bool = True
    ) -> T:
        deadline = time.monotonic() + (self.retry_seconds if budget is None else budget)
        delay = 0.1
        attempt = 0
        while True:
            attempt += 1
            try:
                if ensure:
                    self._ensure_bucket()
                return fn()
            except (BotoCoreError, ClientError) as exc:
                _raise_if_final(exc, what, key)
                if time.monotonic() + delay > deadline:
                    raise StorageError(f"S3 {what} failed after {attempt} attempt(s): {exc}", where=key) from exc
                log.warning("S3 %s failed (attempt %d), retrying: %s", what, attempt, exc)
            time.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, 2.0)

    def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        with self._bucket_lock:
            if self._bucket_ready:
                return
            try:
                self.client.head_bucket(Bucket=self.bucket)
            except ClientError as exc:
                if _code(exc) not in _NO_BUCKET:
                    raise
                self._create_bucket()
            self._bucket_ready = True

    def _create_bucket(self) -> None:
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if self.region and self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self.client.create_bucket(**kwargs)
        except ClientError as exc:
            if _code(exc) not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise
        log.info("created S3 bucket %s", self.bucket)


def attempt_timeouts(retry_seconds: float, connect: float, read: float) -> tuple[float, float]:
    """Connect and read timeouts within half the retry budget (at least 1 s): an attempt that
    hangs ends in time for one more, and the call within about `retry_seconds`."""
    share = max(retry_seconds / 2, 1.0)
    return min(connect, share), min(read, share)


class _RangeNotSatisfiable(StorageError):
    """Internal: a Range past the end of the object (HTTP 416); open_range answers empty."""


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def _is_transient(exc: BotoCoreError | ClientError) -> bool:
    if isinstance(exc, BotoConnectionError | HTTPClientError):
        return True
    if isinstance(exc, ClientError):
        return _status(exc) >= 500 or _code(exc) in _TRANSIENT_CODES
    return False


def _raise_if_final(exc: BotoCoreError | ClientError, what: str, key: str) -> None:
    """Raise the vidmerge error for failures that retrying cannot fix; return for transient ones."""
    if isinstance(exc, ClientError):
        if _code(exc) in _NOT_FOUND_CODES:
            raise NotFound(f"no object at {key!r}", where=key) from None
        if _code(exc) == "InvalidRange" or _status(exc) == 416:
            raise _RangeNotSatisfiable(f"range not satisfiable for {key!r}", where=key) from exc
    if not _is_transient(exc):
        raise StorageError(f"S3 {what} failed: {exc}", where=key) from exc


def _total_size(answer: dict[str, Any]) -> int:
    content_range = answer.get("ContentRange")  # "bytes 0-99/1234"
    if content_range and "/" in content_range:
        return int(content_range.rsplit("/", 1)[1])
    return int(answer["ContentLength"])


def _cut(chunks: Iterator[bytes], first: int, stop: int) -> Iterator[bytes]:
    """Bytes first..stop (exclusive) of a stream that starts at byte 0."""
    offset = 0
    for chunk in chunks:
        end = offset + len(chunk)
        if end > first and offset < stop:
            yield chunk[max(first - offset, 0) : min(stop - offset, len(chunk))]
        if end >= stop:
            return
        offset = end


def _stream(body: Any, key: str) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(CHUNK_SIZE)
    except (BotoCoreError, OSError) as exc:
        raise StorageError(f"S3 read of {key!r} broke off: {exc}", where=key) from exc
    finally:
        body.close()
