"""Runs' leases (who runs what, claimed when its lease runs out), stop requests, and events written with
their webhooks in one transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import timedelta

import pytest

from livesight.store import ClaimScope, Conflict, EventRecord, InvalidValue, Store, utcnow
from livesight.store.records import NewDelivery
from livesight.types import Event

LEASE = 15.0


async def _job(store: Store, worker: str | None = "w1", *, job_type: str = "live-monitor") -> str:
    job = await store.create_job(job_type, "https://cam/live.m3u8", "a person?", worker_id=worker, lease_seconds=LEASE)
    return job.id


def _delivery(job_id: str, n: int = 0, *, event_type: str = "watch_triggered") -> NewDelivery:
    return NewDelivery(f"msg_test_{job_id[:8]}_{n}", "https://hooks.example/x", event_type, "{}", job_id=job_id)


async def test_only_runs_whose_lease_ran_out_are_claimed(store: Store) -> None:
    held = await _job(store, "w1")
    unleased = await _job(store, None)  # e.g. a row from before leases existed
    watch = await _job(store, None, job_type="watch")  # belongs to its own `livesight watch` process
    ended = await _job(store, None)
    await store.update_job(ended, status="stopped")
    session = await store.create_session(
        (await store.create_stream("door", "rtsp://cam/door")).id,
        "s",
        "rtsp://cam/door",
        worker_id="w1",
        lease_seconds=LEASE,
    )

    claimed = await store.claim_jobs("w2", LEASE)
    assert [j.id for j in claimed] == [unleased]
    assert claimed[0].worker_id == "w2" and claimed[0].lease_until is not None
    assert claimed[0].lease_until > utcnow() + timedelta(seconds=LEASE - 5)
    assert await store.claim_sessions("w2", LEASE) == []
    assert watch not in {j.id for j in await store.claim_jobs("w3", LEASE)}

    later = utcnow() + timedelta(seconds=LEASE + 1)  # every lease has run out by then
    taken = await store.claim_jobs("w3", LEASE, now=later)
    assert {j.id for j in taken} == {held, unleased}
    assert [s.id for s in await store.claim_sessions("w3", LEASE, now=later)] == [session.id]
    job = await store.get_job(held)
    assert job is not None and job.worker_id == "w3"


async def test_a_dead_worker_s_runs_are_claimable_before_its_lease_ends(store: Store) -> None:
    mine, theirs = await _job(store, "alive"), await _job(store, "dead")
    assert await store.lease_holders() == {"alive", "dead"}
    claimed = await store.claim_jobs("me", LEASE, dead_workers=["dead"])
    assert [j.id for j in claimed] == [theirs]
    assert mine not in {j.id for j in await store.claim_jobs("me", LEASE, dead_workers=["dead"])}


async def test_a_scoped_claim_takes_only_its_ids_or_its_source(store: Store) -> None:
    """A run placed on a worker is claimed by id (its placer's lease counts as dead, and a worker may claim its
    own); a Ray actor claims only the runs of its source URL."""
    placed = await _job(store, "placer")
    other = await _job(store, None)
    door = await store.create_job("live-monitor", "rtsp://cam/door", "a person?")
    session = await store.create_session(
        (await store.create_stream("door", "rtsp://cam/door")).id, "s", "rtsp://cam/door"
    )
    ids = ClaimScope(ids=frozenset([placed]))
    assert await store.claim_jobs("actor", LEASE, scope=ids) == []  # the placer's lease is live
    [job] = await store.claim_jobs("actor", LEASE, scope=ids, dead_workers=["placer"])
    assert (job.id, job.worker_id) == (placed, "actor")
    assert [j.id for j in await store.claim_jobs("actor", LEASE, scope=ids)] == [placed]  # its own: renewed

    by_source = ClaimScope(source_url="rtsp://cam/door")
    assert [j.id for j in await store.claim_jobs("door-actor", LEASE, scope=by_source)] == [door.id]
    assert [s.id for s in await store.claim_sessions("door-actor", LEASE, scope=by_source)] == [session.id]
    assert [j.id for j in await store.claim_jobs("w9", LEASE)] == [other]  # untouched by the scoped claims


async def test_unheld_runs_are_the_live_ones_whose_lease_ran_out(store: Store) -> None:
    held = await _job(store, "w1")
    unleased = await _job(store, None)
    ended = await _job(store, None)
    await store.update_job(ended, status="stopped")
    await _job(store, None, job_type="watch")
    session = await store.create_session(
        (await store.create_stream("door", "rtsp://cam/door")).id, "s", "rtsp://cam/door"
    )
    assert [(r.kind, r.run_id) for r in await store.unheld_runs()] == [("job", unleased), ("session", session.id)]
    later = utcnow() + timedelta(seconds=LEASE + 1)
    runs = await store.unheld_runs(now=later)
    assert {r.run_id for r in runs} == {held, unleased, session.id}
    assert {r.source_url for r in runs} == {"https://cam/live.m3u8", "rtsp://cam/door"}


async def test_renewal_keeps_a_lease_and_reports_one_taken_over(store: Store) -> None:
    kept, lost = await _job(store, "w1"), await _job(store, "w1")
    later = utcnow() + timedelta(seconds=LEASE + 1)
    assert await store.renew_leases("w1", [kept], LEASE, now=later) == {kept}
    # w1's lease of `lost` ran out (it was not renewed) and w2 claimed it; `kept` was renewed and is not claimable.
    assert [j.id for j in await store.claim_jobs("w2", LEASE, now=later + timedelta(seconds=1))] == [lost]
    assert await store.renew_leases("w1", [kept, lost], LEASE, now=later + timedelta(seconds=2)) == {kept}
    job = await store.get_job(kept)
    assert job is not None and job.lease_until is not None and job.lease_until > later + timedelta(seconds=LEASE - 1)


async def test_a_stop_request_is_seen_by_the_owner_only(store: Store) -> None:
    job_id = await _job(store, "w1")
    other = await _job(store, "w2")
    stream = await store.create_stream("door", "rtsp://cam/door")
    session = await store.create_session(stream.id, "s", "rtsp://cam/door", worker_id="w1", lease_seconds=LEASE)
    assert await store.stops_requested("w1") == set()

    assert await store.request_job_stop(job_id) is True
    assert await store.request_job_stop(job_id) is True  # asked again: still live, the first time is kept
    assert await store.request_job_stop(job_id, owner="key_someone_else") is False
    assert await store.set_session_status_if(session.id, "INITIALIZING", "ENDING")
    assert await store.stops_requested("w1") == {job_id, session.id}
    assert await store.stops_requested("w2") == set()
    assert other not in await store.stops_requested("w1")

    await store.update_job(job_id, status="stopped")  # the owner acted on it
    assert await store.request_job_stop(job_id) is False
    assert await store.stops_requested("w1") == {session.id}


async def test_ending_a_job_is_fenced_by_its_worker(store: Store, make_event_fn: Callable[..., Event]) -> None:
    job_id = await _job(store, "w1")
    later = utcnow() + timedelta(seconds=LEASE + 1)
    await store.claim_jobs("w2", LEASE, now=later)
    ending = {"status": "stopped", "reason": "cancelled", "stats": {"reason": "cancelled"}}
    assert await store.end_job(job_id, **ending, events=[make_event_fn(0)], worker_id="w1") is None
    job = await store.get_job(job_id)
    assert job is not None and job.status == "pending" and job.worker_id == "w2"  # w1's end wrote nothing
    records = await store.end_job(job_id, **ending, events=[make_event_fn(1)], worker_id="w2")
    assert records is not None and [r.seq for r in records] == [1]
    job = await store.get_job(job_id)
    assert job is not None and (job.status, job.reason, job.stats) == ("stopped", "cancelled", {"reason": "cancelled"})


async def test_events_and_their_deliveries_commit_together(store: Store, make_event_fn: Callable[..., Event]) -> None:
    job_id = await _job(store)

    def deliveries(records: Sequence[EventRecord]) -> list[NewDelivery]:
        return [_delivery(job_id, r.seq) for r in records]

    stored = await store.add_events("job", job_id, [make_event_fn(0), make_event_fn(1)], deliveries=deliveries)
    assert [r.seq for r in stored] == [1, 2]
    assert sorted(d.id for d in await store.list_deliveries(job_id=job_id)) == [_delivery(job_id, n).id for n in (1, 2)]

    # An invalid delivery row (its type is too long for the outbox) rolls the events back with it.
    with pytest.raises(InvalidValue):
        await store.add_events(
            "job", job_id, [make_event_fn(2)], deliveries=lambda rs: [_delivery(job_id, 9, event_type="x" * 65)]
        )
    # So does a delivery id that exists already (the database refuses the row).
    with pytest.raises(Conflict):
        await store.add_events("job", job_id, [make_event_fn(3)], deliveries=lambda rs: [_delivery(job_id, 1)])
    assert [e.seq for e in await store.list_events("job", job_id)] == [1, 2]
    assert len(await store.list_deliveries(job_id=job_id)) == 2
    job = await store.get_job(job_id)
    assert job is not None and job.last_event_seq == 2  # the seqs were given back too


@pytest.mark.postgres
async def test_concurrent_claims_never_share_a_run(postgres_url: str) -> None:
    first, second = await Store.open(postgres_url), await Store.open(postgres_url)
    try:
        jobs = {await _job(first, None) for _ in range(12)}
        rounds = await asyncio.gather(
            *(store.claim_jobs(f"w{i}", LEASE) for i in range(3) for store in (first, second))
        )
        claimed = [j.id for batch in rounds for j in batch]
        assert sorted(claimed) == sorted(jobs)  # each run exactly once
        for batch, worker in zip(rounds, [f"w{i}" for i in range(3) for _ in (0, 1)], strict=True):
            assert all(j.worker_id == worker for j in batch)
    finally:
        await first.close()
        await second.close()


async def test_concurrent_claims_on_one_store_never_share_a_run(store: Store) -> None:
    jobs = {await _job(store, None) for _ in range(6)}
    rounds = await asyncio.gather(*(store.claim_jobs(f"w{i}", LEASE) for i in range(4)))
    claimed = [j.id for batch in rounds for j in batch]
    assert sorted(claimed) == sorted(jobs)
