"""Store tests run on SQLite (a file under tmp_path) and, with ``LIVESIGHT_TEST_DATABASE_URL`` set,
on PostgreSQL too, each test in a database of its own that is dropped afterwards."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from livesight.store import Store
from livesight.testing.databases import fresh_pg_database
from livesight.types import Event

PG_ENV = "LIVESIGHT_TEST_DATABASE_URL"

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgres", marks=pytest.mark.postgres),
]


def sqlite_url(directory: Path) -> str:
    # A directory that does not exist yet: Store.open must create it.
    return f"sqlite+aiosqlite:///{directory / 'data' / 'livesight.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database; the test is skipped when ``LIVESIGHT_TEST_DATABASE_URL`` is not set."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set")
    with fresh_pg_database(base) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file path, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    opened = await Store.open(database_url)
    try:
        yield opened
    finally:
        await opened.close()


def make_event(n: int = 0, *, event_id: str | None = None, created_at: str = "2025-03-01T12:00:00Z") -> Event:
    """An event whose timing fields agree with each other (SPEC §2), varying with ``n``."""
    chunk_index = n // 3
    relative = 1.5 + (n % 3)
    offset = chunk_index * 10.0
    return Event(
        event_id=event_id or f"evt_{secrets.token_hex(12)}",
        type="detection",
        label=f"person {n}",
        description="a person walks to the door",
        severity="high",
        confidence=0.875,
        stream_time=offset + relative,
        capture_time=offset + relative + 100.0,
        chunk_index=chunk_index,
        chunk_relative_time=relative,
        hls_cumulative_offset=offset,
        t_start="00:11",
        t_end="00:13",
        created_at=created_at,
        analysis_id="ana_1",
        chunk_id=f"chk_{chunk_index}",
        end_time=offset + relative + 2.0,
    )


@pytest.fixture
def make_event_fn() -> Callable[..., Event]:
    """:func:`make_event`, for tests (conftest modules are not imported by name)."""
    return make_event
