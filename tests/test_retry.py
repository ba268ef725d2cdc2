from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from livesight.retry import RETRY_AFTER_CEILING, RetryPolicy, parse_retry_after, retry_async


class Transient(Exception):
    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__("transient")
        self.retry_after = retry_after


class Fatal(Exception):
    pass


class FakeClock:
    """A clock that only moves when the fake sleep is awaited."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Flaky:
    """Fails with the given exceptions in order, then returns ``"ok"``."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, Transient)


def transient_retry_after(exc: BaseException) -> float | None:
    return exc.retry_after if isinstance(exc, Transient) else None


NO_JITTER = RetryPolicy(initial=1.0, maximum=10.0, multiplier=2.0, jitter=0.0, max_attempts=None)


def test_delay_grows_exponentially_then_caps() -> None:
    assert [NO_JITTER.delay(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_delay_survives_huge_attempt_numbers() -> None:
    assert NO_JITTER.delay(10_000) == 10.0


@hsettings(database=None, deadline=None)
@given(attempt=st.integers(min_value=1, max_value=50), seed=st.integers())
def test_jitter_stays_within_bounds(attempt: int, seed: int) -> None:
    policy = RetryPolicy(initial=0.5, maximum=30.0, multiplier=2.0, jitter=0.25)
    base = min(30.0, 0.5 * 2.0 ** (attempt - 1))
    delay = policy.delay(attempt, rng=random.Random(seed))
    assert base * 0.75 <= delay <= min(30.0, base * 1.25)


def test_jitter_actually_varies() -> None:
    policy = RetryPolicy(initial=4.0, jitter=0.25)
    rng = random.Random(1)
    assert len({policy.delay(1, rng=rng) for _ in range(20)}) > 1


def test_retry_after_wins_and_is_capped() -> None:
    assert NO_JITTER.delay(1, retry_after=7.0) == 7.0
    assert NO_JITTER.delay(5, retry_after=0.0) == 0.0
    assert NO_JITTER.delay(1, retry_after=10_000.0) == RETRY_AFTER_CEILING
    big = RetryPolicy(maximum=600.0)
    assert big.delay(1, retry_after=10_000.0) == 600.0
    # Unusable values fall back to the computed backoff.
    assert NO_JITTER.delay(2, retry_after=-1.0) == 2.0
    assert NO_JITTER.delay(2, retry_after=float("nan")) == 2.0


@pytest.mark.parametrize(
    "kwargs",
    [{"initial": -1.0}, {"multiplier": 0.5}, {"jitter": 1.5}, {"max_attempts": 0}, {"max_elapsed": -1.0}],
)
def test_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)


async def test_retries_until_success_with_growing_delays() -> None:
    clock = FakeClock()
    fn = Flaky(Transient(), Transient(), Transient())
    policy = RetryPolicy(initial=1.0, maximum=10.0, jitter=0.0, max_attempts=5)
    result = await retry_async(fn, policy, should_retry=is_transient, sleep=clock.sleep, clock=clock)
    assert result == "ok"
    assert fn.calls == 4
    assert clock.sleeps == [1.0, 2.0, 4.0]


async def test_max_attempts_reraises_last_error() -> None:
    clock = FakeClock()
    last = Transient()
    fn = Flaky(Transient(), Transient(), last, Transient())
    policy = RetryPolicy(initial=1.0, jitter=0.0, max_attempts=3)
    with pytest.raises(Transient) as info:
        await retry_async(fn, policy, should_retry=is_transient, sleep=clock.sleep, clock=clock)
    assert info.value is last
    assert fn.calls == 3
    assert clock.sleeps == [1.0, 2.0]


async def test_max_elapsed_stops_before_overrunning() -> None:
    clock = FakeClock()
    fn = Flaky(*(Transient() for _ in range(10)))
    policy = RetryPolicy(initial=1.0, maximum=100.0, jitter=0.0, max_attempts=None, max_elapsed=10.0)
    with pytest.raises(Transient):
        await retry_async(fn, policy, should_retry=is_transient, sleep=clock.sleep, clock=clock)
    # 1 + 2 + 4 = 7 s waited; the next wait (8 s) would end at 15 s > 10 s, so it gives up.
    assert clock.sleeps == [1.0, 2.0, 4.0]
    assert fn.calls == 4


async def test_non_retryable_error_raised_at_once() -> None:
    clock = FakeClock()
    fn = Flaky(Fatal("no"))
    with pytest.raises(Fatal):
        await retry_async(fn, RetryPolicy(), should_retry=is_transient, sleep=clock.sleep, clock=clock)
    assert fn.calls == 1
    assert clock.sleeps == []


async def test_server_retry_after_is_honoured() -> None:
    clock = FakeClock()
    fn = Flaky(Transient(retry_after=7.0), Transient())
    policy = RetryPolicy(initial=1.0, maximum=10.0, jitter=0.0)
    result = await retry_async(
        fn, policy, should_retry=is_transient, retry_after=transient_retry_after, sleep=clock.sleep, clock=clock
    )
    assert result == "ok"
    assert clock.sleeps == [7.0, 2.0]


async def test_on_retry_sees_attempt_error_and_delay() -> None:
    clock = FakeClock()
    first, second = Transient(), Transient()
    seen: list[tuple[int, BaseException, float]] = []
    await retry_async(
        Flaky(first, second),
        RetryPolicy(initial=1.0, jitter=0.0),
        should_retry=is_transient,
        on_retry=lambda n, e, d: seen.append((n, e, d)),
        sleep=clock.sleep,
        clock=clock,
    )
    assert seen == [(1, first, 1.0), (2, second, 2.0)]


async def test_cancellation_is_not_retried() -> None:
    clock = FakeClock()
    calls = 0

    async def cancelled() -> None:
        nonlocal calls
        calls += 1
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await retry_async(cancelled, RetryPolicy(), should_retry=lambda e: True, sleep=clock.sleep, clock=clock)
    assert calls == 1


def test_parse_retry_after_delta_seconds() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 3 ") == 3.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("0") == 0.0


@pytest.mark.parametrize("value", [None, "", "   ", "-5", "soon", "nan", "inf", "Mon, 99 Foo 2024"])
def test_parse_retry_after_rejects_junk(value: str | None) -> None:
    assert parse_retry_after(value) is None


def test_parse_retry_after_http_date() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=42), usegmt=True)
    assert later.endswith("GMT")
    assert parse_retry_after(later, now=now) == 42.0
    earlier = format_datetime(now - timedelta(seconds=42), usegmt=True)
    assert parse_retry_after(earlier, now=now) == 0.0
    # Obsolete asctime form is still a valid HTTP-date.
    assert parse_retry_after("Wed Jan  1 12:01:00 2025", now=now) == 60.0


@hsettings(database=None, deadline=None)
@given(st.text())
def test_parse_retry_after_never_raises(value: str) -> None:
    result = parse_retry_after(value)
    assert result is None or result >= 0
