"""Server-Sent Events of a job: stored events replayed after ``Last-Event-ID``, then live ones.

Stored events carry their ``seq`` as the SSE id. Live ones come from the event bus: from this process
as messages, from another replica's run as notices naming a ``seq``, read here from the store (as the
replay is), so a client on any replica gets every stored event once and in order.

Progress snapshots are not stored (they are superseded by the next one); their id is ``<last seq>.<n>``,
so a client that reconnects with it resumes after the last stored event it saw and misses no stored event.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.sse import format_sse_event

from livesight.api.state import AppState
from livesight.delivery.broker import Message
from livesight.store.records import OwnerKind

KEEPALIVE = b": keep-alive\n\n"


def parse_last_event_id(value: str | None) -> int:
    """``12`` or ``12.3`` → 12; anything else → 0 (from the start)."""
    if not value:
        return 0
    head = value.strip().split(".", 1)[0]
    return int(head) if head.isdigit() else 0


def encode(message: Message, event_id: str) -> bytes:
    return format_sse_event(data_str=json.dumps(message.data, default=str), event=message.name, id=event_id)


async def event_stream(
    state: AppState,
    kind: OwnerKind,
    owner_id: str,
    after_seq: int,
    request: Request | None,
    *,
    to_message: Callable[[Any], Message],
    final: Callable[[], Awaitable[Message | None]],
) -> AsyncIterator[bytes]:
    """Stored events of a job or session after ``after_seq``, then live ones, until a terminal message.

    ``final()`` returns the closing message when the run already ended before this stream began (so
    nothing more will be published), else ``None``.
    """
    bus, store = state.bus, state.store
    sub = bus.subscribe(owner_id)  # before reading the store, so nothing falls between the two
    state.metrics.sse_clients.inc()
    try:
        last = after_seq
        yield b"retry: 2000\n\n"
        for record in await store.list_events(kind, owner_id, after_seq=after_seq):
            message = to_message(record)
            last = record.seq
            yield encode(message, str(record.seq))
            if message.terminal:
                return
        closing = await final()
        if closing is not None:
            yield encode(closing, f"{last}.0")
            return
        progress = 0
        while True:
            if sub.overflowed:
                return  # we fell behind: the client reconnects with Last-Event-ID and loses nothing
            try:
                message = await asyncio.wait_for(sub.queue.get(), timeout=state.settings.sse_keepalive_seconds)
            except TimeoutError:
                if request is not None and await request.is_disconnected():
                    return
                yield KEEPALIVE
                continue
            if message.stored:
                # Another replica's run: what it stored after ``last`` is in the store, and so is its end.
                for record in await store.list_events(kind, owner_id, after_seq=last):
                    stored = to_message(record)
                    last = record.seq
                    yield encode(stored, str(record.seq))
                    if stored.terminal:
                        return
                closing = await final()
                if closing is not None:
                    yield encode(closing, f"{last}.0")
                    return
                continue
            if message.seq is not None:
                if message.seq <= last:
                    continue
                last = message.seq
                event_id = str(message.seq)
            else:
                progress += 1
                event_id = f"{last}.{progress}"
            yield encode(message, event_id)
            if message.terminal:
                return
    finally:
        bus.unsubscribe(sub)
        state.metrics.sse_clients.dec()


def job_event_stream(state: AppState, job_id: str, after_seq: int, request: Request | None) -> AsyncIterator[bytes]:
    """Events of ``job_id`` after ``after_seq``, until a terminal event (``stopped``/``error``)."""

    async def ended() -> Message | None:
        job = await state.store.get_job(job_id)
        if job is not None and job.status in ("completed", "stopped", "failed"):
            # It ended without a terminal event this client has not seen (e.g. across a restart).
            data = {"job_id": job_id, "status": job.status, "reason": job.reason, "final_stats": job.stats}
            return Message("error" if job.status == "failed" else "stopped", data, terminal=True)
        return None

    return event_stream(state, "job", job_id, after_seq, request, to_message=state.views.job_message, final=ended)
