"""API keys: tokens hashed at rest, verification, revocation, and each key's webhook secret."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re

import pytest
from sqlalchemy import text
from standardwebhooks.webhooks import Webhook

from livesight.store import ApiKeyNotFound, ApiKeyRecord, Store

TOKEN = re.compile(r"^ls_[A-Za-z0-9_-]{43}$")  # urlsafe base64 of 32 bytes, unpadded
SECRET = re.compile(r"^whsec_[A-Za-z0-9+/]{32}$")  # base64 of 24 bytes


async def test_create_returns_the_token_once_and_a_record_without_it(store: Store) -> None:
    record, token = await store.create_api_key("ci")
    assert TOKEN.match(token)
    assert record.id.startswith("key_") and record.name == "ci"
    assert record.token_prefix == token[:12] and record.token_prefix.startswith("ls_")
    assert record.revoked_at is None and record.last_used_at is None and not record.revoked
    assert {f.name for f in dataclasses.fields(ApiKeyRecord)} == {
        "id",
        "name",
        "token_prefix",
        "created_at",
        "revoked_at",
        "last_used_at",
    }
    assert token not in repr(record)


async def test_the_token_is_never_stored_only_its_sha256(store: Store) -> None:
    _, token = await store.create_api_key("ci")
    async with store._engine.connect() as conn:
        rows = (await conn.execute(text("SELECT * FROM api_keys"))).all()
    stored = " ".join(str(value) for row in rows for value in row)
    assert token not in stored
    assert token[12:] not in stored  # not even the part after the display prefix
    assert hashlib.sha256(token.encode()).hexdigest() in stored


async def test_verify_accepts_the_token_and_notes_its_use(store: Store) -> None:
    record, token = await store.create_api_key("ci")
    other, _ = await store.create_api_key("other")
    verified = await store.verify_api_key(token)
    assert verified is not None and verified.id == record.id != other.id
    assert verified.last_used_at is not None
    assert (await store.get_api_key(record.id)) == verified
    # A second use within the minute does not write again.
    again = await store.verify_api_key(token)
    assert again is not None and again.last_used_at == verified.last_used_at


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # one character off
        lambda t: t[:12],  # the display prefix alone
        lambda t: t[3:],  # without ls_
        lambda t: t + "x",
        lambda t: "",
        lambda t: "ls_" + "A" * 10_000,
    ],
)
async def test_verify_refuses_anything_but_the_exact_token(store: Store, mangle: object) -> None:
    _, token = await store.create_api_key("ci")
    assert callable(mangle)
    assert await store.verify_api_key(mangle(token)) is None


async def test_revoked_keys_stop_working_and_stay_listed(store: Store) -> None:
    first, first_token = await store.create_api_key("first")
    second, second_token = await store.create_api_key("second")
    revoked = await store.revoke_api_key(first.id)
    assert revoked.revoked and revoked.revoked_at is not None
    assert await store.verify_api_key(first_token) is None
    assert await store.verify_api_key(second_token) is not None
    again = await store.revoke_api_key(first.id)
    assert again.revoked_at == revoked.revoked_at  # revoking twice keeps the first time
    assert [k.id for k in await store.list_api_keys()] == [first.id, second.id]
    assert [k.id for k in await store.list_api_keys(include_revoked=False)] == [second.id]
    with pytest.raises(ApiKeyNotFound):
        await store.revoke_api_key("key_missing")


async def test_each_key_has_a_standard_webhooks_secret_that_rotates(store: Store) -> None:
    first, _ = await store.create_api_key("first")
    second, _ = await store.create_api_key("second")
    secret = await store.get_webhook_secret(first.id)
    assert SECRET.match(secret)
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 24
    assert secret != await store.get_webhook_secret(second.id)
    Webhook(secret)  # the library accepts the format

    rotated = await store.rotate_webhook_secret(first.id)
    assert SECRET.match(rotated) and rotated != secret
    assert await store.get_webhook_secret(first.id) == rotated

    await store.revoke_api_key(first.id)
    assert await store.get_webhook_secret(first.id) == rotated  # queued deliveries can still be signed
    with pytest.raises(ApiKeyNotFound):
        await store.get_webhook_secret("key_missing")
    with pytest.raises(ApiKeyNotFound):
        await store.rotate_webhook_secret("key_missing")


async def test_keys_survive_reopening_the_database(database_url: str) -> None:
    async with await Store.open(database_url) as first:
        record, token = await first.create_api_key("ci")
    async with await Store.open(database_url) as second:
        verified = await second.verify_api_key(token)
        assert verified is not None and verified.id == record.id
