"""Chunks, events and gaps: what happens along a session's or job's timeline."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from livesight.store._base import StoreBase, owner_columns
from livesight.store._convert import chunk_record, event_record, gap_record, member, parse_created_at
from livesight.store._convert import owner_kind as _kind
from livesight.store._deliveries import insert_delivery
from livesight.store.errors import ChunkNotFound, Conflict, InvalidValue, NotFound, SessionNotFound
from livesight.store.models import ChunkRow, EventRow, GapRow, SessionRow
from livesight.store.records import ChunkRecord, EventRecord, GapRecord, NewDelivery, OwnerKind, new_id, utcnow
from livesight.types import Chunk, ChunkStatus, Event


class TimelineMixin(StoreBase):
    # -- chunks ----------------------------------------------------------------------------------

    async def add_chunk(self, owner_kind: OwnerKind, owner_id: str, chunk: Chunk) -> ChunkRecord:
        """Store ``chunk`` under a session or job; a session's ``chunk_count`` goes up by one with it.

        ``chunk.chunk_id`` becomes the row id (a new ``chk_…`` id when empty), so it must be unique
        across the database. Raises :class:`SessionNotFound` / :class:`JobNotFound`, or
        :class:`Conflict` when the chunk id or (owner, index) already exists.
        """
        owner_kind = _kind(owner_kind)
        row = ChunkRow(
            id=chunk.chunk_id or new_id("chk"),
            **owner_columns(owner_kind, owner_id),
            chunk_index=chunk.index,
            start_time=chunk.start_time,
            end_time=chunk.end_time,
            path=chunk.path,
            status=member(ChunkStatus, chunk.status, "status").value,
            analysis_id=None,
            event_count=0,
            discontinuity=chunk.discontinuity,
            created_at=utcnow(),
        )
        try:
            async with self._tx(write=True) as session:
                if owner_kind == "session":
                    bumped = await session.scalar(
                        update(SessionRow)
                        .where(SessionRow.id == owner_id)
                        .values(chunk_count=SessionRow.chunk_count + 1)
                        .returning(SessionRow.id)
                    )
                    if bumped is None:
                        raise SessionNotFound(f"session {owner_id!r} not found")
                else:
                    await self._require_owner(session, owner_kind, owner_id)
                session.add(row)
                await session.flush()
                return chunk_record(row)
        except IntegrityError as exc:
            raise Conflict(f"chunk {row.id!r} or index {chunk.index} of {owner_kind} {owner_id!r} exists") from exc

    async def update_chunk(
        self,
        chunk_id: str,
        *,
        status: str | None = None,
        analysis_id: str | None = None,
        event_count: int | None = None,
        path: str | None = None,
        end_time: float | None = None,
    ) -> ChunkRecord:
        """Set the given fields (``None`` leaves a field as it is). Raises :class:`ChunkNotFound`."""
        values: dict[str, Any] = {
            "status": None if status is None else member(ChunkStatus, status, "status").value,
            "analysis_id": analysis_id,
            "event_count": event_count,
            "path": path,
            "end_time": end_time,
        }
        async with self._tx(write=True) as session:
            row = await session.get(ChunkRow, chunk_id, with_for_update=True)
            if row is None:
                raise ChunkNotFound(f"chunk {chunk_id!r} not found")
            for key, value in values.items():
                if value is not None:
                    setattr(row, key, value)
            await session.flush()
            return chunk_record(row)

    async def list_chunks(self, owner_kind: OwnerKind, owner_id: str) -> list[ChunkRecord]:
        """A session's or job's chunks in index order (empty when the owner does not exist)."""
        column = ChunkRow.session_id if _kind(owner_kind) == "session" else ChunkRow.job_id
        async with self._tx(write=False) as session:
            rows = await session.scalars(select(ChunkRow).where(column == owner_id).order_by(ChunkRow.chunk_index))
            return [chunk_record(r) for r in rows]

    # -- events ----------------------------------------------------------------------------------

    async def add_events(
        self,
        owner_kind: OwnerKind,
        owner_id: str,
        events: Sequence[Event],
        data: Sequence[Mapping[str, Any]] | None = None,
        *,
        deliveries: Deliveries | None = None,
    ) -> list[EventRecord]:
        """Append events to a session or job, all or none, numbering them with the next ``seq`` values.

        ``data[i]`` is the extra payload of ``events[i]``. ``event.event_id`` is the row id (unique
        across the database) and ``event.created_at`` (ISO-8601; empty means now) is kept as aware UTC.
        ``deliveries``, given the stored records (their ``seq`` known), returns the webhook messages that
        announce them: they go to the outbox in the same transaction, so a crash loses neither without the
        other. Raises :class:`SessionNotFound` / :class:`JobNotFound`, or :class:`Conflict` on a duplicate
        event (or delivery) id.
        """
        owner_kind = _kind(owner_kind)
        if data is not None and len(data) != len(events):
            raise InvalidValue(f"data has {len(data)} items for {len(events)} events")
        if not events:
            return []
        try:
            async with self._tx(write=True) as session:
                return await insert_events(session, owner_kind, owner_id, events, data, deliveries)
        except IntegrityError as exc:
            raise Conflict(f"an event or delivery id of this batch already exists ({owner_kind} {owner_id!r})") from exc

    async def update_event_end(self, event_id: str, *, end_time: float, t_end: str) -> EventRecord:
        """Move a stored event's end to ``end_time`` (``t_end`` the same moment as ``MM:SS``).

        For an event announced before its appearance ended: nothing else changes, its ``seq`` neither.
        Raises :class:`NotFound` for an unknown event, :class:`InvalidValue` for an end before its start.
        """
        async with self._tx(write=True) as session:
            row = await session.get(EventRow, event_id, with_for_update=True)
            if row is None:
                raise NotFound(f"event {event_id!r} not found")
            if end_time < row.stream_time:
                raise InvalidValue(f"end_time {end_time} is before the event's start {row.stream_time}")
            row.end_time = end_time
            row.t_end = t_end
            await session.flush()
            return event_record(row)

    async def list_events(
        self, owner_kind: OwnerKind, owner_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[EventRecord]:
        """A session's or job's events with ``seq > after_seq``, in ``seq`` order, at most ``limit``."""
        column = EventRow.session_id if _kind(owner_kind) == "session" else EventRow.job_id
        async with self._tx(write=False) as session:
            rows = await session.scalars(
                select(EventRow).where(column == owner_id, EventRow.seq > after_seq).order_by(EventRow.seq).limit(limit)
            )
            return [event_record(r) for r in rows]

    # -- gaps ------------------------------------------------------------------------------------

    async def add_gap(
        self, owner_kind: OwnerKind, owner_id: str, session_time: float, wall_seconds: float, reason: str
    ) -> GapRecord:
        """Record that the source delivered nothing for ``wall_seconds`` at ``session_time``."""
        owner_kind = _kind(owner_kind)
        row = GapRow(
            id=new_id("gap"),
            **owner_columns(owner_kind, owner_id),
            session_time=session_time,
            wall_seconds=wall_seconds,
            reason=reason,
            created_at=utcnow(),
        )
        async with self._tx(write=True) as session:
            await self._require_owner(session, owner_kind, owner_id)
            session.add(row)
            await session.flush()
            return gap_record(row)

    async def list_gaps(self, owner_kind: OwnerKind, owner_id: str) -> list[GapRecord]:
        """A session's or job's gaps in timeline order."""
        column = GapRow.session_id if _kind(owner_kind) == "session" else GapRow.job_id
        async with self._tx(write=False) as session:
            rows = await session.scalars(
                select(GapRow).where(column == owner_id).order_by(GapRow.session_time, GapRow.created_at)
            )
            return [gap_record(r) for r in rows]


Deliveries = Callable[[Sequence[EventRecord]], Iterable[NewDelivery]]
"""Builds the outbox rows that announce just-stored events (see ``Store.add_events``)."""


async def insert_events(
    session: AsyncSession,
    owner_kind: OwnerKind,
    owner_id: str,
    events: Sequence[Event],
    data: Sequence[Mapping[str, Any]] | None,
    deliveries: Deliveries | None = None,
) -> list[EventRecord]:
    """Store ``events`` (and the deliveries that announce them) inside the caller's transaction."""
    payloads = [dict(d) for d in data] if data is not None else [{} for _ in events]
    created = [parse_created_at(e.created_at) for e in events]
    owner = owner_columns(owner_kind, owner_id)
    last = await StoreBase._bump_seq(session, owner_kind, owner_id, len(events))
    first = last - len(events) + 1
    rows = [_event_row(event, first + i, owner, created[i], payloads[i]) for i, event in enumerate(events)]
    session.add_all(rows)
    await session.flush()
    records = [event_record(r) for r in rows]
    if deliveries is not None:
        for new in deliveries(records):
            await insert_delivery(session, new)
        await session.flush()
    return records


def _event_row(
    event: Event, seq: int, owner: dict[str, str | None], created_at: datetime, data: dict[str, Any]
) -> EventRow:
    return EventRow(
        id=event.event_id or new_id("evt"),
        **owner,
        seq=seq,
        type=event.type,
        label=event.label,
        description=event.description,
        severity=event.severity,
        confidence=event.confidence,
        stream_time=event.stream_time,
        capture_time=event.capture_time,
        chunk_index=event.chunk_index,
        chunk_relative_time=event.chunk_relative_time,
        hls_cumulative_offset=event.hls_cumulative_offset,
        t_start=event.t_start,
        t_end=event.t_end,
        analysis_id=event.analysis_id,
        chunk_id=event.chunk_id,
        end_time=event.end_time,
        created_at=created_at,
        data=data,
    )
