"""Idempotency keys: a retried POST with the same ``Idempotency-Key`` gets the first answer again.

A key is claimed before its request runs (a ``pending`` row; the unique ``(owner, key)`` constraint makes
the claim atomic across processes and replicas), and completed with the response once it succeeded. A
request that failed gives its claim back, so that a retry runs it again.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from livesight.store._base import StoreBase
from livesight.store.models import IdempotencyKeyRow
from livesight.store.records import new_id, utcnow

ABANDONED_AFTER = timedelta(minutes=5)
"""A pending claim this old belongs to a request whose process died (the longest request, a check-once
with retries of a slow model, ends well before)."""


class Claim(enum.Enum):
    """What a claim of an idempotency key found."""

    NEW = "new"  # nobody used the key: run the request, then complete or release the claim
    REPLAY = "replay"  # the same request was answered: send the stored answer
    MISMATCH = "mismatch"  # the key names another request
    IN_PROGRESS = "in_progress"  # the same request is running right now


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The first answer to a request made with an idempotency key."""

    status_code: int
    media_type: str | None
    location: str | None
    body: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ClaimResult:
    claim: Claim
    response: StoredResponse | None = None


class IdempotencyMixin(StoreBase):
    async def claim_idempotency_key(
        self, owner: str | None, key: str, fingerprint: str, *, ttl_seconds: float
    ) -> ClaimResult:
        """Claim ``key`` for the request whose fingerprint is ``fingerprint`` (expired claims are forgotten)."""
        owner_key = owner or ""
        now = utcnow()
        for _ in range(2):  # a concurrent claim of the same key may win the insert: read again then
            try:
                async with self._tx(write=True) as session:
                    await session.execute(delete(IdempotencyKeyRow).where(IdempotencyKeyRow.expires_at <= now))
                    row = await session.scalar(
                        select(IdempotencyKeyRow).where(
                            IdempotencyKeyRow.owner == owner_key, IdempotencyKeyRow.key == key
                        )
                    )
                    if row is None:
                        session.add(
                            IdempotencyKeyRow(
                                id=new_id("idem"),
                                owner=owner_key,
                                key=key,
                                fingerprint=fingerprint,
                                state="pending",
                                created_at=now,
                                expires_at=now + timedelta(seconds=ttl_seconds),
                            )
                        )
                        await session.flush()
                        return ClaimResult(Claim.NEW)
                    if row.fingerprint != fingerprint:
                        return ClaimResult(Claim.MISMATCH)
                    if row.state == "pending":
                        if now - row.created_at < ABANDONED_AFTER:
                            return ClaimResult(Claim.IN_PROGRESS)
                        # The process that claimed it died mid-request: this request takes the claim over.
                        row.created_at = now
                        return ClaimResult(Claim.NEW)
                    return ClaimResult(
                        Claim.REPLAY,
                        StoredResponse(
                            status_code=row.status_code or 200,
                            media_type=row.media_type,
                            location=row.location,
                            body=row.body or "",
                            created_at=row.created_at,
                        ),
                    )
            except IntegrityError:
                continue
        return ClaimResult(Claim.IN_PROGRESS)

    async def complete_idempotency_key(
        self, owner: str | None, key: str, *, status_code: int, media_type: str | None, location: str | None, body: str
    ) -> None:
        """Store the answer to the claimed request."""
        async with self._tx(write=True) as session:
            row = await session.scalar(
                select(IdempotencyKeyRow).where(IdempotencyKeyRow.owner == (owner or ""), IdempotencyKeyRow.key == key)
            )
            if row is not None:
                row.state = "done"
                row.status_code = status_code
                row.media_type = media_type
                row.location = location
                row.body = body

    async def release_idempotency_key(self, owner: str | None, key: str) -> None:
        """Give a pending claim back (the request failed), so that a retry runs the request again."""
        async with self._tx(write=True) as session:
            await session.execute(
                delete(IdempotencyKeyRow).where(
                    IdempotencyKeyRow.owner == (owner or ""),
                    IdempotencyKeyRow.key == key,
                    IdempotencyKeyRow.state == "pending",
                )
            )
