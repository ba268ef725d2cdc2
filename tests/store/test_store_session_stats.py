"""Sessions keep their counters (migration 0003), and the migration goes down and up cleanly."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Connection, inspect

from livesight.store import Store, alembic_config
from livesight.store._engine import upgrade


def _session_columns(conn: Connection) -> set[str]:
    return {column["name"] for column in inspect(conn).get_columns("sessions")}


async def test_session_stats_are_stored_and_survive_migration_0003(store: Store) -> None:
    stream = await store.create_stream("door", "rtsp://cam/door")
    session = await store.create_session(stream.id, "door", "rtsp://cam/door", "red square", {}, None)
    assert session.stats == {}
    stats = {"model_calls": 9, "images_sent": 90, "tokens": {"input": 7650, "output": 400}, "frames_skipped": 0}
    updated = await store.update_session(session.id, stats=stats, chunk_count=9)
    assert updated.stats == stats and (await store.get_session(session.id)).stats == stats  # type: ignore[union-attr]

    def downgrade(conn: Connection) -> None:
        command.downgrade(alembic_config(conn), "0002")

    async with store._engine.begin() as conn:
        await conn.run_sync(downgrade)
    async with store._engine.connect() as conn:
        assert "stats" not in await conn.run_sync(_session_columns)
    await upgrade(store._engine)
    async with store._engine.connect() as conn:
        assert "stats" in await conn.run_sync(_session_columns)
    kept = await store.get_session(session.id)
    assert kept is not None and kept.chunk_count == 9 and kept.stats == {}  # the row survived; its stats did not
