"""A scriptable webhook receiver and a polling helper for the dispatcher tests."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """What the receiver got, and what it answers: ``script`` is consumed one status per request (then 200).

    A status of ``0`` means "hang until released" (a slow receiver, or one that is killed mid-request).
    """

    script: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    extra_headers: dict[int, dict[str, str]] = field(default_factory=dict)
    release: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        with self._lock:
            self.received.append(Received(request.url.path, dict(request.headers), body))
            status = self.script.pop(0) if self.script and request.url.path == "/hook" else 200
        if status == 0:
            await anyio.to_thread.run_sync(self.release.wait, 30.0)
            status = 200
        return Response(status_code=status, headers=self.extra_headers.get(status, {}))

    def hooks(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == "/hook"]

    def hits(self, path: str) -> int:
        with self._lock:
            return sum(1 for r in self.received if r.path == path)


def receiver_app(receiver: Receiver) -> Starlette:
    return Starlette(
        routes=[
            Route("/hook", receiver.handle, methods=["POST"]),
            Route("/elsewhere", receiver.handle, methods=["POST", "GET"]),
        ]
    )


async def eventually(check: Callable[[], Awaitable[bool]], what: str, limit: float = 30.0) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after ``limit`` seconds (a bound, not a timing claim)."""
    deadline = time.monotonic() + limit  # seconds, however long each check takes on a busy machine
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)  # between polls of the condition
