"""Helpers for tests that run LiveSight as a deployment would: `livesight serve` replicas in their own processes
on one database, a webhook receiver that records what it got, and an SSE client in a thread.

Every process a helper starts is ended by its id (``stop``/``kill``); every wait is on a condition.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import make_url

from livesight.testing._server import ServerThread


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz").status_code == 200
    except httpx.HTTPError:
        return False


def wait_until(check: Callable[[], Any], what: Callable[[], str], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {what()}")
        time.sleep(0.2)  # between polls of the condition
    return value


class Replica:
    """One `livesight serve` process with its own data directory and port, sharing the database."""

    def __init__(self, name: str, env: dict[str, str], data: Path) -> None:
        self.name, self.data = name, data
        self.env = {**env, "LIVESIGHT_DATA_DIR": str(data)}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Replica:
        self.data.mkdir(parents=True, exist_ok=True)
        with open(self.data / "server.log", "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "livesight", "serve", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=log,
            )
        wait_until(lambda: healthy(self.url), lambda: f"{self.name} to answer /healthz", 60)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill(self) -> None:
        """kill -9: no shutdown of any kind, its leases are left to run out."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


class Receiver:
    """A webhook receiver on a real server (``with Receiver() as hooks``): every request it got, in order,
    as its body with its ``webhook-id`` as ``id``."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> JSONResponse:
            body = await request.json()
            with self._lock:
                self.received.append({"id": request.headers.get("webhook-id"), **body})
            return JSONResponse({"ok": True})

        self.thread = ServerThread(app)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.stop()

    @property
    def url(self) -> str:
        return f"{self.thread.base_url}/hook"

    def of_run(self, run_id: str) -> list[dict[str, Any]]:
        """Every webhook about a job or session (``run_id``), in the order they arrived."""
        with self._lock:
            return [r for r in self.received if run_id in (r["job_id"], (r.get("data") or {}).get("session_id"))]

    def got(self, type_: str, run_id: str) -> list[dict[str, Any]]:
        """The webhooks of ``type_`` about a job or session (``run_id``), in the order they arrived."""
        return [r for r in self.of_run(run_id) if r["type"] == type_]

    def ids(self) -> list[str]:
        with self._lock:
            return [r["id"] for r in self.received]


class Database:
    """The replicas of one PostgreSQL database, and SQL on it (psycopg) to check what they stored."""

    def __init__(self, database_url: str, replicas: dict[str, Replica]) -> None:
        self.database_url = database_url
        self.replicas = replicas
        self.admin = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        import psycopg  # the postgres extra, which only these tests need

        with psycopg.connect(self.admin) as conn:
            return list(conn.execute(sql, args).fetchall())

    def worker_of(self, table: str, run_id: str) -> str | None:
        """The ``worker_id`` holding a job or session (``table``: jobs or sessions)."""
        [(worker,)] = self.query(f"select worker_id from {table} where id = %s", run_id)
        return None if worker is None else str(worker)

    def worker_pid(self, job_id: str) -> int | None:
        """The pid of the local-runner replica holding ``job_id`` (worker ids are ``host:pid:token``)."""
        worker = self.worker_of("jobs", job_id)
        return None if worker is None else int(worker.split(":")[1])

    def count(self, sql: str, job_id: str) -> int:
        return int(self.query(sql, job_id)[0][0])


class SSEReader:
    """An SSE client in a thread: every event (``{id, event, data}``) as it arrives, until the stream ends
    or :meth:`close`."""

    def __init__(self, url: str, path: str) -> None:
        self.url, self.path = url, path
        self.events: list[dict[str, Any]] = []
        self.ended = threading.Event()
        self._lock = threading.Lock()
        self._response: httpx.Response | None = None
        self._closing = False
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        current: dict[str, Any] = {}
        try:
            with httpx.stream("GET", self.url + self.path, timeout=httpx.Timeout(30, read=120)) as response:
                self._response = response
                for line in response.iter_lines():
                    if line == "":
                        if "event" in current:
                            current["data"] = json.loads(current.get("data", "null"))
                            with self._lock:
                                self.events.append(current)
                        current = {}
                    elif not line.startswith(":"):
                        name, _, value = line.partition(":")
                        current[name] = value[1:] if value.startswith(" ") else value
        except (httpx.HTTPError, RuntimeError) as exc:
            if not self._closing:
                self.error = exc
        finally:
            self.ended.set()

    def seen(self, name: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if name is None or e["event"] == name]

    def close(self) -> None:
        self._closing = True
        if self._response is not None:
            self._response.close()
        self.thread.join(10)


def event_key(event_id: str) -> tuple[int, int]:
    seq, _, n = event_id.partition(".")
    return int(seq), int(n or 0)
