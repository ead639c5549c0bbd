"""Metadata on SQLite and, where a server binary exists, a throw-away PostgreSQL."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError
from support.services import PostgresServer, free_port

from vidmerge.config import Settings
from vidmerge.errors import Transient
from vidmerge.records import (
    AuditRecord,
    Base,
    CampaignRecord,
    CampaignRowRecord,
    Claim,
    Database,
    IdempotencyRecord,
    RenderRecord,
    TemplateRecord,
    alembic_config,
    external_id_subject,
    utcnow,
)


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'meta' / 'vidmerge.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.create_database()  # a fresh database per test
    database = Database(url)
    database.migrate()
    yield database
    database.dispose()


def add_template(db: Database, template_id: str = "brochure", version: int = 1) -> None:
    with db.session() as session:
        session.add(
            TemplateRecord(
                id=template_id,
                version=version,
                status="ready",
                manifest={"slots": [{"id": "greeting", "text": "{{ name }}様"}]},
                key_prefix=f"templates/{template_id}/{version}",
                segment_count=15,
                duration=30.0,
            )
        )


def add_render(db: Database, **fields: object) -> RenderRecord:
    render = RenderRecord(
        **{"template_id": "brochure", "template_version": 1, "values_hash": secrets.token_hex(8), **fields}
    )
    with db.session() as session:
        session.add(render)
    return render


# -- schema -------------------------------------------------------------------------------------


def test_migrations_match_the_models(db: Database) -> None:
    db.migrate()  # a second run is a no-op
    with db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
        tables = set(inspect(connection).get_table_names())
    assert {"templates", "renders", "segments", "audit_log", "alembic_version"} <= tables
    db.check()


def _migrate(db: Database, direction: str, revision: str) -> None:
    from alembic import command

    config = alembic_config(db.url)
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, direction)(config, revision)


def test_a_render_from_before_0003_is_kept_and_erasable_after_the_upgrade(db: Database) -> None:
    add_template(db)
    _migrate(db, "downgrade", "0002")
    with db.engine.begin() as connection:  # as 0002 stored it: the raw data and a global idempotency key
        connection.execute(text(
            "INSERT INTO renders (id, template_id, template_version, token, values_hash, status, priority, resolved,"
            " timings, attempts, created_at, updated_at, idempotency_key) VALUES ('legacy', 'brochure', 1, 'tok',"
            " 'h', 'done', 'interactive', :resolved, '{}', 0, :now, :now, 'crm-1')"
        ), {"resolved": '{"data": {"name": "旧 顧客"}}', "now": datetime.now(UTC)})  # fmt: skip
    _migrate(db, "upgrade", "head")
    legacy = db.renders.get("legacy")
    assert legacy is not None and legacy.resolved == {"data": {"name": "旧 顧客"}} and legacy.token == "tok"
    assert db.renders.erase("legacy", also=["dyn/legacy.ts"]) == ["dyn/legacy.ts"]  # its keys, planned again
    assert db.renders.get("legacy") is None


def test_a_downgrade_that_would_merge_customers_renders_is_refused(db: Database) -> None:
    add_template(db)
    for _ in range(2):
        add_render(db, values_hash="same", status="done")
    with pytest.raises(RuntimeError, match="shared by several customers"):
        _migrate(db, "downgrade", "0002")
    assert {"render_segments", "idempotency_keys"} <= set(inspect(db.engine).get_table_names())  # rolled back


def test_concurrent_migrations_are_serialized(db: Database) -> None:
    fresh_url = db.url
    if db.is_sqlite:
        fresh_url = fresh_url.replace("vidmerge.db", "concurrent.db")
    else:
        db.dispose()
        with db.engine.connect() as connection:  # start again from an empty schema
            connection.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
            connection.commit()
    errors: list[BaseException] = []

    def migrate() -> None:
        try:
            Database(fresh_url).migrate()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    db = Database(Settings(data_dir=tmp_path / "fresh").db_url)  # creates the directory
    db.migrate()
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_check_fails_when_the_database_is_unreachable() -> None:
    db = Database(f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none?connect_timeout=2")
    with pytest.raises(Transient):
        db.check()


# -- renders ------------------------------------------------------------------------------------


def test_create_and_find_renders(db: Database) -> None:
    add_template(db)
    render = add_render(db, external_id="crm-42", resolved={"name": "田中"}, timings={"plan": 0.1})
    assert len(render.token) >= 32 and render.token != render.id
    found = db.renders.by_token(render.token)
    assert found is not None and found.id == render.id
    assert found.resolved == {"name": "田中"} and found.timings == {"plan": 0.1}
    assert found.status == "queued" and found.priority == "interactive" and found.attempts == 0
    assert found.created_at.tzinfo is not None and found.created_at.utcoffset() == timedelta(0)
    assert db.renders.by_token("unknown") is None
    with db.session() as session:
        template = session.get(TemplateRecord, ("brochure", 1))
        assert template is not None and template.manifest["slots"][0]["text"] == "{{ name }}様"


def test_equal_values_are_separate_renders_and_erasure_keeps_what_another_uses(db: Database) -> None:
    add_template(db)
    first, second = RenderRecord(template_id="brochure", template_version=1, values_hash="h1"), None
    db.renders.add(first, ["dyn/a.ts", "dyn/shared.ts"], [])
    second = RenderRecord(template_id="brochure", template_version=1, values_hash="h1")
    db.renders.add(second, ["dyn/shared.ts", "dyn/b.ts", "dyn/b.ts"], [])  # one customer, two records
    assert first.token != second.token
    assert db.renders.erase(first.id) == ["dyn/a.ts"]
    assert db.renders.get(first.id) is None and db.renders.get(second.id) is not None
    assert db.renders.erase(second.id, also=["dyn/legacy.ts"]) == ["dyn/b.ts", "dyn/legacy.ts", "dyn/shared.ts"]
    db.renders.reference(second.id, ["dyn/b.ts"])  # erased: a late reference is not recorded
    assert not db.renders.in_use("dyn/b.ts")


def test_concurrent_erasures_of_renders_sharing_a_segment_delete_it_exactly_once(db: Database) -> None:
    """Two customers erased at the same instant: the shared segment is neither kept by both (a
    leak: each saw the other still using it) nor handed out twice."""
    add_template(db)
    for n in range(8):
        a = RenderRecord(template_id="brochure", template_version=1, values_hash="h")
        b = RenderRecord(template_id="brochure", template_version=1, values_hash="h")
        db.renders.add(a, [f"dyn/shared-{n}.ts", f"dyn/a-{n}.ts"], [])
        db.renders.add(b, [f"dyn/shared-{n}.ts", f"dyn/b-{n}.ts"], [])
        start, deleted = threading.Barrier(2), []

        def erase(render_id: str, start: threading.Barrier = start, deleted: list[str] = deleted) -> None:
            start.wait(10)
            deleted.extend(db.renders.erase(render_id))

        threads = [threading.Thread(target=erase, args=(r.id,)) for r in (a, b)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(deleted) == [f"dyn/a-{n}.ts", f"dyn/b-{n}.ts", f"dyn/shared-{n}.ts"], deleted


def test_references_follow_the_plan_and_a_legacy_render_is_frozen(db: Database) -> None:
    add_template(db)
    old = add_render(db, resolved={"data": {"name": "旧"}})
    db.renders.reference(old.id, ["dyn/x.ts", "dyn/y.ts"])
    db.renders.reference(old.id, ["dyn/y.ts", "dyn/z.ts"])  # a new renderer version: new keys too
    assert all(db.renders.in_use(k) for k in ("dyn/x.ts", "dyn/y.ts", "dyn/z.ts"))
    db.renders.freeze(old.id, {"drawn": [], "explanations": {}})
    assert db.renders.get(old.id).resolved == {"drawn": [], "explanations": {}}  # type: ignore[union-attr]


def test_idempotency_claims_are_unique_scoped_and_expire(db: Database) -> None:
    add_template(db)
    first = RenderRecord(template_id="brochure", template_version=1, values_hash="h")
    claim = Claim("key:abc", "retry-1", "body-hash")
    db.renders.add(first, [], [claim, Claim("signature", "sig-1", "body-hash")])
    found = db.idempotency.find(claim)
    assert found is not None and (found.render_id, found.request_hash) == (first.id, "body-hash")
    assert db.idempotency.find(Claim("key:other", "retry-1", "body-hash")) is None  # another caller's key
    with pytest.raises(IntegrityError):  # the same claim twice: a concurrent retry lost the race
        db.renders.add(RenderRecord(template_id="brochure", template_version=1, values_hash="h"), [], [claim])
    with pytest.raises(IntegrityError):
        add_render(db, token=first.token)
    with db.session() as session:
        session.get(IdempotencyRecord, ("key:abc", "retry-1")).created_at = utcnow() - timedelta(hours=25)
    assert db.idempotency.purge_expired() == 1  # the sweep forgets it even if nobody asks again
    assert db.idempotency.find(claim) is None  # expired: gone, the key is free again
    db.renders.add(RenderRecord(template_id="brochure", template_version=1, values_hash="h"), [], [claim])


def test_constraints(db: Database) -> None:
    with pytest.raises(IntegrityError):
        add_render(db)  # no such template version
    add_template(db)
    with pytest.raises(IntegrityError):
        add_render(db, status="bogus")
    with pytest.raises(IntegrityError):
        add_template(db)  # (id, version) is unique


def test_renders_to_requeue(db: Database) -> None:
    add_template(db)
    long_ago = datetime.now(UTC) - timedelta(minutes=10)
    queued = add_render(db, status="queued", updated_at=long_ago, created_at=long_ago)
    rendering = add_render(db, status="rendering", updated_at=long_ago)
    add_render(db, status="done", updated_at=long_ago)
    add_render(db, status="failed", updated_at=long_ago)
    add_render(db, status="queued")  # fresh: its message is probably still in the broker
    stale = db.renders.to_requeue(datetime.now(UTC) - timedelta(minutes=1))
    assert [r.id for r in stale] == [queued.id, rendering.id]


def test_a_queued_render_in_a_moving_lane_is_waiting_its_turn_not_lost(db: Database) -> None:
    """Bulk renders queued behind a campaign's others are not enqueued again while that lane
    moves; once it stops moving, they are (their messages may be lost after all)."""
    add_template(db)
    long_ago = datetime.now(UTC) - timedelta(minutes=10)
    waiting = add_render(db, status="queued", priority="bulk", updated_at=long_ago, created_at=long_ago)
    interactive = add_render(db, status="queued", updated_at=long_ago, created_at=long_ago)
    moving = add_render(db, status="rendering", priority="bulk")  # touched just now
    cutoff = datetime.now(UTC) - timedelta(minutes=1)
    assert [r.id for r in db.renders.to_requeue(cutoff)] == [interactive.id]  # its lane is still
    with db.session() as session:
        record = session.get(RenderRecord, moving.id)
        assert record is not None
        record.status, record.updated_at = "done", long_ago  # the bulk lane has stopped since
    assert [r.id for r in db.renders.to_requeue(cutoff)] == [waiting.id, interactive.id]


def test_updated_at_moves_on_change(db: Database) -> None:
    add_template(db)
    render = add_render(db, updated_at=datetime.now(UTC) - timedelta(hours=1))
    with db.session() as session:
        record = session.get(RenderRecord, render.id)
        assert record is not None
        record.status = "rendering"
    assert db.renders.to_requeue(datetime.now(UTC) - timedelta(minutes=1)) == []


def test_a_status_change_is_one_update_counting_starts(db: Database) -> None:
    add_template(db)
    render = add_render(db, updated_at=datetime.now(UTC) - timedelta(hours=1))
    assert db.renders.set_status(render.id, "rendering") and db.renders.set_status(render.id, "rendering")
    assert db.renders.to_requeue(datetime.now(UTC) - timedelta(minutes=1)) == []  # updated_at moved: not stale
    reason = "FFmpegError at segment 2"
    assert db.renders.set_status(render.id, "failed", error=reason)
    record = db.renders.get(render.id)
    assert record is not None and (record.status, record.error, record.attempts) == ("failed", reason, 2)
    assert db.renders.set_status("no-such-render", "rendering") is False


# -- segments -----------------------------------------------------------------------------------


def test_claim_segment_single_flight(db: Database) -> None:
    assert db.leases.claim("seg-a", "worker-1", lease_seconds=60)
    assert not db.leases.claim("seg-a", "worker-2", lease_seconds=60)
    assert db.leases.renew("seg-a", "worker-1", lease_seconds=60)
    assert not db.leases.renew("seg-a", "worker-2", lease_seconds=60)
    db.leases.finish("seg-a", ok=True)
    assert not db.leases.claim("seg-a", "worker-2", lease_seconds=60)  # done: nothing to do
    segment = db.leases.get("seg-a")
    assert segment is not None and segment.status == "done" and segment.lease_until is None


def test_expired_lease_is_taken_over(db: Database) -> None:
    assert db.leases.claim("seg-b", "worker-1", lease_seconds=-1)  # already expired
    assert db.leases.claim("seg-b", "worker-2", lease_seconds=60)
    assert not db.leases.renew("seg-b", "worker-1", lease_seconds=60)  # worker-1 lost it
    segment = db.leases.get("seg-b")
    assert segment is not None and segment.owner == "worker-2"


def test_failed_segment_is_claimable_again(db: Database) -> None:
    assert db.leases.claim("seg-c", "worker-1", lease_seconds=60)
    db.leases.finish("seg-c", ok=False, error="ffmpeg exited 1")
    segment = db.leases.get("seg-c")
    assert segment is not None and segment.status == "failed" and segment.error
    assert db.leases.claim("seg-c", "worker-2", lease_seconds=60)
    db.leases.finish("seg-new", ok=True)  # finishing without a claim records it
    assert not db.leases.claim("seg-new", "worker-3", lease_seconds=60)


def race_for(db: Database, key: str, owners: int = 8) -> list[str]:
    """Let `owners` threads claim `key` at the same instant; returns the winners."""
    barrier = threading.Barrier(owners)
    wins: list[str] = []

    def claim(owner: str) -> None:
        barrier.wait()
        if db.leases.claim(key, owner, lease_seconds=60):
            wins.append(owner)

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(owners)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return wins


def test_concurrent_claims_have_one_winner(db: Database) -> None:
    assert db.leases.claim("race-expired", "old-owner", lease_seconds=-1)
    for key in ("race-new", "race-expired"):
        wins = race_for(db, key)
        assert len(wins) == 1, (key, wins)
        segment = db.leases.get(key)
        assert segment is not None and segment.owner == wins[0]


# -- audit --------------------------------------------------------------------------------------


def test_audit_never_stores_the_raw_external_id(db: Database) -> None:
    subject = external_id_subject("crm-42@example.com")
    db.audit.add("erase", subject, count=3)
    with db.session() as session:
        (record,) = session.query(AuditRecord).all()
    assert record.subject.startswith("external_id:") and "crm-42" not in record.subject
    assert len(record.subject) == len("external_id:") + 64 and record.count == 3


# -- erasure of a customer ----------------------------------------------------------------------


def add_campaign(db: Database, external_ids: list[str]) -> str:
    campaign = CampaignRecord(template_id="brochure", template_version=1, source_hash=secrets.token_hex(8),
                              encoding="utf-8")  # fmt: skip
    rows = [
        CampaignRowRecord(
            campaign_id=campaign.id,
            seq=n,
            upload=1,
            row=n + 1,
            external_id=e,
            values_hash="h",
            resolved={"drawn": [{"text": f"{e}様"}]},
        )  # fmt: skip
        for n, e in enumerate(external_ids, start=1)
    ]
    db.campaigns.create(campaign, rows)
    return campaign.id


def test_an_erased_customer_leaves_only_an_anonymous_count_in_campaign_rows(db: Database) -> None:
    """Erasure by external id and by render id: the rows keep no identifier, values or link,
    never launch, and count as erased; a replay of an erased render's request is still refused."""
    add_template(db)
    campaign = add_campaign(db, ["mail@example.com", "crm-7702", "crm-keep"])
    made = RenderRecord(template_id="brochure", template_version=1, values_hash="h", external_id="crm-7702")
    claim = Claim("braze", "braze:crm-7702:abc", "body-hash")
    db.renders.add(made, [], [claim])
    assert db.campaigns.link(campaign, 2, made.id)
    db.renders.erase(made.id)  # erasure by render id
    assert db.campaigns.rows(campaign)[1][0].external_id is None
    assert db.campaigns.forget("mail@example.com") == 1  # by external id, not launched yet
    rows = {row.seq: row for row, _ in db.campaigns.rows(campaign)}
    for seq in (1, 2):
        assert (rows[seq].external_id, rows[seq].resolved, rows[seq].values_hash, rows[seq].render_id) == (
            None, {}, "", "")  # fmt: skip
    assert rows[3].external_id == "crm-keep" and rows[3].resolved != {}
    assert db.campaigns.counts(campaign) == {"erased": 2, "waiting": 1}
    assert [r.seq for r in db.campaigns.unlaunched(campaign, 10)] == [3]
    assert not db.campaigns.link(campaign, 1, "a-late-render")  # a launch running meanwhile makes nothing
    with db.session() as session:
        keys = [r.key for r in session.query(IdempotencyRecord).all()]
    assert not any("crm-7702" in k for k in keys) and len(keys) == 1
    found = db.idempotency.find(claim)  # the same request again: found, so refused (its render is gone)
    assert found is not None and found.render_id == made.id
    db.renders.erase(made.id)  # twice: the key stays findable
    assert db.idempotency.find(claim) is not None
