"""The webhook outbox: deliveries written before anything is sent, leased to dispatchers, and their attempts.

A dispatcher claims due rows by moving them to ``delivering`` with a lease; a row whose lease ran out
(the dispatcher was killed, or lost its database connection) is due again, so a crash or restart loses
nothing. Receivers may therefore see a message twice; its ``webhook-id`` stays the same so they can
de-duplicate (Standard Webhooks semantics: at least once).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from livesight.store._base import StoreBase
from livesight.store._convert import aware, member, members
from livesight.store.errors import Conflict, InvalidValue, NotFound
from livesight.store.models import AttemptRow, DeliveryRow, DisabledEndpointRow
from livesight.store.records import (
    AttemptOutcome,
    AttemptRecord,
    DeliveryRecord,
    DeliveryStatus,
    DisabledEndpointRecord,
    NewDelivery,
    new_id,
    utcnow,
)

_MAX_EVENT_TYPE = 64
# Keeps each IN (...) list well under SQLite's and PostgreSQL's bound-parameter limits.
_IN_BATCH = 500


class DeliveryNotFound(NotFound):
    code = "DELIVERY_NOT_FOUND"
    remediation = "Check the delivery id; list a job's deliveries to see the ones this key can reach."


class DeliveryInFlight(Conflict):
    code = "DELIVERY_IN_FLIGHT"
    remediation = "A dispatcher is sending this delivery right now; try again once it has an outcome."


class EndpointDisabled(Conflict):
    code = "WEBHOOK_ENDPOINT_DISABLED"
    remediation = "The receiver answered 410 Gone earlier; re-enable the endpoint before re-sending to it."


def _scope(owner: str | None) -> str:
    # Deliveries without an owner (single-user mode) share the scope "" (key ids are never empty).
    return owner or ""


def _visible(owner: str | None) -> list[ColumnElement[bool]]:
    return [] if owner is None else [DeliveryRow.owner == owner]


def _due(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(DeliveryRow.status == DeliveryStatus.PENDING.value, DeliveryRow.next_attempt_at <= now),
        and_(DeliveryRow.status == DeliveryStatus.DELIVERING.value, DeliveryRow.lease_until <= now),
    )


def _endpoint_disabled() -> ColumnElement[bool]:
    return exists().where(
        DisabledEndpointRow.owner_scope == func.coalesce(DeliveryRow.owner, ""),
        DisabledEndpointRow.url == DeliveryRow.url,
    )


def _attempt_record(r: AttemptRow) -> AttemptRecord:
    return AttemptRecord(r.id, r.delivery_id, r.attempted_at, r.status_code, r.error, r.duration_ms)


def _record(row: DeliveryRow, attempts: Sequence[AttemptRecord]) -> DeliveryRecord:
    return DeliveryRecord(
        id=row.id,
        owner=row.owner,
        job_id=row.job_id,
        session_id=row.session_id,
        url=row.url,
        event_type=row.event_type,
        body=row.body,
        status=DeliveryStatus(row.status),
        attempt_count=row.attempt_count,
        next_attempt_at=row.next_attempt_at,
        lease_until=row.lease_until,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        created_at=row.created_at,
        queued_at=row.queued_at,
        delivered_at=row.delivered_at,
        attempts=tuple(attempts),
    )


async def _records(session: AsyncSession, rows: Iterable[DeliveryRow]) -> list[DeliveryRecord]:
    """``rows`` as records, each with its attempts (one query per batch of rows, not one per row)."""
    rows = list(rows)
    by_delivery: dict[str, list[AttemptRecord]] = defaultdict(list)
    for start in range(0, len(rows), _IN_BATCH):
        ids = [r.id for r in rows[start : start + _IN_BATCH]]
        attempts = await session.scalars(
            select(AttemptRow).where(AttemptRow.delivery_id.in_(ids)).order_by(AttemptRow.attempted_at, AttemptRow.id)
        )
        for attempt in attempts:
            by_delivery[attempt.delivery_id].append(_attempt_record(attempt))
    return [_record(r, by_delivery.get(r.id, ())) for r in rows]


async def _is_disabled(session: AsyncSession, owner: str | None, url: str) -> bool:
    found = await session.scalar(
        select(DisabledEndpointRow.url).where(
            DisabledEndpointRow.owner_scope == _scope(owner), DisabledEndpointRow.url == url
        )
    )
    return found is not None


async def insert_delivery(session: AsyncSession, new: NewDelivery) -> DeliveryRow:
    """Add ``new`` to the outbox inside the caller's transaction (so it commits with whatever the caller
    writes beside it, e.g. the events it announces). Due at once; ``disabled`` when its endpoint is."""
    if len(new.event_type) > _MAX_EVENT_TYPE:
        raise InvalidValue(f"event_type: longer than {_MAX_EVENT_TYPE} characters")
    now = aware(new.now, "now") or utcnow()
    disabled = await _is_disabled(session, new.owner, new.url)
    row = DeliveryRow(
        id=new.id,
        owner=new.owner,
        job_id=new.job_id,
        session_id=new.session_id,
        url=new.url,
        event_type=new.event_type,
        body=new.body,
        status=(DeliveryStatus.DISABLED if disabled else DeliveryStatus.PENDING).value,
        attempt_count=0,
        next_attempt_at=now,
        lease_until=None,
        last_status_code=None,
        last_error="endpoint disabled (it answered 410 Gone earlier); not sent" if disabled else None,
        created_at=now,
        queued_at=now,
        delivered_at=None,
    )
    session.add(row)
    return row


class DeliveriesMixin(StoreBase):
    async def enqueue_delivery(
        self,
        *,
        url: str,
        event_type: str,
        body: str,
        owner: str | None = None,
        job_id: str | None = None,
        session_id: str | None = None,
        delivery_id: str | None = None,
        now: datetime | None = None,
    ) -> DeliveryRecord:
        """Write a delivery to the outbox, due at once; do this before anything is sent.

        ``body`` is stored and sent byte for byte. ``delivery_id`` (default a new ``msg_…``) becomes the
        ``webhook-id``. A delivery to an endpoint disabled for ``owner`` is stored as ``disabled`` and never
        sent. Raises :class:`JobNotFound` / :class:`SessionNotFound` for a missing job or session.
        A delivery that announces stored events is better written with them: ``add_events(deliveries=…)``.
        """
        new = NewDelivery(delivery_id or new_id("msg"), url, event_type, body, owner, job_id, session_id, now)
        if len(event_type) > _MAX_EVENT_TYPE:
            raise InvalidValue(f"event_type: longer than {_MAX_EVENT_TYPE} characters")
        async with self._tx(write=True) as session:
            if job_id is not None:
                await self._require_owner(session, "job", job_id)
            if session_id is not None:
                await self._require_owner(session, "session", session_id)
            row = await insert_delivery(session, new)
            await session.flush()
            return _record(row, ())

    async def claim_due_deliveries(self, now: datetime, limit: int, lease_seconds: float) -> list[DeliveryRecord]:
        """Lease up to ``limit`` due deliveries to the caller, oldest due first.

        Due: ``pending`` rows whose ``next_attempt_at`` has come, and ``delivering`` rows whose lease has
        expired. They move to ``delivering`` with ``lease_until = now + lease_seconds``; the caller must
        :meth:`record_attempt` before then. Concurrent claimers never get the same row: on PostgreSQL the
        candidates are locked with ``FOR UPDATE SKIP LOCKED`` (others skip them instead of waiting), on
        SQLite the write transaction is exclusive; the UPDATE re-checks due-ness either way. Due rows whose
        endpoint has been disabled are moved to ``disabled`` instead of being handed out.
        """
        now = aware(now, "now") or utcnow()
        if limit <= 0:
            return []
        if lease_seconds <= 0:
            raise InvalidValue("lease_seconds must be > 0")
        async with self._tx(write=True) as session:
            candidates = select(DeliveryRow.id).where(_due(now)).order_by(DeliveryRow.next_attempt_at, DeliveryRow.id)
            candidates = candidates.limit(limit)
            if self._engine.dialect.name == "postgresql":
                candidates = candidates.with_for_update(skip_locked=True)
            ids = list(await session.scalars(candidates))
            if not ids:
                return []
            await session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.id.in_(ids), _due(now), _endpoint_disabled())
                .values(
                    status=DeliveryStatus.DISABLED.value,
                    lease_until=None,
                    last_error="endpoint disabled (it answered 410 Gone); not sent",
                )
                .execution_options(synchronize_session=False)
            )
            claimed = await session.scalars(
                update(DeliveryRow)
                .where(DeliveryRow.id.in_(ids), _due(now))
                .values(status=DeliveryStatus.DELIVERING.value, lease_until=now + timedelta(seconds=lease_seconds))
                .returning(DeliveryRow)
                .execution_options(synchronize_session=False)
            )
            rows = sorted(claimed, key=lambda r: (r.next_attempt_at, r.id))
            return await _records(session, rows)

    async def record_attempt(
        self,
        delivery_id: str,
        *,
        outcome: AttemptOutcome | str,
        status_code: int | None = None,
        error: str | None = None,
        duration_ms: int = 0,
        next_attempt_at: datetime | None = None,
        attempted_at: datetime | None = None,
    ) -> DeliveryRecord:
        """Store one attempt and move the delivery on according to ``outcome``.

        ``delivered``: done (``delivered_at`` set). ``retry``: back to ``pending`` until ``next_attempt_at``
        (required). ``failed``: given up. ``disabled``: the receiver answered 410 Gone; the endpoint
        (owner + URL) is disabled and the owner's other pending deliveries to it are disabled as well.
        The attempt is always kept; the status only moves if the delivery is still ``delivering`` (or
        ``pending``, for a success). Raises :class:`DeliveryNotFound`.
        """
        outcome = member(AttemptOutcome, outcome, "outcome")
        next_attempt_at = aware(next_attempt_at, "next_attempt_at")
        if outcome is AttemptOutcome.RETRY and next_attempt_at is None:
            raise InvalidValue("next_attempt_at: required when the outcome is retry")
        at = aware(attempted_at, "attempted_at") or utcnow()
        async with self._tx(write=True) as session:
            row = await session.get(DeliveryRow, delivery_id, with_for_update=True)
            if row is None:
                raise DeliveryNotFound(f"delivery {delivery_id!r} not found")
            attempt = AttemptRow(id=new_id("att"), delivery_id=delivery_id, attempted_at=at, status_code=status_code)
            attempt.error, attempt.duration_ms = error, max(0, int(duration_ms))
            session.add(attempt)
            # A success also counts from pending: a slow attempt may have outlived its lease.
            movable = {DeliveryStatus.DELIVERING.value}
            if outcome is AttemptOutcome.DELIVERED:
                movable.add(DeliveryStatus.PENDING.value)
            if row.status in movable:
                row.attempt_count += 1
                row.last_status_code = status_code
                row.last_error = error
                row.lease_until = None
                if outcome is AttemptOutcome.DELIVERED:
                    row.status, row.delivered_at = DeliveryStatus.DELIVERED.value, at
                elif outcome is AttemptOutcome.RETRY:
                    assert next_attempt_at is not None
                    row.status, row.next_attempt_at = DeliveryStatus.PENDING.value, next_attempt_at
                elif outcome is AttemptOutcome.FAILED:
                    row.status = DeliveryStatus.FAILED.value
                else:
                    row.status = DeliveryStatus.DISABLED.value
                    await self._disable_endpoint(session, row, status_code, error, at)
            await session.flush()
            return (await _records(session, [row]))[0]

    async def _disable_endpoint(
        self, session: AsyncSession, row: DeliveryRow, status_code: int | None, error: str | None, at: datetime
    ) -> None:
        reason = error or f"disabled after delivery {row.id}"
        # Two dispatchers may see 410 from one endpoint at once; the first row wins, the second is a no-op.
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(DisabledEndpointRow).values(
            owner_scope=_scope(row.owner), url=row.url, status_code=status_code, reason=reason, disabled_at=at
        )
        await session.execute(insert.on_conflict_do_nothing())
        await session.execute(
            update(DeliveryRow)
            .where(
                func.coalesce(DeliveryRow.owner, "") == _scope(row.owner),
                DeliveryRow.url == row.url,
                DeliveryRow.status == DeliveryStatus.PENDING.value,
                DeliveryRow.id != row.id,
            )
            .values(
                status=DeliveryStatus.DISABLED.value,
                last_error=f"endpoint disabled: it answered 410 Gone to delivery {row.id}",
            )
            .execution_options(synchronize_session=False)
        )

    async def get_delivery(self, delivery_id: str, owner: str | None = None) -> DeliveryRecord | None:
        """The delivery with its attempts, or ``None`` when it does not exist or belongs to another owner."""
        async with self._tx(write=False) as session:
            row = await session.scalar(select(DeliveryRow).where(DeliveryRow.id == delivery_id, *_visible(owner)))
            return None if row is None else (await _records(session, [row]))[0]

    async def list_deliveries(
        self,
        job_id: str | None = None,
        session_id: str | None = None,
        owner: str | None = None,
        status: str | Iterable[str] | None = None,
        limit: int | None = None,
    ) -> list[DeliveryRecord]:
        """Deliveries with their attempts, newest first, filtered by job, session, owner and status."""
        conditions = _visible(owner)
        if job_id is not None:
            conditions.append(DeliveryRow.job_id == job_id)
        if session_id is not None:
            conditions.append(DeliveryRow.session_id == session_id)
        if status is not None:
            conditions.append(DeliveryRow.status.in_(members(DeliveryStatus, status, "status")))
        async with self._tx(write=False) as session:
            rows = await session.scalars(
                select(DeliveryRow)
                .where(*conditions)
                .order_by(DeliveryRow.created_at.desc(), DeliveryRow.id)
                .limit(None if limit is None else max(0, limit))
            )
            return await _records(session, rows)

    async def resend_delivery(
        self, delivery_id: str, owner: str | None = None, now: datetime | None = None
    ) -> DeliveryRecord:
        """Queue the delivery again, due now, with the same id (so the same ``webhook-id``) and body.

        A new round of attempts starts (``attempt_count`` 0, ``queued_at`` now); earlier attempts stay
        listed. Raises :class:`DeliveryNotFound`, :class:`DeliveryInFlight` while a dispatcher holds
        it, and :class:`EndpointDisabled` when its endpoint was disabled (see :meth:`enable_endpoint`).
        """
        now = aware(now, "now") or utcnow()
        async with self._tx(write=True) as session:
            row = await session.scalar(
                select(DeliveryRow).where(DeliveryRow.id == delivery_id, *_visible(owner)).with_for_update()
            )
            if row is None:
                raise DeliveryNotFound(f"delivery {delivery_id!r} not found")
            if row.status == DeliveryStatus.DELIVERING.value and (row.lease_until is None or row.lease_until > now):
                raise DeliveryInFlight(f"delivery {delivery_id!r} is being sent")
            if await _is_disabled(session, row.owner, row.url):
                raise EndpointDisabled(f"webhook endpoint of delivery {delivery_id!r} is disabled")
            row.status = DeliveryStatus.PENDING.value
            row.next_attempt_at = now
            row.lease_until = None
            row.attempt_count = 0
            row.queued_at = now
            row.delivered_at = None
            await session.flush()
            return (await _records(session, [row]))[0]

    async def next_delivery_due(self) -> datetime | None:
        """When the next delivery becomes due (a pending retry, or a lease running out); ``None``: nothing queued."""
        async with self._tx(write=False) as session:
            pending = await session.scalar(
                select(func.min(DeliveryRow.next_attempt_at)).where(DeliveryRow.status == DeliveryStatus.PENDING.value)
            )
            leased = await session.scalar(
                select(func.min(DeliveryRow.lease_until)).where(DeliveryRow.status == DeliveryStatus.DELIVERING.value)
            )
        times = [t for t in (pending, leased) if t is not None]
        return min(times) if times else None

    # -- disabled endpoints ----------------------------------------------------------------------

    async def is_endpoint_disabled(self, owner: str | None, url: str) -> bool:
        """Whether deliveries from ``owner`` to ``url`` are switched off (the receiver answered 410 Gone)."""
        async with self._tx(write=False) as session:
            return await _is_disabled(session, owner, url)

    async def list_disabled_endpoints(self, owner: str | None = None) -> list[DisabledEndpointRecord]:
        """Disabled endpoints, newest first (all owners when ``owner`` is ``None``)."""
        query = select(DisabledEndpointRow).order_by(DisabledEndpointRow.disabled_at.desc(), DisabledEndpointRow.url)
        if owner is not None:
            query = query.where(DisabledEndpointRow.owner_scope == _scope(owner))
        async with self._tx(write=False) as session:
            rows = await session.scalars(query)
            return [
                DisabledEndpointRecord(r.owner_scope or None, r.url, r.status_code, r.reason, r.disabled_at)
                for r in rows
            ]

    async def enable_endpoint(self, owner: str | None, url: str) -> bool:
        """Allow deliveries from ``owner`` to ``url`` again; ``True`` if it was disabled.

        Deliveries disabled with it stay ``disabled``; :meth:`resend_delivery` queues them again.
        """
        async with self._tx(write=True) as session:
            result = await session.execute(
                delete(DisabledEndpointRow).where(
                    DisabledEndpointRow.owner_scope == _scope(owner), DisabledEndpointRow.url == url
                )
            )
            return bool(getattr(result, "rowcount", 0))
