from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, make_url, text

from livesight.errors import ConfigurationError
from livesight.store import Store, alembic_config, normalise_url
from livesight.store._engine import upgrade
from livesight.store.models import Base

TABLES = {"streams", "sessions", "jobs", "chunks", "events", "gaps"}


def _head() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


async def test_open_migrates_an_empty_database_to_head(database_url: str) -> None:
    store = await Store.open(database_url)
    try:
        async with store._engine.connect() as conn:
            assert await conn.run_sync(_current) == _head() == "0006"
            assert TABLES <= await conn.run_sync(_tables)
    finally:
        await store.close()


async def test_open_is_idempotent_and_keeps_data(database_url: str) -> None:
    first = await Store.open(database_url)
    stream = await first.create_stream("door", "rtsp://cam/door")
    await upgrade(first._engine)  # a second upgrade on an up-to-date database does nothing
    await first.close()

    second = await Store.open(database_url)
    try:
        assert await second.get_stream(stream.id) == stream
        async with second._engine.connect() as conn:
            assert await conn.run_sync(_current) == _head()
    finally:
        await second.close()


async def test_concurrent_opens_of_one_empty_database_migrate_once(database_url: str) -> None:
    stores = await asyncio.gather(*(Store.open(database_url) for _ in range(3)))
    try:
        for store in stores:
            assert await store.list_streams() == []
        async with stores[0]._engine.connect() as conn:
            assert await conn.run_sync(_current) == _head()
    finally:
        for store in stores:
            await store.close()


async def test_models_match_migrations(database_url: str) -> None:
    def diff(conn: Connection) -> list[Any]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    store = await Store.open(database_url)
    try:
        async with store._engine.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await store.close()


async def test_downgrade_to_base_and_upgrade_again(database_url: str) -> None:
    def downgrade(conn: Connection) -> None:
        command.downgrade(alembic_config(conn), "base")

    store = await Store.open(database_url)
    try:
        async with store._engine.begin() as conn:
            await conn.run_sync(downgrade)
        async with store._engine.connect() as conn:
            assert not (TABLES & await conn.run_sync(_tables))
        await upgrade(store._engine)
        stream = await store.create_stream("door", "rtsp://cam/door")
        assert await store.get_stream(stream.id) == stream
    finally:
        await store.close()


async def test_sqlite_file_gets_its_directory_wal_and_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "livesight.db"
    store = await Store.open(f"sqlite:///{path}")  # plain sqlite:// gets the aiosqlite driver
    try:
        assert path.exists()
        assert store.dialect == "sqlite"
        async with store._engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    finally:
        await store.close()


async def test_in_memory_sqlite_works_with_concurrent_callers() -> None:
    async with await Store.open("sqlite+aiosqlite://") as store:
        streams = await asyncio.gather(*(store.create_stream(f"s{i}", "rtsp://cam") for i in range(10)))
        assert {s.id for s in await store.list_streams()} == {s.id for s in streams}


def test_normalise_url_picks_async_drivers() -> None:
    assert normalise_url("sqlite:///x.db").drivername == "sqlite+aiosqlite"
    assert normalise_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url(make_url("postgresql+psycopg://u@h/db")).database == "db"
    with pytest.raises(ConfigurationError):
        normalise_url("mysql://u@h/db")
    with pytest.raises(ConfigurationError):
        normalise_url("not a url")
