"""Retries, waits and transport errors against small local servers; waits are recorded, never slept."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from livesight import (
    APIConnectionError,
    APITimeoutError,
    AsyncLiveSight,
    BadRequestError,
    InternalServerError,
    LiveSight,
    RateLimitError,
)
from livesight.sdk import APIResponseValidationError

from ._helpers import JOB, Reply, Scripted, scripted_server

OVERLOADED = {"error": {"code": "MAX_JOBS_REACHED", "message": "Too many jobs.", "remediation": "Cancel one."}}
BROKEN = {"error": {"code": "INTERNAL_ERROR", "message": "Boom.", "remediation": "Retry."}}


@pytest.fixture
def fake() -> Iterator[Scripted]:
    with scripted_server() as state:
        yield state


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def client(fake: Scripted, waits: list[float]) -> Iterator[LiveSight]:
    with LiveSight(base_url=fake.url, api_key="ls_test") as sdk:
        sdk._sleep = waits.append
        yield sdk


def test_429_then_200_honours_retry_after(fake: Scripted, client: LiveSight, waits: list[float]) -> None:
    fake.on("GET /api/jobs/job_1", Reply(429, OVERLOADED, headers={"Retry-After": "3"}), Reply(200, JOB))
    assert client.monitors.get("job_1").job_id == "job_1"
    assert fake.count("GET /api/jobs/job_1") == 2 and waits == [3.0]
    headers = fake.requests[0]["headers"]
    assert headers["user-agent"] == "livesight-python/0.1.0" and headers["authorization"] == "Bearer ls_test"


def test_5xx_on_get_is_retried_with_growing_backoff(fake: Scripted, client: LiveSight, waits: list[float]) -> None:
    fake.on("GET /api/jobs", Reply(500, BROKEN))
    with pytest.raises(InternalServerError) as err:
        client.monitors.list()
    assert err.value.code == "INTERNAL_ERROR" and err.value.status_code == 500
    assert fake.count("GET /api/jobs") == 3  # the first try and max_retries=2 retries
    assert len(waits) == 2 and 0.375 <= waits[0] <= 0.625 and 0.75 <= waits[1] <= 1.25  # 0.5 s, 1 s, ±25 %


def test_post_is_retried_only_when_nothing_was_done(fake: Scripted, client: LiveSight, waits: list[float]) -> None:
    fake.on("POST /api/live-monitor", Reply(500, BROKEN))
    with pytest.raises(InternalServerError):
        client.monitors.create("http://cam.local/live.m3u8", "gate open?")
    assert fake.count("POST /api/live-monitor") == 1 and waits == []  # a 500 may have created the job
    fake.on(
        "POST /api/check-once",
        Reply(503, BROKEN),
        Reply(
            200,
            {
                "triggered": True,
                "explanation": "yes",
                "confidence": 0.9,
                "latency_ms": 12.0,
            },
        ),
    )
    assert client.monitors.check_once("http://cam.local/live.m3u8", "gate open?").triggered is True
    assert fake.count("POST /api/check-once") == 2 and len(waits) == 1


def test_other_4xx_are_not_retried(fake: Scripted, client: LiveSight, waits: list[float]) -> None:
    fake.on("GET /api/jobs/job_1", Reply(400, {"error": {"code": "INVALID_URL", "message": "Bad.", "remediation": ""}}))
    with pytest.raises(BadRequestError) as err:
        client.monitors.get("job_1")
    assert err.value.code == "INVALID_URL" and fake.count("GET /api/jobs/job_1") == 1 and waits == []


def test_with_options_copies_and_shares_the_pool(fake: Scripted, client: LiveSight, waits: list[float]) -> None:
    fake.on("GET /api/jobs/job_1", Reply(429, OVERLOADED))
    strict = client.with_options(max_retries=0, timeout=5)
    with pytest.raises(RateLimitError) as err:
        strict.monitors.get("job_1")
    assert err.value.code == "MAX_JOBS_REACHED" and fake.count("GET /api/jobs/job_1") == 1
    assert strict.timeout.read == 5 and client.max_retries == 2 and client.timeout.read == 60
    strict.close()  # the copy does not own the pool: the original keeps working
    fake.on("GET /api/jobs/job_1", Reply(200, JOB))
    assert client.monitors.get("job_1").status == "running"


def test_unexpected_bodies(fake: Scripted, client: LiveSight) -> None:
    fake.on("GET /api/jobs/job_1", Reply(502, text="<html>Bad Gateway</html>"))
    with pytest.raises(InternalServerError) as err:
        client.with_options(max_retries=0).monitors.get("job_1")
    assert err.value.code == "HTTP_502" and "Bad Gateway" in err.value.message
    fake.on("GET /api/jobs/job_2", Reply(200, {"jobs": "not a job"}))
    with pytest.raises(APIResponseValidationError):
        client.monitors.get("job_2")


def test_connection_refused_raises_after_max_retries(waits: list[float]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again below: nothing listens there
    with LiveSight(base_url=f"http://127.0.0.1:{port}") as client:
        client._sleep = waits.append
        with pytest.raises(APIConnectionError) as err:
            client.monitors.get("job_1")
        assert len(waits) == 2 and "Is the LiveSight server running" in str(err.value)
        # Refused before anything was sent, so even a POST is retried.
        with pytest.raises(APIConnectionError):
            client.monitors.create("http://cam.local/live.m3u8", "gate open?")
        assert len(waits) == 4


def test_timeouts(fake: Scripted, waits: list[float]) -> None:
    fake.on("GET /api/jobs/job_1", Reply(200, JOB, delay=1.0))
    fake.on("POST /api/live-monitor", Reply(200, JOB, delay=1.0))
    with LiveSight(base_url=fake.url, timeout=0.2, max_retries=1) as client:
        client._sleep = waits.append
        with pytest.raises(APITimeoutError):
            client.monitors.get("job_1")
        assert len(waits) == 1  # a GET is safe to repeat
        with pytest.raises(APITimeoutError):
            client.monitors.create("http://cam.local/live.m3u8", "gate open?")
        assert len(waits) == 1  # the POST reached the server and may have created a job: not repeated


async def test_async_retries_honour_retry_after(fake: Scripted) -> None:
    fake.on("GET /api/jobs/job_1", Reply(503, BROKEN, headers={"Retry-After": "2"}), Reply(200, JOB))
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    async with AsyncLiveSight(base_url=fake.url) as client:
        client._sleep = record
        assert (await client.monitors.get("job_1")).job_id == "job_1"
        fake.on("POST /api/live-monitor", Reply(500, BROKEN))
        with pytest.raises(InternalServerError):
            await client.monitors.create("http://cam.local/live.m3u8", "gate open?")
    assert waits == [2.0] and fake.count("GET /api/jobs/job_1") == 2 and fake.count("POST /api/live-monitor") == 1
