"""Privacy in the render lifecycle, in process (a runtime on a small template): each customer
request is its own render, its values are frozen at accept, and erasing one customer deletes
what only they use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.media import make_clip, write_bundle, zip_folder

from vidmerge.config import Settings
from vidmerge.engine.pipeline import encode_dynamic
from vidmerge.errors import NotFound
from vidmerge.resolver import Spec
from vidmerge.service import renders
from vidmerge.service.runtime import Runtime, open_runtime

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    tmp = tmp_path_factory.mktemp("privacy")
    bundle = write_bundle(tmp / "bundle", clip=make_clip(tmp / "clip.mp4"))
    runtime = open_runtime(Settings(data_dir=tmp / "data", frame_cache_mb=0))
    runtime.registry.upload(zip_folder(bundle, tmp / "small.zip"))
    yield runtime
    runtime.scheduler.close()
    runtime.db.dispose()


def _accept(rt: Runtime, name: str, amount: int, external_id: str) -> renders.Accepted:
    data = {"name": name, "amount": amount, "ignored": "not a declared input"}
    return renders.accept(rt.db, rt.registry, "small", data, external_id=external_id)


def _encode(rt: Runtime, accepted: renders.Accepted, *, encodes: int | None = None) -> list[str]:
    loaded, person = renders.replan(rt.registry, accepted.record)
    encoded = encode_dynamic(loaded, person.plan)
    assert encodes is None or encoded == encodes
    return [s.key for s in person.plan.dynamic]


def test_the_record_keeps_the_values_as_drawn_not_the_data(rt: Runtime) -> None:
    accepted = _accept(rt, "保存 太郎", 4321, "crm-keep")
    kept = rt.db.renders.get(accepted.record.id)
    assert kept is not None and set(kept.resolved) == {"drawn", "explanations"}
    assert "not a declared input" not in str(kept.resolved)
    assert renders.values(kept) == {"greeting": "保存 太郎様", "amount": "4,321円"}


def test_replanning_never_resolves_the_data_again(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    accepted = _accept(rt, "凍結 花子", 1000, "crm-frozen")
    expected = renders.replan(rt.registry, accepted.record)[1].plan

    def refuse(self: Spec, data: object) -> None:
        raise AssertionError("the data was resolved again (a lookup would run again)")

    monkeypatch.setattr(Spec, "resolve", refuse)
    assert renders.replan(rt.registry, accepted.record)[1].plan == expected


def test_equal_values_make_two_renders_and_erasure_keeps_the_other_customers_video(rt: Runtime) -> None:
    a = _accept(rt, "同名 一郎", 777, "crm-a")
    b = _accept(rt, "同名 一郎", 777, "crm-b")
    assert a.created and b.created and a.record.id != b.record.id and a.record.token != b.record.token
    keys = _encode(rt, a, encodes=2)
    assert _encode(rt, b, encodes=0) == keys  # the second customer's video costs no encoding
    assert renders.erase(rt.db, rt.registry, rt.db.renders.get(b.record.id)) == 0  # all shared with a
    assert all(rt.storage.exists(k) for k in keys)
    assert rt.db.renders.get(b.record.id) is None and rt.db.renders.get(a.record.id) is not None
    assert renders.erase(rt.db, rt.registry, rt.db.renders.get(a.record.id)) == len(keys)
    assert not any(rt.storage.exists(k) for k in keys)


def test_a_segment_shared_by_part_of_the_values_stays_while_anyone_uses_it(rt: Runtime) -> None:
    a = _accept(rt, "部分 共有", 100, "crm-p1")
    b = _accept(rt, "部分 共有", 200, "crm-p2")  # same greeting, another amount
    shared = set(_encode(rt, a)) & set(_encode(rt, b))
    assert len(shared) == 1  # the greeting's segment
    renders.erase(rt.db, rt.registry, rt.db.renders.get(a.record.id))
    assert all(rt.storage.exists(k) for k in shared)
    renders.erase(rt.db, rt.registry, rt.db.renders.get(b.record.id))
    assert not any(rt.storage.exists(k) for k in shared)


def test_erasure_finds_what_to_delete_without_the_template(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    accepted = _accept(rt, "消す 人", 5, "crm-gone")
    keys = _encode(rt, accepted)

    def gone(template_id: str, version: int) -> None:
        raise NotFound("no such template", where="template")

    monkeypatch.setattr(rt.registry, "loaded", gone)  # deleted, or its bundle unreadable
    assert renders.erase(rt.db, rt.registry, rt.db.renders.get(accepted.record.id)) == len(keys)
    assert not any(rt.storage.exists(k) for k in keys)
