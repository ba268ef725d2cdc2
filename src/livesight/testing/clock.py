"""A clock that only moves when told to, for deterministic tests of anything that takes a ``clock``."""

from __future__ import annotations

import threading


class ManualClock:
    """A monotonic clock (call it for the time, in seconds) advanced explicitly with :meth:`advance`."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a monotonic clock cannot go back")
        with self._lock:
            self._now += seconds
