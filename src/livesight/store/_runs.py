"""Streams, sessions and jobs: the runs and their parents."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from livesight.store._base import StoreBase
from livesight.store._convert import aware, job_record, member, members, session_record, stream_record
from livesight.store._deliveries import insert_delivery
from livesight.store._timeline import Deliveries, insert_events
from livesight.store.errors import Conflict, InvalidValue, JobNotFound, SessionNotFound, StreamNotFound
from livesight.store.models import JobRow, SessionRow, StreamRow
from livesight.store.records import (
    LIVE_JOB_STATUSES,
    LIVE_SESSION_STATUSES,
    ClaimScope,
    DeliveryMode,
    EventRecord,
    JobRecord,
    JobStatus,
    JobType,
    NewDelivery,
    SessionRecord,
    SessionStatus,
    StreamRecord,
    UnheldRun,
    new_id,
    utcnow,
)
from livesight.types import Event


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
        *,
        worker_id: str | None = None,
        lease_seconds: float | None = None,
    ) -> SessionRecord:
        """A new ``INITIALIZING`` session on ``stream_id`` (which ``owner`` must be able to see).

        With ``worker_id`` and ``lease_seconds`` it is created leased to that worker (which runs it at once).
        """
        worker, lease_until = _lease(worker_id, lease_seconds)
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
                worker_id=worker,
                lease_until=lease_until,
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
        deliveries: Sequence[NewDelivery] = (),
    ) -> SessionRecord:
        """Set the given fields (``None`` leaves a field as it is; ``stats`` replaces the whole dict), and
        put ``deliveries`` (e.g. the webhook announcing the change) in the outbox in the same transaction.

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
            for delivery in deliveries:
                await insert_delivery(session, delivery)
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
        deliveries: Sequence[NewDelivery] = (),
    ) -> bool:
        """Compare-and-set: move to ``to_status`` only if the status is one of ``from_statuses``.

        The other given fields are written in the same statement, and ``deliveries`` go to the outbox in
        the same transaction when (only when) the change is made. Returns ``True`` when this call made
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
            if changed is not None:
                for delivery in deliveries:
                    await insert_delivery(session, delivery)
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
        *,
        worker_id: str | None = None,
        lease_seconds: float | None = None,
    ) -> JobRecord:
        """A new ``pending`` job with empty ``stats``; leased to ``worker_id`` when given (see create_session)."""
        worker, lease_until = _lease(worker_id, lease_seconds)
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
            worker_id=worker,
            lease_until=lease_until,
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

    async def end_job(
        self,
        job_id: str,
        *,
        status: str,
        reason: str,
        stats: Mapping[str, Any],
        events: Sequence[Event] = (),
        data: Sequence[Mapping[str, Any]] | None = None,
        deliveries: Deliveries | None = None,
        worker_id: str | None = None,
    ) -> list[EventRecord] | None:
        """End a job in one transaction: its final status, reason and stats, the events that announce the end
        and their webhooks (as :meth:`add_events`). With ``worker_id``, only while that worker holds the job
        (returns ``None`` and writes nothing when another worker has claimed it meanwhile).
        Raises :class:`JobNotFound`."""
        async with self._tx(write=True) as session:
            row = await session.get(JobRow, job_id, with_for_update=True)
            if row is None:
                raise JobNotFound(f"job {job_id!r} not found")
            if worker_id is not None and row.worker_id not in (None, worker_id):
                return None
            row.status = member(JobStatus, status, "status").value
            row.reason, row.stats, row.ended_at, row.lease_until = reason, dict(stats), utcnow(), None
            await session.flush()
            if not events:
                return []
            return await insert_events(session, "job", job_id, events, data, deliveries)

    # -- leases ----------------------------------------------------------------------------------
    # A live session or job is run by the worker (process) named in worker_id while lease_until is in the
    # future; the worker renews its leases, and any worker may claim a live run whose lease ran out.

    async def claim_jobs(
        self,
        worker_id: str,
        lease_seconds: float,
        *,
        now: datetime | None = None,
        dead_workers: Iterable[str] = (),
        scope: ClaimScope | None = None,
    ) -> list[JobRecord]:
        """Lease to ``worker_id`` every live job whose lease has run out (or that has none, or whose worker is
        one of ``dead_workers``), oldest first; ``livesight watch`` jobs belong to their own process.
        ``scope`` narrows the claim to some ids (which may already be ``worker_id``'s own: a run placed on
        it) or to one source URL (a Ray actor runs the runs of one source).

        Concurrent claimers never get the same job: on PostgreSQL the candidates are locked with
        ``FOR UPDATE SKIP LOCKED``, on SQLite the write transaction is exclusive; the UPDATE re-checks either way.
        """
        now = aware(now, "now") or utcnow()
        claimable = and_(
            JobRow.status.in_(sorted(LIVE_JOB_STATUSES)),
            JobRow.job_type != JobType.WATCH.value,
            *_scoped(JobRow, JobRow.stream_url, now, worker_id, dead_workers, scope),
        )
        rows = await self._claim(JobRow, claimable, worker_id, now, lease_seconds)
        return [job_record(r) for r in rows]

    async def claim_sessions(
        self,
        worker_id: str,
        lease_seconds: float,
        *,
        now: datetime | None = None,
        dead_workers: Iterable[str] = (),
        scope: ClaimScope | None = None,
    ) -> list[SessionRecord]:
        """As :meth:`claim_jobs`, for sessions (INITIALIZING, ACTIVE or ENDING)."""
        now = aware(now, "now") or utcnow()
        claimable = and_(
            SessionRow.status.in_(sorted(LIVE_SESSION_STATUSES)),
            *_scoped(SessionRow, SessionRow.source_url, now, worker_id, dead_workers, scope),
        )
        rows = await self._claim(SessionRow, claimable, worker_id, now, lease_seconds)
        return [session_record(r) for r in rows]

    async def unheld_runs(self, *, now: datetime | None = None) -> list[UnheldRun]:
        """Live sessions and jobs no worker holds (no lease, or one that ran out), oldest first: what a
        placer (the Ray runner) must place again. ``livesight watch`` jobs are their own process's."""
        now = aware(now, "now") or utcnow()
        async with self._tx(write=False) as session:
            jobs = await session.execute(
                select(JobRow.id, JobRow.stream_url, JobRow.created_at).where(
                    JobRow.status.in_(sorted(LIVE_JOB_STATUSES)),
                    JobRow.job_type != JobType.WATCH.value,
                    _expired(JobRow, now, ()),
                )
            )
            sessions = await session.execute(
                select(SessionRow.id, SessionRow.source_url, SessionRow.created_at).where(
                    SessionRow.status.in_(sorted(LIVE_SESSION_STATUSES)), _expired(SessionRow, now, ())
                )
            )
            runs = [UnheldRun("job", i, u, c) for i, u, c in jobs] + [
                UnheldRun("session", i, u, c) for i, u, c in sessions
            ]
        return sorted(runs, key=lambda r: (r.created_at, r.run_id))

    async def _claim(
        self, table: Any, claimable: ColumnElement[bool], worker_id: str, now: datetime, lease_seconds: float
    ) -> list[Any]:
        if lease_seconds <= 0:
            raise InvalidValue("lease_seconds must be > 0")
        async with self._tx(write=True) as session:
            candidates = select(table.id).where(claimable).order_by(table.created_at, table.id)
            if self._engine.dialect.name == "postgresql":
                candidates = candidates.with_for_update(skip_locked=True)
            ids = list(await session.scalars(candidates))
            if not ids:
                return []
            claimed = await session.scalars(
                update(table)
                .where(table.id.in_(ids), claimable)
                .values(worker_id=worker_id, lease_until=now + timedelta(seconds=lease_seconds))
                .returning(table)
                .execution_options(synchronize_session=False)
            )
            return sorted(claimed, key=lambda r: (r.created_at, r.id))

    async def renew_leases(
        self, worker_id: str, run_ids: Iterable[str], lease_seconds: float, *, now: datetime | None = None
    ) -> set[str]:
        """Extend ``worker_id``'s leases of ``run_ids`` (sessions and jobs); returns the ids it still holds.
        An id missing from the answer was claimed by another worker (this one's lease had run out)."""
        wanted = list(run_ids)
        if not wanted:
            return set()
        until = (aware(now, "now") or utcnow()) + timedelta(seconds=lease_seconds)
        held: set[str] = set()
        async with self._tx(write=True) as session:
            for table in (JobRow, SessionRow):
                renewed = await session.scalars(
                    update(table)
                    .where(table.id.in_(wanted), table.worker_id == worker_id)
                    .values(lease_until=until)
                    .returning(table.id)
                    .execution_options(synchronize_session=False)
                )
                held.update(renewed)
        return held

    async def lease_holders(self, *, now: datetime | None = None) -> set[str]:
        """Workers holding an unexpired lease on a live session or job."""
        now = aware(now, "now") or utcnow()
        async with self._tx(write=False) as session:
            jobs = await session.scalars(
                select(JobRow.worker_id)
                .where(JobRow.status.in_(sorted(LIVE_JOB_STATUSES)), JobRow.lease_until > now)
                .distinct()
            )
            sessions = await session.scalars(
                select(SessionRow.worker_id)
                .where(SessionRow.status.in_(sorted(LIVE_SESSION_STATUSES)), SessionRow.lease_until > now)
                .distinct()
            )
            return {w for w in (*jobs, *sessions) if w is not None}

    async def request_job_stop(self, job_id: str, owner: str | None = None, *, now: datetime | None = None) -> bool:
        """Ask for a live job to be cancelled: the worker running it stops it when it sees the request.
        ``True`` when the job is live (asked now or earlier), ``False`` when it has ended or is not found."""
        at = aware(now, "now") or utcnow()
        async with self._tx(write=True) as session:
            row = await session.scalar(
                select(JobRow).where(JobRow.id == job_id, *_visible(JobRow.owner, owner)).with_for_update()
            )
            if row is None or row.status not in LIVE_JOB_STATUSES:
                return False
            if row.stop_requested_at is None:
                row.stop_requested_at = at
            return True

    async def stops_requested(self, worker_id: str) -> set[str]:
        """Ids of ``worker_id``'s live runs asked to stop: jobs with a cancel request, sessions ENDING."""
        async with self._tx(write=False) as session:
            jobs = await session.scalars(
                select(JobRow.id).where(
                    JobRow.worker_id == worker_id,
                    JobRow.status.in_(sorted(LIVE_JOB_STATUSES)),
                    JobRow.stop_requested_at.is_not(None),
                )
            )
            sessions = await session.scalars(
                select(SessionRow.id).where(
                    SessionRow.worker_id == worker_id, SessionRow.status == SessionStatus.ENDING.value
                )
            )
            return {*jobs, *sessions}

    async def count_live_jobs(self, owner: str | None) -> int:
        """Live (pending or running) monitor and digest jobs of ``owner``, whichever process runs them."""
        async with self._tx(write=False) as session:
            total = await session.scalar(
                select(func.count())
                .select_from(JobRow)
                .where(
                    JobRow.owner.is_(None) if owner is None else JobRow.owner == owner,
                    JobRow.status.in_(sorted(LIVE_JOB_STATUSES)),
                    JobRow.job_type != JobType.WATCH.value,
                )
            )
            return int(total or 0)


def _lease(worker_id: str | None, lease_seconds: float | None) -> tuple[str | None, datetime | None]:
    if worker_id is None or lease_seconds is None:
        return None, None
    return worker_id, utcnow() + timedelta(seconds=lease_seconds)


def _expired(table: Any, now: datetime, dead_workers: Iterable[str]) -> ColumnElement[bool]:
    dead = list(dead_workers)
    expired = or_(table.lease_until.is_(None), table.lease_until <= now)
    return or_(expired, table.worker_id.in_(dead)) if dead else expired


def _scoped(
    table: Any,
    source_column: Any,
    now: datetime,
    worker_id: str,
    dead_workers: Iterable[str],
    scope: ClaimScope | None,
) -> list[ColumnElement[bool]]:
    """The claim conditions: unheld (or held by the dead) and, with a scope, within it."""
    if scope is None:
        return [_expired(table, now, dead_workers)]
    held = _expired(table, now, dead_workers)
    conditions: list[ColumnElement[bool]] = []
    if scope.ids is not None:
        conditions.append(table.id.in_(list(scope.ids)))
        held = or_(held, table.worker_id == worker_id)  # a run placed on this worker may already be its own
    if scope.source_url is not None:
        conditions.append(source_column == scope.source_url)
    return [held, *conditions]
