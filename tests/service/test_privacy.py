"""Privacy in the render lifecycle, in process (a runtime on a small template): each customer
request is its own render, its values are frozen at accept, and erasing one customer deletes
what only they use."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from vidmerge.config import Settings
from vidmerge.engine.loaded import LoadedVersion
from vidmerge.engine.pipeline import Timer, encode_dynamic
from vidmerge.errors import NotFound
from vidmerge.plan import SegmentPlan
from vidmerge.resolver import Spec
from vidmerge.service import renders, scratch
from vidmerge.service.runtime import Runtime
from vidmerge.service.work import segments, tasks

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rt(small_runtime: Runtime) -> Runtime:
    return small_runtime


def _accept(rt: Runtime, name: str, amount: int, external_id: str) -> renders.Accepted:
    data = {"name": name, "amount": amount, "ignored": "not a declared input"}
    return renders.accept(rt.db, rt.registry, "small", data, external_id=external_id)


def _encode(rt: Runtime, accepted: renders.Accepted, *, encodes: int | None = None) -> list[str]:
    loaded, person = renders.replan(rt.db, rt.registry, accepted.record)
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
    expected = renders.replan(rt.db, rt.registry, accepted.record)[1].plan

    def refuse(self: Spec, data: object) -> None:
        raise AssertionError("the data was resolved again (a lookup would run again)")

    monkeypatch.setattr(Spec, "resolve", refuse)
    assert renders.replan(rt.db, rt.registry, accepted.record)[1].plan == expected


def test_equal_values_make_two_renders_and_erasure_keeps_the_other_customers_video(rt: Runtime) -> None:
    a = _accept(rt, "同名 一郎", 777, "crm-a")
    b = _accept(rt, "同名 一郎", 777, "crm-b")
    assert a.created and b.created and a.record.id != b.record.id and a.record.token != b.record.token
    keys = _encode(rt, a, encodes=2)
    assert _encode(rt, b, encodes=0) == keys  # the second customer's video costs no encoding
    assert renders.erase(rt.db, rt.registry, rt.db.renders.get(b.record.id)) == 0  # all shared with a
    assert all(rt.storage.exists(k) for k in keys)
    assert rt.db.renders.get(b.record.id) is None and rt.db.renders.get(a.record.id) is not None
    assert renders.erase(rt.db, rt.registry, rt.db.renders.get(a.record.id)) == len(keys) + 2  # + poster, GIF
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
    assert renders.erase(rt.db, rt.registry, rt.db.renders.get(accepted.record.id)) == len(keys) + 2
    assert not any(rt.storage.exists(k) for k in keys)


def _files_containing(root: Path, *values: str) -> list[str]:
    """Every file under `root` (objects, database, WAL, caches) holding any of the values, as
    UTF-8 or as JSON writes it (\\u escapes)."""
    needles = [form for v in values for form in (v.encode(), json.dumps(v)[1:-1].encode())]
    return [
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and any(n in p.read_bytes() for n in needles)
    ]


def test_erasure_leaves_no_trace_of_the_values_on_disk(rt: Runtime, tmp_path: Path) -> None:
    accepted = _accept(rt, "痕跡 残子", 98765, "crm-trace")
    loaded, person = renders.replan(rt.db, rt.registry, accepted.record)
    encode_dynamic(loaded, person.plan)
    renders.finish(rt.db, loaded, person, accepted.record, Timer())
    root = rt.settings.data_dir
    assert _files_containing(root, "痕跡 残子") != []  # the record holds it (the check can see it)
    renders.erase(rt.db, rt.registry, rt.db.renders.get(accepted.record.id))
    assert _files_containing(root, "痕跡 残子", "98,765円") == []  # SQLite's file and WAL included


def test_a_render_erased_while_its_segments_encode_leaves_nothing(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    accepted = _accept(rt, "途中 消去", 31337, "crm-mid")
    loaded, person = renders.replan(rt.db, rt.registry, accepted.record)
    started, release = threading.Event(), threading.Event()
    real = segments.encode_segment

    def held(loaded: LoadedVersion, seg: SegmentPlan) -> bool:
        started.set()
        assert release.wait(60)
        return real(loaded, seg)

    monkeypatch.setattr(segments, "encode_segment", held)
    with ThreadPoolExecutor(2) as pool:
        done = [pool.submit(segments.ensure, rt.db, loaded, seg, wait=60) for seg in person.plan.dynamic]
        assert started.wait(60)
        renders.erase(rt.db, rt.registry, rt.db.renders.get(accepted.record.id))  # mid-render
        release.set()
        assert all(f.result().rendered for f in done)
    keys = [s.key for s in person.plan.dynamic]
    assert not any(rt.storage.exists(k) for k in keys)  # written after the erase, then removed
    assert all(rt.db.leases.get(k) is None for k in keys)
    assert _files_containing(rt.settings.data_dir, "途中 消去") == []


def test_a_render_erased_before_its_packaging_stops_quietly(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its segments are deleted by the erasure; the worker finds one missing while packaging:
    the render is gone, not an error, and nothing of it is left."""
    accepted = _accept(rt, "包装前 消去", 2718, "crm-pack")
    real = renders.finish

    def erased_first(db: object, loaded: LoadedVersion, person: object, record: object, timer: Timer) -> None:
        renders.erase(rt.db, rt.registry, rt.db.renders.get(accepted.record.id))
        real(db, loaded, person, record, timer)  # type: ignore[arg-type]

    monkeypatch.setattr(renders, "finish", erased_first)
    assert tasks.run_render(rt, accepted.record.id) == "gone"
    assert _files_containing(rt.settings.data_dir / "objects", "包装前 消去") == []


def test_a_segment_gone_from_storage_is_encoded_again_on_request(rt: Runtime) -> None:
    accepted = _accept(rt, "再生成 さん", 4242, "crm-again")
    loaded, person = renders.replan(rt.db, rt.registry, accepted.record)
    seg = person.plan.dynamic[0]
    assert segments.ensure(rt.db, loaded, seg, wait=60).rendered
    rt.storage.delete(seg.key)  # lost (a bucket rule, an operator's mistake)
    assert segments.ensure(rt.db, loaded, seg, wait=5).rendered and rt.storage.exists(seg.key)


KILLED = """
import os, signal, sys, tempfile
from pathlib import Path
from vidmerge.config import Settings
from vidmerge.service import scratch
scratch.use(Settings(data_dir=Path(sys.argv[1])))
Path(tempfile.mkdtemp(), "segment.ts").write_bytes(b"pictures of a name")  # an encode
with scratch.render_dir(sys.argv[2]) as tmp:  # a render's packaging
    Path(tmp, "email.gif.part.gif").write_bytes(b"pictures of a name")
    print("working", flush=True)
    if sys.argv[3] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    sys.stdin.read()
"""


def _process(data_dir: Path, render_id: str, end: str) -> subprocess.Popen[str]:
    """A process of the service at work in `data_dir`: killed mid-render, or alive until its stdin closes."""
    started = subprocess.Popen([sys.executable, "-c", KILLED, str(data_dir), render_id, end], text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
    assert started.stdout is not None and started.stdout.readline() == "working\n"
    return started


def _leftovers(data_dir: Path) -> list[str]:
    return sorted(p.name for p in (data_dir / "tmp").rglob("*") if p.is_file() and p.name != ".lock")


def test_temporary_files_a_killed_process_left_go_at_the_next_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`serve` and `worker` keep temporary files in a locked folder of their own under
    data_dir/tmp; what a process killed mid-render left there (a half-encoded segment, a GIF being
    written: pictures of a name) goes at the next start, however recent; a live process's stays."""
    monkeypatch.setattr(tempfile, "tempdir", tempfile.tempdir)  # scratch.use sets them for the process
    monkeypatch.setattr(scratch, "_area", [])
    alive = _process(tmp_path, "cafe01", "wait")
    try:
        assert _process(tmp_path, "deadbeef", "kill").wait(30) == -signal.SIGKILL
        (tmp_path / "tmp" / "from-an-older-version").mkdir()  # young: may be a live older process's
        assert _leftovers(tmp_path) == ["email.gif.part.gif", "email.gif.part.gif", "segment.ts", "segment.ts"]
        scratch.use(Settings(data_dir=tmp_path))  # the next start
        assert _leftovers(tmp_path) == ["email.gif.part.gif", "segment.ts"]  # the live one's
        assert (tmp_path / "tmp" / "from-an-older-version").exists()
        long_ago = time.time() - 2 * 3600
        os.utime(tmp_path / "tmp" / "from-an-older-version", (long_ago, long_ago))
        assert scratch.sweep(Settings(data_dir=tmp_path)) == 1  # the API's sweep: only that one
    finally:
        assert alive.stdin is not None
        alive.stdin.close()
        assert alive.wait(30) == 0
    assert scratch.sweep(Settings(data_dir=tmp_path)) == 1 and _leftovers(tmp_path) == []  # ended: its folder goes


def test_erasure_removes_a_dead_workers_temporary_files_of_the_render(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker on this data dir died while packaging a render; before anything restarts, the
    render is erased: its temporary files go with it (another render's stay until the start)."""
    monkeypatch.setattr(scratch, "_area", [tmp_path / "tmp"])
    assert _process(tmp_path, "0123abcd", "kill").wait(30) == -signal.SIGKILL
    assert scratch.erase_render("0123abcd") == 1
    assert _leftovers(tmp_path) == ["segment.ts"]


def test_an_erasure_while_the_render_packages_removes_its_temporary_files_and_the_work_stops(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    accepted = _accept(rt, "一時 消去", 60606, "crm-tmp")
    real = renders.splice
    seen: list[Path] = []

    def erased_midway(loaded: LoadedVersion, person: object, mp4: Path, timer: Timer) -> bool:
        fallback = real(loaded, person, mp4, timer)  # type: ignore[arg-type]
        seen.append(mp4.parent)
        assert mp4.parent.name.startswith(f"render-{accepted.record.id}-") and mp4.exists()
        renders.erase(rt.db, rt.registry, rt.db.renders.get(accepted.record.id))
        assert not mp4.parent.exists()  # the spliced video of the name is gone with the render
        return fallback

    monkeypatch.setattr(renders, "splice", erased_midway)
    assert tasks.run_render(rt, accepted.record.id) == "gone"
    assert len(seen) == 1 and not seen[0].exists()
    assert _files_containing(rt.settings.data_dir, "一時 消去") == []
