"""``Idempotency-Key`` on every POST: a retried request gets the first answer again and starts nothing.

The published Nomadic SDKs send an ``Idempotency-Key`` on every POST and re-send POSTs after a 429 or a
5xx with the same key, so without this a retry could start a second session or job. The rules (those of
the IETF ``Idempotency-Key`` draft and of Stripe's API):

- the same key, from the same API key, with the same request (method, path, query and body) within
  ``LIVESIGHT_IDEMPOTENCY_TTL_SECONDS`` (24 h) answers the stored first response, with
  ``Idempotent-Replayed: true``; an SSE answer (a job created with ``Accept: text/event-stream``) is
  replayed as that job's event stream from its first event;
- the same key with another request is a 422 ``IDEMPOTENCY_KEY_REUSED``; while the first request is
  still running, a 409 ``IDEMPOTENCY_KEY_IN_USE`` (retry shortly);
- only successful (2xx) answers are kept: a request that failed can be retried with its key.

Keys are stored in the database, per API key, so they hold across restarts and replicas. This is a
plain ASGI middleware rather than a route dependency: it must see the whole answer, streamed or not.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from livesight.api.auth import presented_token
from livesight.api.errors import envelope
from livesight.api.state import AppState
from livesight.store._idempotency import Claim, StoredResponse

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HEADER = b"idempotency-key"
MAX_KEY_CHARS = 255
SSE = "text/event-stream"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _fingerprint(scope: Scope, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (scope["method"].encode(), scope["path"].encode(), scope.get("query_string", b""), body):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


async def _send_json(send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = _header(scope, HEADER) if scope["type"] == "http" and scope["method"] == "POST" else None
        if key is None:
            await self.app(scope, receive, send)
            return
        key = key.strip()
        if not key or len(key) > MAX_KEY_CHARS:
            await _send_json(
                send,
                422,
                envelope(
                    "VALIDATION_ERROR",
                    f"Idempotency-Key: must be 1 to {MAX_KEY_CHARS} characters.",
                    "Send a unique key per request, e.g. a UUID.",
                    fields=[{"field": "Idempotency-Key", "message": f"must be 1 to {MAX_KEY_CHARS} characters"}],
                ),
                [],
            )
            return
        body = await _read_body(receive)
        state = scope["app"].state.ls
        allowed, owner = await self._owner(scope, state)
        if not allowed:  # no valid key: the route answers 401 as usual, and nothing is stored
            await self.app(scope, _replay_body(body, receive), send)
            return
        fingerprint = _fingerprint(scope, body)
        ttl = state.settings.idempotency_ttl_seconds
        result = await state.store.claim_idempotency_key(owner, key, fingerprint, ttl_seconds=ttl)
        if result.claim is Claim.MISMATCH:
            await _send_json(
                send,
                422,
                envelope(
                    "IDEMPOTENCY_KEY_REUSED",
                    "This Idempotency-Key was already used for a different request.",
                    "Send a new Idempotency-Key with each new request; reuse a key only to retry the same request.",
                ),
                [],
            )
            return
        if result.claim is Claim.IN_PROGRESS:
            await _send_json(
                send,
                409,
                envelope(
                    "IDEMPOTENCY_KEY_IN_USE",
                    "A request with this Idempotency-Key is still running.",
                    "Retry in a moment; the retry gets that request's answer.",
                ),
                [(b"retry-after", b"1")],
            )
            return
        if result.claim is Claim.REPLAY:
            assert result.response is not None
            await self._replay(scope, receive, send, result.response)
            return
        await self._run(scope, body, receive, send, state, owner, key)

    async def _owner(self, scope: Scope, state: AppState) -> tuple[bool, str | None]:
        """Whether the request will be let in, and the calling key's id (``None`` in development mode)."""
        headers = {bytes(k).decode("latin-1").lower(): bytes(v).decode("latin-1") for k, v in scope["headers"]}
        token = presented_token(headers)
        record = await state.store.verify_api_key(token) if token is not None else None
        if record is not None:
            return True, str(record.id)
        return bool(state.dev_mode), None  # as the route decides: development mode lets it in

    async def _run(
        self, scope: Scope, body: bytes, receive: Receive, send: Send, state: AppState, owner: str | None, key: str
    ) -> None:
        status = 0
        media_type: str | None = None
        location: str | None = None
        chunks: list[bytes] = []
        settled = False

        async def capture(message: Message) -> None:
            nonlocal status, media_type, location, settled
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = {
                    bytes(k).decode("latin-1").lower(): bytes(v).decode("latin-1") for k, v in message["headers"]
                }
                media_type = headers.get("content-type")
                location = headers.get("location")
                if 200 <= status < 300 and SSE in (media_type or ""):
                    # A stream is never complete; the job it created is what a retry must get back.
                    await state.store.complete_idempotency_key(
                        owner, key, status_code=status, media_type=media_type, location=location, body=""
                    )
                    settled = True
            elif message["type"] == "http.response.body" and not settled:
                chunks.append(bytes(message.get("body", b"")))
            await send(message)

        try:
            await self.app(scope, _replay_body(body, receive), capture)
        except BaseException:
            if not settled:
                await state.store.release_idempotency_key(owner, key)
            raise
        if settled:
            return
        if 200 <= status < 300:
            await state.store.complete_idempotency_key(
                owner,
                key,
                status_code=status,
                media_type=media_type,
                location=location,
                body=b"".join(chunks).decode("utf-8", "replace"),
            )
        else:
            await state.store.release_idempotency_key(owner, key)

    async def _replay(self, scope: Scope, receive: Receive, send: Send, stored: StoredResponse) -> None:
        if SSE in (stored.media_type or "") and stored.location:
            # Replay the stream of what the first request created, from its first event.
            path = stored.location.rstrip("/") + "/events"
            replay = dict(scope, method="GET", path=path, raw_path=path.encode(), query_string=b"")
            replay["headers"] = [(k, v) for k, v in scope["headers"] if bytes(k).lower() != b"last-event-id"]
            await self.app(replay, _replay_body(b"", receive), send)
            return
        payload = stored.body.encode()
        headers = [
            (b"content-type", (stored.media_type or "application/json").encode("latin-1")),
            (b"content-length", str(len(payload)).encode()),
            (b"idempotent-replayed", b"true"),
        ]
        if stored.location:
            headers.append((b"location", stored.location.encode("latin-1")))
        await send({"type": "http.response.start", "status": stored.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


async def _read_body(receive: Receive) -> bytes:
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        parts.append(bytes(message.get("body", b"")))
        if not message.get("more_body", False):
            break
    return b"".join(parts)


def _replay_body(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then the client's own messages (the
    disconnect that SSE streams watch for)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
