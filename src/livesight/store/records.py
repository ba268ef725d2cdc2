"""What the store hands back: plain frozen values, never ORM objects, so callers cannot trigger lazy loads.

Timestamps are always timezone-aware UTC ``datetime`` values, on SQLite as on PostgreSQL.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from livesight.types import Chunk, ChunkStatus, Event, Severity

# The statuses and the id generator are the engine's (livesight.types); the store's callers find them here too.
from livesight.types import JobStatus as JobStatus
from livesight.types import SessionStatus as SessionStatus
from livesight.types import new_id as new_id

OwnerKind = Literal["session", "job"]
"""Which kind of run a chunk, event or gap belongs to."""


@dataclass(frozen=True)
class ClaimScope:
    """What a claim may take: some run ids (``None``: any), of one source URL (``None``: any)."""

    ids: frozenset[str] | None = None
    source_url: str | None = None


@dataclass(frozen=True)
class UnheldRun:
    """A live session or job that no worker holds: its lease ran out, or it never had one."""

    kind: OwnerKind
    run_id: str
    source_url: str
    created_at: datetime


class JobType(enum.StrEnum):
    LIVE_MONITOR = "live-monitor"
    LIVE_DIGEST = "live-digest"
    WATCH = "watch"


class DeliveryMode(enum.StrEnum):
    WEBHOOK = "webhook"
    SSE = "sse"
    POLLING = "polling"


LIVE_SESSION_STATUSES: frozenset[SessionStatus] = frozenset(
    {SessionStatus.INITIALIZING, SessionStatus.ACTIVE, SessionStatus.ENDING}
)
"""Sessions in these statuses still have (or should have) a runner; see ``Store.running_sessions``."""

LIVE_JOB_STATUSES: frozenset[JobStatus] = frozenset({JobStatus.PENDING, JobStatus.RUNNING})
"""Jobs in these statuses still have (or should have) a runner; see ``Store.running_jobs``."""


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class StreamRecord:
    """A named parent of sessions for one source; ``id`` is stable across runs."""

    id: str
    name: str
    source_url: str
    owner: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One run of analysis on a stream. ``last_event_seq`` is the ``seq`` of its newest event (0: none yet)."""

    id: str
    stream_id: str
    name: str
    source_url: str
    rapid_review_query: str | None
    status: SessionStatus
    error: str | None
    chunk_count: int
    config: dict[str, Any]
    owner: str | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    last_event_seq: int
    stats: dict[str, Any] = field(default_factory=dict)
    #: The process running it (``None``: none yet) and until when its lease holds unless renewed.
    worker_id: str | None = None
    lease_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One live-monitor / live-digest / watch run. ``last_event_seq`` is the ``seq`` of its newest event."""

    id: str
    job_type: JobType
    stream_url: str
    condition: str | None
    status: JobStatus
    reason: str | None
    delivery_mode: DeliveryMode
    webhook_url: str | None
    config: dict[str, Any]
    stats: dict[str, Any]
    owner: str | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    last_event_seq: int
    #: The process running it (``None``: none yet) and until when its lease holds unless renewed.
    worker_id: str | None = None
    lease_until: datetime | None = None
    #: When a cancel was asked for (by any process); the owner stops the run when it sees it.
    stop_requested_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ChunkRecord:
    """A stored chunk; exactly one of ``session_id`` / ``job_id`` is set."""

    id: str
    session_id: str | None
    job_id: str | None
    chunk_index: int
    start_time: float
    end_time: float
    path: str | None
    status: ChunkStatus
    analysis_id: str | None
    event_count: int
    discontinuity: bool
    created_at: datetime

    @property
    def duration(self) -> float:
        return self.end_time - self.start_time

    def to_chunk(self) -> Chunk:
        """The pipeline's view of this chunk."""
        return Chunk(
            chunk_id=self.id,
            index=self.chunk_index,
            start_time=self.start_time,
            end_time=self.end_time,
            path=self.path,
            status=self.status,
            discontinuity=self.discontinuity,
        )


@dataclass(frozen=True, slots=True)
class EventRecord:
    """A stored event: every field of :class:`livesight.types.Event` plus its ``seq`` and extra ``data``.

    ``seq`` counts from 1 per session or job, without gaps, in insertion order: use it as the SSE event id
    and for "events after N" queries. ``data`` is the free-form payload (explanation, frame/clip paths, verdicts).
    """

    id: str
    session_id: str | None
    job_id: str | None
    seq: int
    type: str
    label: str
    description: str
    severity: Severity
    confidence: float
    stream_time: float
    capture_time: float
    chunk_index: int
    chunk_relative_time: float
    hls_cumulative_offset: float
    t_start: str
    t_end: str
    analysis_id: str
    chunk_id: str
    end_time: float | None
    created_at: datetime
    data: dict[str, Any]

    @property
    def event_id(self) -> str:
        return self.id

    def to_event(self) -> Event:
        """The pipeline's view of this event; ``created_at`` is rendered as ISO-8601 UTC with a ``Z``."""
        return Event(
            event_id=self.id,
            type=self.type,
            label=self.label,
            description=self.description,
            severity=self.severity,
            confidence=self.confidence,
            stream_time=self.stream_time,
            capture_time=self.capture_time,
            chunk_index=self.chunk_index,
            chunk_relative_time=self.chunk_relative_time,
            hls_cumulative_offset=self.hls_cumulative_offset,
            t_start=self.t_start,
            t_end=self.t_end,
            created_at=format_utc(self.created_at),
            analysis_id=self.analysis_id,
            chunk_id=self.chunk_id,
            end_time=self.end_time,
        )


@dataclass(frozen=True, slots=True)
class GapRecord:
    """A stretch where the source delivered nothing, at ``session_time`` on the run's timeline."""

    id: str
    session_id: str | None
    job_id: str | None
    session_time: float
    wall_seconds: float
    reason: str
    created_at: datetime


def format_utc(value: datetime) -> str:
    """ISO-8601 in UTC with a ``Z`` suffix, the form SPEC §2 uses for ``created_at``."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """A bearer API key as the store shows it: never the token, its hash or the webhook secret.

    ``id`` (``key_…``) is the ``owner`` of every stream, session, job and delivery made with the key.
    ``token_prefix`` (the token's first 12 characters) is there to tell keys apart in a list.
    """

    id: str
    name: str
    token_prefix: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class DeliveryStatus(enum.StrEnum):
    """Lifecycle of a webhook delivery in the outbox.

    ``pending`` (waiting for ``next_attempt_at``) → ``delivering`` (a dispatcher holds a lease and is
    sending) → ``delivered`` (a 2xx answer), back to ``pending`` for a retry, ``failed`` (gave up, or
    the URL is not allowed) or ``disabled`` (the receiver answered 410 Gone).
    """

    PENDING = "pending"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    FAILED = "failed"
    DISABLED = "disabled"


class AttemptOutcome(enum.StrEnum):
    """What :meth:`Store.record_attempt` does with a delivery after one attempt."""

    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One HTTP attempt: the receiver's status code, or the error when there was no answer."""

    id: str
    delivery_id: str
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """A webhook message and its delivery state. ``id`` is the Standard Webhooks ``webhook-id``.

    ``body`` is the exact JSON text that is signed and sent on every attempt. ``attempt_count`` counts
    the attempts of the current round (a re-send starts a new round at ``queued_at``); ``attempts``
    lists every attempt ever made, oldest first.
    """

    id: str
    owner: str | None
    job_id: str | None
    session_id: str | None
    url: str
    event_type: str
    body: str
    status: DeliveryStatus
    attempt_count: int
    next_attempt_at: datetime
    lease_until: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    queued_at: datetime
    delivered_at: datetime | None
    attempts: tuple[AttemptRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """A webhook message to put in the outbox (``Store.enqueue_delivery``, or with the events it announces
    in ``Store.add_events``). ``id`` is its ``webhook-id``; ``body`` is stored and sent byte for byte."""

    id: str
    url: str
    event_type: str
    body: str
    owner: str | None = None
    job_id: str | None = None
    session_id: str | None = None
    now: datetime | None = None


@dataclass(frozen=True, slots=True)
class DisabledEndpointRecord:
    """A receiver URL that nothing is sent to any more for ``owner`` (it answered 410 Gone)."""

    owner: str | None
    url: str
    status_code: int | None
    reason: str
    disabled_at: datetime
