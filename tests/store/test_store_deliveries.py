"""The webhook outbox: enqueue, leases, attempts, 410-disabled endpoints, re-sends (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

from livesight.store import (
    DeliveryInFlight,
    DeliveryStatus,
    EndpointDisabled,
    InvalidValue,
    JobNotFound,
    SessionNotFound,
    Store,
    alembic_config,
    utcnow,
)
from livesight.store._engine import upgrade

URL = "https://hooks.example/receive"
BODY = '{"type":"watch_triggered","job_id":"job_1","data":{"explanation":"un chat — 🐈","confidence":0.9}}'
NEW_TABLES = {"api_keys", "webhook_deliveries", "webhook_attempts", "webhook_endpoints_disabled"}


async def _job(store: Store, owner: str | None = None) -> str:
    job = await store.create_job("live-monitor", "https://cam/live.m3u8", "a cat?", "webhook", URL, owner=owner)
    return job.id


async def test_enqueue_writes_the_body_byte_for_byte_due_now(store: Store) -> None:
    job_id = await _job(store)
    before = utcnow()
    delivery = await store.enqueue_delivery(url=URL, event_type="watch_triggered", body=BODY, job_id=job_id)
    assert delivery.id.startswith("msg_")
    assert delivery.status is DeliveryStatus.PENDING and delivery.attempt_count == 0 and delivery.attempts == ()
    assert before <= delivery.next_attempt_at == delivery.created_at == delivery.queued_at <= utcnow()
    stored = await store.get_delivery(delivery.id)
    assert stored is not None and stored.body == BODY and stored.body.encode() == BODY.encode()
    assert stored.job_id == job_id and stored.session_id is None and stored.url == URL


async def test_enqueue_checks_the_run_exists(store: Store) -> None:
    with pytest.raises(JobNotFound):
        await store.enqueue_delivery(url=URL, event_type="job_started", body="{}", job_id="job_missing")
    with pytest.raises(SessionNotFound):
        await store.enqueue_delivery(url=URL, event_type="job_started", body="{}", session_id="ses_missing")
    with pytest.raises(InvalidValue):
        await store.enqueue_delivery(url=URL, event_type="x" * 65, body="{}")
    assert await store.list_deliveries() == []


async def test_claim_leases_due_rows_once_until_the_lease_expires(store: Store) -> None:
    now = utcnow()
    due = await store.enqueue_delivery(url=URL, event_type="a", body="{}", now=now - timedelta(seconds=1))
    later = await store.enqueue_delivery(url=URL, event_type="b", body="{}", now=now + timedelta(minutes=5))

    claimed = await store.claim_due_deliveries(now, limit=10, lease_seconds=30)
    assert [d.id for d in claimed] == [due.id]
    assert claimed[0].status is DeliveryStatus.DELIVERING and claimed[0].lease_until == now + timedelta(seconds=30)
    assert await store.claim_due_deliveries(now + timedelta(seconds=29), 10, 30) == []  # still leased

    # The dispatcher died: once the lease runs out the row is due again (a restart loses nothing).
    reclaimed = await store.claim_due_deliveries(now + timedelta(seconds=31), 10, 30)
    assert [d.id for d in reclaimed] == [due.id]
    # Later on both are due: the reclaimed one (its second lease ran out too) and the one queued for later.
    assert {d.id for d in await store.claim_due_deliveries(now + timedelta(minutes=6), 10, 30)} == {due.id, later.id}


async def test_claim_respects_the_limit_oldest_first(store: Store) -> None:
    now = utcnow()
    ids = [
        (await store.enqueue_delivery(url=URL, event_type="e", body="{}", now=now - timedelta(seconds=10 - i))).id
        for i in range(5)
    ]
    first = await store.claim_due_deliveries(now, limit=2, lease_seconds=30)
    second = await store.claim_due_deliveries(now, limit=10, lease_seconds=30)
    assert [d.id for d in first] == ids[:2] and [d.id for d in second] == ids[2:]
    assert await store.claim_due_deliveries(now, limit=0, lease_seconds=30) == []
    with pytest.raises(InvalidValue):
        await store.claim_due_deliveries(now, limit=1, lease_seconds=0)


async def test_two_concurrent_claimers_never_get_the_same_row(database_url: str) -> None:
    first = await Store.open(database_url)
    second = await Store.open(database_url)  # another engine: another process, as far as the database knows
    try:
        now = utcnow()
        for i in range(60):
            await first.enqueue_delivery(url=URL, event_type="e", body=f'{{"n":{i}}}', now=now)

        async def drain(store: Store) -> list[str]:
            got: list[str] = []
            while batch := await store.claim_due_deliveries(now, limit=3, lease_seconds=60):
                got += [d.id for d in batch]
                await asyncio.sleep(0)
            return got

        results = await asyncio.gather(drain(first), drain(second), drain(first), drain(second))
        claimed = [i for r in results for i in r]
        assert len(claimed) == len(set(claimed)) == 60
        assert sum(1 for r in results if r) >= 2  # they really did compete
        assert {d.status for d in await first.list_deliveries()} == {DeliveryStatus.DELIVERING}
    finally:
        await first.close()
        await second.close()


async def test_record_attempt_moves_the_delivery_and_keeps_every_attempt(store: Store) -> None:
    now = utcnow()
    delivery = await store.enqueue_delivery(url=URL, event_type="e", body="{}", now=now)
    await store.claim_due_deliveries(now, 10, 30)
    retry_at = now + timedelta(seconds=5)
    after_retry = await store.record_attempt(
        delivery.id, outcome="retry", status_code=500, error="HTTP 500", duration_ms=12, next_attempt_at=retry_at
    )
    assert after_retry.status is DeliveryStatus.PENDING and after_retry.next_attempt_at == retry_at
    assert after_retry.lease_until is None and after_retry.attempt_count == 1
    assert after_retry.last_status_code == 500 and after_retry.last_error == "HTTP 500"
    assert await store.claim_due_deliveries(now + timedelta(seconds=4), 10, 30) == []

    await store.claim_due_deliveries(retry_at, 10, 30)
    done = await store.record_attempt(delivery.id, outcome="delivered", status_code=204, attempted_at=retry_at)
    assert done.status is DeliveryStatus.DELIVERED and done.delivered_at == retry_at and done.attempt_count == 2
    assert [(a.status_code, a.error, a.duration_ms) for a in done.attempts] == [(500, "HTTP 500", 12), (204, None, 0)]
    assert done.last_error is None

    # A late report for a delivery that is no longer leased is kept as history but moves nothing.
    late = await store.record_attempt(delivery.id, outcome="failed", error="late", attempted_at=retry_at)
    assert late.status is DeliveryStatus.DELIVERED and len(late.attempts) == 3

    with pytest.raises(InvalidValue):
        await store.record_attempt(delivery.id, outcome="retry")  # needs next_attempt_at
    with pytest.raises(InvalidValue):
        await store.record_attempt(delivery.id, outcome="maybe")


async def test_failed_is_final(store: Store) -> None:
    now = utcnow()
    delivery = await store.enqueue_delivery(url=URL, event_type="e", body="{}", now=now)
    await store.claim_due_deliveries(now, 10, 30)
    failed = await store.record_attempt(delivery.id, outcome="failed", error="blocked")
    assert failed.status is DeliveryStatus.FAILED and failed.last_error == "blocked"
    assert await store.claim_due_deliveries(now + timedelta(days=2), 10, 30) == []
    assert await store.next_delivery_due() is None


async def test_410_disables_the_endpoint_for_that_owner_only(store: Store) -> None:
    now = utcnow()
    gone = await store.enqueue_delivery(
        url=URL, event_type="a", body="{}", owner="key_a", now=now - timedelta(seconds=1)
    )
    queued = await store.enqueue_delivery(url=URL, event_type="b", body="{}", owner="key_a", now=now)
    other_owner = await store.enqueue_delivery(url=URL, event_type="c", body="{}", owner="key_b", now=now)
    await store.claim_due_deliveries(now, 1, 30)
    disabled = await store.record_attempt(gone.id, outcome="disabled", status_code=410, error="410 Gone")
    assert disabled.status is DeliveryStatus.DISABLED
    assert await store.is_endpoint_disabled("key_a", URL) and not await store.is_endpoint_disabled("key_b", URL)
    [endpoint] = await store.list_disabled_endpoints()
    assert (endpoint.owner, endpoint.url, endpoint.status_code) == ("key_a", URL, 410)

    # The same owner's queued delivery to that URL goes nowhere; another owner's still does.
    sibling = await store.get_delivery(queued.id)
    assert sibling is not None and sibling.status is DeliveryStatus.DISABLED and "410" in (sibling.last_error or "")
    assert [d.id for d in await store.claim_due_deliveries(now, 10, 30)] == [other_owner.id]
    later = await store.enqueue_delivery(url=URL, event_type="d", body="{}", owner="key_a")
    assert later.status is DeliveryStatus.DISABLED
    with pytest.raises(EndpointDisabled):
        await store.resend_delivery(gone.id)

    assert await store.enable_endpoint("key_a", URL) and not await store.enable_endpoint("key_a", URL)
    resent = await store.resend_delivery(gone.id)
    assert resent.status is DeliveryStatus.PENDING


async def test_ownerless_deliveries_share_one_endpoint_scope(store: Store) -> None:
    now = utcnow()
    first = await store.enqueue_delivery(url=URL, event_type="a", body="{}", now=now)
    await store.claim_due_deliveries(now, 10, 30)
    await store.record_attempt(first.id, outcome="disabled", status_code=410)
    assert await store.is_endpoint_disabled(None, URL)
    assert (await store.enqueue_delivery(url=URL, event_type="b", body="{}")).status is DeliveryStatus.DISABLED
    assert (await store.list_disabled_endpoints())[0].owner is None


async def test_resend_keeps_the_id_body_and_history(store: Store) -> None:
    now = utcnow()
    delivery = await store.enqueue_delivery(url=URL, event_type="e", body=BODY, now=now)
    await store.claim_due_deliveries(now, 10, 30)
    with pytest.raises(DeliveryInFlight):
        await store.resend_delivery(delivery.id, now=now)
    await store.record_attempt(delivery.id, outcome="failed", status_code=500, error="HTTP 500")

    resend_at = now + timedelta(days=3)
    resent = await store.resend_delivery(delivery.id, now=resend_at)
    assert resent.id == delivery.id and resent.body == BODY
    assert resent.status is DeliveryStatus.PENDING and resent.next_attempt_at == resend_at == resent.queued_at
    assert resent.attempt_count == 0 and len(resent.attempts) == 1
    assert resent.created_at == delivery.created_at
    assert [d.id for d in await store.claim_due_deliveries(resend_at, 10, 30)] == [delivery.id]


async def test_list_filters_by_job_session_owner_and_status(store: Store) -> None:
    job_a = await _job(store, owner="key_a")
    job_b = await _job(store, owner="key_b")
    stream = await store.create_stream("door", "rtsp://cam/door", owner="key_a")
    ses = await store.create_session(stream.id, "s", "rtsp://cam/door", owner="key_a")
    a1 = await store.enqueue_delivery(url=URL, event_type="a", body="{}", owner="key_a", job_id=job_a)
    a2 = await store.enqueue_delivery(url=URL, event_type="b", body="{}", owner="key_a", job_id=job_a)
    b1 = await store.enqueue_delivery(url=URL, event_type="c", body="{}", owner="key_b", job_id=job_b)
    s1 = await store.enqueue_delivery(url=URL, event_type="d", body="{}", owner="key_a", session_id=ses.id)

    assert {d.id for d in await store.list_deliveries(job_id=job_a)} == {a1.id, a2.id}
    assert [d.id for d in await store.list_deliveries(session_id=ses.id)] == [s1.id]
    assert {d.id for d in await store.list_deliveries(owner="key_a")} == {a1.id, a2.id, s1.id}
    assert await store.list_deliveries(job_id=job_b, owner="key_a") == []
    assert len(await store.list_deliveries(status="pending")) == 4
    assert await store.list_deliveries(status=["delivered", "failed"]) == []
    assert len(await store.list_deliveries(limit=2)) == 2
    assert await store.get_delivery(b1.id, owner="key_a") is None
    assert (await store.get_delivery(b1.id, owner="key_b")) is not None


async def test_deleting_a_job_deletes_its_deliveries_and_attempts(store: Store) -> None:
    job_id = await _job(store)
    delivery = await store.enqueue_delivery(url=URL, event_type="e", body="{}", job_id=job_id)
    await store.claim_due_deliveries(utcnow(), 10, 30)
    await store.record_attempt(delivery.id, outcome="delivered", status_code=200)
    async with store._engine.begin() as conn:
        await conn.execute(text("DELETE FROM jobs WHERE id = :id"), {"id": job_id})
        left = (await conn.execute(text("SELECT count(*) FROM webhook_attempts"))).scalar()
    assert left == 0
    assert await store.get_delivery(delivery.id) is None


async def test_next_delivery_due_sees_retries_and_leases(store: Store) -> None:
    assert await store.next_delivery_due() is None
    now = utcnow()
    first = await store.enqueue_delivery(url=URL, event_type="e", body="{}", now=now + timedelta(seconds=50))
    assert await store.next_delivery_due() == first.next_attempt_at
    await store.enqueue_delivery(url=URL, event_type="e", body="{}", now=now)
    await store.claim_due_deliveries(now, 10, lease_seconds=20)  # the second is leased until now + 20 s
    assert await store.next_delivery_due() == now + timedelta(seconds=20)


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


async def test_migration_0002_upgrades_and_downgrades_cleanly(store: Store) -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head == "0006"
    stream = await store.create_stream("door", "rtsp://cam/door")
    await store.create_api_key("ci")

    def downgrade(conn: Connection) -> None:
        command.downgrade(alembic_config(conn), "0001")

    async with store._engine.begin() as conn:
        await conn.run_sync(downgrade)
    async with store._engine.connect() as conn:
        assert not (NEW_TABLES & await conn.run_sync(_tables))
    assert await store.get_stream(stream.id) == stream  # 0001's data is untouched
    await upgrade(store._engine)
    async with store._engine.connect() as conn:
        assert NEW_TABLES <= await conn.run_sync(_tables)
    assert await store.list_api_keys() == []
