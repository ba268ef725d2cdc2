from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import make_url

from livesight.store import (
    ChunkNotFound,
    Conflict,
    EventRecord,
    InvalidValue,
    JobNotFound,
    NotFound,
    SessionNotFound,
    Store,
)
from livesight.types import Chunk, ChunkStatus, Event

MakeEvent = Callable[..., Event]


async def _session_id(store: Store) -> str:
    stream = await store.create_stream("door", "rtsp://cam/door")
    return (await store.create_session(stream.id, "s", "rtsp://cam/door")).id


async def test_chunk_round_trip_update_and_count(store: Store) -> None:
    session_id = await _session_id(store)
    first = await store.add_chunk(
        "session", session_id, Chunk("chk_a", 0, 0.0, 10.0, "/rec/0.ts", ChunkStatus.RECORDED, discontinuity=False)
    )
    second = await store.add_chunk(
        "session", session_id, Chunk("", 1, 10.0, 19.5, None, ChunkStatus.RECORDING, discontinuity=True)
    )
    assert first.id == "chk_a" and second.id.startswith("chk_")
    assert (second.session_id, second.job_id, second.discontinuity, second.path) == (session_id, None, True, None)
    assert second.duration == pytest.approx(9.5)
    assert first.to_chunk() == Chunk("chk_a", 0, 0.0, 10.0, "/rec/0.ts", ChunkStatus.RECORDED)
    session = await store.get_session(session_id)
    assert session is not None and session.chunk_count == 2

    updated = await store.update_chunk(
        second.id, status="analysed", analysis_id="ana_x", event_count=3, path="/rec/1.ts", end_time=20.0
    )
    assert (updated.status, updated.analysis_id, updated.event_count) == (ChunkStatus.ANALYSED, "ana_x", 3)
    assert (updated.path, updated.end_time, updated.created_at) == ("/rec/1.ts", 20.0, second.created_at)
    assert await store.list_chunks("session", session_id) == [first, updated]

    with pytest.raises(Conflict):
        await store.add_chunk("session", session_id, Chunk("chk_b", 1, 20.0, 30.0, None))  # index taken
    with pytest.raises(Conflict):
        await store.add_chunk("session", session_id, Chunk("chk_a", 2, 20.0, 30.0, None))  # id taken
    session = await store.get_session(session_id)
    assert session is not None and session.chunk_count == 2  # the failed adds counted nothing
    with pytest.raises(SessionNotFound):
        await store.add_chunk("session", "ses_missing", Chunk("chk_c", 0, 0.0, 1.0, None))
    with pytest.raises(ChunkNotFound):
        await store.update_chunk("chk_missing", status="failed")
    with pytest.raises(InvalidValue):
        await store.update_chunk(first.id, status="melted")


async def test_job_chunks_have_their_own_indexes(store: Store) -> None:
    session_id = await _session_id(store)
    job = await store.create_job("live-monitor", "rtsp://cam/door", "c")
    await store.add_chunk("session", session_id, Chunk("chk_s0", 0, 0.0, 10.0, None))
    job_chunk = await store.add_chunk("job", job.id, Chunk("chk_j0", 0, 0.0, 10.0, None))
    assert (job_chunk.job_id, job_chunk.session_id) == (job.id, None)
    assert [c.id for c in await store.list_chunks("job", job.id)] == ["chk_j0"]
    with pytest.raises(JobNotFound):
        await store.add_chunk("job", "job_missing", Chunk("chk_x", 0, 0.0, 1.0, None))
    with pytest.raises(InvalidValue):
        await store.list_chunks("stream", job.id)  # type: ignore[arg-type]


async def test_event_round_trip(store: Store, make_event_fn: MakeEvent) -> None:
    session_id = await _session_id(store)
    events = [make_event_fn(0), make_event_fn(4, created_at="2025-03-01T13:00:00.250000+01:00")]
    data = [{"explanation": "a person", "frames": ["/f/1.jpg"], "verdict": {"match": True, "confidence": 0.9}}, {}]
    records = await store.add_events("session", session_id, events, data)
    assert [r.seq for r in records] == [1, 2]
    assert records[0].to_event() == events[0]
    assert records[1].created_at == datetime(2025, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)
    assert records[1].to_event() == dataclasses.replace(events[1], created_at="2025-03-01T12:00:00.250000Z")
    assert records[0].data == data[0] and records[1].data == {}
    assert records[0].event_id == events[0].event_id and records[0].session_id == session_id

    stored = await store.list_events("session", session_id)
    assert stored == records
    assert all(r.created_at.utcoffset() == timedelta(0) for r in stored)
    session = await store.get_session(session_id)
    assert session is not None and session.last_event_seq == 2


async def test_events_after_seq_and_limit(store: Store, make_event_fn: MakeEvent) -> None:
    session_id = await _session_id(store)
    job = await store.create_job("live-monitor", "rtsp://cam/door", "c")
    await store.add_events("session", session_id, [make_event_fn(i) for i in range(5)])
    job_records = await store.add_events("job", job.id, [make_event_fn(i) for i in range(3)])
    assert [r.seq for r in job_records] == [1, 2, 3]  # seq counts per owner
    assert all(r.job_id == job.id and r.session_id is None for r in job_records)

    assert [r.seq for r in await store.list_events("session", session_id, after_seq=2)] == [3, 4, 5]
    assert [r.seq for r in await store.list_events("session", session_id, after_seq=1, limit=2)] == [2, 3]
    assert await store.list_events("session", session_id, after_seq=5) == []
    assert [r.seq for r in await store.list_events("job", job.id, after_seq=0)] == [1, 2, 3]
    assert await store.add_events("job", job.id, []) == []


async def test_add_events_is_all_or_nothing(store: Store, make_event_fn: MakeEvent) -> None:
    session_id = await _session_id(store)
    (first,) = await store.add_events("session", session_id, [make_event_fn(0)])
    duplicate = make_event_fn(1, event_id=first.id)
    with pytest.raises(Conflict):
        await store.add_events("session", session_id, [make_event_fn(2), duplicate, make_event_fn(3)])
    assert [r.seq for r in await store.list_events("session", session_id)] == [1]
    # The failed batch gave its seqs back: the next one continues without a hole.
    assert [r.seq for r in await store.add_events("session", session_id, [make_event_fn(4)])] == [2]

    with pytest.raises(InvalidValue):
        await store.add_events("session", session_id, [make_event_fn(5)], data=[{}, {}])
    with pytest.raises(InvalidValue):
        await store.add_events("session", session_id, [make_event_fn(6, created_at="yesterday")])
    with pytest.raises(SessionNotFound):
        await store.add_events("session", "ses_missing", [make_event_fn(7)])
    with pytest.raises(JobNotFound):
        await store.add_events("job", "job_missing", [make_event_fn(8)])
    assert [r.seq for r in await store.list_events("session", session_id)] == [1, 2]


async def test_update_event_end_moves_only_the_end(store: Store, make_event_fn: MakeEvent) -> None:
    session_id = await _session_id(store)
    first, second = await store.add_events("session", session_id, [make_event_fn(0), make_event_fn(1)], [{"q": 1}, {}])
    updated = await store.update_event_end(first.id, end_time=75.25, t_end="01:15")
    assert (updated.end_time, updated.t_end) == (75.25, "01:15")
    assert updated == dataclasses.replace(first, end_time=75.25, t_end="01:15")  # seq, start, data: as they were
    assert await store.list_events("session", session_id) == [updated, second]

    with pytest.raises(InvalidValue):
        await store.update_event_end(first.id, end_time=first.stream_time - 1.0, t_end="00:00")
    with pytest.raises(NotFound):
        await store.update_event_end("evt_missing", end_time=1.0, t_end="00:01")
    assert await store.list_events("session", session_id) == [updated, second]


def _assert_gap_free(records: list[EventRecord], batches: list[list[EventRecord]]) -> None:
    assert [r.seq for r in records] == list(range(1, len(records) + 1))
    for batch in batches:  # each call's events got consecutive numbers, in the order given
        seqs = [r.seq for r in batch]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert {r.id for r in records} == {r.id for batch in batches for r in batch}


async def test_seq_is_gap_free_under_20_concurrent_writers(store: Store, make_event_fn: MakeEvent) -> None:
    session_id = await _session_id(store)
    job = await store.create_job("live-monitor", "rtsp://cam/door", "c")
    sizes = [1 + i % 3 for i in range(20)]

    session_batches, job_batches = await asyncio.gather(
        asyncio.gather(*(store.add_events("session", session_id, [make_event_fn(i) for i in range(n)]) for n in sizes)),
        asyncio.gather(*(store.add_events("job", job.id, [make_event_fn(i) for i in range(n)]) for n in sizes)),
    )
    _assert_gap_free(await store.list_events("session", session_id), list(session_batches))
    _assert_gap_free(await store.list_events("job", job.id), list(job_batches))
    session = await store.get_session(session_id)
    assert session is not None and session.last_event_seq == sum(sizes)


async def test_seq_is_gap_free_across_two_stores_on_one_database(
    database_url: str, store: Store, make_event_fn: MakeEvent
) -> None:
    # A second Store stands in for a second process: on SQLite it shares no in-process lock with the first.
    session_id = await _session_id(store)
    async with await Store.open(database_url) as other:
        batches = await asyncio.gather(
            *(
                (store if i % 2 else other).add_events("session", session_id, [make_event_fn(i), make_event_fn(i)])
                for i in range(20)
            )
        )
    _assert_gap_free(await store.list_events("session", session_id), list(batches))


async def test_gaps_round_trip(store: Store) -> None:
    session_id = await _session_id(store)
    job = await store.create_job("watch", "rtsp://cam/door", None)
    later = await store.add_gap("session", session_id, 42.5, 3.25, "reconnect")
    earlier = await store.add_gap("session", session_id, 12.0, 1.0, "skipped segments")
    job_gap = await store.add_gap("job", job.id, 5.0, 7.0, "reconnect")
    assert later.id.startswith("gap_") and later.created_at.utcoffset() == timedelta(0)
    assert (later.session_time, later.wall_seconds, later.reason) == (42.5, 3.25, "reconnect")
    assert await store.list_gaps("session", session_id) == [earlier, later]
    assert await store.list_gaps("job", job.id) == [job_gap]
    with pytest.raises(SessionNotFound):
        await store.add_gap("session", "ses_missing", 1.0, 1.0, "x")


@pytest.mark.postgres
async def test_postgres_session_time_zone_does_not_leak_into_timestamps(
    postgres_url: str, make_event_fn: MakeEvent
) -> None:
    tokyo = make_url(postgres_url).update_query_dict({"options": "-c timezone=Asia/Tokyo"})
    async with await Store.open(tokyo) as store:
        session_id = await _session_id(store)
        started = datetime(2025, 3, 1, 23, 30, tzinfo=UTC)
        await store.update_session(session_id, started_at=started)
        (event,) = await store.add_events("session", session_id, [make_event_fn(0)])
        fetched = await store.get_session(session_id)
        assert fetched is not None and fetched.started_at == started
        assert fetched.started_at is not None and fetched.started_at.tzinfo is UTC
        (stored,) = await store.list_events("session", session_id)
        assert stored.created_at.tzinfo is UTC and stored.created_at == datetime(2025, 3, 1, 12, tzinfo=UTC)
        assert stored.to_event().created_at == "2025-03-01T12:00:00Z" == event.to_event().created_at
