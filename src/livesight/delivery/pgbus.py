"""The event bus across replicas on one PostgreSQL database: ``LISTEN/NOTIFY``, no other server.

Each process keeps one ``LISTEN`` connection (a long-lived task, checked by a ``SELECT 1`` after each
quiet ``_PROBE_EVERY``) and one connection that sends ``pg_notify``; both reconnect through the one retry
policy (:mod:`livesight.retry`). A message is
delivered to this process's subscribers at once and sent to the others as a small JSON notice on
:data:`CHANNEL`:

- a stored event as ``(topic, seq)`` only — the receiver reads it from the store, where it already is
  (the notice is sent after the event's transaction committed), so its payload never meets the 8000-byte
  limit and every replica renders it with its own URLs;
- a message that is not stored (progress, a session's status) inline, when it fits; a progress
  snapshot that does not fit is dropped (the next supersedes it), a terminal one goes as a notice whose
  receiver reads the run's end from the store.

PostgreSQL delivers notifications in commit order, so a run's messages arrive in the order it sent them.
While the ``LISTEN`` connection is down nothing arrives; once it is back every subscriber gets a
:data:`~livesight.delivery.broker.RESYNC` notice and re-reads the store after its last ``seq``, so no
stored event is missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from sqlalchemy import make_url

from livesight.delivery.broker import RESYNC, InProcessBus, Message, Subscriber
from livesight.retry import RetryPolicy, retry_async

log = logging.getLogger(__name__)

CHANNEL = "livesight_bus"
_LIMIT = 7900  # bytes of a NOTIFY payload (PostgreSQL refuses more than 8000)
_OUTBOX = 10_000  # notices waiting to be sent; beyond it the oldest is dropped (live: drop oldest)
_PROBE_EVERY = 30.0  # seconds of silence after which the LISTEN connection is checked (the watchdog)
_FLUSH_WAIT = 2.0  # seconds aclose() waits for the last notices (a run's end at shutdown) to be sent
RECONNECT = RetryPolicy(initial=0.2, maximum=5.0, max_attempts=None)

Connect = Callable[[str], Awaitable[psycopg.AsyncConnection[Any]]]


class BusState(enum.Enum):
    NEW = "new"
    CONNECTING = "connecting"
    LISTENING = "listening"
    CLOSED = "closed"


async def _connect(dsn: str) -> psycopg.AsyncConnection[Any]:
    # TCP keepalives: a peer gone without a word (a network cut) is noticed by the kernel too.
    return await psycopg.AsyncConnection.connect(
        dsn, autocommit=True, keepalives=1, keepalives_idle=30, keepalives_interval=10, keepalives_count=3
    )


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, psycopg.OperationalError | OSError)


def libpq_dsn(database_url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://…``) as the libpq URL psycopg connects with."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresBus:
    """An :class:`~livesight.delivery.broker.InProcessBus` whose messages also reach the other processes."""

    def __init__(
        self,
        database_url: str,
        *,
        connect: Connect = _connect,
        policy: RetryPolicy = RECONNECT,
        start_wait: float = 10.0,
    ) -> None:
        self._start_wait = start_wait
        self._dsn = libpq_dsn(database_url)
        self._connect = connect
        self._policy = policy
        self._local = InProcessBus()
        self._origin = secrets.token_hex(8)  # notices from this process are already delivered here
        self._outbox: asyncio.Queue[str] = asyncio.Queue(maxsize=_OUTBOX)
        self._listening = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._listener: psycopg.AsyncConnection[Any] | None = None
        self.state = BusState.NEW
        self.connections = 0  # LISTEN connections made so far (a reconnect adds one)

    # -- the Bus ---------------------------------------------------------------------------------

    def subscribe(self, topic: str) -> Subscriber:
        return self._local.subscribe(topic)

    def unsubscribe(self, sub: Subscriber) -> None:
        self._local.unsubscribe(sub)

    def subscribers(self, topic: str | None = None) -> int:
        return self._local.subscribers(topic)

    def publish(self, topic: str, message: Message) -> None:
        self._local.publish(topic, message)
        notice = self._notice(topic, message)
        if notice is None or self.state is BusState.CLOSED:
            return
        if self._outbox.full():
            self._outbox.get_nowait()
            self._outbox.task_done()
            log.warning("event bus: the outbox is full, the oldest notice was dropped")
        self._outbox.put_nowait(notice)

    async def start(self) -> None:
        """Start listening and sending; returns once ``LISTEN`` is in place (or after ``start_wait``
        seconds: it goes on connecting in the background)."""
        if self.state is not BusState.NEW:
            return
        self.state = BusState.CONNECTING
        self._tasks = [
            asyncio.create_task(self._listen(), name="bus:listen"),
            asyncio.create_task(self._send(), name="bus:send"),
        ]
        try:
            await asyncio.wait_for(self._listening.wait(), self._start_wait)
        except TimeoutError:
            log.warning("event bus: not listening yet after %.0f s; going on connecting", self._start_wait)

    async def aclose(self) -> None:
        """Send what is still waiting (briefly: the runs' ends at shutdown), then stop."""
        if self._tasks and not self._tasks[1].done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._outbox.join(), _FLUSH_WAIT)
        self.state = BusState.CLOSED
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def wait_listening(self) -> None:
        """Until ``LISTEN`` is in place (tests, and :meth:`start`)."""
        await self._listening.wait()

    async def drop_connection(self) -> None:
        """Close the ``LISTEN`` connection as a network failure would (tests): the bus reconnects."""
        if self._listener is not None:
            self._listening.clear()
            await self._listener.close()

    # -- notices ---------------------------------------------------------------------------------

    def _notice(self, topic: str, message: Message) -> str | None:
        notice: dict[str, Any] = {"o": self._origin, "t": topic, "n": message.name, "x": message.terminal}
        if message.seq is not None:
            notice["s"] = message.seq
            return json.dumps(notice, separators=(",", ":"))
        text = json.dumps({**notice, "d": message.data}, default=str, separators=(",", ":"))
        if len(text.encode()) <= _LIMIT:
            return text
        if message.terminal:
            notice["r"] = True  # too large to carry: the receiver reads the run's end from the store
            return json.dumps(notice, separators=(",", ":"))
        log.debug("event bus: a %s message of %s is too large for NOTIFY and was not sent on", message.name, topic)
        return None

    def _deliver(self, payload: str) -> None:
        try:
            notice = json.loads(payload)
            if notice.get("o") == self._origin:
                return
            topic, name, terminal = str(notice["t"]), str(notice["n"]), bool(notice.get("x"))
            if "s" in notice:
                message = Message(name, {}, int(notice["s"]), terminal, stored=True)
            elif notice.get("r"):
                message = Message(name, {}, None, terminal, stored=True)
            else:
                message = Message(name, dict(notice.get("d") or {}), None, terminal)
        except (ValueError, KeyError, TypeError):
            log.warning("event bus: an unreadable notice was ignored: %.200s", payload)
            return
        self._local.publish(topic, message)

    # -- connections -----------------------------------------------------------------------------

    async def _open(self) -> psycopg.AsyncConnection[Any]:
        def retrying(attempt: int, exc: BaseException, delay: float) -> None:
            log.warning("event bus: connecting failed (%s); retry %d in %.1f s", exc, attempt, delay)

        return await retry_async(
            lambda: self._connect(self._dsn), self._policy, should_retry=_retryable, on_retry=retrying
        )

    async def _listen(self) -> None:
        while True:
            try:
                conn = await self._open()
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._listener = conn
                    self.connections += 1
                    if self.connections > 1:
                        # Whatever was published while we were not listening is in the store.
                        self._local.broadcast(Message(RESYNC, {}, stored=True))
                    self.state = BusState.LISTENING
                    self._listening.set()
                    while True:
                        async for note in conn.notifies(timeout=_PROBE_EVERY):
                            self._deliver(note.payload)
                        # Quiet for a while: is the connection still there? (It keeps what arrives meanwhile.)
                        await conn.execute("SELECT 1")
            except Exception as exc:
                if not _retryable(exc):
                    log.exception("event bus: the listener failed; reconnecting")
                else:
                    log.warning("event bus: the LISTEN connection dropped (%s); reconnecting", exc)
            self._listener = None
            self._listening.clear()
            self.state = BusState.CONNECTING
            await asyncio.sleep(self._policy.delay(1))

    async def _send(self) -> None:
        conn: psycopg.AsyncConnection[Any] | None = None
        pending: str | None = None
        try:
            while True:
                if pending is None:
                    pending = await self._outbox.get()
                try:
                    if conn is None or conn.closed:
                        conn = await self._open()
                    await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, pending))
                    pending = None
                    self._outbox.task_done()
                except Exception as exc:
                    log.warning("event bus: sending a notice failed (%s); reconnecting", exc)
                    if conn is not None:
                        with contextlib.suppress(Exception):
                            await conn.close()
                    conn = None
                    await asyncio.sleep(self._policy.delay(1))
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()
