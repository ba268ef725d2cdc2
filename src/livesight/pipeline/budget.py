"""A per-run budget of model calls per hour that stretches the check interval instead of failing.

A token bucket on the session clock: it holds up to ``burst`` calls (a twelfth of the hourly budget, so
a short busy spell is still checked at the normal interval) and refills at ``(budget - burst)`` calls per
hour, so no window of one hour ever holds more than ``budget`` calls. When the bucket is empty a check
that needs the model waits for the next grid point after a call becomes available — a longer interval —
and is counted as deferred. Checks the change gate answers from a reused verdict cost nothing.

A check's call is reserved when it starts, so checks in flight together cannot overrun the budget. A
judge that may not call the model at all (local CLIP, a cascade whose first stage rules the picture
out) is charged when its answer says what it used: checks in flight together may then overrun by a
few calls, which the bucket pays back (it goes negative) before the next call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["CallBudget"]


@dataclass
class CallBudget:
    """``max_calls_per_hour`` model calls per hour of session time."""

    max_calls_per_hour: int
    deferred: int = 0

    def __post_init__(self) -> None:
        if self.max_calls_per_hour < 1:
            raise ValueError("max model calls per hour must be at least 1")
        self.burst = max(1, self.max_calls_per_hour // 12)
        self.rate = max(1, self.max_calls_per_hour - self.burst) / 3600.0  # calls per second
        self._tokens = float(self.burst)
        self._updated: float | None = None
        self._last_deferred: float | None = None

    def _refill(self, now: float) -> None:
        if self._updated is not None and now > self._updated:
            self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
        self._updated = now if self._updated is None else max(self._updated, now)

    def available(self, now: float) -> bool:
        """Whether a model call may start at session time ``now``."""
        self._refill(now)
        return self._tokens >= 1.0 - 1e-9

    def spend(self, now: float, calls: float = 1.0) -> None:
        """Record ``calls`` model calls (negative refunds an unused reservation)."""
        self._refill(now)
        self._tokens = min(float(self.burst), self._tokens - calls)

    def defer(self, now: float) -> float:
        """Count a deferred check; returns the session time when a call will next be available."""
        self.deferred += 1
        self._last_deferred = now
        self._refill(now)
        missing = max(0.0, 1.0 - self._tokens)
        return now + missing / self.rate

    @property
    def limited(self) -> bool:
        """Whether the budget stretched the interval within the last hour of session time."""
        if self._last_deferred is None:
            return False
        return self._updated is None or self._updated - self._last_deferred < 3600.0

    @property
    def min_interval_seconds(self) -> float:
        """The interval the budget sustains once its burst is spent."""
        return 1.0 / self.rate

    def as_dict(self, interval: float) -> dict[str, object]:
        effective = max(interval, self.min_interval_seconds) if self.limited else interval
        return {
            "max_model_calls_per_hour": self.max_calls_per_hour,
            "limited": self.limited,
            "checks_deferred": self.deferred,
            "effective_interval_seconds": round(math.ceil(effective / interval) * interval, 3),
        }
