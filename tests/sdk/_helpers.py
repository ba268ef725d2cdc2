"""Small local servers for the SDK tests: a scripted HTTP server and a TCP proxy that cuts an SSE stream."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from livesight.testing._server import ServerThread

JOB = {
    "job_id": "job_1",
    "status": "running",
    "job_type": "live-monitor",
    "created_at": "2026-11-20T10:00:00Z",
    "stream_url": "http://cam.local/live.m3u8",
}


@dataclass
class Reply:
    """One scripted answer."""

    status: int = 200
    json: Any = None
    text: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def response(self) -> Response:
        body = self.text if self.text is not None else json.dumps(self.json)
        media = "text/plain" if self.text is not None else "application/json"
        return Response(body, status_code=self.status, headers=self.headers, media_type=media)


@dataclass
class Scripted:
    """Answers ``METHOD /path`` from a queue of replies (the last one repeats) and records every request."""

    script: dict[str, list[Reply]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def on(self, route: str, *replies: Reply) -> None:
        self.script[route] = list(replies)

    def count(self, route: str) -> int:
        return sum(1 for r in self.requests if r["route"] == route)


@contextmanager
def scripted_server() -> Iterator[Scripted]:
    state = Scripted()
    app = FastAPI()

    @app.api_route("/{path:path}", methods=["GET", "POST", "DELETE"])
    async def anything(path: str, request: Request) -> Response:
        route = f"{request.method} /{path}"
        body = await request.body()
        state.requests.append(
            {"route": route, "headers": dict(request.headers), "query": dict(request.query_params), "body": body}
        )
        queue = state.script.get(route)
        if not queue:
            return Reply(404, {"error": {"code": "NOT_FOUND", "message": route, "remediation": ""}}).response()
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        if reply.delay:
            await asyncio.sleep(reply.delay)
        return reply.response()

    with ServerThread(app, graceful_timeout=0.5) as thread:
        state.url = thread.base_url
        yield state


class CuttingProxy:
    """A TCP proxy to ``upstream_port`` that aborts the first job-events (SSE) response after ``cut_after`` events.

    It forwards the first ``cut_after`` complete events (and the ``retry:`` and keep-alive blocks around them),
    then half of whatever comes next — so the client holds a partial block — and resets both connections.
    Later requests pass untouched.
    ``sse_requests`` keeps the head of each events request (to read its ``Last-Event-ID``).
    """

    def __init__(self, upstream_port: int, cut_after: int) -> None:
        self.upstream_port = upstream_port
        self.cut_after = cut_after
        self.sse_requests: list[str] = []
        self.cuts = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._closed = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> CuttingProxy:
        self._spawn(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed = True
        _abort(self._listener)  # wakes the accept() thread
        with self._lock:
            for sock in self._sockets:
                _abort(sock)
        for thread in self._threads:
            thread.join(5)

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            with self._lock:
                self._sockets += [downstream, upstream]
            flags = {"sse": False}
            self._spawn(self._requests, downstream, upstream, flags)
            self._spawn(self._responses, upstream, downstream, flags)

    def _requests(self, src: socket.socket, dst: socket.socket, flags: dict[str, bool]) -> None:
        while data := _recv(src):
            head = data.decode("latin-1", "replace")
            if head.startswith("GET /api/jobs/") and "/events" in head.split("\r\n", 1)[0]:
                with self._lock:
                    self.sse_requests.append(head)
                    flags["sse"] = self.cuts == 0  # only the first events response is cut
            try:
                dst.sendall(data)
            except OSError:
                return
        _shutdown(dst)

    def _responses(self, src: socket.socket, dst: socket.socket, flags: dict[str, bool]) -> None:
        events, block = 0, bytearray()
        while data := _recv(src):
            if flags["sse"]:
                if events >= self.cut_after:
                    self._cut(dst, src, data[: max(1, len(data) // 2)])
                    return
                for i, byte in enumerate(data):
                    block.append(byte)
                    if not block.endswith(b"\n\n"):
                        continue
                    # Only blocks with data are events: "retry:" and keep-alive comments do not count.
                    events += b"data:" in block
                    block.clear()
                    if events == self.cut_after and i + 1 < len(data):
                        rest = data[i + 1 :]
                        self._cut(dst, src, data[: i + 1] + rest[: max(1, len(rest) // 2)])
                        return
            try:
                dst.sendall(data)
            except OSError:
                return
        _shutdown(dst)

    def _cut(self, downstream: socket.socket, upstream: socket.socket, data: bytes) -> None:
        with self._lock:
            self.cuts += 1
        try:
            downstream.sendall(data)
        finally:
            _abort(downstream)
            _abort(upstream)


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _abort(sock: socket.socket) -> None:
    """Drop the connection mid-response, as a dead link or a killed proxy would."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset, not FIN, on close
        # close() alone would not wake a thread blocked in recv() on this socket (and would keep it open).
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
