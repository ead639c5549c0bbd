"""One contract, three backends: MemoryStorage, LocalStorage and S3Storage on a real SeaweedFS."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from support.services import SeaweedS3, running

from vidmerge.config import Settings
from vidmerge.errors import DiskFull, InvalidInput, NotFound, StorageError
from vidmerge.storage import (
    LocalStorage,
    MemoryStorage,
    Storage,
    guess_content_type,
    open_storage,
)
from vidmerge.storage.base import CHUNK_SIZE
from vidmerge.storage.s3 import S3Storage

BIG = bytes(range(256)) * ((CHUNK_SIZE + 1000) // 256 + 1)  # spans more than one chunk


@pytest.fixture(params=["memory", "local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "memory":
        return MemoryStorage()
    if request.param == "local":
        return LocalStorage(tmp_path / "objects")
    seaweed: SeaweedS3 = request.getfixturevalue("seaweed_s3")
    return seaweed.storage()


def read_range(storage: Storage, key: str, start: int, end: int | None) -> tuple[bytes, int]:
    chunks, total = storage.open_range(key, start, end)
    return b"".join(chunks), total


# -- the contract -------------------------------------------------------------------------------


def test_implements_the_protocol(storage: Storage) -> None:
    assert isinstance(storage, Storage)
    storage.check()


def test_put_get_exists_size(storage: Storage) -> None:
    storage.put_bytes("segments/ab/one.ts", b"hello", "video/mp2t")
    assert storage.exists("segments/ab/one.ts")
    assert storage.get_bytes("segments/ab/one.ts") == b"hello"
    assert storage.size("segments/ab/one.ts") == 5
    storage.put_bytes("segments/ab/one.ts", b"replaced", "video/mp2t")
    assert storage.get_bytes("segments/ab/one.ts") == b"replaced"


def test_missing_objects(storage: Storage) -> None:
    assert not storage.exists("nope/missing.mp4")
    for call in (storage.get_bytes, storage.size):
        with pytest.raises(NotFound):
            call("nope/missing.mp4")
    with pytest.raises(NotFound):
        storage.open_range("nope/missing.mp4", 0, None)
    storage.delete("nope/missing.mp4")  # missing is fine


def test_put_file_and_download(storage: Storage, tmp_path: Path) -> None:
    source = tmp_path / "source.mp4"
    source.write_bytes(BIG)
    storage.put_file("renders/tok/video.mp4", source, "video/mp4")
    dest = tmp_path / "out" / "copy.mp4"
    dest.parent.mkdir()
    storage.download("renders/tok/video.mp4", dest)
    assert dest.read_bytes() == BIG
    assert os.listdir(dest.parent) == ["copy.mp4"]  # no temporary file left behind
    with pytest.raises(NotFound):
        storage.download("renders/tok/missing.mp4", tmp_path / "out" / "missing.mp4")
    assert not (tmp_path / "out" / "missing.mp4").exists()


def test_delete_and_delete_prefix(storage: Storage) -> None:
    for key in ("r/a/1.ts", "r/a/2.ts", "r/a/sub/3.ts", "r/ab/4.ts", "r/b/5.ts"):
        storage.put_bytes(key, b"x", "video/mp2t")
    storage.delete("r/b/5.ts")
    assert not storage.exists("r/b/5.ts")
    assert storage.delete_prefix("r/a/") == 3
    assert [storage.exists(k) for k in ("r/a/1.ts", "r/a/sub/3.ts", "r/ab/4.ts")] == [
        False,
        False,
        True,
    ]
    assert storage.delete_prefix("r/a") == 1  # a plain string prefix, as in S3
    assert storage.delete_prefix("r/") == 0


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0, 0, BIG[:1]),
        (10, 19, BIG[10:20]),
        (0, None, BIG),
        (CHUNK_SIZE - 3, CHUNK_SIZE + 3, BIG[CHUNK_SIZE - 3 : CHUNK_SIZE + 4]),
        (len(BIG) - 5, None, BIG[-5:]),
        (len(BIG) - 5, len(BIG) + 100, BIG[-5:]),  # an end past the object is clamped
        (len(BIG), None, b""),  # past the end: empty, the caller answers 416
        (len(BIG) + 10, len(BIG) + 20, b""),
    ],
)
def test_ranges(storage: Storage, start: int, end: int | None, expected: bytes) -> None:
    storage.put_bytes("v/big.mp4", BIG, "video/mp4")
    assert read_range(storage, "v/big.mp4", start, end) == (expected, len(BIG))


def test_range_of_an_empty_object(storage: Storage) -> None:
    storage.put_bytes("v/empty.ts", b"", "video/mp2t")
    assert read_range(storage, "v/empty.ts", 0, None) == (b"", 0)


def test_bad_range_is_rejected(storage: Storage) -> None:
    storage.put_bytes("v/a.ts", b"abc", "video/mp2t")
    with pytest.raises(InvalidInput):
        storage.open_range("v/a.ts", 2, 1)


BAD_KEYS = ["", "/abs/key", "a/../b", "..", "a\\b", "a//b", ".hidden", "a/.x.tmp", "a/", "a/./b"]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_key_validation(storage: Storage, key: str) -> None:
    with pytest.raises(InvalidInput):
        storage.put_bytes(key, b"x", "text/plain")
    for call in (storage.exists, storage.get_bytes, storage.delete, storage.local_path):
        with pytest.raises(InvalidInput):
            call(key)


def test_prefix_validation(storage: Storage) -> None:
    for prefix in ("", "/", "../x", "a/../"):
        with pytest.raises(InvalidInput):
            storage.delete_prefix(prefix)


def test_failed_put_file_leaves_nothing(storage: Storage, tmp_path: Path) -> None:
    with pytest.raises(OSError):
        storage.put_file("x/never.mp4", tmp_path / "does-not-exist.mp4", "video/mp4")
    assert not storage.exists("x/never.mp4")


def test_presigned_url_and_local_path(storage: Storage) -> None:
    storage.put_bytes("p/poster.jpg", b"\xff\xd8jpeg", "image/jpeg")
    url = storage.presigned_url("p/poster.jpg", expires=60)
    path = storage.local_path("p/poster.jpg")
    if isinstance(storage, S3Storage):
        assert url is not None and path is None
        with urllib.request.urlopen(url, timeout=5) as answer:
            assert answer.read() == b"\xff\xd8jpeg"
            assert answer.headers["Content-Type"] == "image/jpeg"
    elif isinstance(storage, LocalStorage):
        assert url is None and path is not None and path.read_bytes() == b"\xff\xd8jpeg"
        with pytest.raises(NotFound):
            storage.local_path("p/missing.jpg")
    else:
        assert url is None and path is None


def test_presigned_urls_are_signed_for_the_public_endpoint(seaweed_s3: SeaweedS3) -> None:
    """Viewers may reach the store at another address than the servers do (a proxy, a CDN)."""
    public = seaweed_s3.endpoint.replace("127.0.0.1", "localhost")
    storage = S3Storage(
        seaweed_s3.endpoint, "public-ep", access_key=seaweed_s3.access_key,
        secret_key=seaweed_s3.secret_key, public_endpoint=public,
    )  # fmt: skip
    storage.put_bytes("p/video.mp4", b"movie", "video/mp4")
    url = storage.presigned_url("p/video.mp4", expires=60)
    assert url is not None and url.startswith(public + "/")
    with urllib.request.urlopen(url, timeout=5) as answer:  # the signature holds for that host
        assert answer.read() == b"movie"


def test_media_origin_follows_the_settings() -> None:
    assert Settings().media_origin == ""
    s3 = Settings(s3_endpoint="http://10.0.0.5:8333/")
    assert s3.media_origin == "http://10.0.0.5:8333"
    assert s3.with_(s3_public_endpoint="https://media.example.jp/store").media_origin == "https://media.example.jp"
    assert s3.with_(s3_redirect=False).media_origin == ""
    assert (
        Settings.from_env({"VIDMERGE_S3_ENDPOINT": "http://s3:9000", "VIDMERGE_S3_REDIRECT": "off"}).media_origin == ""
    )


# -- local atomicity ----------------------------------------------------------------------------


def test_local_failed_write_keeps_old_object(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    storage = LocalStorage(tmp_path)
    storage.put_bytes("k/obj.ts", b"old", "video/mp2t")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(DiskFull):  # a StorageError: the HTTP layer answers 503 with Retry-After
        storage.put_bytes("k/obj.ts", b"new", "video/mp2t")
    with pytest.raises(DiskFull):
        storage.put_bytes("k/other.ts", b"new", "video/mp2t")
    monkeypatch.undo()
    assert storage.get_bytes("k/obj.ts") == b"old"
    assert not storage.exists("k/other.ts")
    assert os.listdir(tmp_path / "k") == ["obj.ts"]  # the temporary file was removed


CRASHING_WRITER = """
import sys, time
from pathlib import Path
import vidmerge.storage.local as local

def slow_chunks(f, first=0, stop=None):
    yield b"partial" * 1000
    print("writing", flush=True)
    time.sleep(60)
    yield b"never"

local.file_chunks = slow_chunks
local.LocalStorage(Path(sys.argv[1])).put_file("k/video.mp4", Path(sys.argv[2]), "video/mp4")
"""


def test_local_crash_mid_write_leaves_no_object(tmp_path: Path) -> None:
    source = tmp_path / "source.mp4"
    source.write_bytes(BIG)
    root = tmp_path / "root"
    writer = subprocess.Popen(
        [sys.executable, "-c", CRASHING_WRITER, str(root), str(source)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "writing"
    writer.send_signal(signal.SIGKILL)
    writer.wait(10)
    storage = LocalStorage(root)
    assert not storage.exists("k/video.mp4")
    assert storage.delete_prefix("k/") == 0  # the leftover hidden temp file is not an object
    storage.put_file("k/video.mp4", source, "video/mp4")
    assert storage.get_bytes("k/video.mp4") == BIG


# -- S3 specifics -------------------------------------------------------------------------------


def test_s3_failed_multipart_upload_is_aborted(
    seaweed_s3: SeaweedS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage: S3Storage = seaweed_s3.storage(multipart_threshold=5 << 20, part_size=5 << 20)
    source = tmp_path / "big.mp4"
    source.write_bytes(os.urandom(11 << 20))
    real_upload_part = storage.client.upload_part

    def fail_second_part(**kwargs: object) -> object:
        if kwargs["PartNumber"] == 2:
            error = {"Error": {"Code": "AccessDenied", "Message": "injected"}}
            raise ClientError(error, "UploadPart")
        return real_upload_part(**kwargs)

    monkeypatch.setattr(storage.client, "upload_part", fail_second_part)
    with pytest.raises(StorageError):
        storage.put_file("r/big.mp4", source, "video/mp4")
    assert not storage.exists("r/big.mp4")
    listed = storage.client.list_multipart_uploads(Bucket=storage.bucket, Prefix=storage.prefix)
    assert listed.get("Uploads", []) == []
    monkeypatch.undo()
    storage.put_file("r/big.mp4", source, "video/mp4")  # the real multipart path works
    assert storage.size("r/big.mp4") == 11 << 20
    assert (
        read_range(storage, "r/big.mp4", (5 << 20) - 2, (5 << 20) + 1)[0]
        == (source.read_bytes()[(5 << 20) - 2 : (5 << 20) + 2])
    )


def test_s3_server_ignoring_range_is_cut_locally(seaweed_s3: SeaweedS3, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = seaweed_s3.storage()
    storage.put_bytes("v/big.mp4", BIG, "video/mp4")
    real_get = storage.client.get_object

    def get_without_range(**kwargs: object) -> object:
        kwargs.pop("Range", None)
        return real_get(**kwargs)

    monkeypatch.setattr(storage.client, "get_object", get_without_range)
    assert read_range(storage, "v/big.mp4", CHUNK_SIZE - 3, CHUNK_SIZE + 3) == (
        BIG[CHUNK_SIZE - 3 : CHUNK_SIZE + 4],
        len(BIG),
    )


def test_s3_outage_retries_then_fails_in_bounded_time(seaweed_s3: SeaweedS3) -> None:
    patient = seaweed_s3.storage(retry_seconds=30)
    impatient = seaweed_s3.storage(prefix=patient.prefix, retry_seconds=1.5)
    patient.put_bytes("warm/up.ts", b"x", "video/mp2t")  # the bucket exists before the outage
    with running(seaweed_s3):
        seaweed_s3.kill()
        began = time.monotonic()
        with pytest.raises(StorageError):
            impatient.put_bytes("down/long.ts", b"lost", "video/mp2t")
        assert time.monotonic() - began < 6
        with pytest.raises(StorageError):
            impatient.check()

        outcome: list[BaseException | None] = []

        def put() -> None:
            try:
                patient.put_bytes("down/short.ts", b"kept", "video/mp2t")
                outcome.append(None)
            except BaseException as exc:
                outcome.append(exc)

        writer = threading.Thread(target=put)
        writer.start()
        time.sleep(1.0)
        assert writer.is_alive()  # still retrying while the store is down
        seaweed_s3.start()
        writer.join(40)
    assert outcome == [None]
    assert patient.get_bytes("down/short.ts") == b"kept"
    assert not patient.exists("down/long.ts")


# -- selection and helpers ----------------------------------------------------------------------


def test_open_storage_picks_the_backend(tmp_path: Path) -> None:
    local = open_storage(Settings(data_dir=tmp_path))
    assert isinstance(local, LocalStorage) and local.root == tmp_path / "objects"
    s3 = open_storage(Settings(s3_endpoint="http://127.0.0.1:1", s3_bucket="b-c-d"))
    assert isinstance(s3, S3Storage) and s3.bucket == "b-c-d"  # no network until first use


def test_content_types() -> None:
    assert guess_content_type("r/x/index.m3u8") == "application/vnd.apple.mpegurl"
    assert guess_content_type("s/1.TS") == "video/mp2t"
    assert guess_content_type("r/x/video.mp4") == "video/mp4"
    assert guess_content_type("r/x/unknown.bin") == "application/octet-stream"
