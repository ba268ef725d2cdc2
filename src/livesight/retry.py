"""The one retry policy of LiveSight: exponential backoff with jitter, honouring ``Retry-After``.

Source reconnects, model calls and webhook deliveries all retry through :func:`retry_async` with a
:class:`RetryPolicy`, so backoff behaves the same everywhere and is tested in one place.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

__all__ = ["RETRY_AFTER_CEILING", "RetryPolicy", "parse_retry_after", "retry_async"]

T = TypeVar("T")

log = logging.getLogger(__name__)

#: A server's ``Retry-After`` is honoured up to this many seconds (or the policy's ``maximum``, if larger);
#: beyond it a misbehaving or hostile server could park a worker for days.
RETRY_AFTER_CEILING = 300.0


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait between attempts, and when to give up.

    The delay before retry ``n`` (1-based) is ``initial * multiplier ** (n - 1)``, capped at ``maximum``,
    then spread by ±``jitter`` (a fraction) so that many clients failing together do not retry in
    lockstep; the result never exceeds ``maximum``. ``max_attempts`` counts every call, the first
    included (``None``: unlimited); ``max_elapsed`` stops retrying once the next wait would end more than
    that many seconds after the first call began (``None``: no limit).
    """

    initial: float = 0.5
    maximum: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.25
    max_attempts: int | None = 4
    max_elapsed: float | None = None

    def __post_init__(self) -> None:
        if self.initial < 0 or self.maximum < 0:
            raise ValueError("initial and maximum must be >= 0")
        if self.multiplier < 1:
            raise ValueError("multiplier must be >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1 or None")
        if self.max_elapsed is not None and self.max_elapsed < 0:
            raise ValueError("max_elapsed must be >= 0 or None")

    def delay(self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1 = the first retry).

        A server's ``retry_after`` wins over the computed backoff (it knows its own load), capped at
        ``max(maximum, RETRY_AFTER_CEILING)``.
        """
        if retry_after is not None and math.isfinite(retry_after) and retry_after >= 0:
            return min(retry_after, max(self.maximum, RETRY_AFTER_CEILING))
        exponent = max(0, attempt - 1)
        try:
            base = self.initial * self.multiplier**exponent
        except OverflowError:
            base = self.maximum
        base = min(base, self.maximum)
        spread = (rng or random).uniform(-self.jitter, self.jitter)
        return max(0.0, min(self.maximum, base * (1.0 + spread)))


async def retry_async(
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    should_retry: Callable[[BaseException], bool],
    retry_after: Callable[[BaseException], float | None] = lambda e: None,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
) -> T:
    """Call ``fn`` until it succeeds, ``should_retry`` says no, or ``policy`` gives up.

    When giving up, the last exception is re-raised unchanged, so callers see the same error types
    with or without retries. ``on_retry(attempt, error, delay)`` runs before each wait (``attempt`` is
    the 1-based number of the retry about to happen). Cancellation is never retried.
    """
    started = clock()
    attempt = 0
    while True:
        attempt += 1
        try:
            return await fn()
        except Exception as exc:
            if not should_retry(exc):
                raise
            if policy.max_attempts is not None and attempt >= policy.max_attempts:
                raise
            wait = policy.delay(attempt, retry_after(exc), rng)
            if policy.max_elapsed is not None and (clock() - started) + wait > policy.max_elapsed:
                raise
            if on_retry is not None:
                on_retry(attempt, exc, wait)
            else:
                log.debug("retry %d in %.2fs after %s", attempt, wait, type(exc).__name__)
            await sleep(wait)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from an HTTP ``Retry-After`` header (delta-seconds or HTTP-date).

    Returns ``None`` when the header is missing or unreadable; a date in the past gives ``0.0``.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        # RFC 9110 allows only non-negative integers; fractional values are tolerated, junk is not.
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # HTTP-dates are always GMT
    reference = now or datetime.now(UTC)
    return max(0.0, (when - reference).total_seconds())
