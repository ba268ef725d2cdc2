"""Idempotency keys in the store: one claim per (API key, key), replays, mismatches, expiry, release."""

from __future__ import annotations

import asyncio

from livesight.store import Store
from livesight.store._idempotency import Claim


async def test_a_key_is_claimed_once_then_replayed(store: Store) -> None:
    first = await store.claim_idempotency_key("key_a", "k1", "f" * 64, ttl_seconds=60)
    assert first.claim is Claim.NEW
    assert (await store.claim_idempotency_key("key_a", "k1", "f" * 64, ttl_seconds=60)).claim is Claim.IN_PROGRESS
    await store.complete_idempotency_key(
        "key_a", "k1", status_code=200, media_type="application/json", location="/api/jobs/1", body='{"ok": true}'
    )
    replay = await store.claim_idempotency_key("key_a", "k1", "f" * 64, ttl_seconds=60)
    assert replay.claim is Claim.REPLAY and replay.response is not None
    assert (replay.response.status_code, replay.response.body, replay.response.location) == (
        200,
        '{"ok": true}',
        "/api/jobs/1",
    )
    # Another request under the same key is refused; the same key from another API key is its own.
    assert (await store.claim_idempotency_key("key_a", "k1", "0" * 64, ttl_seconds=60)).claim is Claim.MISMATCH
    assert (await store.claim_idempotency_key("key_b", "k1", "0" * 64, ttl_seconds=60)).claim is Claim.NEW
    assert (await store.claim_idempotency_key(None, "k1", "0" * 64, ttl_seconds=60)).claim is Claim.NEW


async def test_a_released_or_expired_claim_can_be_taken_again(store: Store) -> None:
    assert (await store.claim_idempotency_key("key_a", "k", "a" * 64, ttl_seconds=60)).claim is Claim.NEW
    await store.release_idempotency_key("key_a", "k")
    # A claim whose lifetime has passed (here: made already expired) is forgotten by the next claim.
    assert (await store.claim_idempotency_key("key_a", "k", "b" * 64, ttl_seconds=-1)).claim is Claim.NEW
    await store.complete_idempotency_key("key_a", "k", status_code=200, media_type=None, location=None, body="")
    assert (await store.claim_idempotency_key("key_a", "k", "c" * 64, ttl_seconds=60)).claim is Claim.NEW


async def test_concurrent_claims_of_one_key_admit_one(store: Store) -> None:
    results = await asyncio.gather(
        *(store.claim_idempotency_key("key_a", "race", "d" * 64, ttl_seconds=60) for _ in range(8))
    )
    assert sorted(r.claim.value for r in results) == ["in_progress"] * 7 + ["new"]
