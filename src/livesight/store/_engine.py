"""Building the async engine for a URL and bringing its schema to the newest migration."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from livesight.errors import ConfigurationError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# Execution option marking connections that will write; on SQLite their transactions BEGIN IMMEDIATE.
WRITE_OPTION = "livesight_write"

# How long a SQLite writer waits for another process's write lock before failing ("database is locked").
SQLITE_BUSY_TIMEOUT_SECONDS = 30.0

# Any constant works; it only has to be the same in every process migrating one PostgreSQL database.
_PG_MIGRATION_LOCK = 0x4C495645  # "LIVE"


def normalise_url(url: str | URL) -> URL:
    """Pick the async driver for plain ``sqlite://`` / ``postgresql://`` URLs; refuse other backends."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(
            f"not a database URL: {exc}", remediation="Set LIVESIGHT_DATABASE_URL to a sqlite:/// or postgresql:// URL."
        ) from None
    backend = parsed.drivername.partition("+")[0]
    if backend == "sqlite":
        target = "sqlite+aiosqlite"
    elif backend in ("postgresql", "postgres"):
        target = "postgresql+psycopg"
    else:
        raise ConfigurationError(
            f"unsupported database backend {backend!r}",
            remediation="Use a sqlite:/// file URL or a postgresql+psycopg:// URL.",
        )
    if parsed.drivername != target:
        parsed = parsed.set(drivername=target)
    if target == "sqlite+aiosqlite" and parsed.database and parsed.database.startswith("~"):
        parsed = parsed.set(database=str(Path(parsed.database).expanduser()))
    return parsed


def is_memory_sqlite(url: URL) -> bool:
    database = url.database or ""
    return url.get_backend_name() == "sqlite" and (
        database == "" or ":memory:" in database or "mode=memory" in database
    )


def sqlite_file(url: URL) -> Path | None:
    """The database file of a plain SQLite file URL (``None`` for memory and ``file:`` URI databases)."""
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or is_memory_sqlite(url) or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def _enable_wal(path: Path) -> None:
    # Switching a fresh file to WAL needs an exclusive lock, and SQLite may refuse it at once (without
    # calling the busy handler) while another process does the same; WAL is persistent, so retry briefly.
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_SECONDS
    while True:
        try:
            with closing(sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_SECONDS)) as conn:
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
            continue
        if str(mode).lower() != "wal":
            raise ConfigurationError(
                f"SQLite refused WAL mode for {path} (journal_mode={mode})",
                remediation="Put the data directory on a local file system, or use PostgreSQL.",
            )
        return


async def prepare_sqlite_file(url: URL) -> None:
    """Create the directory of a SQLite file and switch the file to WAL (readers never block the writer)."""
    path = sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(_enable_wal, path)


def create_engine(url: URL, *, echo: bool = False) -> AsyncEngine:
    """An engine for ``url`` with LiveSight's SQLite settings (foreign keys, explicit BEGIN) applied.

    Call :func:`prepare_sqlite_file` first for SQLite files; WAL mode is a property of the file.
    """
    if url.get_backend_name() != "sqlite":
        # pre_ping: a PostgreSQL restart must not leave dead connections in the pool.
        return create_async_engine(url, echo=echo, pool_pre_ping=True)

    connect_args: dict[str, Any] = {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
    engine = create_async_engine(url, echo=echo, connect_args=connect_args)
    on_file = sqlite_file(url) is not None

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # sqlite3's legacy mode BEGINs lazily (and not before SELECTs); we emit BEGIN ourselves instead.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if on_file:
                # NORMAL is durable across application crashes in WAL mode and much faster than FULL.
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A deferred transaction that reads and then writes can fail with SQLITE_BUSY without waiting,
        # so writers take the write lock up front and queue on busy_timeout instead.
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for the migrations shipped in this package (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Without it Alembic ≥ 1.16 warns and splits paths on spaces; older versions ignore the option.
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    if connection.dialect.name == "postgresql":
        # Two processes starting together must not both create the tables; the lock ends with the transaction.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
    command.upgrade(alembic_config(connection), revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Run ``alembic upgrade <revision>`` on ``engine`` in one transaction."""
    async with engine.execution_options(**{WRITE_OPTION: True}).begin() as conn:
        await conn.run_sync(_upgrade, revision)
