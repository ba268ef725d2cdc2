"""The :class:`Store`: LiveSight's database, one object per process."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import text
from sqlalchemy.engine import URL

from livesight.store._checks import ChecksMixin
from livesight.store._deliveries import DeliveriesMixin
from livesight.store._engine import create_engine, normalise_url, prepare_sqlite_file, upgrade
from livesight.store._idempotency import IdempotencyMixin
from livesight.store._keys import KeysMixin
from livesight.store._runs import RunsMixin
from livesight.store._timeline import TimelineMixin


class Store(RunsMixin, TimelineMixin, KeysMixin, DeliveriesMixin, IdempotencyMixin, ChecksMixin):
    """Async access to streams, sessions, jobs, chunks, events, gaps, API keys, the webhook outbox, idempotency keys,
    job checks and archived runs.

    Build it with :meth:`open` in the app's lifespan and :meth:`close` it on shutdown. Every method
    runs in its own transaction and returns frozen records (``livesight.store.records``), never ORM
    objects. ``owner=None`` on a getter means "no owner filter"; with an owner, other owners' rows
    read as missing.
    """

    @classmethod
    async def open(cls, url: str | URL, *, migrate: bool = True, echo: bool = False) -> Store:
        """Connect to ``url`` and bring its schema to the newest migration.

        ``sqlite:///path`` and ``postgresql://`` URLs get the async drivers (aiosqlite, psycopg 3);
        a SQLite file's directory is created, and the file runs in WAL mode with foreign keys on.
        """
        parsed = normalise_url(url)
        await prepare_sqlite_file(parsed)
        engine = create_engine(parsed, echo=echo)
        try:
            if migrate:
                await upgrade(engine)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine)

    @property
    def url(self) -> URL:
        """The database URL (``render_as_string(hide_password=True)`` before logging it)."""
        return self._engine.url

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._engine.dialect.name

    async def ping(self) -> None:
        """Run ``SELECT 1``; raises when the database cannot be reached (for health checks)."""
        async with self._tx(write=False) as session:
            await session.execute(text("SELECT 1"))

    async def close(self) -> None:
        """Close every pooled connection. The store cannot be used afterwards."""
        await self._engine.dispose()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
