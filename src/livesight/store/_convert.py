"""Rows to records, and the checks on values coming in."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TypeVar, cast

from livesight.store.errors import InvalidValue
from livesight.store.models import ChunkRow, EventRow, GapRow, JobRow, SessionRow, StreamRow
from livesight.store.records import (
    ChunkRecord,
    DeliveryMode,
    EventRecord,
    GapRecord,
    JobRecord,
    JobStatus,
    JobType,
    OwnerKind,
    SessionRecord,
    SessionStatus,
    StreamRecord,
    utcnow,
)
from livesight.types import ChunkStatus, Severity

E = TypeVar("E", bound=enum.StrEnum)


def member(kind: type[E], value: str, field: str) -> E:
    """``value`` as a member of ``kind``; an unknown value is the caller's bug, reported by field name."""
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise InvalidValue(f"{field}: {value!r} is not one of {allowed}") from None


def members(kind: type[E], values: str | Iterable[str], field: str) -> list[E]:
    """One value or several, each checked; used by the ``status=`` filters and compare-and-set."""
    if isinstance(values, str):
        values = [values]
    return [member(kind, v, field) for v in values]


def owner_kind(kind: str) -> OwnerKind:
    if kind not in ("session", "job"):
        raise InvalidValue(f"owner_kind: {kind!r} is not 'session' or 'job'")
    return cast(OwnerKind, kind)


def aware(value: datetime | None, field: str) -> datetime | None:
    """``value`` in UTC; naive datetimes are refused, their meaning depends on the machine that made them."""
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidValue(f"{field}: naive datetime {value!r}; pass a timezone-aware (UTC) value")
    return value.astimezone(UTC)


def parse_created_at(value: str) -> datetime:
    """An event's ISO-8601 ``created_at`` as aware UTC; empty means now, naive is read as UTC."""
    if not value:
        return utcnow()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidValue(f"created_at: {value!r} is not ISO-8601") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def stream_record(row: StreamRow) -> StreamRecord:
    return StreamRecord(id=row.id, name=row.name, source_url=row.source_url, owner=row.owner, created_at=row.created_at)


def session_record(row: SessionRow) -> SessionRecord:
    return SessionRecord(
        id=row.id,
        stream_id=row.stream_id,
        name=row.name,
        source_url=row.source_url,
        rapid_review_query=row.rapid_review_query,
        status=SessionStatus(row.status),
        error=row.error,
        chunk_count=row.chunk_count,
        config=dict(row.config),
        owner=row.owner,
        created_at=row.created_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
        last_event_seq=row.last_event_seq,
        stats=dict(row.stats or {}),
        worker_id=row.worker_id,
        lease_until=row.lease_until,
    )


def job_record(row: JobRow) -> JobRecord:
    return JobRecord(
        id=row.id,
        job_type=JobType(row.job_type),
        stream_url=row.stream_url,
        condition=row.condition,
        status=JobStatus(row.status),
        reason=row.reason,
        delivery_mode=DeliveryMode(row.delivery_mode),
        webhook_url=row.webhook_url,
        config=dict(row.config),
        stats=dict(row.stats),
        owner=row.owner,
        created_at=row.created_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
        last_event_seq=row.last_event_seq,
        worker_id=row.worker_id,
        lease_until=row.lease_until,
        stop_requested_at=row.stop_requested_at,
    )


def chunk_record(row: ChunkRow) -> ChunkRecord:
    return ChunkRecord(
        id=row.id,
        session_id=row.session_id,
        job_id=row.job_id,
        chunk_index=row.chunk_index,
        start_time=row.start_time,
        end_time=row.end_time,
        path=row.path,
        status=ChunkStatus(row.status),
        analysis_id=row.analysis_id,
        event_count=row.event_count,
        discontinuity=bool(row.discontinuity),
        created_at=row.created_at,
    )


def event_record(row: EventRow) -> EventRecord:
    return EventRecord(
        id=row.id,
        session_id=row.session_id,
        job_id=row.job_id,
        seq=row.seq,
        type=row.type,
        label=row.label,
        description=row.description,
        severity=cast(Severity, row.severity),
        confidence=row.confidence,
        stream_time=row.stream_time,
        capture_time=row.capture_time,
        chunk_index=row.chunk_index,
        chunk_relative_time=row.chunk_relative_time,
        hls_cumulative_offset=row.hls_cumulative_offset,
        t_start=row.t_start,
        t_end=row.t_end,
        analysis_id=row.analysis_id,
        chunk_id=row.chunk_id,
        end_time=row.end_time,
        created_at=row.created_at,
        data=dict(row.data),
    )


def gap_record(row: GapRow) -> GapRecord:
    return GapRecord(
        id=row.id,
        session_id=row.session_id,
        job_id=row.job_id,
        session_time=row.session_time,
        wall_seconds=row.wall_seconds,
        reason=row.reason,
        created_at=row.created_at,
    )
