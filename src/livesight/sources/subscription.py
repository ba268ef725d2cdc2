"""Handing items from a source's decode thread to an asyncio consumer through a bounded queue."""

from __future__ import annotations

import asyncio
import enum
import threading
from collections import deque
from dataclasses import dataclass, replace
from typing import Literal

from livesight.types import EncodedPacket, Frame, Gap


class DropPolicy(enum.StrEnum):
    DROP_OLDEST = "drop_oldest"  # live video: the newest picture matters, old ones are dropped and counted
    BLOCK = "block"  # analysing footage: the decoder waits for the consumer, nothing is lost


@dataclass(frozen=True)
class SourceEnd:
    """The last item of a subscription."""

    state: Literal["ended", "failed", "stopped"]
    reason: str


Item = Frame | EncodedPacket | Gap | SourceEnd

# Packets are small; this bound only matters if a consumer stops consuming altogether.
_MAX_PACKETS = 20_000


class Subscription:
    """One consumer's view of a shared source, on its own timeline.

    Its time zero is the first keyframe it receives, so a run that joins a shared source late
    still sees its own session timeline start at 0.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, max_frames: int, policy: DropPolicy) -> None:
        self._loop = loop
        self._max_frames = max_frames
        self.policy = policy
        self._items: deque[Item] = deque()
        self._frames = 0
        self._packets = 0
        self._lock = threading.Condition()
        self._ready = asyncio.Event()
        self._origin: float | None = None
        self._closed = False
        self.frames_dropped = 0

    # -- producer side (decode thread) ----------------------------------------------------------
    def put(self, item: Item, stop: threading.Event | None = None) -> None:
        if isinstance(item, EncodedPacket):
            if self._origin is None:
                if not item.is_keyframe:
                    return
                self._origin = item.session_time
            item = replace(item, session_time=item.session_time - self._origin)
        elif isinstance(item, Frame):
            if self._origin is None or item.session_time < self._origin:
                return
            item = replace(item, session_time=item.session_time - self._origin)
        elif isinstance(item, Gap):
            if self._origin is None:
                return
            item = replace(item, session_time=max(0.0, item.session_time - self._origin))
        with self._lock:
            if self._closed:
                return
            if isinstance(item, Frame):
                if self.policy is DropPolicy.BLOCK:
                    while self._frames >= self._max_frames and not self._closed and not (stop and stop.is_set()):
                        self._lock.wait(0.2)
                elif self._frames >= self._max_frames:
                    self._drop_oldest(Frame)
                    self.frames_dropped += 1
                self._frames += 1
            elif isinstance(item, EncodedPacket):
                if self._packets >= _MAX_PACKETS:
                    self._drop_oldest(EncodedPacket)
                self._packets += 1
            self._items.append(item)
        self._loop.call_soon_threadsafe(self._ready.set)

    def _drop_oldest(self, kind: type) -> None:
        for i, old in enumerate(self._items):
            if isinstance(old, kind):
                del self._items[i]
                if kind is Frame:
                    self._frames -= 1
                else:
                    self._packets -= 1
                return

    # -- consumer side (event loop) -------------------------------------------------------------
    async def get_batch(self) -> list[Item]:
        """Everything queued so far, in order; waits while the queue is empty."""
        while True:
            with self._lock:
                if self._items:
                    batch = list(self._items)
                    self._items.clear()
                    self._frames = self._packets = 0
                    self._lock.notify_all()
                    return batch
                self._ready.clear()
            await self._ready.wait()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._items.clear()
            self._lock.notify_all()
