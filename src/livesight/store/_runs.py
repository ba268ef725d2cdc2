"""Streams, sessions and jobs: the runs and their parents."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.exc import IntegrityError

from livesight.store._base import StoreBase
from livesight.store._convert import aware, job_record, member, members, session_record, stream_record
from livesight.store.errors import Conflict, InvalidValue, JobNotFound, SessionNotFound, StreamNotFound
from livesight.store.models import JobRow, SessionRow, StreamRow
from livesight.store.records import (
    LIVE_JOB_STATUSES,
    LIVE_SESSION_STATUSES,
    DeliveryMode,
    JobRecord,
    JobStatus,
    JobType,
    SessionRecord,
    SessionStatus,
    StreamRecord,
    new_id,
    utcnow,
)


def _visible(owner_column: Any, owner: str | None) -> list[ColumnElement[bool]]:
    # owner=None means "no filter" (single-user mode, internal callers); a key only sees its own rows.
    return [] if owner is None else [owner_column == owner]


class RunsMixin(StoreBase):
    # -- streams ---------------------------------------------------------------------------------

    async def create_stream(
        self, name: str, source_url: str, owner: str | None = None, stream_id: str | None = None
    ) -> StreamRecord:
        """Create a stream, or return the existing one when ``stream_id`` is taken (name/URL unchanged).

        Raises :class:`Conflict` (``STREAM_ID_TAKEN``) when that stream belongs to another owner.
        """
        for attempt in range(2):
            try:
                async with self._tx(write=True) as session:
                    if stream_id is not None:
                        existing = await session.get(StreamRow, stream_id)
                        if existing is not None:
                            if owner is not None and existing.owner != owner:
                                raise Conflict(
                                    f"stream id {stream_id!r} is taken",
                                    code="STREAM_ID_TAKEN",
                                    remediation="Choose another stream_id, or leave it out to have one made.",
                                )
                            return stream_record(existing)
                    row = StreamRow(
                        id=stream_id or new_id("str"),
                        name=name,
                        source_url=source_url,
                        owner=owner,
                        created_at=utcnow(),
                    )
                    session.add(row)
                    await session.flush()
                    return stream_record(row)
            except IntegrityError:
                # Another writer created the same stream_id between our read and insert (PostgreSQL);
                # the second pass finds it.
                if stream_id is None or attempt:
                    raise
        raise AssertionError("unreachable")

    async def get_stream(self, stream_id: str, owner: str | None = None) -> StreamRecord | None:
        """The stream, or ``None`` when it does not exist or belongs to another owner."""
        async with self._tx(write=False) as session:
            row = await session.scalar(
                select(StreamRow).where(StreamRow.id == stream_id, *_visible(StreamRow.owner, owner))
            )
            return None if row is None else stream_record(row)

    async def update_stream(
        self, stream_id: str, *, name: str | None = None, source_url: str | None = None, owner: str | None = None
    ) -> StreamRecord:
        """Rename a stream or point it at another source. Raises :class:`StreamNotFound`."""
        async with self._tx(write=True) as session:
            row = await session.scalar(
                select(StreamRow).where(StreamRow.id == stream_id, *_visible(StreamRow.owner, owner))
            )
            if row is None:
                raise StreamNotFound(f"stream {stream_id!r} not found")
            if name is not None:
                row.name = name
            if source_url is not None:
                row.source_url = source_url
            await session.flush()
            return stream_record(row)

    async def list_streams(self, owner: str | None = None) -> list[StreamRecord]:
        """Streams, newest first."""
        async with self._tx(write=False) as session:
            rows = await session.scalars(
                select(StreamRow)
                .where(*_visible(StreamRow.owner, owner))
                .order_by(StreamRow.created_at.desc(), StreamRow.id)
            )
            return [stream_record(r) for r in rows]

    # -- sessions --------------------------------------------------------------------------------

    async def create_session(
        self,
        stream_id: str,
        name: str,
        source_url: str,
        rapid_review_query: str | None = None,
        config: Mapping[str, Any] | None = None,
        owner: str | None = None,
    ) -> SessionRecord:
        """A new ``INITIALIZING`` session on ``stream_id`` (which ``owner`` must be able to see)."""
        async with self._tx(write=True) as session:
            stream = await session.scalar(
                select(StreamRow.id).where(StreamRow.id == stream_id, *_visible(StreamRow.owner, owner))
            )
            if stream is None:
                raise StreamNotFound(f"stream {stream_id!r} not found")
            row = SessionRow(
                id=new_id("ses"),
                stream_id=stream_id,
                name=name,
                source_url=source_url,
                rapid_review_query=rapid_review_query,
                status=SessionStatus.INITIALIZING.value,
                error=None,
                chunk_count=0,
                last_event_seq=0,
                config=dict(config or {}),
                owner=owner,
                created_at=utcnow(),
            )
            session.add(row)
            await session.flush()
            return session_record(row)

    async def get_session(self, session_id: str, owner: str | None = None) -> SessionRecord | None:
        """The session, or ``None`` when it does not exist or belongs to another owner."""
        async with self._tx(write=False) as session:
            row = await session.scalar(
                select(SessionRow).where(SessionRow.id == session_id, *_visible(SessionRow.owner, owner))
            )
            return None if row is None else session_record(row)

    async def list_sessions(
        self,
        owner: str | None = None,
        status: str | Iterable[str] | None = None,
        stream_id: str | None = None,
    ) -> list[SessionRecord]:
        """Sessions, newest first; ``status`` may be one status or several."""
        conditions = _visible(SessionRow.owner, owner)
        if status is not None:
            conditions.append(SessionRow.status.in_(members(SessionStatus, status, "status")))
        if stream_id is not None:
            conditions.append(SessionRow.stream_id == stream_id)
        async with self._tx(write=False) as session:
            rows = await session.scalars(
                select(SessionRow).where(*conditions).order_by(SessionRow.created_at.desc(), SessionRow.id)
            )
            return [session_record(r) for r in rows]

    async def update_session(
        self,
        session_id: str,
        *,
        status: str | None = None,
        error: str | None = None,
        chunk_count: int | None = None,
        started_at: datetime | None = None,
        ended_at: datetime | None = None,
        stats: Mapping[str, Any] | None = None,
    ) -> SessionRecord:
        """Set the given fields (``None`` leaves a field as it is; ``stats`` replaces the whole dict).

        Raises :class:`SessionNotFound`. Prefer :meth:`set_session_status_if` for transitions that can race.
        """
        values: dict[str, Any] = {
            "status": None if status is None else member(SessionStatus, status, "status").value,
            "error": error,
            "chunk_count": chunk_count,
            "started_at": aware(started_at, "started_at"),
            "ended_at": aware(ended_at, "ended_at"),
            "stats": None if stats is None else dict(stats),
        }
        async with self._tx(write=True) as session:
            row = await session.get(SessionRow, session_id, with_for_update=True)
            if row is None:
                raise SessionNotFound(f"session {session_id!r} not found")
            for key, value in values.items():
                if value is not None:
                    setattr(row, key, value)
            await session.flush()
            return session_record(row)

    async def set_session_status_if(
        self,
        session_id: str,
        from_statuses: str | Iterable[str],
        to_status: str,
        *,
        error: str | None = None,
        started_at: datetime | None = None,
        ended_at: datetime | None = None,
    ) -> bool:
        """Compare-and-set: move to ``to_status`` only if the status is one of ``from_statuses``.

        The other given fields are written in the same statement. Returns ``True`` when this call made
        the change, ``False`` when the status was different (or the session does not exist).
        """
        values: dict[str, Any] = {"status": member(SessionStatus, to_status, "to_status").value}
        if error is not None:
            values["error"] = error
        if started_at is not None:
            values["started_at"] = aware(started_at, "started_at")
        if ended_at is not None:
            values["ended_at"] = aware(ended_at, "ended_at")
        froms = members(SessionStatus, from_statuses, "from_statuses")
        async with self._tx(write=True) as session:
            changed = await session.scalar(
                update(SessionRow)
                .where(SessionRow.id == session_id, SessionRow.status.in_(froms))
                .values(**values)
                .returning(SessionRow.id)
            )
            return changed is not None

    async def running_sessions(self) -> list[SessionRecord]:
        """Sessions that were INITIALIZING, ACTIVE or ENDING (to resume or fail after a restart), oldest first."""
        async with self._tx(write=False) as session:
            rows = await session.scalars(
                select(SessionRow)
                .where(SessionRow.status.in_(sorted(LIVE_SESSION_STATUSES)))
                .order_by(SessionRow.created_at, SessionRow.id)
            )
            return [session_record(r) for r in rows]

    # -- jobs ------------------------------------------------------------------------------------

    async def create_job(
        self,
        job_type: str,
        stream_url: str,
        condition: str | None = None,
        delivery_mode: str = DeliveryMode.POLLING,
        webhook_url: str | None = None,
        config: Mapping[str, Any] | None = None,
        owner: str | None = None,
    ) -> JobRecord:
        """A new ``pending`` job with empty ``stats``."""
        row = JobRow(
            # The hosted live-monitor API documents job_id as string<uuid>; clients generated from it check.
            id=str(uuid.uuid4()),
            job_type=member(JobType, job_type, "job_type").value,
            stream_url=stream_url,
            condition=condition,
            status=JobStatus.PENDING.value,
            reason=None,
            delivery_mode=member(DeliveryMode, delivery_mode, "delivery_mode").value,
            webhook_url=webhook_url,
            config=dict(config or {}),
            stats={},
            last_event_seq=0,
            owner=owner,
            created_at=utcnow(),
        )
        async with self._tx(write=True) as session:
            session.add(row)
            await session.flush()
            return job_record(row)

    async def get_job(self, job_id: str, owner: str | None = None) -> JobRecord | None:
        """The job, or ``None`` when it does not exist or belongs to another owner."""
        async with self._tx(write=False) as session:
            row = await session.scalar(select(JobRow).where(JobRow.id == job_id, *_visible(JobRow.owner, owner)))
            return None if row is None else job_record(row)

    async def list_jobs(
        self,
        owner: str | None = None,
        status: str | Iterable[str] | None = None,
        job_type: str | None = None,
        limit: int | None = 20,
        offset: int = 0,
    ) -> tuple[list[JobRecord], int]:
        """One page of jobs, newest first, and the number of jobs matching the filters (all pages)."""
        if (limit is not None and limit < 0) or offset < 0:
            raise InvalidValue("limit and offset must not be negative")
        conditions = _visible(JobRow.owner, owner)
        if status is not None:
            conditions.append(JobRow.status.in_(members(JobStatus, status, "status")))
        if job_type is not None:
            conditions.append(JobRow.job_type == member(JobType, job_type, "type"))
        async with self._tx(write=False) as session:
            total = await session.scalar(select(func.count()).select_from(JobRow).where(*conditions))
            rows = await session.scalars(
                select(JobRow)
                .where(*conditions)
                .order_by(JobRow.created_at.desc(), JobRow.id)
                .limit(limit)
                .offset(offset)
            )
            return [job_record(r) for r in rows], int(total or 0)

    async def update_job(
        self,
        job_id: str,
        *,
        status: str | None = None,
        reason: str | None = None,
        stats: Mapping[str, Any] | None = None,
        started_at: datetime | None = None,
        ended_at: datetime | None = None,
    ) -> JobRecord:
        """Set the given fields (``None`` leaves a field as it is; ``stats`` replaces the whole dict).

        Raises :class:`JobNotFound`.
        """
        values: dict[str, Any] = {
            "status": None if status is None else member(JobStatus, status, "status").value,
            "reason": reason,
            "stats": None if stats is None else dict(stats),
            "started_at": aware(started_at, "started_at"),
            "ended_at": aware(ended_at, "ended_at"),
        }
        async with self._tx(write=True) as session:
            row = await session.get(JobRow, job_id, with_for_update=True)
            if row is None:
                raise JobNotFound(f"job {job_id!r} not found")
            for key, value in values.items():
                if value is not None:
                    setattr(row, key, value)
            await session.flush()
            return job_record(row)

    async def set_job_status_if(
        self,
        job_id: str,
        from_statuses: str | Iterable[str],
        to_status: str,
        *,
        reason: str | None = None,
        stats: Mapping[str, Any] | None = None,
        started_at: datetime | None = None,
        ended_at: datetime | None = None,
    ) -> bool:
        """Compare-and-set: move to ``to_status`` only if the status is one of ``from_statuses``.

        The other given fields are written in the same statement. Returns ``True`` when this call made
        the change, ``False`` when the status was different (or the job does not exist).
        """
        values: dict[str, Any] = {"status": member(JobStatus, to_status, "to_status").value}
        if reason is not None:
            values["reason"] = reason
        if stats is not None:
            values["stats"] = dict(stats)
        if started_at is not None:
            values["started_at"] = aware(started_at, "started_at")
        if ended_at is not None:
            values["ended_at"] = aware(ended_at, "ended_at")
        froms = members(JobStatus, from_statuses, "from_statuses")
        async with self._tx(write=True) as session:
            changed = await session.scalar(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.status.in_(froms))
                .values(**values)
                .returning(JobRow.id)
            )
            return changed is not None

    async def running_jobs(self) -> list[JobRecord]:
        """Jobs that were pending or running (to resume or fail after a restart), oldest first."""
        async with self._tx(write=False) as session:
            rows = await session.scalars(
                select(JobRow)
                .where(JobRow.status.in_(sorted(LIVE_JOB_STATUSES)))
                .order_by(JobRow.created_at, JobRow.id)
            )
            return [job_record(r) for r in rows]
