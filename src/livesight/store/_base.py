"""The part of :class:`~livesight.store.Store` that the query mixins share: engine and transactions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from livesight.store._convert import owner_kind
from livesight.store._engine import WRITE_OPTION, is_memory_sqlite
from livesight.store.errors import JobNotFound, NotFound, SessionNotFound
from livesight.store.models import JobRow, SessionRow


class StoreBase:
    """Owns the engine; every public method runs in exactly one transaction from :meth:`_tx`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reads = async_sessionmaker(engine, expire_on_commit=False)
        self._writes = async_sessionmaker(engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False)
        sqlite = engine.dialect.name == "sqlite"
        # SQLite admits one writer at a time. Queueing this process's writers here keeps them off
        # busy_timeout's sleep-and-retry loop; writers in other processes still wait on busy_timeout.
        self._write_lock: asyncio.Lock | None = asyncio.Lock() if sqlite else None
        # An in-memory database is one shared connection, so even reads must take turns.
        self._serialise_reads = sqlite and is_memory_sqlite(engine.url)

    @asynccontextmanager
    async def _tx(self, *, write: bool) -> AsyncIterator[AsyncSession]:
        """A session inside a transaction that commits on success and rolls back on any exception."""
        lock: AbstractAsyncContextManager[object] = nullcontext()
        if self._write_lock is not None and (write or self._serialise_reads):
            lock = self._write_lock
        async with lock:
            makers = self._writes if write else self._reads
            async with makers() as session, session.begin():
                yield session

    @staticmethod
    async def _require_owner(session: AsyncSession, kind: str, owner_id: str) -> None:
        """Raise the right NotFound unless the session or job ``owner_id`` exists."""
        kind = owner_kind(kind)
        table = SessionRow if kind == "session" else JobRow
        found = await session.scalar(select(table.id).where(table.id == owner_id))
        if found is None:
            raise _not_found(kind, owner_id)

    @staticmethod
    async def _bump_seq(session: AsyncSession, kind: str, owner_id: str, count: int) -> int:
        """Reserve ``count`` event seqs for ``owner_id``; return the last one.

        The UPDATE takes the parent row's write lock (PostgreSQL) or the database write lock (SQLite)
        until commit, so concurrent writers queue here and see each other's increments; a rollback
        gives the numbers back, which keeps seq free of gaps.
        """
        table = SessionRow if owner_kind(kind) == "session" else JobRow
        last = await session.scalar(
            update(table)
            .where(table.id == owner_id)
            .values(last_event_seq=table.last_event_seq + count)
            .returning(table.last_event_seq)
        )
        if last is None:
            raise _not_found(kind, owner_id)
        return int(last)


def _not_found(kind: str, owner_id: str) -> NotFound:
    if kind == "session":
        return SessionNotFound(f"session {owner_id!r} not found")
    return JobNotFound(f"job {owner_id!r} not found")


def owner_columns(kind: str, owner_id: str) -> dict[str, str | None]:
    """The ``session_id`` / ``job_id`` pair of a chunk, event or gap."""
    if owner_kind(kind) == "session":
        return {"session_id": owner_id, "job_id": None}
    return {"session_id": None, "job_id": owner_id}
