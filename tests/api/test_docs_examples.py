"""Every request example of the hosted live-monitor documentation, replayed against a real LiveSight.

The examples are those collected in the research notes (Gen A — the current API reference — first, then
the quickstart, SSE and older pages). Their YouTube URLs are replaced by the local live HLS test stream;
where an example's own URL cannot be reached here, the documented error path is checked instead. Scaled
values (a digest window of minutes on a stream of seconds) say so where they are set.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from livesight.settings import Settings
from livesight.testing import replicas
from livesight.testing._server import LiveServer, start_server
from livesight.testing.hls_server import LiveHLSServer

from .test_monitor import read_sse, wait_for_job

YOUTUBE = "https://www.youtube.com/watch?v=jfKfPfyJRdk"  # the docs' example stream: not reachable here
JOB_RESPONSE = ["job_id", "status", "created_at", "stream_url", "job_type", "details", "message"]
VALIDATE_FIELDS = {
    "is_live",
    "platform",
    "stream_id",
    "title",
    "channel",
    "thumbnail_url",
    "viewer_count",
    "parsed_url",
    "error_hint",
    "valid",
}
STATUSES = {"pending", "running", "stopped", "completed", "failed"}
STREAM_ERRORS = {"STREAM_OFFLINE", "STREAM_FETCH_FAILED", "NOT_LIVESTREAM", "INVALID_URL", "URL_NOT_ALLOWED"}


def is_uuid(value: Any) -> bool:
    try:
        return bool(str(uuid.UUID(str(value))) == value)
    except ValueError:
        return False


def wait_until(probe: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Receiver(replicas.Receiver):
    """The shared webhook receiver, read by webhook type."""

    def types(self, job_id: str) -> list[str]:
        return [b["type"] for b in self.of_run(job_id)]

    def types_once_stopped(self, job_id: str) -> list[str]:
        """The job's webhook types, once ``job_stopped`` (its last) has arrived."""
        return wait_until(  # type: ignore[no-any-return]
            lambda: "job_stopped" in self.types(job_id) and self.types(job_id), f"job_stopped of {job_id}", 30
        )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as hook:
        yield hook


def assert_job_response(body: dict[str, Any], job_type: str) -> None:
    assert list(body) == JOB_RESPONSE, body  # the documented keys, in the documented order
    assert is_uuid(body["job_id"]) and body["status"] in STATUSES and body["job_type"] == job_type
    assert isinstance(body["details"], dict) and body["details"]


# -- Live Monitor (Gen A: /api-reference/live-monitor) -----------------------------------------------------


def test_live_monitor_reference_example(server: LiveServer, stream: LiveHLSServer, receiver: Receiver) -> None:
    request = {
        "stream_url": stream.url,
        "condition": "Is there a red square?",
        "webhook_url": receiver.url,
        "interval_seconds": 10,
        "input_mode": "clip",
        "clip_duration_seconds": 3,
        "monitor_duration_seconds": 600,
        "trigger_cooldown_seconds": 0,
        "max_triggers": 1,
    }
    with server.client() as client:
        created = client.post("/api/live-monitor", json=request)
        assert created.status_code == 200, created.text
        body = created.json()
        assert_job_response(body, "live-monitor")
        details = body["details"]  # the create response's details echo the configuration
        assert details["condition"] == request["condition"] and details["interval_seconds"] == 10
        assert details["model"] == server.settings.model and details["input_mode"] == "clip"
        job = wait_for_job(client, body["job_id"])
        assert job["status"] == "completed" and job["stats"]["reason"] == "condition_triggered"
        assert is_uuid(job["job_id"])
        assert {"checks_performed", "triggers_fired", "frames_skipped", "auto_stopped", "elapsed_seconds"} <= set(
            job["stats"]
        )
        config = job["config"]
        assert config["condition"] == request["condition"] and config["model"] == server.settings.model
        assert config["webhook_url"] == receiver.url and config["interval_seconds"] == 10
        types = receiver.types_once_stopped(body["job_id"])
        assert types == ["job_started", "watch_triggered", "job_stopped"]
        hooks = receiver.of_run(body["job_id"])
        assert all(h["timestamp"] and h["job_id"] == body["job_id"] for h in hooks)
        trigger = hooks[1]["data"]
        assert trigger["triggered"] is True and trigger["condition"] == request["condition"] and trigger["explanation"]
        stopped = hooks[2]["data"]
        assert stopped["status"] == "completed" and stopped["reason"] == "condition_triggered"
        # DELETE on a job that has ended: its final state, no change.
        cancelled = client.delete(f"/api/jobs/{body['job_id']}").json()
        assert list(cancelled) == ["job_id", "status", "message", "final_stats"]
        assert cancelled["status"] == "completed" and cancelled["final_stats"]["triggers_fired"] == 1


def test_live_monitor_monitoring_section_example(server: LiveServer, stream: LiveHLSServer, receiver: Receiver) -> None:
    """Gen D: ``{stream_url, condition, webhook_url}`` only; the answer has ``job_id`` and ``status``. (Its
    condition asks for what the stream never shows, so that the job is still running when it is listed.)"""
    with server.client() as client:
        body = client.post(
            "/api/live-monitor",
            json={"stream_url": stream.url, "condition": "Is there a blue square?", "webhook_url": receiver.url},
        ).json()
        assert is_uuid(body["job_id"]) and body["status"] in ("pending", "running")
        wait_until(lambda: "job_started" in receiver.types(body["job_id"]), "job_started webhook")
        running = client.get(f"/api/jobs/{body['job_id']}").json()
        assert running["status"] == "running"
        listed = client.get("/api/jobs", params={"status": "running", "limit": 10}).json()  # Gen B list example
        assert set(listed) == {"jobs", "total", "limit", "offset"} and (listed["limit"], listed["offset"]) == (10, 0)
        [item] = listed["jobs"]
        assert item["job_id"] == body["job_id"] and item["job_type"] == "live-monitor"
        assert {"checks_performed", "triggers_fired", "frames_skipped"} <= set(item["details"])  # its stats
        cancelled = client.delete(f"/api/jobs/{body['job_id']}").json()
        assert cancelled["status"] == "stopped" and cancelled["job_id"] == body["job_id"]
        assert "checks_performed" in cancelled["final_stats"]
    types = receiver.types_once_stopped(body["job_id"])
    assert types[0] == "job_started" and types[-1] == "job_stopped"
    assert receiver.of_run(body["job_id"])[-1]["data"]["reason"] == "cancelled"


# -- Quickstart: validate → check-once → live-monitor → get → delete ------------------------------------------


def test_quickstart(server: LiveServer, stream: LiveHLSServer) -> None:
    with server.client() as client:
        valid = client.post("/api/streams/validate", json={"stream_url": stream.url}).json()
        assert VALIDATE_FIELDS <= set(valid) and valid["is_live"] is True and valid["valid"] is True
        assert valid["platform"] == "hls" and valid["parsed_url"] and valid["error_hint"] is None
        # An HLS URL says nothing of a channel or viewers: null, not absent.
        assert valid["stream_id"] is valid["channel"] is valid["thumbnail_url"] is valid["viewer_count"] is None
        once = client.post("/api/check-once", json={"stream_url": stream.url, "condition": "Is there a red square?"})
        assert once.status_code == 200, once.text
        answer = once.json()
        assert isinstance(answer["triggered"], bool) and answer["explanation"]
        assert isinstance(answer["latency_ms"], int) and answer["frame_b64"] is None
        created = client.post("/api/live-monitor", json={"stream_url": stream.url, "condition": "a blue square?"})
        job_id = created.json()["job_id"]
        assert is_uuid(job_id) and created.json()["message"]
        job = client.get(f"/api/jobs/{job_id}").json()
        assert {"job_id", "status", "job_type", "created_at", "stream_url", "config", "stats"} <= set(job)
        assert job["status"] in ("pending", "running")
        deleted = client.delete(f"/api/jobs/{job_id}").json()
        assert deleted["status"] == "stopped" and deleted["final_stats"]["reason"] == "cancelled"
        assert client.get(f"/api/jobs/{job_id}").json()["status"] == "stopped"


def test_quickstart_example_url_error_path(server: LiveServer) -> None:
    """The docs' YouTube stream cannot be reached from here: every step answers as the docs say it fails."""
    with server.client() as client:
        valid = client.post("/api/streams/validate", json={"stream_url": YOUTUBE})
        assert valid.status_code in (200, 400), valid.text
        if valid.status_code == 200:
            assert VALIDATE_FIELDS <= set(valid.json()) and valid.json()["is_live"] is False
            assert valid.json()["error_hint"] and valid.json()["platform"] == "youtube"
        else:
            assert valid.json()["error"]["code"] in STREAM_ERRORS and valid.json()["error"]["remediation"]
        for path, body in (
            ("/api/check-once", {"stream_url": YOUTUBE, "condition": "Is there an animated character visible?"}),
            ("/api/live-monitor", {"stream_url": YOUTUBE, "condition": "Is there a cat visible?"}),
        ):
            refused = client.post(path, json=body)
            assert refused.status_code == 400, refused.text
            error = refused.json()["error"]
            assert error["code"] in STREAM_ERRORS and error["message"] and error["remediation"]
        gone = client.post("/api/prepare-stream", params={"url": YOUTUBE})
        assert gone.status_code == 400 and gone.json()["error"]["code"] in STREAM_ERRORS


# -- SSE guide ----------------------------------------------------------------------------------------------


def test_sse_live_monitor_example(server: LiveServer, stream: LiveHLSServer) -> None:
    request = {"stream_url": stream.url, "condition": "Is there a red square?", "max_triggers": 2}
    with server.client() as client:
        with client.stream(
            "POST", "/api/live-monitor", json=request, headers={"Accept": "text/event-stream"}
        ) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            events = read_sse(response)
    names = [e["event"] for e in events]
    assert names[0] == "started" and "progress" in names and names[-1] == "stopped"
    assert names.count("triggered") == 2  # not terminal: the stream went on to the second trigger
    job_id = events[0]["data"]["job_id"]
    assert is_uuid(job_id) and all(e["data"]["job_id"] == job_id for e in events)
    assert events[-1]["data"]["status"] == "completed" and events[-1]["data"]["reason"] == "max_triggers_reached"


def test_sse_live_digest_example(server: LiveServer, stream: LiveHLSServer, receiver: Receiver) -> None:
    # The example's window_minutes=10, capture_interval_seconds=60 scaled to the 22 s test stream.
    request = {"stream_url": stream.url, "window_minutes": 0.1, "capture_interval_seconds": 1, "max_windows": 2}
    with server.client() as client:
        with client.stream("POST", "/api/live-digest", json=request, headers={"Accept": "text/event-stream"}) as r:
            events = read_sse(r)
        names = [e["event"] for e in events]
        assert names[0] == "started" and "progress" in names and names[-1] == "stopped"
        assert names.count("summary") == 2
        job_id = events[0]["data"]["job_id"]
        assert is_uuid(job_id) and all(e["data"]["job_id"] == job_id for e in events)
        assert next(e for e in events if e["event"] == "summary")["data"]["summary"]
        job = client.get(f"/api/jobs/{job_id}").json()
        assert job["status"] == "stopped" and job["stats"]["reason"] == "max_windows_reached"
        assert job["stats"]["summaries_generated"] == 2 and job["config"]["model"] == server.settings.model
        [item] = client.get("/api/jobs", params={"type": "live-digest"}).json()["jobs"]
        assert item["details"]["summaries_generated"] == 2
        # Gen A reference example (webhook mode), scaled likewise.
        webhook = {**request, "webhook_url": receiver.url, "max_windows": 1, "include_frames": False}
        created = client.post("/api/live-digest", json=webhook)
        assert created.status_code == 200, created.text
        body = created.json()
        assert_job_response(body, "live-digest")
        assert body["details"]["window_minutes"] == 0.1 and body["details"]["capture_interval_seconds"] == 1
        types = receiver.types_once_stopped(body["job_id"])
        assert types == ["job_started", "summary_generated", "job_stopped"]


# -- Tools: analyze-frame, prepare-stream, errors ------------------------------------------------------------


def test_analyze_frame_examples(server: LiveServer, stream: LiveHLSServer) -> None:
    with server.client() as client:
        frame = client.post(
            "/api/check-once",
            json={"stream_url": stream.url, "condition": "Is there a red square?", "include_frame": True},
        ).json()["frame_b64"]
        bad = client.post("/api/analyze-frame", json={"frame_b64": "abc", "question": "Is there a person?"})
        assert bad.status_code == 400
        error = bad.json()["error"]
        assert error["code"] == "BAD_REQUEST" and "Invalid base64 frame data" in error["message"]
        assert error["remediation"]
        yes_no = client.post("/api/analyze-frame", json={"frame_b64": frame, "question": "Is there a person?"}).json()
        assert set(yes_no) == {"answer", "triggered", "latency_ms", "frame_b64"}
        assert yes_no["answer"] and isinstance(yes_no["latency_ms"], int) and yes_no["frame_b64"] is None
        echoed = client.post(
            "/api/analyze-frame", json={"frame_b64": frame, "question": "What do you see?", "include_frame": True}
        ).json()
        assert echoed["frame_b64"] and echoed["triggered"] in (True, False, None)


def test_prepare_stream(server: LiveServer, stream: LiveHLSServer) -> None:
    with server.client() as client:
        prepared = client.post("/api/prepare-stream", params={"url": stream.url})
        assert prepared.status_code == 200, prepared.text
        body = prepared.json()
        assert list(body) == ["success", "message", "cached", "embed_url", "embed_type"]
        assert body["success"] is True and body["cached"] is True and body["message"].endswith("ms")
        assert (body["embed_type"], body["embed_url"]) == ("video", stream.url)
        # The stream is remembered: a job on it starts without another probe.
        created = client.post("/api/live-monitor", json={"stream_url": stream.url, "condition": "a red square?"})
        assert created.status_code == 200 and is_uuid(created.json()["job_id"])
        client.delete(f"/api/jobs/{created.json()['job_id']}")
        offline = client.post("/api/prepare-stream", params={"url": "http://127.0.0.1:9/live.m3u8"})
        assert offline.status_code == 400 and offline.json()["error"]["code"] in STREAM_ERRORS
        vod = client.post("/api/prepare-stream", params={"url": stream.vod_url})
        assert vod.status_code == 400 and vod.json()["error"]["code"] == "NOT_LIVESTREAM"
        missing = client.post("/api/prepare-stream")
        assert missing.status_code == 422 and missing.json()["error"]["code"] == "VALIDATION_ERROR"


def test_errors_the_docs_list(server: LiveServer) -> None:
    with server.client() as client:
        stale = client.get(f"/api/jobs/{uuid.uuid4()}")  # the polling guide: 404 JOB_NOT_FOUND is terminal
        assert stale.status_code == 404 and stale.json()["error"]["code"] == "JOB_NOT_FOUND"
        assert stale.json()["error"]["remediation"]
        # Gen B paths had no /api prefix; they are not served, and the 404 says where routes are.
        legacy = client.post("/streams/validate", json={"stream_url": YOUTUBE})
        assert legacy.status_code == 404 and legacy.json()["error"]["code"] == "NOT_FOUND"
        assert "/api" in legacy.json()["error"]["remediation"]
        bad_url = client.post("/api/check-once", json={"stream_url": "javascript://x", "condition": "a cat?"})
        assert bad_url.status_code == 400 and bad_url.json()["error"]["code"] == "INVALID_URL"
        schema = client.get("/openapi.json").json()
        assert "/api/prepare-stream" in schema["paths"]
        monitor = schema["components"]["schemas"]["LiveMonitorRequest"]["properties"]
        assert monitor["interval_seconds"]["minimum"] == server.settings.min_interval_seconds


# -- Bounds: the schema and the server agree ----------------------------------------------------------------


@pytest.fixture
def strict_server(settings: Settings) -> Iterator[LiveServer]:
    """A server with the default minimum interval (5 s, as the hosted docs)."""
    live = start_server(settings.model_copy(update={"allow_loopback": True}))
    try:
        yield live
    finally:
        live.thread.stop()


def test_interval_bound_is_the_servers(strict_server: LiveServer, stream: LiveHLSServer) -> None:
    assert strict_server.settings.min_interval_seconds == 5
    with strict_server.client() as client:
        schema = client.get("/openapi.json").json()["components"]["schemas"]["LiveMonitorRequest"]
        assert schema["properties"]["interval_seconds"]["minimum"] == 5
        assert schema["properties"]["interval_seconds"]["maximum"] == 300
        for interval in (1, 4.9, 0, -3):
            refused = client.post(
                "/api/live-monitor",
                json={"stream_url": stream.url, "condition": "a cat?", "interval_seconds": interval},
            )
            assert refused.status_code == 422
            error = refused.json()["error"]
            assert "interval_seconds: must be at least 5 seconds" in error["message"]
            assert [f["field"] for f in error["fields"]] == ["interval_seconds"]
        both = client.post("/api/live-monitor", json={"stream_url": stream.url, "interval_seconds": 2})
        assert {f["field"] for f in both.json()["error"]["fields"]} == {"condition", "interval_seconds"}
        accepted = client.post(
            "/api/live-monitor", json={"stream_url": stream.url, "condition": "a cat?", "interval_seconds": 5}
        )
        assert accepted.status_code == 200, accepted.text
        client.delete(f"/api/jobs/{accepted.json()['job_id']}")


# -- A source that fails ------------------------------------------------------------------------------------


@pytest.fixture
def quick_giving_up(settings: Settings) -> Iterator[LiveServer]:
    live = start_server(
        settings.model_copy(update={"allow_loopback": True, "min_interval_seconds": 1.0, "give_up_after_seconds": 4.0})
    )
    try:
        yield live
    finally:
        live.thread.stop()


def test_failing_source_is_running_then_failed_with_job_stopped(
    quick_giving_up: LiveServer, stream: LiveHLSServer, receiver: Receiver
) -> None:
    stream.set_down(True)  # every request answers 503: the source is retried until it gives up
    request = {
        "stream_url": stream.url,
        "condition": "Is there a red square?",
        "webhook_url": receiver.url,
        "interval_seconds": 1,
        "skip_validation": True,
    }
    with quick_giving_up.client() as client:
        job_id = client.post("/api/live-monitor", json=request).json()["job_id"]

        def retried() -> dict[str, Any] | None:
            job: dict[str, Any] = client.get(f"/api/jobs/{job_id}").json()
            source = job["stats"].get("source") or {}
            return job if source.get("state") == "reconnecting" else None

        job = wait_until(retried, "the source to be retried", timeout=20)
        assert job["status"] == "running"  # not pending: the job is doing something, its source says what
        assert "job_started" in receiver.types(job_id)
        ended = wait_for_job(client, job_id, timeout=30)
        assert ended["status"] == "failed" and ended["stats"]["reason"] == "source_failed"
        assert ended["stats"]["error"]
        with client.stream("GET", f"/api/jobs/{job_id}/events") as response:
            events = read_sse(response)
    assert [e["event"] for e in events] == ["started", "error"]  # error is the stream's terminal event
    assert events[-1]["data"]["status"] == "failed" and events[-1]["data"]["reason"] == "source_failed"
    types = receiver.types_once_stopped(job_id)
    assert types == ["job_started", "error", "job_stopped"]
    error, stopped = receiver.of_run(job_id)[1:]
    for hook in (error, stopped):
        assert hook["data"]["status"] == "failed" and hook["data"]["reason"] == "source_failed"
        assert hook["data"]["message"] and hook["data"]["final_stats"]["reason"] == "source_failed"
