"""Campaigns: a CSV of customers for the MA tools that cannot call a webhook.

An upload is read (UTF-8, with or without BOM, or CP932) and every row checked at once, as a
webhook call would be: the row's columns mapped to the template's inputs, its values resolved and
frozen. Bad rows are answered with their row, column and reason and kept out. Nothing renders
until the campaign is started; then each good row becomes its own render on the bulk lane.

Restart-safe and idempotent: each row's render is accepted under the claim `campaign:<id>:<seq>`,
so a launch that stopped half-way (its process died) is resumed by the sweep without making any
row's render twice. The same file uploaded again is the same campaign; rows uploaded into a
campaign replace the rows of the same `external_id` only when their values changed, or when the
earlier row was invalid or its render failed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from jinja2 import nodes
from sqlalchemy.exc import IntegrityError

from vidmerge.engine.loaded import LoadedVersion
from vidmerge.engine.pipeline import personalize
from vidmerge.errors import Conflict, InvalidInput, NotFound, Problem
from vidmerge.records import CampaignRecord, CampaignRowRecord, Claim, RenderRecord, TemplateRecord, utcnow
from vidmerge.resolver.computed import ExpressionValue
from vidmerge.resolver.expressions import environment
from vidmerge.service import csvfile, reasons, renders
from vidmerge.service.runtime import Runtime
from vidmerge.template.bundle import Template

log = logging.getLogger("vidmerge.campaigns")
EXTERNAL_ID = "external_id"
MAX_CELL = 10_000  # characters in one cell: a name or an address, not a document
MAX_ERRORS = 1000  # row problems listed in one answer (all are counted)
CLAIM_SCOPE = "campaign"
GARBLED = "a character Shift_JIS cannot hold, or garbled text (mojibake)"
LOST = "?？〓"  # in a name: a character lost on the way (Excel's CP932 ? for 𠮷; a tool's geta mark)
NAMED = re.compile(r"(^|_)name$", re.IGNORECASE)  # name, first_name, last_name, full_name
NAME_WORDS = re.compile("氏名|名前")


@dataclass
class Uploaded:
    """What an upload did: its counts and every bad row (up to MAX_ERRORS)."""

    campaign: CampaignRecord
    created: bool  # False: the same file was uploaded before; nothing new was stored
    rows: int = 0
    valid: int = 0
    invalid: int = 0
    unchanged: int = 0  # rows equal to the campaign's current ones (nothing to render again)
    errors: list[dict[str, Any]] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)


# -- upload ---------------------------------------------------------------------------------------


def upload(
    rt: Runtime, template_id: str, content: bytes, *, version: int | None = None,
    mapping: Mapping[str, str] | None = None, encoding: str | None = None, campaign_id: str | None = None,
) -> Uploaded:  # fmt: skip
    """A new campaign from a CSV (or the one this same upload made before), or, with
    `campaign_id`, more rows into that campaign."""
    sheet = csvfile.read(content, max_rows=rt.settings.max_campaign_rows, encoding=encoding)
    if campaign_id is not None:
        return _add(rt, get(rt, campaign_id), template_id, sheet, mapping or {})
    record = _template(rt, template_id, version)
    source = _source_hash(template_id, version, mapping or {}, content)
    loaded = rt.registry.loaded(record.id, record.version)
    checked = _check(loaded, sheet, mapping or {})
    earlier = rt.db.campaigns.by_source(source)
    if earlier is not None:
        return checked.answer(earlier, created=False)
    campaign = CampaignRecord(template_id=record.id, template_version=record.version, source_hash=source,
                              encoding=sheet.encoding)  # fmt: skip
    rows = checked.records()
    for seq, row in enumerate(rows, start=1):
        row.campaign_id, row.seq, row.upload = campaign.id, seq, 1
    try:
        rt.db.campaigns.create(campaign, rows)
    except IntegrityError:  # the same upload, at the same moment
        found = rt.db.campaigns.by_source(source)
        if found is None:
            raise
        return checked.answer(found, created=False)
    log.info("campaign %s: %d rows, %d invalid", campaign.id, len(rows), checked.invalid)
    return checked.answer(campaign, created=True)


def _add(rt: Runtime, campaign: CampaignRecord, template_id: str, sheet: csvfile.Sheet,
         mapping: Mapping[str, str]) -> Uploaded:  # fmt: skip
    if template_id != campaign.template_id:
        raise InvalidInput(f"campaign {campaign.id} renders template {campaign.template_id!r}", where="template_id")
    checked = _check(rt.registry.loaded(campaign.template_id, campaign.template_version), sheet, mapping)
    current = rt.db.campaigns.current(campaign.id, [r.external_id for r in checked.rows if r.external_id])
    rows, superseded, unchanged = [], [], 0
    for row in checked.records():
        old = current.get(row.external_id or "") if row.current else None
        if old is not None and not _replaces(rt, row, old):
            unchanged += row.values_hash is not None
            continue
        rows.append(row)
        superseded += [old.seq] if old is not None else []
    if not rt.db.campaigns.add_upload(campaign.id, rows, superseded):
        raise NotFound("no such campaign", where=f"campaign {campaign.id}")
    answer = checked.answer(campaign, created=True)
    answer.unchanged = unchanged
    return answer


def _replaces(rt: Runtime, new: CampaignRowRecord, old: CampaignRowRecord) -> bool:
    """Whether a row uploaded again takes the place of the campaign's current one: new values, or
    the same ones whose render failed (an erased render is not made again from the same row)."""
    if new.values_hash is None:
        return old.values_hash is None  # an invalid row never hides a good one
    if old.values_hash != new.values_hash:
        return True
    render = rt.db.renders.get(old.render_id) if old.render_id else None
    return render is not None and render.status == "failed"


def _template(rt: Runtime, template_id: str, version: int | None) -> TemplateRecord:
    try:
        return rt.registry.record(template_id, version)
    except NotFound:
        raise NotFound("no such template (or not ready, or not active)", where="template_id") from None


def _source_hash(template_id: str, version: int | None, mapping: Mapping[str, str], content: bytes) -> str:
    head = json.dumps([template_id, version, sorted(mapping.items())], ensure_ascii=False).encode()
    return hashlib.sha256(head + b"\0" + content).hexdigest()


# -- checking rows --------------------------------------------------------------------------------


@dataclass
class _Row:
    number: int
    external_id: str | None
    problems: dict[str, str]  # column -> reason
    values_hash: str | None = None
    resolved: dict[str, Any] = field(default_factory=dict)
    current: bool = True  # False: a repeated external_id (only its first row counts; results list that one)


@dataclass
class _Checked:
    rows: list[_Row]
    ignored_columns: list[str]

    @property
    def invalid(self) -> int:
        return sum(1 for r in self.rows if r.problems)

    def records(self) -> list[CampaignRowRecord]:
        fields = ("external_id", "current", "values_hash", "resolved", "problems")
        return [CampaignRowRecord(row=r.number, **{f: getattr(r, f) for f in fields}) for r in self.rows]

    def answer(self, campaign: CampaignRecord, *, created: bool) -> Uploaded:
        errors = [{"row": r.number, "column": column, "reason": reason}
                  for r in self.rows for column, reason in r.problems.items()]  # fmt: skip
        valid = len(self.rows) - self.invalid
        return Uploaded(campaign, created, rows=len(self.rows), valid=valid, invalid=self.invalid,
                        errors=errors[:MAX_ERRORS], ignored_columns=self.ignored_columns)  # fmt: skip


@dataclass(frozen=True)
class _Layout:
    """How an upload's columns are read."""

    header: list[str]
    columns: dict[str, str]  # column -> input (or external_id)
    id_column: str
    encoding: str
    names: frozenset[str]  # columns that fill a person's name


def _check(loaded: LoadedVersion, sheet: csvfile.Sheet, mapping: Mapping[str, str]) -> _Checked:
    """Every row checked as a webhook call would be; the columns each input is read from."""
    columns = _columns(loaded, sheet.header, mapping)
    id_column = next((c for c, target in columns.items() if target == EXTERNAL_ID), None)
    if id_column is None:
        raise InvalidInput("no external_id column: name one so, or map your contact id column to "
                           "external_id (results are matched back by it)", where="file")  # fmt: skip
    ignored = [name for name in sheet.header if name and name not in columns]
    names = frozenset(c for c, target in columns.items() if target in name_inputs(loaded.template))
    layout = _Layout(sheet.header, columns, id_column, sheet.encoding, names)
    seen: dict[str, int] = {}
    rows = [_check_row(loaded, layout, number, cells, seen) for number, cells in sheet.rows]
    return _Checked(rows, ignored)


def name_inputs(template: Template) -> frozenset[str]:
    """The free-text inputs that hold a person's name: those the template addresses with
    `honorific` (in a slot, or in a computed value a slot addresses), and those called `name`,
    `…_name` or described as 氏名 or 名前."""
    spec = template.spec
    sources = [e.source for e in template.expressions.values()]
    sources += [c.expression.source for c in spec.computed if isinstance(c, ExpressionValue)]
    addressed: set[str] = set().union(*(_addressed(source) for source in sources))
    for value in reversed(spec.computed):  # a computed value addressed: what it is made of
        if value.name in addressed:
            addressed |= value.names
    return frozenset(f.name for f in spec.fields if f.type == "string" and f.allowed is None
                     and (f.name in addressed or NAMED.search(f.name) or NAME_WORDS.search(f.description)))  # fmt: skip


def _addressed(source: str) -> set[str]:
    tree = environment().parse(source)
    filtered = [f.node for f in tree.find_all(nodes.Filter) if f.name == "honorific" and f.node is not None]
    return {n.name for node in filtered for n in [node, *node.find_all(nodes.Name)] if isinstance(n, nodes.Name)}


def _columns(loaded: LoadedVersion, header: list[str], mapping: Mapping[str, str]) -> dict[str, str]:
    """column -> input (or external_id): the upload's mapping, the template's `mappings.csv`,
    else a column named like an input."""
    inputs = set(loaded.template.spec.field_names) | {EXTERNAL_ID}
    for column, target in mapping.items():
        if column not in header:
            raise InvalidInput("no such column in the file", where=f"mapping.{column}")
        if target not in inputs:
            raise InvalidInput(f"{target!r} is not an input of the template", where=f"mapping.{column}")
    declared = {**loaded.template.manifest.mappings.get("csv", {}), **mapping}
    found = {name: declared.get(name, name) for name in header if name}
    columns: dict[str, str] = {}
    filled: dict[str, str] = {}
    for name, target in found.items():
        if target not in inputs:
            continue
        if target in filled:
            raise InvalidInput(f"columns {filled[target]!r} and {name!r} both fill {target!r}", where="mapping")
        columns[name], filled[target] = target, name
    return columns


def _check_row(loaded: LoadedVersion, layout: _Layout, number: int, cells: list[str], seen: dict[str, int]) -> _Row:
    header, columns, id_column = layout.header, layout.columns, layout.id_column
    row = _Row(number, None, {})
    if len(cells) > len(header):
        row.problems[""] = f"{len(cells)} cells, the header names {len(header)} columns"
    named = dict(zip(header, cells, strict=False))
    for column in columns:
        if len(named.get(column, "")) > MAX_CELL:
            row.problems[column] = f"longer than {MAX_CELL} characters"
        elif _lost(named.get(column, ""), layout.encoding, column in layout.names):
            row.problems[column] = GARBLED
    external_id = named.get(id_column, "").strip()
    if not external_id or len(external_id) > 255:
        row.problems[id_column] = "missing" if not external_id else "longer than 255 characters"
    elif external_id in seen:
        row.problems[id_column] = f"repeats row {seen[external_id]}"
        row.current = False
    else:
        seen[external_id] = number
    row.external_id = external_id[:255] or None
    if row.problems:
        return row
    data = {columns[c]: v for c, v in named.items() if c in columns and columns[c] != EXTERNAL_ID and v.strip()}
    try:
        person = personalize(loaded, data)
    except InvalidInput as exc:
        by_input = {target: column for column, target in columns.items()}
        for problem in exc.problems or [Problem(exc.where, exc.message)]:
            name = problem.where.removeprefix("data.")
            row.problems[by_input.get(name, problem.where)] = problem.reason
        return row
    row.values_hash, row.resolved = person.plan.values_hash, renders.frozen(person)
    return row


def _lost(cell: str, encoding: str, name: bool) -> bool:
    """Whether characters were lost on the way to the file: garbled (csvfile.garbled), or, in a
    name, what Excel writes for a character Shift_JIS has not (𠮷 -> ?) or a tool's 〓."""
    return csvfile.garbled(cell, encoding) or (name and any(ch in LOST for ch in cell))


# -- running --------------------------------------------------------------------------------------


def get(rt: Runtime, campaign_id: str) -> CampaignRecord:
    campaign = rt.db.campaigns.get(campaign_id)
    if campaign is None:
        raise NotFound("no such campaign", where=f"campaign {campaign_id}")
    return campaign


def start(rt: Runtime, campaign_id: str) -> CampaignRecord:
    """Mark the campaign started (its rows are launched next, by `launch`). Its template version
    must still be usable: a version deactivated or deleted since the upload is not rendered."""
    campaign = get(rt, campaign_id)
    try:
        rt.registry.record(campaign.template_id, campaign.template_version)
    except NotFound:
        raise Conflict(f"template {campaign.template_id} v{campaign.template_version} is no longer active",
                       where="template_id") from None  # fmt: skip
    return rt.db.campaigns.start(campaign_id) or campaign


Enqueue = Callable[[str, str], None]  # (render id, priority)


def launch(rt: Runtime, campaign_id: str, enqueue: Enqueue, batch: int = 100) -> int:
    """Make the render of every started row not launched yet and hand it to the bulk lane.
    Returns how many renders were made. Safe to run twice at once and after a crash."""
    campaign = rt.db.campaigns.get(campaign_id)
    made = 0
    while campaign is not None and campaign.started_at is not None:
        rows = rt.db.campaigns.unlaunched(campaign_id, batch)
        if not rows:
            if rt.db.campaigns.mark_launched(campaign_id):
                break
            campaign = rt.db.campaigns.get(campaign_id)  # rows came meanwhile, or it was erased
            continue
        for row in rows:
            if not _launch_row(rt, campaign, row, enqueue):
                return made  # erased meanwhile
            made += 1
        rt.db.campaigns.touch(campaign_id)
    if made:
        log.info("campaign %s: %d renders launched", campaign_id, made)
    return made


def _launch_row(rt: Runtime, campaign: CampaignRecord, row: CampaignRowRecord, enqueue: Enqueue) -> bool:
    claim = Claim(CLAIM_SCOPE, f"{campaign.id}:{row.seq}", row.values_hash or "")
    render = RenderRecord(template_id=campaign.template_id, template_version=campaign.template_version,
                          external_id=row.external_id, priority="bulk", campaign_id=campaign.id)  # fmt: skip
    try:  # a render made before a crash (not linked yet) comes back by its claim
        accepted = renders.accept_frozen(rt.db, rt.registry, render, row.resolved, [claim])
    except Conflict:  # ... unless it was erased since: the row says so, keeps nothing of them, makes nothing again
        rt.db.campaigns.erase_row(campaign.id, row.seq)
        return _still(rt, campaign)
    if not rt.db.campaigns.link(campaign.id, row.seq, accepted.record.id):
        # the row went meanwhile (its campaign was erased) or its customer was erased: so is this
        renders.erase(rt.db, rt.registry, accepted.record)
        return _still(rt, campaign)
    if accepted.created:
        try:
            enqueue(accepted.record.id, "bulk")
        except Exception as exc:  # the broker is down: the render sweep enqueues it later
            log.warning("render %s accepted but not enqueued (%s)", accepted.record.id, type(exc).__name__)
    return True


def _still(rt: Runtime, campaign: CampaignRecord) -> bool:
    """Whether a launch goes on: its campaign is still there (only one customer was erased)."""
    return rt.db.campaigns.get(campaign.id) is not None


def stale(rt: Runtime) -> list[str]:
    """Started campaigns whose launching stopped (its process died)."""
    return rt.db.campaigns.stale(utcnow() - timedelta(seconds=rt.settings.requeue_after_seconds))


# -- progress and results -------------------------------------------------------------------------


def progress(rt: Runtime, campaign: CampaignRecord) -> dict[str, Any]:
    """total (good rows), done, failed, invalid, erased, and an estimate of the seconds left."""
    counts = rt.db.campaigns.counts(campaign.id)
    done, failed, erased = counts.get("done", 0), counts.get("failed", 0), counts.get("erased", 0)
    total = sum(counts.values()) - counts.get("invalid", 0)
    left = total - done - failed - erased
    status = "created" if campaign.started_at is None else "running" if left else "done"
    eta = None
    if status == "running" and done and campaign.started_at is not None:
        eta = round((utcnow() - campaign.started_at).total_seconds() / done * left, 1)
    return {"campaign_id": campaign.id, "template_id": campaign.template_id,
            "template_version": campaign.template_version, "status": status, "total": total, "done": done,
            "failed": failed, "erased": erased, "invalid": counts.get("invalid", 0), "eta_seconds": eta,
            "encoding": campaign.encoding, "uploads": campaign.uploads}  # fmt: skip


@dataclass(frozen=True)
class Result:
    row: int  # in its upload, as a spreadsheet numbers it
    external_id: str
    render: RenderRecord | None  # None: invalid, not launched yet, or erased
    status: str  # invalid | waiting | queued | rendering | done | failed | erased
    error: str  # in English
    problems: Mapping[str, str] = field(default_factory=dict)  # a bad row's: column (as written) -> reason

    def said(self, lang: str) -> str:
        """The error in the marketer's language (service/reasons.py)."""
        return reasons.row(self.problems, self.row, lang) if self.problems else self.error


def results(rt: Runtime, campaign: CampaignRecord, statuses: set[str] | None = None) -> Iterator[Result]:
    """Every current row in file order (only those in `statuses`, when given)."""
    after = 0
    while batch := rt.db.campaigns.rows(campaign.id, after=after):
        for row, render in batch:
            status, error = _state(row, render)
            if not statuses or status in statuses:
                yield Result(row.row, row.external_id or "", render, status, error, row.problems or {})
        after = batch[-1][0].seq


def _state(row: CampaignRowRecord, render: RenderRecord | None) -> tuple[str, str]:
    if row.problems:
        return "invalid", reasons.row(row.problems, row.row, "en")
    if render is not None:
        return render.status, render.error or ""
    return ("erased", "") if row.render_id is not None else ("waiting", "")  # "": erased (ERASED_ROW)


def erase(rt: Runtime, campaign: CampaignRecord) -> int:
    """Erasure by campaign: its rows first (a launch running now then finds its row gone and
    erases what it just made), then every render made for it. Returns how many renders."""
    rt.db.campaigns.delete(campaign.id)
    made = rt.db.renders.of_campaign(campaign.id)
    for record in made:
        renders.erase(rt.db, rt.registry, record)
    rt.db.audit.add("erase", f"campaign:{campaign.id}", len(made))
    return len(made)
