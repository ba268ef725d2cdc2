"""The webhook retry schedule, URL rule and counters: the parts of the dispatcher that need no I/O."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Protocol
from urllib.parse import urlsplit

from livesight.errors import LiveSightError
from livesight.retry import RetryPolicy
from livesight.settings import Settings
from livesight.sources.urls import redact


class _Incrementable(Protocol):
    def inc(self, amount: float = 1) -> None: ...


class _LabelledCounter(Protocol):
    def labels(self, *args: str, **kwargs: str) -> _Incrementable: ...


class OutcomeMetrics(Protocol):
    """Where else to count attempt outcomes, e.g. ``livesight.metrics.Metrics`` (a Prometheus registry)."""

    @property
    def webhook_deliveries(self) -> _LabelledCounter: ...


@dataclass
class DispatcherMetrics:
    """Counters since the dispatcher was built (for ``/metrics``)."""

    attempts: int = 0
    delivered: int = 0
    retried: int = 0  # failed attempts scheduled again
    failed: int = 0  # deliveries given up, or refused by the network policy
    disabled: int = 0  # receivers that answered 410 Gone

    def count(self, outcome: str) -> None:
        """Count one attempt with ``outcome`` (``delivered``, ``retry``, ``failed`` or ``disabled``)."""
        self.attempts += 1
        field = {"delivered": "delivered", "retry": "retried", "failed": "failed", "disabled": "disabled"}[outcome]
        setattr(self, field, getattr(self, field) + 1)

    def snapshot(self) -> dict[str, int]:
        return asdict(self)


class InvalidWebhookURL(LiveSightError):
    code = "INVALID_URL"
    remediation = "Give an absolute http:// or https:// URL for webhook_url."


def retry_policy(settings: Settings) -> RetryPolicy:
    """The webhook schedule from settings: ``initial`` doubling up to ``maximum``, ±25 % jitter.

    With the defaults (5 s, 1 h, 40 attempts, 24 h): 5, 10, 20 … 2560 s, then hourly, until 24 h after
    the delivery was queued (about 33 attempts) or 40 attempts, whichever comes first.
    """
    return RetryPolicy(
        initial=settings.webhook_retry_initial_seconds,
        maximum=settings.webhook_retry_max_seconds,
        multiplier=2.0,
        jitter=0.25,
        max_attempts=settings.webhook_max_attempts,
        max_elapsed=settings.webhook_give_up_after_seconds,
    )


def schedule_retry(
    policy: RetryPolicy,
    attempt: int,
    queued_at: datetime,
    now: datetime,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> datetime | None:
    """When to try again after failed attempt number ``attempt`` (1-based), or ``None`` to give up.

    The same rules as :func:`livesight.retry.retry_async`, applied across processes: the outbox, not a
    coroutine, remembers where a delivery is in its schedule.
    """
    if policy.max_attempts is not None and attempt >= policy.max_attempts:
        return None
    wait = policy.delay(attempt, retry_after, rng)
    if policy.max_elapsed is not None and (now - queued_at).total_seconds() + wait > policy.max_elapsed:
        return None
    return now + timedelta(seconds=wait)


def check_webhook_url(url: str) -> str:
    """``url`` if it is an absolute http(s) URL, else :class:`InvalidWebhookURL` (addresses are checked on send)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidWebhookURL(f"webhook URL {redact(url)!r} is not an absolute http(s) URL")
    return url
