"""Rules over the live-monitor API: one job with three named rules on a live stream, as a user would set it up."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from livesight.testing._server import LiveServer
from livesight.testing.hls_server import LiveHLSServer
from livesight.testing.replicas import Receiver, wait_until
from livesight.testing.scene import SceneSpec

from .test_monitor import wait_for_job

BLUE = (30, 40, 220)
# Red 20–28 s and 50–58 s, blue 35–45 s, played 4× faster than real time.
SCENE = SceneSpec(duration=66.0, events=((20.0, 28.0), (50.0, 58.0)), coloured=((35.0, 45.0, BLUE),))
INTERVAL = 2.0


@pytest.fixture
def colours() -> Iterator[LiveHLSServer]:
    with LiveHLSServer(spec=SCENE, speed=4.0, end_list=True) as hls:
        yield hls


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as hooks:
        yield hooks


def _not_now() -> dict[str, Any]:
    """A schedule (UTC) whose one-hour window starts two hours from now."""
    start = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    return {"start": start.strftime("%H:%M"), "end": (start + dt.timedelta(hours=1)).strftime("%H:%M")}


def test_one_job_with_three_rules_reports_each_appearance_with_its_start_and_end(
    server: LiveServer, colours: LiveHLSServer, receiver: Receiver
) -> None:
    with server.client() as client:
        answer = client.post(
            "/api/live-monitor",
            json={
                "stream_url": colours.url,
                "webhook_url": receiver.url,
                "interval_seconds": INTERVAL,
                "enable_prefilter": False,  # every check point asked: model calls = check points
                "max_triggers": None,
                "monitor_duration_seconds": None,
                "rules": [
                    {"name": "red", "condition": "is there a red square?", "min_duration_seconds": 5},
                    {"name": "blue", "condition": "is there a blue square?", "k_of_n": {"k": 2, "n": 3}},
                    {"name": "red_at_night", "condition": "is there a red square?", "schedule": _not_now()},
                ],
            },
        )
        assert answer.status_code == 200, answer.text
        job_id = answer.json()["job_id"]
        job = wait_for_job(client, job_id, timeout=120)

    stats = job["stats"]
    assert job["status"] == "stopped" and stats["reason"] == "source_ended"
    assert stats["model_calls"] == stats["checks_performed"] > 0  # one call per check point, for every rule asked
    assert stats["triggers_fired"] == 3
    [red_1, blue, red_2] = job["triggers"]  # rule_started, in stream order
    assert [t["rule"] for t in job["triggers"]] == ["red", "blue", "red"]
    # min_duration: announced once it had lasted 5 s, dated from its first positive answer
    assert red_1["announced_at"] - red_1["start"] >= 5.0 and red_1["stream_time"] == red_1["start"]
    # the appearances are where the scene puts them relative to each other, within one check interval
    assert abs((blue["start"] - red_1["start"]) - 15.0) <= INTERVAL
    assert abs((red_2["start"] - red_1["start"]) - 30.0) <= INTERVAL
    assert blue["announced_at"] > blue["start"]  # k of n: at its second positive answer

    wait_until(lambda: len(receiver.got("rule_ended", job_id)) == 3, lambda: f"3 rule_ended: {receiver.ids()}", 30)
    ended = {(r["data"]["rule"], round(r["data"]["start"])): r["data"] for r in receiver.got("rule_ended", job_id)}
    truth = {"red": 8.0, "blue": 10.0}
    for (rule, _), data in ended.items():
        assert abs(data["duration"] - truth[rule]) <= INTERVAL, data  # within one interval of the truth
        assert data["end"] > data["start"] and data["frame_url"]
    started = receiver.got("watch_triggered", job_id)  # the hosted API's trigger, for each appearance's start
    assert [r["data"]["rule"] for r in started] == ["red", "blue", "red"]
    assert all(r["data"]["triggered"] and r["data"]["condition"] for r in started)
    assert "red_at_night" not in {r["data"]["rule"] for r in receiver.received if "rule" in (r.get("data") or {})}
    ids = receiver.ids()
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"rules": []}, "at least 1"),
        ({}, "condition: is required"),
        ({"rules": [{"name": "a", "condition": "x?", "k_of_n": {"k": 3, "n": 2}}]}, "must not exceed"),
        ({"rules": [{"name": "a b", "condition": "x?"}]}, "pattern"),
        ({"rules": [{"name": "a", "condition": "x?"}, {"name": "a", "condition": "y?"}]}, "unique"),
        ({"rules": [{"name": "a", "condition": "x?", "schedule": {"timezone": "Mars/Olympus"}}]}, "time zone"),
    ],
)
def test_bad_rules_are_refused_with_a_clear_message(
    server: LiveServer, colours: LiveHLSServer, body: dict[str, Any], says: str
) -> None:
    with server.client() as client:
        answer = client.post("/api/live-monitor", json={"stream_url": colours.url, **body})
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "VALIDATION_ERROR" and says in answer.text, answer.text
