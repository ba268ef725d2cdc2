"""Throwaway PostgreSQL databases for tests: one per test, dropped with its connections afterwards."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import make_url


@contextmanager
def fresh_pg_database(base_url: str, prefix: str = "livesight_t") -> Iterator[str]:
    """A new empty database on the server of ``base_url`` (an SQLAlchemy URL), dropped on exit."""
    import psycopg

    base = make_url(base_url)
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
