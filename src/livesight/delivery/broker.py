"""The event bus: publish/subscribe of live messages (SSE, the web UI) by run id, across replicas.

A message with a ``seq`` is durable: it is in the store before it is published, so a subscriber that
reconnects with ``Last-Event-ID`` gets what it missed from the store and the rest from here.

:class:`Bus` is the seam. :class:`InProcessBus` fans out inside one process (SQLite: one process holds
every run). :class:`~livesight.delivery.pgbus.PostgresBus` adds PostgreSQL ``LISTEN/NOTIFY``, so a run's
messages reach the subscribers of every replica on one database. A message from another process that
names a stored event arrives as a *notice* (``stored``): its subscriber reads the event from the store by
``seq``, as a reconnecting client does, so the store stays the one source of truth and a notice stays
small (``NOTIFY`` payloads are limited to 8000 bytes).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import make_url

log = logging.getLogger(__name__)

ANY = "*"
"""Subscribe to every topic (the web UI's overview): its messages carry the ``topic`` they were published on."""

RESYNC = "resync"
"""The name of a notice sent to every subscriber after the bus may have missed messages (a dropped
``LISTEN`` connection re-established): re-read the store from the last ``seq`` seen."""


@dataclass(frozen=True)
class Message:
    """One SSE event. ``seq`` is set for stored events; progress snapshots have none.

    ``stored``: a notice from another process, not the event itself — the event (``seq``, or whatever the
    store holds after the subscriber's last ``seq`` when ``seq`` is ``None``) is read from the store.
    ``topic`` is set on messages delivered to a subscriber of :data:`ANY`.
    """

    name: str
    data: dict[str, Any]
    seq: int | None = None
    terminal: bool = False
    stored: bool = False
    topic: str | None = None


@dataclass(eq=False)
class Subscriber:
    topic: str
    queue: asyncio.Queue[Message] = field(default_factory=lambda: asyncio.Queue(maxsize=1000))
    overflowed: bool = False


class Bus(Protocol):
    """Where runs publish their live messages and SSE streams subscribe to them, by run id (the topic)."""

    def subscribe(self, topic: str) -> Subscriber: ...

    def unsubscribe(self, sub: Subscriber) -> None: ...

    def publish(self, topic: str, message: Message) -> None:
        """Deliver ``message`` to the subscribers of ``topic`` (and :data:`ANY`) in every process; never
        blocks. A stored event is published only after its transaction committed."""
        ...

    def subscribers(self, topic: str | None = None) -> int: ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


class InProcessBus:
    """The bus inside one process: each subscriber has a bounded queue; one that falls behind is cut off."""

    def __init__(self) -> None:
        self._subs: dict[str, set[Subscriber]] = defaultdict(set)

    def subscribe(self, topic: str) -> Subscriber:
        sub = Subscriber(topic)
        self._subs[topic].add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        subs = self._subs.get(sub.topic)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.topic]

    def publish(self, topic: str, message: Message) -> None:
        self._put(topic, message)
        if ANY in self._subs and topic != ANY:
            self._put(ANY, dataclasses.replace(message, topic=topic))

    def broadcast(self, message: Message) -> None:
        """``message`` to every subscriber of every topic (a :data:`RESYNC`)."""
        for topic in list(self._subs):
            self._put(topic, message if topic != ANY else dataclasses.replace(message, topic=ANY))

    def _put(self, topic: str, message: Message) -> None:
        for sub in list(self._subs.get(topic, ())):
            try:
                sub.queue.put_nowait(message)
            except asyncio.QueueFull:
                # A client that stopped reading: cut it off; it reconnects with Last-Event-ID and
                # reads what it missed from the store.
                sub.overflowed = True
                self.unsubscribe(sub)
                log.warning("SSE subscriber on %s fell behind and was disconnected", topic)

    def subscribers(self, topic: str | None = None) -> int:
        if topic is None:
            return sum(len(s) for s in self._subs.values())
        return len(self._subs.get(topic, ()))

    async def start(self) -> None:
        """Nothing to start: kept so that every bus is driven alike."""

    async def aclose(self) -> None:
        """Nothing to close."""


async def until_ended(
    bus: Bus, topic: str, ended: Callable[[], Awaitable[bool]], within: float, *, recheck: float = 2.0
) -> bool:
    """Until ``ended()`` (a read of the store) says the run ``topic`` ended, whichever replica runs it;
    ``False`` after ``within`` seconds.

    The store is read once, then again when the bus brings the run's terminal message (its end is stored
    before that is published) or a :data:`RESYNC`, and every ``recheck`` seconds in case a notice was lost.
    """
    sub = bus.subscribe(topic)  # before the first read, so an end between the two is not missed
    try:
        async with asyncio.timeout(within):
            while not await ended():
                with contextlib.suppress(TimeoutError):
                    while True:
                        message = await asyncio.wait_for(sub.queue.get(), recheck)
                        if message.terminal or message.name == RESYNC:
                            break
        return True
    except TimeoutError:
        return False
    finally:
        bus.unsubscribe(sub)


Broker = InProcessBus
"""The former name of :class:`InProcessBus` (the run managers' ``broker`` is a :class:`Bus`)."""


def build_bus(database_url: str) -> Bus:
    """``PostgresBus`` on a PostgreSQL database (every replica shares it), else ``InProcessBus``."""
    if make_url(database_url).get_backend_name() == "postgresql":
        from livesight.delivery.pgbus import PostgresBus

        return PostgresBus(database_url)
    return InProcessBus()
