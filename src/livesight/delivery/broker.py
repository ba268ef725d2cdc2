"""In-process publish/subscribe of live messages (SSE, the web UI).

A message with a ``seq`` is durable: it is in the store before it is published, so a subscriber that
reconnects with ``Last-Event-ID`` gets what it missed from the store and the rest from here. The
broker is the seam where a multi-machine deployment puts Redis or NATS; nothing else changes.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    """One SSE event. ``seq`` is set for stored events; progress snapshots have none."""

    name: str
    data: dict[str, Any]
    seq: int | None = None
    terminal: bool = False


@dataclass(eq=False)
class Subscriber:
    topic: str
    queue: asyncio.Queue[Message] = field(default_factory=lambda: asyncio.Queue(maxsize=1000))
    overflowed: bool = False


class Broker:
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
