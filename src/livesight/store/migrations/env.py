"""Alembic environment for LiveSight's store.

At runtime :func:`livesight.store._engine.upgrade` hands in an open connection (``config.attributes``).
From the command line (developers writing a revision) the URL comes from ``sqlalchemy.url`` in
``alembic.ini`` beside this file, or from ``LIVESIGHT_DATABASE_URL``.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from livesight.store._engine import create_engine, normalise_url, prepare_sqlite_file
from livesight.store.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode recreates the table when it must.
        render_as_batch=True,
        compare_type=True,
        **kwargs,  # type: ignore[arg-type]
    )


def _url() -> str:
    from livesight.settings import load_settings

    return config.get_main_option("sqlalchemy.url") or load_settings().resolved_database_url()


def _run(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_from_url() -> None:
    url = normalise_url(_url())
    await prepare_sqlite_file(url)
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    _configure(url=str(normalise_url(_url())), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    else:
        asyncio.run(_run_from_url())
