"""The live-monitor API against a real server: polling, SSE with resume, webhooks, errors."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from standardwebhooks.webhooks import Webhook

from livesight.testing._server import ServerThread
from livesight.testing.hls_server import LiveHLSServer

from .conftest import LiveServer

CONDITION = "is there a red square?"
TERMINAL = ("completed", "stopped", "failed")


def wait_for_job(client: httpx.Client, job_id: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in TERMINAL:
            return job  # type: ignore[no-any-return]
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not end: {job}")


def read_sse(response: httpx.Response, stop_after: str | None = None) -> list[dict[str, Any]]:
    """Parse an SSE stream into events ``{id, event, data}``; stop after ``stop_after`` or the end."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    for line in response.iter_lines():
        if line == "":
            if "event" in current:
                current["data"] = json.loads(current.get("data", "null"))
                events.append(current)
                if current["event"] == stop_after:
                    break
            current = {}
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            current[field] = value[1:] if value.startswith(" ") else value
    return events


def test_polling_job_completes_after_first_trigger(server: LiveServer, stream: LiveHLSServer) -> None:
    with server.client() as client:
        created = client.post(
            "/api/live-monitor", json={"stream_url": stream.url, "condition": CONDITION, "interval_seconds": 1}
        )
        assert created.status_code == 200, created.text
        body = created.json()
        assert set(body) >= {"job_id", "status", "created_at", "job_type", "stream_url"}
        assert body["job_type"] == "live-monitor" and body["status"] in ("pending", "running")
        job = wait_for_job(client, body["job_id"])
        assert job["status"] == "completed"
        assert job["stats"]["reason"] == "condition_triggered" and job["stats"]["triggers_fired"] == 1
        for field in ("checks_performed", "frames_skipped", "elapsed_seconds", "auto_stopped", "model_calls", "tokens"):
            assert field in job["stats"]
        [trigger] = job["triggers"]
        assert trigger["explanation"] and 0 <= trigger["confidence"] <= 1
        assert 20.0 <= trigger["capture_time"] <= 21.35  # the scene's clock: the square appears at 20 s
        frame = httpx.get(trigger["frame_url"])
        assert frame.status_code == 200 and frame.headers["content-type"] == "image/jpeg"
        clip = httpx.get(trigger["clip_url"])
        assert clip.status_code == 200 and clip.content[:1] == b"\x47"  # MPEG-TS sync byte
        forged = trigger["frame_url"].replace("sig=", "sig=A")
        assert httpx.get(forged).status_code == 403
        listed = client.get("/api/jobs", params={"status": "completed"}).json()
        assert listed["total"] == 1 and listed["jobs"][0]["job_id"] == body["job_id"]


def test_sse_on_the_post_response_and_resume(server: LiveServer, stream: LiveHLSServer) -> None:
    request = {
        "stream_url": stream.url,
        "condition": CONDITION,
        "interval_seconds": 1,
        "max_triggers": None,
        "trigger_cooldown_seconds": 5,
        "monitor_duration_seconds": 17,
    }
    with server.client() as client:
        with client.stream(
            "POST", "/api/live-monitor", json=request, headers={"Accept": "text/event-stream"}
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            first = read_sse(response, stop_after="triggered")  # then the client is cut off
        names = [e["event"] for e in first]
        assert names[0] == "started" and "progress" in names and names[-1] == "triggered"
        assert all(e.get("id") for e in first)
        job_id = first[0]["data"]["job_id"]
        last_id = first[-1]["id"]
        with client.stream("GET", f"/api/jobs/{job_id}/events", headers={"Last-Event-ID": last_id}) as response:
            rest = read_sse(response)
        assert rest[-1]["event"] == "stopped" and rest[-1]["data"]["reason"] == "max_duration_reached"
        # Stored events (integer ids) before and after the cut are exactly the job's log: no loss, no repeats.
        with client.stream("GET", f"/api/jobs/{job_id}/events") as response:
            full = [e for e in read_sse(response) if e["id"].isdigit()]
    seen = [e for e in first + rest if e["id"].isdigit()]
    assert [e["id"] for e in seen] == [e["id"] for e in full]
    assert [e["event"] for e in full].count("triggered") >= 2  # both appearances
    assert int(rest[0]["id"].split(".")[0]) >= int(last_id)


@pytest.fixture
def receiver() -> Iterator[tuple[ServerThread, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    lock = threading.Lock()
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> JSONResponse:
        body = (await request.body()).decode()
        with lock:
            received.append({"headers": dict(request.headers), "body": body})
        return JSONResponse({"ok": True})

    with ServerThread(app) as thread:
        yield thread, received


def test_webhook_job_delivers_signed_events(
    server: LiveServer, stream: LiveHLSServer, receiver: tuple[ServerThread, list[dict[str, Any]]]
) -> None:
    thread, received = receiver
    with server.client() as client:
        created = client.post(
            "/api/live-monitor",
            json={
                "stream_url": stream.url,
                "condition": CONDITION,
                "webhook_url": f"{thread.base_url}/hook",
                "interval_seconds": 1,
                "max_triggers": None,
                "trigger_cooldown_seconds": 0,
                "monitor_duration_seconds": 16,
            },
        )
        assert created.status_code == 200, created.text
        job_id = created.json()["job_id"]
        job = wait_for_job(client, job_id)
        secret = client.get("/api/webhook-secret").json()["secret"]
    assert job["status"] == "stopped" and job["stats"]["reason"] == "max_duration_reached"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any('"job_stopped"' in r["body"] for r in received):
        time.sleep(0.2)
    verifier = Webhook(secret)
    payloads = [verifier.verify(r["body"], r["headers"]) for r in received]  # raises if a signature is wrong
    types = [p["type"] for p in payloads]
    assert types[0] == "job_started" and types[-1] == "job_stopped"
    triggers = [p["data"] for p in payloads if p["type"] == "watch_triggered"]
    assert {round(t["capture_time"] // 30) for t in triggers} == {0, 1}  # fired in both appearances (20 s, 50 s)
    for t in triggers:
        assert t["triggered"] is True and t["condition"] == CONDITION and t["frame_url"] and t["clip_url"]
        assert 20 <= t["capture_time"] < 28.5 or 50 <= t["capture_time"] < 58.5
    assert all(p["job_id"] == job_id for p in payloads)
    assert len({r["headers"]["webhook-id"] for r in received}) == len(received)


def test_errors_use_the_envelope(server: LiveServer, stream: LiveHLSServer) -> None:
    with server.client() as client:
        bad = client.post(
            "/api/live-monitor", json={"stream_url": stream.url, "interval_seconds": 0, "input_mode": "video"}
        )
        assert bad.status_code == 422
        error = bad.json()["error"]
        assert error["code"] == "VALIDATION_ERROR" and error["remediation"]
        named = {f["field"] for f in error["fields"]}
        assert {"condition", "interval_seconds", "input_mode"} <= named
        offline = client.post(
            "/api/live-monitor", json={"stream_url": "http://127.0.0.1:9/live.m3u8", "condition": CONDITION}
        )
        assert offline.status_code == 400 and offline.json()["error"]["code"] in (
            "STREAM_OFFLINE",
            "STREAM_FETCH_FAILED",
        )
        vod = client.post("/api/live-monitor", json={"stream_url": stream.vod_url, "condition": CONDITION})
        assert vod.status_code == 400 and vod.json()["error"]["code"] == "NOT_LIVESTREAM"
        missing = client.get("/api/jobs/job_nope")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "JOB_NOT_FOUND"
        assert client.delete("/api/jobs/job_nope").status_code == 404
        assert client.get("/api/nowhere").json()["error"]["code"] == "NOT_FOUND"


def test_tools(server: LiveServer, stream: LiveHLSServer) -> None:
    with server.client() as client:
        valid = client.post("/api/streams/validate", json={"stream_url": stream.url}).json()
        assert valid["is_live"] is True and valid["codec"] == "h264" and valid["width"] == 640
        gone = client.post("/api/streams/validate", json={"stream_url": "http://127.0.0.1:9/x.m3u8"}).json()
        assert gone["is_live"] is False and gone["error_hint"]
        once = client.post(
            "/api/check-once",
            json={"stream_url": stream.url, "condition": "is there a blue square?", "include_frame": True},
        ).json()
        assert once["triggered"] is False and once["frame_b64"] and once["latency_ms"] >= 0
        junk = client.post("/api/analyze-frame", json={"frame_b64": "bm90IGFuIGltYWdl", "question": "red?"})
        assert junk.status_code == 400 and junk.json()["error"]["code"] == "BAD_REQUEST"  # as the hosted docs
        frame = client.post("/api/analyze-frame", json={"frame_b64": once["frame_b64"], "question": "any red?"})
        assert frame.status_code == 200 and frame.json()["triggered"] is False
        assert client.get("/healthz").json()["status"] == "ok"
        metrics = client.get("/metrics").text
        assert "livesight_checks_total" in metrics and "livesight_jobs_running" in metrics
        assert client.get("/openapi.json").json()["paths"]["/api/live-monitor"]["post"]
