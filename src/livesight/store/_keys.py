"""API keys: bearer tokens hashed at rest, and each key's Standard Webhooks signing secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy import select, update

from livesight.store._base import StoreBase
from livesight.store.errors import NotFound
from livesight.store.models import ApiKeyRow
from livesight.store.records import ApiKeyRecord, new_id, utcnow

TOKEN_PREFIX = "ls_"
"""Every token starts with this, so a leaked one is recognisable (secret scanners, logs)."""

DISPLAY_PREFIX_CHARS = 12

# Writing last_used_at on every request would turn each authenticated read into a write (and on
# SQLite, queue every request behind the one writer); a minute's resolution is enough to spot stale keys.
LAST_USED_RESOLUTION = timedelta(seconds=60)

# Nobody's token is this long; hashing megabytes sent as a bearer header is refused up front.
_MAX_TOKEN_CHARS = 256


class ApiKeyNotFound(NotFound):
    code = "API_KEY_NOT_FOUND"
    remediation = "Check the key id; list the API keys to see the ones that exist."


def new_token() -> str:
    """``ls_`` + the URL-safe base64 of 32 random bytes (256 bits of entropy)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_webhook_secret() -> str:
    """``whsec_`` + base64 of 24 random bytes: the secret format of the Standard Webhooks specification."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


def hash_token(token: str) -> str:
    """SHA-256 hex of the whole token.

    A fast hash is right here, unlike for passwords: a token carries 256 random bits, so no amount of
    hashing speed makes guessing it from a stolen hash feasible, while a slow KDF (bcrypt, argon2) would
    cost every API request tens of milliseconds. A deterministic hash also lets us look the key up by an
    index instead of checking every row.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _record(row: ApiKeyRow) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row.id,
        name=row.name,
        token_prefix=row.token_prefix,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


class KeysMixin(StoreBase):
    async def create_api_key(self, name: str) -> tuple[ApiKeyRecord, str]:
        """A new key named ``name`` and its bearer token.

        The token is returned here once and never stored (only its hash is): show it to the user now.
        """
        token = new_token()
        row = ApiKeyRow(
            id=new_id("key"),
            name=name,
            token_prefix=token[:DISPLAY_PREFIX_CHARS],
            token_hash=hash_token(token),
            webhook_secret=new_webhook_secret(),
            created_at=utcnow(),
            revoked_at=None,
            last_used_at=None,
        )
        async with self._tx(write=True) as session:
            session.add(row)
            await session.flush()
            return _record(row), token

    async def verify_api_key(self, token: str) -> ApiKeyRecord | None:
        """The key ``token`` belongs to, or ``None`` for an unknown, malformed or revoked token.

        Also notes the time of use (``last_used_at``, to the minute).
        """
        if not token.startswith(TOKEN_PREFIX) or len(token) > _MAX_TOKEN_CHARS:
            return None
        digest = hash_token(token)
        async with self._tx(write=False) as session:
            row = await session.scalar(select(ApiKeyRow).where(ApiKeyRow.token_hash == digest))
            # The lookup already matched on the hash; comparing again in constant time keeps any
            # timing difference of the database's comparison from mattering.
            if row is None or not hmac.compare_digest(row.token_hash, digest) or row.revoked_at is not None:
                return None
            record = _record(row)
        now = utcnow()
        if record.last_used_at is not None and now - record.last_used_at < LAST_USED_RESOLUTION:
            return record
        async with self._tx(write=True) as session:
            # Revocation may have committed since the read: the same statement re-checks it.
            touched = await session.scalar(
                update(ApiKeyRow)
                .where(ApiKeyRow.id == record.id, ApiKeyRow.revoked_at.is_(None))
                .values(last_used_at=now)
                .returning(ApiKeyRow.id)
            )
        if touched is None:
            return None
        return ApiKeyRecord(
            id=record.id,
            name=record.name,
            token_prefix=record.token_prefix,
            created_at=record.created_at,
            revoked_at=None,
            last_used_at=now,
        )

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        """The key (revoked or not), or ``None``."""
        async with self._tx(write=False) as session:
            row = await session.get(ApiKeyRow, key_id)
            return None if row is None else _record(row)

    async def list_api_keys(self, *, include_revoked: bool = True) -> list[ApiKeyRecord]:
        """Every key, oldest first."""
        query = select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.id)
        if not include_revoked:
            query = query.where(ApiKeyRow.revoked_at.is_(None))
        async with self._tx(write=False) as session:
            return [_record(r) for r in await session.scalars(query)]

    async def revoke_api_key(self, key_id: str) -> ApiKeyRecord:
        """Revoke the key; its token stops working at once. Revoking twice keeps the first ``revoked_at``.

        Raises :class:`ApiKeyNotFound`.
        """
        async with self._tx(write=True) as session:
            row = await session.get(ApiKeyRow, key_id, with_for_update=True)
            if row is None:
                raise ApiKeyNotFound(f"API key {key_id!r} not found")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                await session.flush()
            return _record(row)

    async def get_webhook_secret(self, key_id: str) -> str:
        """The ``whsec_…`` secret that signs the webhooks of ``key_id``'s jobs and sessions.

        Revoked keys keep theirs, so deliveries already in the outbox are still signed. Raises
        :class:`ApiKeyNotFound`.
        """
        async with self._tx(write=False) as session:
            secret = await session.scalar(select(ApiKeyRow.webhook_secret).where(ApiKeyRow.id == key_id))
            if secret is None:
                raise ApiKeyNotFound(f"API key {key_id!r} not found")
            return secret

    async def rotate_webhook_secret(self, key_id: str) -> str:
        """Replace the key's webhook secret and return the new one.

        Every attempt is signed when it is sent, so retries of older deliveries carry the new signature
        too. Raises :class:`ApiKeyNotFound`.
        """
        secret = new_webhook_secret()
        async with self._tx(write=True) as session:
            changed = await session.scalar(
                update(ApiKeyRow).where(ApiKeyRow.id == key_id).values(webhook_secret=secret).returning(ApiKeyRow.id)
            )
            if changed is None:
                raise ApiKeyNotFound(f"API key {key_id!r} not found")
            return secret
