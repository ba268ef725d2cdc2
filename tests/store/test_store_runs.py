from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from livesight.store import (
    Conflict,
    DeliveryMode,
    InvalidValue,
    JobNotFound,
    JobStatus,
    JobType,
    SessionNotFound,
    SessionStatus,
    Store,
    StreamNotFound,
)
from livesight.store.errors import NotFound


def _is_aware_utc(value: datetime | None) -> bool:
    return value is not None and value.utcoffset() == timedelta(0)


async def test_stream_round_trip_and_idempotent_create(store: Store) -> None:
    created = await store.create_stream("front door", "rtsp://cam/door", owner="key_a")
    assert created.id.startswith("str_")
    assert _is_aware_utc(created.created_at)
    assert await store.get_stream(created.id) == created
    assert await store.get_stream("str_missing") is None

    attached = await store.create_stream("door", "rtsp://cam/door", owner="key_a", stream_id="my-door")
    assert attached.id == "my-door"
    again = await store.create_stream("renamed", "rtsp://other", owner="key_a", stream_id="my-door")
    assert again == attached  # the existing stream, unchanged
    with pytest.raises(Conflict) as taken:
        await store.create_stream("door", "rtsp://cam/door", owner="key_b", stream_id="my-door")
    assert taken.value.code == "STREAM_ID_TAKEN"
    assert {s.id for s in await store.list_streams()} == {created.id, "my-door"}


async def test_concurrent_creates_of_one_stream_id_agree(store: Store) -> None:
    results = await asyncio.gather(*(store.create_stream(f"n{i}", "rtsp://cam", stream_id="shared") for i in range(8)))
    assert len({r for r in results}) == 1
    assert [s.id for s in await store.list_streams()] == ["shared"]


async def test_session_round_trip_and_update(store: Store) -> None:
    stream = await store.create_stream("door", "rtsp://cam/door", owner="key_a")
    config = {"chunk_seconds": 10.0, "judge": {"model": "m"}, "tags": ["a", "b"]}
    session = await store.create_session(stream.id, "evening", "rtsp://cam/door", "people?", config, owner="key_a")
    assert session.id.startswith("ses_")
    assert session.status is SessionStatus.INITIALIZING
    assert (session.chunk_count, session.last_event_seq, session.error) == (0, 0, None)
    assert session.config == config
    assert session.started_at is None and session.ended_at is None
    assert await store.get_session(session.id) == session

    started = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    ended = datetime(2025, 3, 1, 14, 30, tzinfo=timezone(timedelta(hours=2)))  # any zone in, UTC out
    updated = await store.update_session(
        session.id, status="FAILED", error="stream offline", chunk_count=7, started_at=started, ended_at=ended
    )
    assert (updated.status, updated.error, updated.chunk_count) == (SessionStatus.FAILED, "stream offline", 7)
    assert updated.started_at == started and _is_aware_utc(updated.started_at)
    assert updated.ended_at == ended and _is_aware_utc(updated.ended_at)
    assert updated.ended_at is not None and updated.ended_at.hour == 12
    fetched = await store.get_session(session.id)
    assert fetched == updated
    assert fetched is not None and _is_aware_utc(fetched.created_at) and _is_aware_utc(fetched.ended_at)

    unchanged = await store.update_session(session.id)
    assert unchanged == updated
    with pytest.raises(SessionNotFound) as missing:
        await store.update_session("ses_missing", status="ACTIVE")
    assert missing.value.code == "SESSION_NOT_FOUND"
    with pytest.raises(InvalidValue):
        await store.update_session(session.id, status="RUNNING")
    with pytest.raises(InvalidValue):
        await store.update_session(session.id, started_at=datetime(2025, 1, 1))  # naive


async def test_session_needs_a_visible_stream(store: Store) -> None:
    with pytest.raises(StreamNotFound):
        await store.create_session("str_missing", "n", "rtsp://cam")
    theirs = await store.create_stream("door", "rtsp://cam", owner="key_b")
    with pytest.raises(StreamNotFound):
        await store.create_session(theirs.id, "n", "rtsp://cam", owner="key_a")


async def test_owner_filtering_hides_other_owners_rows(store: Store) -> None:
    mine = await store.create_stream("mine", "rtsp://cam/1", owner="key_a")
    theirs = await store.create_stream("theirs", "rtsp://cam/2", owner="key_b")
    my_session = await store.create_session(mine.id, "s", "rtsp://cam/1", owner="key_a")
    their_session = await store.create_session(theirs.id, "s", "rtsp://cam/2", owner="key_b")
    my_job = await store.create_job("live-monitor", "rtsp://cam/1", "door open?", owner="key_a")
    their_job = await store.create_job("live-monitor", "rtsp://cam/2", "door open?", owner="key_b")

    assert await store.get_stream(theirs.id, owner="key_a") is None
    assert await store.get_session(their_session.id, owner="key_a") is None
    assert await store.get_job(their_job.id, owner="key_a") is None
    assert await store.get_stream(mine.id, owner="key_a") == mine
    assert await store.get_session(my_session.id, owner="key_a") == my_session
    assert await store.get_job(my_job.id, owner="key_a") == my_job

    assert [s.id for s in await store.list_streams(owner="key_a")] == [mine.id]
    assert [s.id for s in await store.list_sessions(owner="key_a")] == [my_session.id]
    jobs, total = await store.list_jobs(owner="key_a")
    assert ([j.id for j in jobs], total) == ([my_job.id], 1)

    # owner=None is "no filter": internal callers (the runner, restart recovery) see everything.
    assert {s.id for s in await store.list_sessions()} == {my_session.id, their_session.id}
    assert (await store.list_jobs())[1] == 2


async def test_list_sessions_filters(store: Store) -> None:
    a = await store.create_stream("a", "rtsp://a")
    b = await store.create_stream("b", "rtsp://b")
    s1 = await store.create_session(a.id, "1", "rtsp://a")
    s2 = await store.create_session(a.id, "2", "rtsp://a")
    s3 = await store.create_session(b.id, "3", "rtsp://b")
    await store.update_session(s2.id, status=SessionStatus.ACTIVE)
    await store.update_session(s3.id, status=SessionStatus.FINISHED)

    assert {s.id for s in await store.list_sessions(stream_id=a.id)} == {s1.id, s2.id}
    assert [s.id for s in await store.list_sessions(status="ACTIVE")] == [s2.id]
    assert {s.id for s in await store.list_sessions(status=["ACTIVE", "INITIALIZING"])} == {s1.id, s2.id}
    assert await store.list_sessions(status="ACTIVE", stream_id=b.id) == []
    assert {s.id for s in await store.running_sessions()} == {s1.id, s2.id}


async def test_session_compare_and_set(store: Store) -> None:
    stream = await store.create_stream("a", "rtsp://a")
    session = await store.create_session(stream.id, "1", "rtsp://a")
    assert await store.set_session_status_if(session.id, ["INITIALIZING"], "ACTIVE")
    assert not await store.set_session_status_if(session.id, "INITIALIZING", "FAILED", error="x")
    current = await store.get_session(session.id)
    assert current is not None and current.status is SessionStatus.ACTIVE and current.error is None

    # Two end-session requests race: exactly one wins the ACTIVE → ENDING transition.
    wins = await asyncio.gather(
        *(store.set_session_status_if(session.id, ["INITIALIZING", "ACTIVE"], "ENDING") for _ in range(10))
    )
    assert sorted(wins) == [False] * 9 + [True]

    ended = datetime.now(UTC)
    assert await store.set_session_status_if(session.id, "ENDING", "FINISHED", ended_at=ended)
    final = await store.get_session(session.id)
    assert final is not None and final.status is SessionStatus.FINISHED and final.ended_at == ended
    assert not await store.set_session_status_if("ses_missing", "ACTIVE", "ENDING")
    assert await store.running_sessions() == []


async def test_job_round_trip_and_update(store: Store) -> None:
    config = {"interval_seconds": 10, "max_triggers": None, "input_mode": "frames"}
    job = await store.create_job(
        "live-monitor", "https://x/live.m3u8", "is the door open?", "webhook", "https://hook/x", config, owner="k"
    )
    assert str(uuid.UUID(job.id)) == job.id  # job ids are UUIDs, as the hosted API documents
    assert (job.job_type, job.status, job.delivery_mode) == (JobType.LIVE_MONITOR, JobStatus.PENDING, "webhook")
    assert (job.config, job.stats, job.reason, job.last_event_seq) == (config, {}, None, 0)
    assert job.webhook_url == "https://hook/x" and job.owner == "k" and _is_aware_utc(job.created_at)
    assert await store.get_job(job.id) == job

    stats = {"checks_performed": 3, "triggers_fired": 1, "tokens": {"input": 10}, "reason": "condition_triggered"}
    started = datetime.now(UTC) - timedelta(seconds=30)
    updated = await store.update_job(
        job.id, status="completed", reason="condition_triggered", stats=stats, started_at=started, ended_at=started
    )
    assert (updated.status, updated.reason, updated.stats) == (JobStatus.COMPLETED, "condition_triggered", stats)
    assert updated.started_at == started and _is_aware_utc(updated.started_at)
    assert await store.get_job(job.id) == updated

    with pytest.raises(JobNotFound) as missing:
        await store.update_job("job_missing", status="running")
    assert missing.value.code == "JOB_NOT_FOUND" and isinstance(missing.value, NotFound)
    with pytest.raises(InvalidValue):
        await store.create_job("live-telepathy", "https://x", None)
    with pytest.raises(InvalidValue):
        await store.create_job("watch", "https://x", None, delivery_mode="carrier-pigeon")


async def test_list_jobs_filters_and_pages(store: Store) -> None:
    created = []
    for i in range(7):
        kind = JobType.LIVE_DIGEST if i % 3 == 0 else JobType.LIVE_MONITOR
        created.append(await store.create_job(kind, f"https://x/{i}.m3u8", "c", DeliveryMode.SSE, owner="k"))
    for job in created[:4]:
        await store.update_job(job.id, status="running")
    await store.update_job(created[0].id, status="stopped")

    everything, total = await store.list_jobs(limit=None)
    assert total == 7
    newest_first = [j.id for j in everything]
    assert set(newest_first) == {j.id for j in created}
    assert [j.created_at for j in everything] == sorted((j.created_at for j in everything), reverse=True)

    pages = [await store.list_jobs(limit=3, offset=offset) for offset in (0, 3, 6, 9)]
    assert [total for _, total in pages] == [7, 7, 7, 7]
    assert [j.id for page, _ in pages for j in page] == newest_first
    assert [len(page) for page, _ in pages] == [3, 3, 1, 0]

    running, total = await store.list_jobs(status="running")
    assert total == 3 and {j.id for j in running} == {j.id for j in created[1:4]}
    digests, total = await store.list_jobs(job_type="live-digest")
    assert total == 3 and all(j.job_type is JobType.LIVE_DIGEST for j in digests)
    both, total = await store.list_jobs(status=["running", "stopped"], job_type="live-digest", limit=1)
    assert total == 2 and len(both) == 1
    assert (await store.list_jobs(owner="someone-else")) == ([], 0)
    assert {j.id for j in await store.running_jobs()} == {j.id for j in created[1:]}
    with pytest.raises(InvalidValue):
        await store.list_jobs(status="exploded")
    with pytest.raises(InvalidValue):
        await store.list_jobs(offset=-1)


async def test_job_compare_and_set(store: Store) -> None:
    job = await store.create_job("live-monitor", "https://x", "c")
    assert await store.set_job_status_if(job.id, "pending", "running", started_at=datetime.now(UTC))
    assert not await store.set_job_status_if(job.id, "pending", "running")

    # The runner finishing and a DELETE racing: exactly one terminal status wins.
    outcomes = await asyncio.gather(
        store.set_job_status_if(job.id, ["pending", "running"], "completed", reason="condition_triggered"),
        store.set_job_status_if(job.id, ["pending", "running"], "stopped", reason="cancelled", stats={"a": 1}),
    )
    assert sorted(outcomes) == [False, True]
    final = await store.get_job(job.id)
    assert final is not None
    expected = ("completed", "condition_triggered") if outcomes[0] else ("stopped", "cancelled")
    assert (final.status, final.reason) == expected
    assert final.started_at is not None and _is_aware_utc(final.started_at)
    assert not await store.set_job_status_if("job_missing", "running", "stopped")
