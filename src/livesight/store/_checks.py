"""A monitor job's checks (the UI's chart), archived runs, and deleting an ended run with its rows.

Checks are what the job's ``progress`` SSE events say, kept: one row per check point (the model's verdict,
or the change gate's reuse of the last one, or a failed call), written in small batches by the job's sink.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select

from livesight.store._base import StoreBase, _not_found
from livesight.store._convert import event_record
from livesight.store._convert import owner_kind as _kind
from livesight.store.models import (
    ArchivedRunRow,
    ChunkRow,
    EventRow,
    GapRow,
    JobCheckRow,
    JobRow,
    SessionRow,
)
from livesight.store.records import EventRecord, OwnerKind, utcnow

_FRAMED_LOOKBACK = 50  # newest events of a run searched for one with a saved frame


@dataclass(frozen=True, slots=True)
class JobCheck:
    """One check point of a monitor job. ``triggered`` is None when the check failed (no verdict)."""

    stream_time: float
    triggered: bool | None
    confidence: float | None
    reused: bool
    failed: bool


@dataclass(frozen=True, slots=True)
class JobChecks:
    """A job's newest checks in stream order, and how many it has in all (``total > len(checks)``: cut)."""

    checks: list[JobCheck]
    total: int


class ChecksMixin(StoreBase):
    # -- checks ----------------------------------------------------------------------------------

    async def add_checks(self, job_id: str, checks: Sequence[JobCheck]) -> None:
        """Append ``checks`` to a job, all or none. Raises :class:`JobNotFound` for an unknown job."""
        if not checks:
            return
        now = utcnow()
        async with self._tx(write=True) as session:
            await self._require_owner(session, "job", job_id)
            session.add_all(
                JobCheckRow(
                    job_id=job_id,
                    stream_time=c.stream_time,
                    triggered=c.triggered,
                    confidence=c.confidence,
                    reused=c.reused,
                    failed=c.failed,
                    created_at=now,
                )
                for c in checks
            )

    async def list_checks(self, job_id: str, limit: int = 2000) -> JobChecks:
        """The newest ``limit`` checks of a job, oldest first (empty for an unknown job)."""
        async with self._tx(write=False) as session:
            total = await session.scalar(select(func.count()).where(JobCheckRow.job_id == job_id)) or 0
            rows = await session.scalars(
                select(JobCheckRow)
                .where(JobCheckRow.job_id == job_id)
                .order_by(JobCheckRow.stream_time.desc(), JobCheckRow.id.desc())
                .limit(limit)
            )
            checks = [JobCheck(r.stream_time, r.triggered, r.confidence, r.reused, r.failed) for r in rows]
        checks.reverse()
        return JobChecks(checks, int(total))

    # -- a run's newest frame ------------------------------------------------------------------

    async def newest_framed_event(self, owner_kind: OwnerKind, owner_id: str) -> EventRecord | None:
        """The newest of a run's recent events that has a saved frame (``data["frame_path"]``), if any."""
        column = EventRow.session_id if _kind(owner_kind) == "session" else EventRow.job_id
        async with self._tx(write=False) as session:
            rows = await session.scalars(
                select(EventRow).where(column == owner_id).order_by(EventRow.seq.desc()).limit(_FRAMED_LOOKBACK)
            )
            return next((event_record(r) for r in rows if (r.data or {}).get("frame_path")), None)

    # -- archive -------------------------------------------------------------------------------

    async def archive_run(self, owner_kind: OwnerKind, run_id: str) -> datetime:
        """Mark a session or job archived (again: no change); returns when it was archived."""
        kind = _kind(owner_kind)
        async with self._tx(write=True) as session:
            await self._require_owner(session, kind, run_id)
            row = await session.get(ArchivedRunRow, run_id)
            if row is None:
                row = ArchivedRunRow(run_id=run_id, kind=kind, archived_at=utcnow())
                session.add(row)
                await session.flush()
            return row.archived_at

    async def unarchive_run(self, run_id: str) -> None:
        """Show the run on the overview again (nothing happens when it was not archived)."""
        async with self._tx(write=True) as session:
            await session.execute(delete(ArchivedRunRow).where(ArchivedRunRow.run_id == run_id))

    async def archived_runs(self, run_ids: Iterable[str]) -> dict[str, datetime]:
        """Which of ``run_ids`` are archived, and since when."""
        wanted = list(run_ids)
        if not wanted:
            return {}
        async with self._tx(write=False) as session:
            rows = await session.scalars(select(ArchivedRunRow).where(ArchivedRunRow.run_id.in_(wanted)))
            return {r.run_id: r.archived_at for r in rows}

    # -- delete --------------------------------------------------------------------------------

    async def delete_run(self, owner_kind: OwnerKind, run_id: str) -> None:
        """Delete a session or job with its chunks, events, gaps, checks and archive mark (not its files:
        the caller removes the recording). Raises :class:`SessionNotFound` / :class:`JobNotFound`."""
        kind = _kind(owner_kind)
        table = SessionRow if kind == "session" else JobRow
        async with self._tx(write=True) as session:
            await self._require_owner(session, kind, run_id)
            # Explicit rather than ON DELETE CASCADE alone: SQLite honours it only with foreign keys on.
            for row_table in (ChunkRow, EventRow, GapRow):
                column = row_table.session_id if kind == "session" else row_table.job_id
                await session.execute(delete(row_table).where(column == run_id))
            if kind == "job":
                await session.execute(delete(JobCheckRow).where(JobCheckRow.job_id == run_id))
            await session.execute(delete(ArchivedRunRow).where(ArchivedRunRow.run_id == run_id))
            result = await session.execute(delete(table).where(table.id == run_id))
            if not result.rowcount:  # type: ignore[attr-defined]
                raise _not_found(kind, run_id)
