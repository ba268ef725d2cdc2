"""ORM tables. Private to the store: callers get :mod:`livesight.store.records` values instead.

Every schema change here needs a migration in ``migrations/versions`` (a test compares the two).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Named constraints let Alembic's SQLite batch mode find (and later alter) them by name.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(64)  # ours are ~28 chars; ids the pipeline brings (uuid-based) must fit too
SHORT = String(32)
OWNER = String(128)
ONE_OWNER = "(session_id IS NULL) <> (job_id IS NULL)"


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out on every backend.

    SQLite has no zoned timestamp type, so the UTC wall time is stored and ``tzinfo`` is restored on
    read; PostgreSQL's ``timestamptz`` answers in the session's zone, so values are converted back to UTC.
    Naive datetimes are refused: their meaning depends on the machine that made them.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware value")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class StreamRow(Base):
    __tablename__ = "streams"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    source_url: Mapped[str] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(OWNER, index=True)
    created_at: Mapped[datetime]


class SessionRow(Base):
    __tablename__ = "sessions"
    __table_args__ = (
        CheckConstraint("status IN ('INITIALIZING', 'ACTIVE', 'ENDING', 'FINISHED', 'FAILED')", name="status"),
        Index(None, "owner", "created_at"),
        # The claim query: live sessions whose lease has run out.
        Index(None, "status", "lease_until"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    stream_id: Mapped[str] = mapped_column(ID, ForeignKey("streams.id"), index=True)
    name: Mapped[str] = mapped_column(Text)
    source_url: Mapped[str] = mapped_column(Text)
    rapid_review_query: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(SHORT, index=True)
    error: Mapped[str | None] = mapped_column(Text)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    # The seq of the newest event; add_events bumps it with UPDATE … RETURNING so that the row lock
    # serialises concurrent writers and the bump commits or rolls back together with the events.
    last_event_seq: Mapped[int] = mapped_column(Integer, default=0)
    config: Mapped[dict[str, Any]]
    owner: Mapped[str | None] = mapped_column(OWNER)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    # Counters of the session's run (``RunStats.as_dict()``): model calls, tokens, frames skipped…
    stats: Mapped[dict[str, Any] | None]
    # The process running it, and until when its claim holds unless renewed; an expired lease is claimed
    # by another process. An end request is the status ENDING, which the owner acts on.
    worker_id: Mapped[str | None] = mapped_column(OWNER)
    lease_until: Mapped[datetime | None]


class JobRow(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'running', 'completed', 'stopped', 'failed')", name="status"),
        CheckConstraint("job_type IN ('live-monitor', 'live-digest', 'watch')", name="job_type"),
        CheckConstraint("delivery_mode IN ('webhook', 'sse', 'polling')", name="delivery_mode"),
        Index(None, "owner", "created_at"),
        # The claim query: live jobs whose lease has run out.
        Index(None, "status", "lease_until"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    job_type: Mapped[str] = mapped_column(SHORT)
    stream_url: Mapped[str] = mapped_column(Text)
    condition: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(SHORT, index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    delivery_mode: Mapped[str] = mapped_column(SHORT)
    webhook_url: Mapped[str | None] = mapped_column(Text)
    config: Mapped[dict[str, Any]]
    stats: Mapped[dict[str, Any]]
    last_event_seq: Mapped[int] = mapped_column(Integer, default=0)
    owner: Mapped[str | None] = mapped_column(OWNER)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    # As for sessions: the process running the job and its lease. A cancel sets stop_requested_at, which
    # the owner acts on, whichever process received it.
    worker_id: Mapped[str | None] = mapped_column(OWNER)
    lease_until: Mapped[datetime | None]
    stop_requested_at: Mapped[datetime | None]


class ChunkRow(Base):
    __tablename__ = "chunks"
    __table_args__ = (
        UniqueConstraint("session_id", "chunk_index"),
        UniqueConstraint("job_id", "chunk_index"),
        CheckConstraint(ONE_OWNER, name="one_owner"),
        CheckConstraint("status IN ('recording', 'recorded', 'analysed', 'failed')", name="status"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    session_id: Mapped[str | None] = mapped_column(ID, ForeignKey("sessions.id", ondelete="CASCADE"))
    job_id: Mapped[str | None] = mapped_column(ID, ForeignKey("jobs.id", ondelete="CASCADE"))
    chunk_index: Mapped[int] = mapped_column(Integer)
    start_time: Mapped[float] = mapped_column(Float)
    end_time: Mapped[float] = mapped_column(Float)
    path: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(SHORT)
    analysis_id: Mapped[str | None] = mapped_column(ID)
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    discontinuity: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class EventRow(Base):
    __tablename__ = "events"
    # The unique constraints double as the (owner, seq) indexes that "events after N" reads use.
    __table_args__ = (
        UniqueConstraint("session_id", "seq"),
        UniqueConstraint("job_id", "seq"),
        CheckConstraint(ONE_OWNER, name="one_owner"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    session_id: Mapped[str | None] = mapped_column(ID, ForeignKey("sessions.id", ondelete="CASCADE"))
    job_id: Mapped[str | None] = mapped_column(ID, ForeignKey("jobs.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(SHORT)
    confidence: Mapped[float] = mapped_column(Float)
    stream_time: Mapped[float] = mapped_column(Float)
    capture_time: Mapped[float] = mapped_column(Float)
    chunk_index: Mapped[int] = mapped_column(Integer)
    chunk_relative_time: Mapped[float] = mapped_column(Float)
    hls_cumulative_offset: Mapped[float] = mapped_column(Float)
    t_start: Mapped[str] = mapped_column(SHORT)
    t_end: Mapped[str] = mapped_column(SHORT)
    analysis_id: Mapped[str] = mapped_column(ID)
    chunk_id: Mapped[str] = mapped_column(ID)
    end_time: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime]
    data: Mapped[dict[str, Any]]


class GapRow(Base):
    __tablename__ = "gaps"
    __table_args__ = (CheckConstraint(ONE_OWNER, name="one_owner"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    session_id: Mapped[str | None] = mapped_column(ID, ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[str | None] = mapped_column(ID, ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    session_time: Mapped[float] = mapped_column(Float)
    wall_seconds: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class ApiKeyRow(Base):
    """A bearer API key. Only a hash of the token is kept; the token is shown once, at creation."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    token_prefix: Mapped[str] = mapped_column(SHORT)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Kept in the clear: HMAC signing needs the secret itself (Standard Webhooks secrets are symmetric).
    webhook_secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class DeliveryRow(Base):
    """One webhook message in the outbox; ``id`` is its Standard Webhooks ``webhook-id``."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivering', 'delivered', 'failed', 'disabled')", name="status"),
        # The dispatcher's claim query: due pending rows and expired leases, oldest first.
        Index(None, "status", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    owner: Mapped[str | None] = mapped_column(OWNER, index=True)
    job_id: Mapped[str | None] = mapped_column(ID, ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[str | None] = mapped_column(ID, ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text)
    event_type: Mapped[str] = mapped_column(String(64))
    # The exact JSON text that is signed and sent: re-serialising could change bytes between retries.
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(SHORT)
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    queued_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]


class AttemptRow(Base):
    """One HTTP attempt of a delivery (kept across re-sends)."""

    __tablename__ = "webhook_attempts"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    delivery_id: Mapped[str] = mapped_column(ID, ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    attempted_at: Mapped[datetime]
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)


class DisabledEndpointRow(Base):
    """A receiver URL that answered 410 Gone for one owner: nothing more is sent there until re-enabled.

    ``owner_scope`` is the owner's key id, or ``""`` for deliveries without an owner (a primary key
    column cannot be NULL, and NULLs would not collide in a unique index).
    """

    __tablename__ = "webhook_endpoints_disabled"

    owner_scope: Mapped[str] = mapped_column(OWNER, primary_key=True)
    url: Mapped[str] = mapped_column(Text, primary_key=True)
    status_code: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    disabled_at: Mapped[datetime]


class IdempotencyKeyRow(Base):
    """A POST's ``Idempotency-Key``, per API key: the request it named and, once done, its response.

    ``owner`` is ``""`` in development mode (no keys) so that the unique constraint holds there too.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("owner", "key"),
        CheckConstraint("state IN ('pending', 'done')", name="state"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    owner: Mapped[str] = mapped_column(OWNER)
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(SHORT)
    status_code: Mapped[int | None] = mapped_column(Integer)
    media_type: Mapped[str | None] = mapped_column(String(128))
    location: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class JobCheckRow(Base):
    """One check of a monitor job: the model's verdict at a point of the stream (for the UI's chart)."""

    __tablename__ = "job_checks"
    __table_args__ = (Index("ix_job_checks_job_id_stream_time", "job_id", "stream_time"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ID, ForeignKey("jobs.id", ondelete="CASCADE"))
    stream_time: Mapped[float] = mapped_column(Float)
    triggered: Mapped[bool | None] = mapped_column(Boolean)  # None: the check failed
    confidence: Mapped[float | None] = mapped_column(Float)
    reused: Mapped[bool] = mapped_column(Boolean, default=False)  # the change gate answered, not the model
    failed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class ArchivedRunRow(Base):
    """A session or job the user archived: hidden from the overview unless archived runs are asked for."""

    __tablename__ = "archived_runs"
    __table_args__ = (CheckConstraint("kind IN ('session', 'job')", name="kind"),)

    run_id: Mapped[str] = mapped_column(ID, primary_key=True)
    kind: Mapped[str] = mapped_column(SHORT)
    archived_at: Mapped[datetime]
