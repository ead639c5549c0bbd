"""Fuzzing: schemathesis against /openapi.json of a real server; hypothesis on the manifest
parser and the archive extractor (any input -> a result or a BundleError, never another error,
never a file outside the destination)."""

from __future__ import annotations

import contextlib
import io
import stat
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from support.media import SMALL_MANIFEST, make_clip, write_bundle, zip_folder
from support.server import Api

from vidmerge.errors import BundleError
from vidmerge.template.archive import ArchiveLimits, extract_zip
from vidmerge.template.manifest import Manifest, parse_manifest

# --- schemathesis ---------------------------------------------------------------------------


# What no schema can say: a bundle's content, a CSV's rows, whether a URL reaches a public address.
CHECKED_CONTENT = {"POST /v1/templates", "POST /v1/campaigns", "POST /v1/webhook-endpoints"}


def valid_data_accepted(ctx: Any, response: Any, case: Any) -> bool | None:
    """Schemathesis' ST202: a request within the document is not refused (422), but where the
    document says the content is checked beyond it."""
    if response.status_code == 422 and case.operation.label in CHECKED_CONTENT:
        return None
    return positive_data_acceptance(ctx, response, case)


CHECKS = [
    not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance,
    response_headers_conformance, negative_data_rejection, valid_data_accepted,
]  # fmt: skip


@pytest.fixture(scope="module", params=["open", "keyed"])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """A server with nothing configured, and one with an API key (sent on every call)."""
    tmp = tmp_path_factory.mktemp("fuzz")
    root = write_bundle(tmp / "bundle", clip=make_clip(tmp / "clip.mp4"))
    server = Api(tmp, {"VIDMERGE_API_KEYS": "k1"} if request.param == "keyed" else {})
    server.start()
    if request.param == "keyed":
        server.client.headers["Authorization"] = "Bearer k1"
    server.post_template(zip_folder(root, tmp / "small.zip"))
    yield server
    server.stop()


@pytest.mark.slow
def test_api_never_answers_5xx_and_matches_its_schema(api: Api) -> None:
    """Every operation in /openapi.json, at most 40 generated requests each, every answer checked
    against the document: status, content type, headers and body schema, and invalid data refused."""
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/renders", "/v1/templates"}
    credentials = {k: v for k, v in api.client.headers.items() if k.lower() == "authorization"}
    for operation in operations:

        @given(operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def call(case: Any) -> None:
            case.headers = {**(case.headers or {}), **credentials}
            case.call_and_validate(checks=CHECKS)

        call()


# --- the manifest parser --------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
SLOT_KEYS = ["id", "kind", "start", "end", "text", "value", "src", "box", "style", "format", "fit"]


@st.composite
def near_manifests(draw: st.DrawFn) -> Any:
    """Mostly-valid manifests with some fields replaced by anything: reaches deep validators."""
    slots = [dict(s) for s in SMALL_MANIFEST["slots"]]
    raw: dict[str, Any] = {**SMALL_MANIFEST, "slots": slots}
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.booleans()):
            raw[draw(st.sampled_from([*SMALL_MANIFEST, "extra"]))] = draw(json_values)
        else:
            slot = draw(st.sampled_from(slots))
            slot[draw(st.sampled_from(SLOT_KEYS))] = draw(json_values)
    return raw


@given(st.one_of(json_values, near_manifests()))
@settings(max_examples=300, deadline=None)
def test_manifest_parser_returns_a_manifest_or_a_bundle_error(raw: Any) -> None:
    try:
        result = parse_manifest(raw)
    except BundleError as exc:
        assert exc.problems or exc.message
        return
    assert isinstance(result, Manifest)


# --- the archive extractor -----------------------------------------------------------------

names = st.one_of(
    st.sampled_from(["template.yaml", "base.mp4", "assets/a.png", "assets", "a/b/c", "./x", "x/../y", "../up",
                     "/abs", "C:/win", "a\\b", "", ".", "dir/", "a" * 300, "nul\x00byte", "über/ß.png"]),
    st.text(min_size=1, max_size=30),
)  # fmt: skip
modes = st.sampled_from([0, stat.S_IFREG | 0o644, stat.S_IFDIR | 0o755, stat.S_IFLNK | 0o777, stat.S_IFIFO | 0o600,
                         stat.S_IFCHR | 0o600, 0o777])  # fmt: skip
members = st.lists(
    st.tuples(names, modes, st.binary(max_size=200), st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])),
    max_size=6,
)


def _build(entries: list[tuple[str, int, bytes, int]], corrupt: int | None) -> bytes:
    buf = io.BytesIO()
    warnings.simplefilter("ignore", UserWarning)  # "Duplicate name": duplicates are part of the test
    with zipfile.ZipFile(buf, "w") as zf:
        for name, mode, data, method in entries:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            info.compress_type = method
            with contextlib.suppress(IndexError, ValueError):  # names zipfile itself cannot write
                zf.writestr(info, data)
    raw = bytearray(buf.getvalue())
    if corrupt is not None and raw:
        raw[corrupt % len(raw)] ^= 0x5A
    return bytes(raw)


@given(members, st.none() | st.integers(min_value=0))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_archive_extractor_loads_or_refuses_and_never_writes_outside(
    entries: list[tuple[str, int, bytes, int]], corrupt: int | None
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        archive = base / "in" / "b.zip"
        archive.parent.mkdir()
        archive.write_bytes(_build(entries, corrupt))
        dest = base / "jail" / "out"
        dest.parent.mkdir()
        try:
            root = extract_zip(archive, dest, ArchiveLimits(max_bytes=10_000, max_files=5))
            assert root.resolve().is_relative_to(dest.resolve())
            assert (root / "template.yaml").is_file()
        except BundleError:
            assert not dest.exists()  # nothing half-extracted is left behind
        outside = {p for p in base.rglob("*") if not p.resolve().is_relative_to(dest.resolve())}
        assert outside == {base / "in", archive, base / "jail"}
        for path in dest.rglob("*") if dest.exists() else []:
            assert not path.is_symlink() and (path.is_file() or path.is_dir())
