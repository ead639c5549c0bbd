"""Metadata: what exists and in which state. The database, not the broker, is the source of truth.

    TemplateRecord   one prepared version of a template (status, manifest, where its segments are)
    RenderRecord     one personalized video (status, content key, public token, timings, errors)
    SegmentRecord    one dynamic segment render, single-flight across workers via a lease
    CampaignRecord   a CSV campaign: its template version and encoding; CampaignRowRecord its rows
    EventRecord      what happened to a render's page: impressions, plays, milestones, clicks, quality
    EndpointRecord   a receiver of events (Standard Webhooks); DeliveryRecord one event to one receiver
    AuditRecord      erasures and purges (never a raw external id: its SHA-256 instead)
    SignOutRecord    a console session signed out before its cookie expires (kept until then)

`Database(url)` wraps an engine for SQLite (the embedded default: WAL, busy timeout, foreign keys)
or PostgreSQL (`postgresql+psycopg://`). `migrate()` runs the alembic migrations shipped in
`vidmerge/migrations` programmatically; no alembic.ini is needed.

Datetimes are timezone-aware UTC on the way in and out, on both databases.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import re
import secrets
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    and_,
    create_engine,
    delete,
    event,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DisconnectionError, IntegrityError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, aliased, mapped_column, sessionmaker
from sqlalchemy.pool import QueuePool

from vidmerge.errors import Transient

TemplateStatus = Literal["preparing", "ready", "failed"]
RenderStatus = Literal["queued", "rendering", "done", "failed"]
Priority = Literal["interactive", "bulk"]
SegmentStatus = Literal["pending", "rendering", "done", "failed"]
AuditAction = Literal["erase", "purge"]

MAX_INTEGER = 2**31 - 1  # the largest value of an INTEGER column (PostgreSQL); versions are checked against it
IDEMPOTENCY_SECONDS = 24 * 3600  # an Idempotency-Key (or a webhook signature) is remembered this long
log = logging.getLogger(__name__)
# The database cannot be reached (down, restarting, refusing connections): worth retrying later
UNAVAILABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError, DisconnectionError)
MIGRATION_LOCK_ID = 0x7669646D  # "vidm": serializes concurrent `migrate()` calls on PostgreSQL


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    """A random render id (128 bits, hex)."""
    return secrets.token_hex(16)


def new_token() -> str:
    """An unguessable public token (192 bits, URL-safe): links carry this, never ids or PII."""
    return secrets.token_urlsafe(24)


def external_id_subject(external_id: str) -> str:
    """The audit subject for an erasure by external id: its SHA-256, never the raw value."""
    return "external_id:" + hashlib.sha256(external_id.encode("utf-8")).hexdigest()


ERASED_KEY = re.compile(r"erased:[0-9a-f]{64}")


def erased_key(key: str) -> str:
    """What an erased render's idempotency key becomes: a caller's key may carry the customer's
    identifier (Braze's is `braze:<external_id>:...`), yet a replay must still find it (and be
    refused) until it expires."""
    return "erased:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


# An erased customer's campaign row: an anonymous count (status `erased`) and nothing else. No
# identifier, no values, no problems (their reasons may quote a cell), no hash of the values (a
# guessed name could be confirmed by it), no link to the erased render (the audit names it).
# values_hash "" and render_id "" (not NULL) keep it out of the invalid and waiting rows.
ERASED_ROW: dict[str, Any] = {"external_id": None, "values_hash": "", "resolved": {}, "problems": {}, "render_id": ""}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes everywhere (SQLite stores naive ones; PostgreSQL timestamptz)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


def _one_of(column: str, values: tuple[str, ...]) -> CheckConstraint:
    allowed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=column)


class TemplateRecord(Base):
    __tablename__ = "templates"
    __table_args__ = (
        _one_of("status", ("preparing", "ready", "failed")),
        _one_of("state", ("active", "inactive", "deleted")),
    )

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="preparing")
    # active: new renders may use it; inactive: set aside; deleted: gone for new renders and lists
    state: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    error: Mapped[str | None] = mapped_column(Text)
    manifest: Mapped[dict[str, Any]] = mapped_column(default=dict)
    key_prefix: Mapped[str] = mapped_column(String(255), default="")
    segment_count: Mapped[int] = mapped_column(default=0)
    duration: Mapped[float] = mapped_column(default=0.0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RenderRecord(Base):
    __tablename__ = "renders"
    __table_args__ = (
        _one_of("status", ("queued", "rendering", "done", "failed")),
        _one_of("priority", ("interactive", "bulk")),
        ForeignKeyConstraint(["template_id", "template_version"], ["templates.id", "templates.version"]),
        # The content key: renders of one template version with equal values share their content
        # (segments) underneath; each is still its own record, token and link.
        Index("ix_renders_content", "template_id", "template_version", "values_hash"),
        Index(None, "status", "updated_at"),  # db.renders.to_requeue
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    template_id: Mapped[str] = mapped_column(String(128))
    template_version: Mapped[int] = mapped_column()
    token: Mapped[str] = mapped_column(String(64), unique=True, default=new_token)
    external_id: Mapped[str | None] = mapped_column(String(255), index=True)
    campaign_id: Mapped[str | None] = mapped_column(String(32), index=True)  # made by a CSV campaign
    values_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    priority: Mapped[str] = mapped_column(String(16), default="interactive")
    resolved: Mapped[dict[str, Any]] = mapped_column(default=dict)
    timings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    mp4_until: Mapped[datetime | None] = mapped_column(index=True)  # an MP4 assembled on request is kept till then

    def __init__(self, **fields: Any) -> None:
        # id and token exist from construction on, so URLs can be built before the flush.
        fields.setdefault("id", new_id())
        fields.setdefault("token", new_token())
        super().__init__(**fields)


class RenderSegmentRecord(Base):
    """A personalized segment a render uses: erasure deletes a segment no other render uses."""

    __tablename__ = "render_segments"

    render_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True, index=True)


class IdempotencyRecord(Base):
    """A request already accepted: its key (scoped to the caller's credential, or the signature of
    a signed webhook), the hash of its body and the render it created. Kept after that render is
    erased, so a replay does not bring it back; expires after IDEMPOTENCY_SECONDS."""

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(80), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    render_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class SegmentRecord(Base):
    __tablename__ = "segments"
    __table_args__ = (_one_of("status", ("pending", "rendering", "done", "failed")),)

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CampaignRecord(Base):
    """A CSV campaign: rows validated at upload, rendered on the bulk lane once started."""

    __tablename__ = "campaigns"
    __table_args__ = (ForeignKeyConstraint(["template_id", "template_version"], ["templates.id", "templates.version"]),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    template_id: Mapped[str] = mapped_column(String(128))
    template_version: Mapped[int] = mapped_column()
    # the first upload's identity (template, mapping, file bytes): the same upload again is this campaign
    source_hash: Mapped[str] = mapped_column(String(64), unique=True)
    encoding: Mapped[str] = mapped_column(String(16))  # the upload's; results.csv is written in it
    uploads: Mapped[int] = mapped_column(default=1)
    started_at: Mapped[datetime | None] = mapped_column()
    launched: Mapped[bool] = mapped_column(Boolean, default=False)  # every good row has its render
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)  # launching's heartbeat

    def __init__(self, **fields: Any) -> None:
        fields.setdefault("id", new_id())
        super().__init__(**fields)


class CampaignRowRecord(Base):
    """One CSV row. A valid row keeps its values as drawn (frozen at upload, never the raw cells)
    until its render is made, then only the render's id; an invalid one keeps its problems. The
    newest row of an `external_id` is `current`: the one results.csv lists. Once its customer
    (or its render) is erased, it is ERASED_ROW: counted, nothing more."""

    __tablename__ = "campaign_rows"
    __table_args__ = (Index(None, "campaign_id", "external_id"),)

    campaign_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    upload: Mapped[int] = mapped_column()
    row: Mapped[int] = mapped_column()  # as a spreadsheet numbers it: the header is row 1
    external_id: Mapped[str | None] = mapped_column(String(255))
    current: Mapped[bool] = mapped_column(Boolean, default=True)
    values_hash: Mapped[str | None] = mapped_column(String(64))
    resolved: Mapped[dict[str, Any]] = mapped_column(default=dict)
    problems: Mapped[dict[str, Any]] = mapped_column(default=dict)  # column -> reason
    render_id: Mapped[str | None] = mapped_column(String(32), index=True)


class EventRecord(Base):
    """One thing a render's page saw: no cookie, no address, no user agent, no value drawn. A
    `once` key (play, a milestone, ttff) is taken once per page session."""

    __tablename__ = "events"
    __table_args__ = (
        Index(None, "render_id", "session", "once", unique=True),
        Index(None, "template_id", "template_version", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    render_id: Mapped[str] = mapped_column(String(32))
    template_id: Mapped[str] = mapped_column(String(128))
    template_version: Mapped[int] = mapped_column()
    campaign_id: Mapped[str | None] = mapped_column(String(32), index=True)
    session: Mapped[str | None] = mapped_column(String(40))  # a random id per page load; None: the server's own
    type: Mapped[str] = mapped_column(String(16))
    milestone: Mapped[int | None] = mapped_column()
    value: Mapped[float | None] = mapped_column()  # ttff: ms; stall, gave_up: seconds
    # impression: page, bot or image; error: its code; gave_up: start or stall
    detail: Mapped[str | None] = mapped_column(String(64))
    once: Mapped[str | None] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class EndpointRecord(Base):
    """Where events are pushed: a URL and its signing secret (`whsec_...`), the event types it
    takes and, optionally, one template's only. A 410 answer disables it."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (_one_of("status", ("active", "disabled")),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(128))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    template_id: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="active")
    reason: Mapped[str | None] = mapped_column(Text)  # why it was disabled
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeliveryRecord(Base):
    """One event for one receiver (an endpoint, or a tool's API): at least once, under a stable
    id the receiver de-duplicates by, retried with backoff until it is `delivered` or `failed`."""

    __tablename__ = "deliveries"
    __table_args__ = (
        _one_of("status", ("pending", "delivered", "failed")),
        Index(None, "status", "next_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # the webhook-id
    target: Mapped[str] = mapped_column(String(48), index=True)  # an endpoint id, or "hubspot" / "marketo"
    render_id: Mapped[str] = mapped_column(String(32), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_at: Mapped[datetime] = mapped_column(default=utcnow)  # the next attempt, or a sender's lease
    last_status: Mapped[int | None] = mapped_column()  # the receiver's last HTTP status
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column()


class AuditRecord(Base):
    __tablename__ = "audit_log"
    __table_args__ = (_one_of("action", ("erase", "purge")),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    action: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(255))
    count: Mapped[int] = mapped_column(default=0)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class SignOutRecord(Base):
    """A console session ended by its sign-out: its cookie is refused until it would have expired."""

    __tablename__ = "console_sign_outs"

    nonce: Mapped[str] = mapped_column(String(32), primary_key=True)
    until: Mapped[datetime] = mapped_column(index=True)


class Database:
    """One engine and its sessions, and a gateway per noun: `templates`, `renders`, `idempotency`,
    `leases`, `audit`, `campaigns`, `events`, `endpoints`, `deliveries`, `sign_outs`."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        options: dict[str, Any] = {"echo": echo, "pool_pre_ping": not self.is_sqlite}
        if self.is_sqlite:
            options["connect_args"] = {"timeout": 30}
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
                # One connection per process: threads queue for it in order, instead of meeting in
                # SQLite's busy handler, whose growing sleeps made a burst of webhooks wait 100s of ms.
                options.update(poolclass=QueuePool, pool_size=1, max_overflow=0, pool_timeout=60)
        self.engine: Engine = create_engine(url, **options)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.templates = Templates(self)
        self.renders = Renders(self)
        self.leases = Leases(self)
        self.idempotency = Idempotency(self)
        self.audit = Audit(self)
        self.campaigns = Campaigns(self)
        self.events = Events(self)
        self.endpoints = Endpoints(self)
        self.deliveries = Deliveries(self)
        self.sign_outs = SignOuts(self)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed when the block ends, rolled back on error.

        expire_on_commit is off, so records returned from a block stay readable after it.
        """
        with self._sessions() as session, session.begin():
            yield session

    def migrate(self) -> None:
        """Upgrade the schema to the newest migration (safe to call from several processes).

        Concurrent callers are serialized: an advisory lock on PostgreSQL, a file lock next to
        the database file on SQLite. Otherwise two fresh processes both see no schema and the
        second fails creating tables the first just made.
        """
        from alembic import command

        config = alembic_config(self.url)
        with self._migration_file_lock(), self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    @contextmanager
    def _migration_file_lock(self) -> Iterator[None]:
        database = make_url(self.url).database
        if not self.is_sqlite or not database or database == ":memory:":
            yield
            return
        with open(f"{database}.migrate-lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def check(self) -> None:
        """Readiness: raise Transient when the database cannot answer."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise Transient(f"database unavailable: {type(exc).__name__}", where="database") from exc

    def compact(self) -> None:
        """After an erasure: SQLite writes the WAL back into the database file (where secure
        delete has zeroed the freed pages) and truncates it, so no deleted value stays on disk."""
        if self.is_sqlite:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA busy_timeout=2000")  # readers: wait briefly, not 30 s
                busy, _, _ = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
                connection.exec_driver_sql("PRAGMA busy_timeout=30000")
            if busy:
                log.warning("WAL checkpoint after an erasure was blocked by readers; the next one retries")

    def dispose(self) -> None:
        self.engine.dispose()


@dataclass(frozen=True)
class Claim:
    """An idempotency claim of a request: its key within a scope, and the hash of its body."""

    scope: str
    key: str
    request_hash: str


class _Gateway:
    def __init__(self, db: Database) -> None:
        self.db = db


class Templates(_Gateway):
    """Template versions."""

    def get(self, template_id: str, version: int) -> TemplateRecord | None:
        with self.db.session() as session:
            return session.get(TemplateRecord, (template_id, version))

    def newest(self, template_id: str, *, ready: bool = True) -> TemplateRecord | None:
        """The newest version not deleted (the newest ready and active one, unless `ready` is False)."""
        query = select(TemplateRecord).where(TemplateRecord.id == template_id, TemplateRecord.state != "deleted")
        if ready:
            query = query.where(TemplateRecord.status == "ready", TemplateRecord.state == "active")
        with self.db.session() as session:
            return session.scalars(query.order_by(TemplateRecord.version.desc())).first()

    def all(self) -> list[TemplateRecord]:
        """Every version not deleted."""
        query = select(TemplateRecord).where(TemplateRecord.state != "deleted")
        query = query.order_by(TemplateRecord.id, TemplateRecord.version)
        with self.db.session() as session:
            return list(session.scalars(query))

    def stale_preparing(self, older_than: datetime) -> list[TemplateRecord]:
        """Versions `preparing` since before `older_than` (their task was lost with its process),
        each touched so that the next sweep leaves them to the task it sends now."""
        query = select(TemplateRecord).where(
            TemplateRecord.status == "preparing", TemplateRecord.created_at < older_than
        )
        with self.db.session() as session:
            found = list(session.scalars(query))
            for record in found:
                record.created_at = utcnow()
        return found

    def progress(self, template_id: str, version: int, done: int, total: int) -> None:
        """How far preparing has got, shown with the version (`manifest.progress`)."""
        with self.db.session() as session:
            record = session.get(TemplateRecord, (template_id, version))
            if record is not None and record.status == "preparing":
                record.manifest = {**record.manifest, "progress": {"segments": done, "of": total}}

    def save(self, template_id: str, version: int, **fields: Any) -> TemplateRecord:
        """Create or update a version's record with `fields` (status, manifest, ...)."""
        with self.db.session() as session:
            record = session.get(TemplateRecord, (template_id, version))
            if record is None:
                record = TemplateRecord(id=template_id, version=version)
                session.add(record)
            for name, value in fields.items():
                setattr(record, name, value)
        return record


class Renders(_Gateway):
    """Render records: one per accepted customer request."""

    def get(self, render_id: str) -> RenderRecord | None:
        with self.db.session() as session:
            return session.get(RenderRecord, render_id)

    def add(self, record: RenderRecord, segment_keys: list[str], claims: list[Claim]) -> None:
        """In one transaction: the render, the personalized segments it uses, and the idempotency
        claims of the request. IntegrityError when a claim is taken (a concurrent retry won)."""
        with self.db.session() as session:
            _lock_keys(session, segment_keys)
            session.add(record)
            session.add_all(RenderSegmentRecord(render_id=record.id, key=key) for key in set(segment_keys))
            session.add_all(
                IdempotencyRecord(scope=c.scope, key=c.key, request_hash=c.request_hash, render_id=record.id)
                for c in claims
            )

    def by_token(self, token: str) -> RenderRecord | None:
        with self.db.session() as session:
            return session.scalars(select(RenderRecord).where(RenderRecord.token == token)).first()

    def of_external_id(self, external_id: str) -> list[RenderRecord]:
        with self.db.session() as session:
            return list(session.scalars(select(RenderRecord).where(RenderRecord.external_id == external_id)))

    def of_campaign(self, campaign_id: str) -> list[RenderRecord]:
        with self.db.session() as session:
            return list(session.scalars(select(RenderRecord).where(RenderRecord.campaign_id == campaign_id)))

    def created_before(self, cutoff: datetime) -> list[RenderRecord]:
        with self.db.session() as session:
            return list(session.scalars(select(RenderRecord).where(RenderRecord.created_at < cutoff)))

    def in_use(self, segment_key: str) -> bool:
        """Whether any render (not erased) uses this personalized segment."""
        query = select(RenderSegmentRecord.render_id).where(RenderSegmentRecord.key == segment_key).limit(1)
        with self.db.session() as session:
            return session.scalars(query).first() is not None

    def to_requeue(self, older_than: datetime) -> list[RenderRecord]:
        """Accepted renders whose message may be lost, oldest first: renders `rendering` not
        touched since `older_than` (their worker died), and renders `queued` since then in a lane
        (priority) where no render has moved since then either.

        After a broker restart their messages may be gone; the caller enqueues them again (tasks
        are idempotent). A queued render in a lane that is moving is waiting its turn behind the
        others (a campaign's rows wait long): enqueuing it again would only add a copy. Should its
        message be lost all the same, it is sent again once its lane stops moving.
        """
        moved = aliased(RenderRecord)
        lane_moving = (
            select(moved.id)
            .where(moved.priority == RenderRecord.priority, moved.status != "queued", moved.updated_at >= older_than)
            .exists()
        )
        stale = RenderRecord.updated_at < older_than
        query = (
            select(RenderRecord)
            .where(stale, (RenderRecord.status == "rendering") | ((RenderRecord.status == "queued") & ~lane_moving))
            .order_by(RenderRecord.created_at)
        )
        with self.db.session() as session:
            return list(session.scalars(query))

    def set_status(self, render_id: str, status: str, *, error: str | None = None) -> bool:
        """A new status (and error); a start counts an attempt. False when the render is gone.
        One UPDATE (no load of the record first: it runs on every render's start)."""
        values: dict[str, Any] = {"status": status, "error": error, "updated_at": utcnow()}
        if status == "rendering":
            values["attempts"] = RenderRecord.attempts + 1
        with self.db.engine.begin() as connection:
            changed = connection.execute(update(RenderRecord).where(RenderRecord.id == render_id).values(values))
            return changed.rowcount > 0

    def mark_done(self, render_id: str, timings: dict[str, Any]) -> bool:
        """Done, with its timings; False when the render was erased meanwhile."""
        with self.db.session() as session:
            record = session.get(RenderRecord, render_id)
            if record is None:
                return False
            record.status = "done"
            record.finished_at = utcnow()
            record.timings = timings
            return True

    def keep_mp4(self, render_id: str, until: datetime | None) -> None:
        """Until when the render's MP4, assembled on request, is kept (None: it is gone)."""
        with self.db.engine.begin() as connection:
            connection.execute(update(RenderRecord).where(RenderRecord.id == render_id).values(mp4_until=until))

    def mp4_expired(self, now: datetime, limit: int = 500) -> list[tuple[str, str]]:
        """(id, token) of renders whose assembled MP4 was kept past its time."""
        query = select(RenderRecord.id, RenderRecord.token).where(RenderRecord.mp4_until < now).limit(limit)
        with self.db.session() as session:
            return [(r.id, r.token) for r in session.execute(query)]

    def touch(self, render_id: str) -> None:
        """A heartbeat, so the requeue sweep does not take a live render for a lost one."""
        with self.db.session() as session:
            record = session.get(RenderRecord, render_id)
            if record is not None:
                record.updated_at = utcnow()

    def erase(self, render_id: str, *, also: Sequence[str] = ()) -> list[str]:
        """In one transaction: the render's record, its segment references, its page events and
        their deliveries (delivered ones too: their payloads name the render); the campaign row
        it was made for becomes an anonymous ERASED_ROW and its idempotency keys `erased_key`s.
        Returns the personalized segment keys (its own, and `also`) that no other render
        references any more (their lease records go too); the caller deletes the objects."""
        with self.db.session() as session:
            mine = RenderSegmentRecord.render_id == render_id
            keys = {*session.scalars(select(RenderSegmentRecord.key).where(mine)), *also}
            _lock_keys(session, keys)
            session.execute(delete(RenderSegmentRecord).where(mine))
            used = session.scalars(select(RenderSegmentRecord.key).where(RenderSegmentRecord.key.in_(keys)))
            orphans = sorted(keys - set(used))
            session.execute(delete(SegmentRecord).where(SegmentRecord.key.in_(orphans)))
            session.execute(delete(EventRecord).where(EventRecord.render_id == render_id))
            session.execute(delete(DeliveryRecord).where(DeliveryRecord.render_id == render_id))
            made_for = CampaignRowRecord.render_id == render_id
            session.execute(update(CampaignRowRecord).where(made_for).values(ERASED_ROW))
            _hash_claims(session, render_id)
            session.execute(delete(RenderRecord).where(RenderRecord.id == render_id))
        self.db.compact()
        return orphans

    def freeze(self, render_id: str, resolved: dict[str, Any]) -> None:
        """Replace what a render kept (its raw data, before values were frozen) by its values."""
        with self.db.session() as session:
            record = session.get(RenderRecord, render_id)
            if record is not None:
                record.resolved = resolved

    def reference(self, render_id: str, segment_keys: list[str]) -> None:
        """Make sure the render (if it still exists) references these segments."""
        try:
            with self.db.session() as session:
                _lock_keys(session, segment_keys)
                if session.get(RenderRecord, render_id, with_for_update=True) is None:
                    return  # erased meanwhile: a reference now would keep its segments for ever
                mine = RenderSegmentRecord.render_id == render_id
                have = set(session.scalars(select(RenderSegmentRecord.key).where(mine)))
                session.add_all(RenderSegmentRecord(render_id=render_id, key=k) for k in set(segment_keys) - have)
        except IntegrityError:
            pass  # another process added the same references at the same moment


class Idempotency(_Gateway):
    """Requests already accepted, by key: a retry gets the same render, another body a conflict."""

    def find(self, claim: Claim) -> IdempotencyRecord | None:
        """The live record of this claim; an expired one is removed (the key is free again)."""
        cutoff = utcnow() - timedelta(seconds=IDEMPOTENCY_SECONDS)
        with self.db.session() as session:
            found = session.get(IdempotencyRecord, (claim.scope, claim.key)) or session.get(
                IdempotencyRecord, (claim.scope, erased_key(claim.key))
            )  # its render erased: kept hashed, so a replay is still refused
            if found is not None and found.created_at < cutoff:
                session.delete(found)
                return None
            return found

    def purge_expired(self) -> int:
        """Forget claims older than IDEMPOTENCY_SECONDS (the sweep calls this)."""
        cutoff = utcnow() - timedelta(seconds=IDEMPOTENCY_SECONDS)
        with self.db.engine.begin() as connection:
            return connection.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff)).rowcount


class Leases(_Gateway):
    """Single flight across processes: one holder renders a segment (or runs a render) at a time."""

    def claim(self, key: str, owner: str, lease_seconds: float) -> bool:
        """Try to become the one renderer of segment `key`; True if this caller won.

        Wins when no record exists (insert), or when the record is pending/failed or its lease
        has expired (a conditional UPDATE: exactly one concurrent caller sees rowcount 1). Loses
        while another owner holds a live lease, and once the segment is done.
        """
        now = utcnow()
        until = now + timedelta(seconds=lease_seconds)
        takeover = (
            update(SegmentRecord)
            .where(
                SegmentRecord.key == key,
                or_(
                    SegmentRecord.status.in_(("pending", "failed")),
                    and_(SegmentRecord.status == "rendering", SegmentRecord.lease_until < now),
                ),
            )
            .values(status="rendering", owner=owner, lease_until=until, error=None, updated_at=now)
        )
        with self.db.engine.begin() as connection:
            if connection.execute(takeover).rowcount == 1:
                return True
        try:
            with self.db.session() as session:
                session.add(SegmentRecord(key=key, status="rendering", owner=owner, lease_until=until, updated_at=now))
        except IntegrityError:
            return False  # someone else holds it (or it is done)
        return True

    def renew(self, key: str, owner: str, lease_seconds: float) -> bool:
        """Extend a held lease; False if `owner` lost it (expired and taken over)."""
        renew = (
            update(SegmentRecord)
            .where(
                SegmentRecord.key == key,
                SegmentRecord.owner == owner,
                SegmentRecord.status == "rendering",
            )
            .values(lease_until=utcnow() + timedelta(seconds=lease_seconds), updated_at=utcnow())
        )
        with self.db.engine.begin() as connection:
            return connection.execute(renew).rowcount == 1

    def finish(self, key: str, ok: bool, error: str | None = None) -> None:
        """Mark the segment done (or failed, so the next claim retries it) and drop the lease."""
        values = {
            "status": "done" if ok else "failed",
            "error": None if ok else (error or "failed"),
            "lease_until": None,
            "updated_at": utcnow(),
        }
        with self.db.engine.begin() as connection:
            changed = connection.execute(
                update(SegmentRecord).where(SegmentRecord.key == key).values(**values)
            ).rowcount
        if changed == 0:
            try:
                with self.db.session() as session:
                    session.add(SegmentRecord(key=key, **values))
            except IntegrityError:
                self.finish(key, ok, error)  # inserted meanwhile: update it

    def get(self, key: str) -> SegmentRecord | None:
        with self.db.session() as session:
            return session.get(SegmentRecord, key)

    def reopen(self, key: str) -> bool:
        """A done segment whose object is gone (its last render was erased, then it was asked for
        again) may be claimed anew. True if it was done."""
        reopen = update(SegmentRecord).where(SegmentRecord.key == key, SegmentRecord.status == "done")
        with self.db.engine.begin() as connection:
            return connection.execute(reopen.values(status="failed", updated_at=utcnow())).rowcount == 1

    def forget(self, key: str) -> None:
        with self.db.engine.begin() as connection:
            connection.execute(delete(SegmentRecord).where(SegmentRecord.key == key))


RowStatus = tuple[CampaignRowRecord, RenderRecord | None]


class Campaigns(_Gateway):
    """CSV campaigns and their rows."""

    def get(self, campaign_id: str) -> CampaignRecord | None:
        with self.db.session() as session:
            return session.get(CampaignRecord, campaign_id)

    def recent(self, limit: int = 100) -> list[CampaignRecord]:
        with self.db.session() as session:
            return list(session.scalars(select(CampaignRecord).order_by(CampaignRecord.created_at.desc()).limit(limit)))

    def by_source(self, source_hash: str) -> CampaignRecord | None:
        with self.db.session() as session:
            return session.scalars(select(CampaignRecord).where(CampaignRecord.source_hash == source_hash)).first()

    def create(self, campaign: CampaignRecord, rows: Sequence[CampaignRowRecord]) -> None:
        """The campaign and its first upload's rows, in one transaction (IntegrityError when the
        same upload was stored meanwhile)."""
        with self.db.session() as session:
            session.add(campaign)
            session.flush()
            session.add_all(rows)

    def current(self, campaign_id: str, external_ids: Iterable[str]) -> dict[str, CampaignRowRecord]:
        """The current row of each of these external ids, where the campaign has one."""
        wanted, found = list(external_ids), {}
        mine = and_(CampaignRowRecord.campaign_id == campaign_id, CampaignRowRecord.current.is_(True))
        with self.db.session() as session:
            for start in range(0, len(wanted), 500):
                query = select(CampaignRowRecord).where(
                    mine, CampaignRowRecord.external_id.in_(wanted[start : start + 500])
                )
                found.update({r.external_id: r for r in session.scalars(query) if r.external_id})
        return found

    def add_upload(self, campaign_id: str, rows: Sequence[CampaignRowRecord], superseded: Sequence[int]) -> int:
        """Another upload into a campaign: its rows numbered after the others, the rows they
        replace no longer current. Returns the upload's number."""
        with self.db.session() as session:
            campaign = session.get(CampaignRecord, campaign_id, with_for_update=True)
            if campaign is None:
                return 0
            campaign.uploads += 1
            campaign.launched = False
            top = session.scalar(select(func.max(CampaignRowRecord.seq)).where(
                CampaignRowRecord.campaign_id == campaign_id)) or 0  # fmt: skip
            key = and_(CampaignRowRecord.campaign_id == campaign_id, CampaignRowRecord.seq.in_(superseded))
            session.execute(update(CampaignRowRecord).where(key).values(current=False))
            for n, row in enumerate(rows, start=top + 1):
                row.campaign_id, row.seq, row.upload = campaign_id, n, campaign.uploads
            session.add_all(rows)
            return campaign.uploads

    def start(self, campaign_id: str) -> CampaignRecord | None:
        with self.db.session() as session:
            campaign = session.get(CampaignRecord, campaign_id)
            if campaign is not None:
                campaign.started_at = campaign.started_at or utcnow()
                campaign.updated_at = utcnow()
            return campaign

    def touch(self, campaign_id: str) -> None:
        with self.db.engine.begin() as connection:
            connection.execute(
                update(CampaignRecord).where(CampaignRecord.id == campaign_id).values(updated_at=utcnow())
            )

    def unlaunched(self, campaign_id: str, limit: int) -> list[CampaignRowRecord]:
        """Valid current rows whose render is not made yet, in file order."""
        query = select(CampaignRowRecord).where(_unlaunched(campaign_id))
        with self.db.session() as session:
            return list(session.scalars(query.order_by(CampaignRowRecord.seq).limit(limit)))

    def mark_launched(self, campaign_id: str) -> bool:
        """Every good row has its render (the sweep looks no more), unless rows came meanwhile."""
        rest = select(CampaignRowRecord.seq).where(_unlaunched(campaign_id)).exists()
        done = update(CampaignRecord).where(CampaignRecord.id == campaign_id, ~rest).values(launched=True)
        with self.db.engine.begin() as connection:
            return connection.execute(done).rowcount == 1

    def link(self, campaign_id: str, seq: int, render_id: str) -> bool:
        """The row's render is made: keep its id, drop the row's copy of the values. False when
        the row is gone (the campaign was erased meanwhile) or erased (its customer was)."""
        key = and_(CampaignRowRecord.campaign_id == campaign_id, CampaignRowRecord.seq == seq,
                   or_(CampaignRowRecord.render_id.is_(None), CampaignRowRecord.render_id == render_id))  # fmt: skip
        with self.db.engine.begin() as connection:
            changed = connection.execute(update(CampaignRowRecord).where(key).values(render_id=render_id, resolved={}))
            return changed.rowcount == 1

    def stale(self, older_than: datetime) -> list[str]:
        """Started campaigns not all launched and without a heartbeat since `older_than` (their
        launching stopped with its process); each touched, so the next sweep leaves them be."""
        query = select(CampaignRecord).where(
            CampaignRecord.started_at.is_not(None), CampaignRecord.launched.is_(False),
            CampaignRecord.updated_at < older_than,
        )  # fmt: skip
        with self.db.session() as session:
            found = list(session.scalars(query))
            for campaign in found:
                campaign.updated_at = utcnow()
            return [c.id for c in found]

    def rows(self, campaign_id: str, *, after: int = 0, limit: int = 1000) -> list[RowStatus]:
        """Current rows from `seq` > `after` in file order, each with its render (None when not
        made yet, or erased)."""
        query = (
            select(CampaignRowRecord, RenderRecord)
            .outerjoin(RenderRecord, RenderRecord.id == CampaignRowRecord.render_id)
            .where(CampaignRowRecord.campaign_id == campaign_id, CampaignRowRecord.current.is_(True),
                   CampaignRowRecord.seq > after)
            .order_by(CampaignRowRecord.seq)
            .limit(limit)
        )  # fmt: skip
        with self.db.session() as session:
            return [(row, render) for row, render in session.execute(query)]

    def counts(self, campaign_id: str) -> dict[str, int]:
        """Current rows by state: invalid, waiting (not launched), erased, or the render's status."""
        state = (
            select(CampaignRowRecord.values_hash.is_(None), CampaignRowRecord.render_id.is_(None),
                   RenderRecord.status, func.count())
            .outerjoin(RenderRecord, RenderRecord.id == CampaignRowRecord.render_id)
            .where(CampaignRowRecord.campaign_id == campaign_id, CampaignRowRecord.current.is_(True))
            .group_by(CampaignRowRecord.values_hash.is_(None), CampaignRowRecord.render_id.is_(None),
                      RenderRecord.status)
        )  # fmt: skip
        counts: dict[str, int] = {}
        with self.db.session() as session:
            for invalid, waiting, status, n in session.execute(state):
                name = "invalid" if invalid else "waiting" if waiting else status or "erased"
                counts[name] = counts.get(name, 0) + n
        return counts

    def erase_row(self, campaign_id: str, seq: int) -> None:
        """A row whose render was erased before the row was linked to it: an ERASED_ROW."""
        key = and_(CampaignRowRecord.campaign_id == campaign_id, CampaignRowRecord.seq == seq)
        with self.db.engine.begin() as connection:
            connection.execute(update(CampaignRowRecord).where(key).values(ERASED_ROW))
        self.db.compact()

    def forget(self, external_id: str) -> int:
        """Erasure of a customer: every row of theirs, in every campaign, launched or not, valid or
        not, current or replaced, becomes an anonymous ERASED_ROW (counted, never launched).
        Returns how many."""
        with self.db.engine.begin() as connection:
            mine = CampaignRowRecord.external_id == external_id
            count = connection.execute(update(CampaignRowRecord).where(mine).values(ERASED_ROW)).rowcount
        self.db.compact()
        return count

    def delete(self, campaign_id: str) -> None:
        """The campaign and its rows (its renders are erased first, by the caller)."""
        with self.db.session() as session:
            session.execute(delete(CampaignRowRecord).where(CampaignRowRecord.campaign_id == campaign_id))
            session.execute(delete(CampaignRecord).where(CampaignRecord.id == campaign_id))
        self.db.compact()


def _unlaunched(campaign_id: str) -> Any:
    """A campaign's good current rows whose render is not made yet."""
    return and_(
        CampaignRowRecord.campaign_id == campaign_id, CampaignRowRecord.current.is_(True),
        CampaignRowRecord.values_hash.is_not(None), CampaignRowRecord.render_id.is_(None),
    )  # fmt: skip


class Events(_Gateway):
    """A render's page events, and their figures."""

    def add(self, events: Sequence[EventRecord]) -> list[EventRecord]:
        """Store events, skipping each whose `once` key its session has already (also under a
        concurrent beacon of the same session: the unique index decides). Returns those stored."""
        try:
            with self.db.session() as session:
                session.add_all(events)
            return list(events)
        except IntegrityError:
            pass
        added = []
        for one in events:  # one by one, as the batch repeated something
            copy = EventRecord(**{c: getattr(one, c) for c in _EVENT_FIELDS})
            try:
                with self.db.session() as session:
                    session.add(copy)
                added.append(copy)
            except IntegrityError:
                continue
        return added

    def count(self, render_id: str) -> int:
        with self.db.session() as session:
            return session.scalar(select(func.count()).where(EventRecord.render_id == render_id)) or 0

    def furthest(self, render_id: str) -> int:
        """The furthest milestone any viewer of the render reached (0: none)."""
        query = select(func.max(EventRecord.milestone)).where(EventRecord.render_id == render_id)
        with self.db.session() as session:
            return session.scalar(query) or 0

    def purge_before(self, cutoff: datetime) -> int:
        with self.db.engine.begin() as connection:
            return connection.execute(delete(EventRecord).where(EventRecord.at < cutoff)).rowcount

    def counts(self, where: Sequence[Any], group: Any | None) -> list[tuple[Any, str, int | None, int, int, float]]:
        """(group, type, milestone, events, distinct sessions, sum of values) under `where`."""
        keys = [group] if group is not None else []
        query = (
            select(*keys, EventRecord.type, EventRecord.milestone, func.count(),
                   func.count(EventRecord.session.distinct()), func.coalesce(func.sum(EventRecord.value), 0.0))
            .where(*where)
            .group_by(*keys, EventRecord.type, EventRecord.milestone)
        )  # fmt: skip
        with self.db.session() as session:
            return [
                (*_key(row, keys), row[-5], row[-4], row[-3], row[-2], float(row[-1])) for row in session.execute(query)
            ]

    def values(self, where: Sequence[Any], group: Any | None, kind: str) -> list[tuple[Any, float]]:
        """(group, value) of every event of type `kind` under `where`."""
        keys = [group] if group is not None else []
        query = select(*keys, EventRecord.value).where(*where, EventRecord.type == kind, EventRecord.value.is_not(None))
        with self.db.session() as session:
            return [(*_key(row, keys), float(row[-1])) for row in session.execute(query)]

    def sessions(self, where: Sequence[Any], group: Any | None) -> list[tuple[Any, int]]:
        """Distinct page sessions per group (any event of theirs under `where`)."""
        keys = [group] if group is not None else []
        query = select(*keys, func.count(EventRecord.session.distinct())).where(*where)
        with self.db.session() as session:
            return [(*_key(row, keys), row[-1]) for row in session.execute(query.group_by(*keys))]


def _key(row: Any, keys: list[Any]) -> tuple[Any]:
    return (row[0] if keys else None,)


_EVENT_FIELDS = [c.key for c in EventRecord.__table__.columns if c.key != "id"]


class Endpoints(_Gateway):
    """Webhook endpoints."""

    def add(self, endpoint: EndpointRecord) -> None:
        with self.db.session() as session:
            session.add(endpoint)

    def get(self, endpoint_id: str) -> EndpointRecord | None:
        with self.db.session() as session:
            return session.get(EndpointRecord, endpoint_id)

    def all(self) -> list[EndpointRecord]:
        with self.db.session() as session:
            return list(session.scalars(select(EndpointRecord).order_by(EndpointRecord.created_at)))

    def active(self) -> list[EndpointRecord]:
        with self.db.session() as session:
            return list(session.scalars(select(EndpointRecord).where(EndpointRecord.status == "active")))

    def disable(self, endpoint_id: str, reason: str) -> None:
        """No more deliveries to it; its pending ones fail with the reason."""
        with self.db.session() as session:
            endpoint = session.get(EndpointRecord, endpoint_id)
            if endpoint is not None:
                endpoint.status, endpoint.reason = "disabled", reason
            mine = and_(DeliveryRecord.target == endpoint_id, DeliveryRecord.status == "pending")
            session.execute(update(DeliveryRecord).where(mine).values(status="failed", last_error=reason[:200]))

    def delete(self, endpoint_id: str) -> bool:
        """The endpoint and every delivery to it."""
        with self.db.engine.begin() as connection:
            connection.execute(delete(DeliveryRecord).where(DeliveryRecord.target == endpoint_id))
            return connection.execute(delete(EndpointRecord).where(EndpointRecord.id == endpoint_id)).rowcount == 1


class Deliveries(_Gateway):
    """Events on their way to receivers."""

    def add(self, deliveries: Sequence[DeliveryRecord]) -> None:
        with self.db.session() as session:
            session.add_all(deliveries)

    def get(self, delivery_id: str) -> DeliveryRecord | None:
        with self.db.session() as session:
            return session.get(DeliveryRecord, delivery_id)

    def claim(self, delivery_id: str, lease_seconds: float) -> DeliveryRecord | None:
        """The delivery, if it is pending and due, its next attempt pushed `lease_seconds` away
        (exactly one concurrent sender wins); None otherwise."""
        now = utcnow()
        due = and_(DeliveryRecord.id == delivery_id, DeliveryRecord.status == "pending", DeliveryRecord.next_at <= now)
        lease = update(DeliveryRecord).where(due).values(next_at=now + timedelta(seconds=lease_seconds))
        with self.db.engine.begin() as connection:
            if connection.execute(lease).rowcount != 1:
                return None
        return self.get(delivery_id)

    def due(self, limit: int = 500) -> list[str]:
        """Pending deliveries whose next attempt is due (their message may be lost), oldest first."""
        query = select(DeliveryRecord.id).where(DeliveryRecord.status == "pending", DeliveryRecord.next_at <= utcnow())
        with self.db.session() as session:
            return list(session.scalars(query.order_by(DeliveryRecord.next_at).limit(limit)))

    def result(self, delivery_id: str, **fields: Any) -> None:
        """An attempt's outcome: status, attempts, next_at, last_status, last_error, delivered_at."""
        with self.db.engine.begin() as connection:
            connection.execute(update(DeliveryRecord).where(DeliveryRecord.id == delivery_id).values(**fields))

    def of_target(self, target: str, limit: int = 100) -> list[DeliveryRecord]:
        query = select(DeliveryRecord).where(DeliveryRecord.target == target)
        with self.db.session() as session:
            return list(session.scalars(query.order_by(DeliveryRecord.created_at.desc()).limit(limit)))

    def counts(self, target: str) -> dict[str, int]:
        query = select(DeliveryRecord.status, func.count()).where(DeliveryRecord.target == target)
        with self.db.session() as session:
            return {status: n for status, n in session.execute(query.group_by(DeliveryRecord.status))}


class Audit(_Gateway):
    """Erasures and purges, without personal data."""

    def add(self, action: AuditAction, subject: str, count: int) -> None:
        """Record an erasure or purge; for an external id pass `external_id_subject(value)`."""
        with self.db.session() as session:
            session.add(AuditRecord(action=action, subject=subject, count=count))


class SignOuts(_Gateway):
    """Console sessions signed out (every API process refuses their cookie)."""

    def add(self, nonce: str, until: datetime) -> None:
        """Revoke the session `nonce` until its cookie expires; the expired ones go now."""
        with self.db.session() as session:
            session.execute(delete(SignOutRecord).where(SignOutRecord.until < utcnow()))
            if session.get(SignOutRecord, nonce) is None:
                session.add(SignOutRecord(nonce=nonce, until=until))

    def revoked(self, nonce: str) -> bool:
        with self.db.session() as session:
            return session.get(SignOutRecord, nonce) is not None


def _hash_claims(session: Session, render_id: str) -> None:
    """An erased render's idempotency keys, kept only as `erased_key`s."""
    query = select(IdempotencyRecord).where(IdempotencyRecord.render_id == render_id)
    for claim in list(session.scalars(query)):
        if not ERASED_KEY.fullmatch(claim.key):  # not twice: a render may be erased twice
            claim.key = erased_key(claim.key)


def _lock_keys(session: Session, keys: Iterable[str]) -> None:
    """PostgreSQL: transactions that add or drop references to the same segments take turns, so
    two erasures sharing a segment cannot each see the other's reference and both keep it (on
    SQLite, writers take turns anyway)."""
    if session.get_bind().dialect.name == "postgresql":
        for key in sorted(set(keys)):
            session.execute(text("SELECT pg_advisory_xact_lock(7, hashtext(:key))"), {"key": key})


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
    cursor.execute("PRAGMA busy_timeout=30000")  # wait for a lock instead of failing at once
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable enough with WAL, much faster
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA secure_delete=ON")  # deleted rows are zeroed, not left in free pages
    cursor.close()


def alembic_config(url: str) -> Any:
    """An alembic Config for the migrations inside the package (no alembic.ini on disk)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config
