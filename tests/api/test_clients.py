"""What the published Nomadic SDKs rely on: X-API-Key, /api/keys/verify, get_sessions scopes, created_by,
error bodies with a ``detail`` string, Idempotency-Key on every POST, and sources checked at start."""

from __future__ import annotations

import uuid

from livesight.testing.hls_server import LiveHLSServer

from .conftest import LiveServer
from .test_monitor import read_sse

QUERY = "report every red square you see"


def test_x_api_key_and_verify(keyed: tuple[LiveServer, str, str]) -> None:
    server, alice, _ = keyed
    with server.client(headers={"X-API-Key": alice}) as client:
        verified = client.post("/api/keys/verify")
        assert verified.status_code == 200, verified.text
        body = verified.json()
        assert body["valid"] is True and body["name"] == "alice" and body["user_id"] == body["key_id"]
        assert body["scopes"] and body["dev_mode"] is False
        assert client.get("/api/jobs").status_code == 200
    with server.client(headers={"X-API-Key": "ls_wrong"}) as wrong:
        refused = wrong.post("/api/keys/verify")
        assert refused.status_code == 401
        error = refused.json()
        assert error["error"]["code"] == "UNAUTHORIZED"
        # One sentence for clients that show a top-level detail (the Nomadic SDKs do).
        assert isinstance(error["detail"], str) and error["detail"].startswith("UNAUTHORIZED: The API key is not valid")
    with server.client() as anonymous:
        assert anonymous.post("/api/keys/verify").status_code == 401


def test_sessions_scopes_and_created_by(keyed: tuple[LiveServer, str, str], stream: LiveHLSServer) -> None:
    server, alice, bob = keyed
    with server.client(alice) as a, server.client(bob) as b:
        started = a.post("/api/live/start-session", data={"source_url": stream.url, "name": "door"})
        assert started.status_code == 200, started.text
        assert started.headers["location"].endswith(f"/{started.json()['session_id']}")
        for scope in ("personal", "org", None):
            params = {"scope": scope} if scope else {}
            sessions = a.get("/api/live/live-sessions", params=params).json()["sessions"]
            assert [s["session_id"] for s in sessions] == [started.json()["session_id"]], scope
            assert sessions[0]["created_by"] == "alice"
            assert b.get("/api/live/live-sessions", params=params).json()["sessions"] == []
        # The status filter: under its own name, and under scope as before.
        assert len(a.get("/api/live/live-sessions", params={"status": "active"}).json()["sessions"]) == 1
        assert a.get("/api/live/live-sessions", params={"scope": "ended"}).json()["sessions"] == []
        assert a.get("/api/live/live-sessions", params={"status": "ended", "scope": "org"}).json()["sessions"] == []
        bad = a.get("/api/live/live-sessions", params={"scope": "everyone"})
        assert bad.status_code == 422 and "scope" in bad.json()["detail"]
        missing = a.get("/api/live/live-sessions/str_x/ses_missing")
        assert missing.status_code == 404
        assert missing.json()["detail"].startswith("SESSION_NOT_FOUND: No session 'ses_missing' here.")
        a.post("/api/live/end-session", data=started.json())


def test_idempotency_key_starts_nothing_twice(keyed: tuple[LiveServer, str, str], stream: LiveHLSServer) -> None:
    server, alice, bob = keyed
    key = str(uuid.uuid4())
    form = {"source_url": stream.url, "name": "door", "rapid_review_query": QUERY}
    with server.client(alice) as a, server.client(bob) as b:
        first = a.post("/api/live/start-session", data=form, headers={"Idempotency-Key": key})
        again = a.post("/api/live/start-session", data=form, headers={"Idempotency-Key": key})
        assert first.status_code == again.status_code == 200
        assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
        assert "idempotent-replayed" not in first.headers
        assert len(a.get("/api/live/live-sessions").json()["sessions"]) == 1
        # The same key with another body is a mistake, said plainly; nothing starts.
        other = a.post("/api/live/start-session", data={**form, "name": "gate"}, headers={"Idempotency-Key": key})
        assert other.status_code == 422 and other.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
        assert len(a.get("/api/live/live-sessions").json()["sessions"]) == 1
        # Keys are per API key: bob's request with alice's key value is his own.
        theirs = b.post("/api/live/start-session", data=form, headers={"Idempotency-Key": key})
        assert theirs.status_code == 200 and theirs.json()["session_id"] != first.json()["session_id"]
        # A failed request is not kept: the retry, fixed, runs.
        failed_key = str(uuid.uuid4())
        refused = a.post("/api/live/start-session", data={"name": "x"}, headers={"Idempotency-Key": failed_key})
        assert refused.status_code == 422
        fixed = a.post("/api/live/start-session", data=form, headers={"Idempotency-Key": failed_key})
        assert fixed.status_code == 200 and "idempotent-replayed" not in fixed.headers
        assert len(a.get("/api/live/live-sessions").json()["sessions"]) == 2
        # A blank or over-long key is refused.
        assert a.post("/api/live/start-session", data=form, headers={"Idempotency-Key": "x" * 300}).status_code == 422
        for session in (
            a.get("/api/live/live-sessions").json()["sessions"] + b.get("/api/live/live-sessions").json()["sessions"]
        ):
            client = a if session["created_by"] == "alice" else b
            client.post("/api/live/end-session", data={k: session[k] for k in ("stream_id", "session_id")})


def test_idempotency_key_on_jobs_and_sse(keyed: tuple[LiveServer, str, str], stream: LiveHLSServer) -> None:
    server, alice, _ = keyed
    request = {"stream_url": stream.url, "condition": "is there a red square?", "interval_seconds": 1}
    with server.client(alice) as a:
        key = str(uuid.uuid4())
        first = a.post("/api/live-monitor", json=request, headers={"Idempotency-Key": key})
        again = a.post("/api/live-monitor", json=request, headers={"Idempotency-Key": key})
        assert first.status_code == 200 and again.json()["job_id"] == first.json()["job_id"]
        assert a.get("/api/jobs").json()["total"] == 1
        # An SSE job: the retry gets the same job's stream from its first event, and no second job.
        sse_key = str(uuid.uuid4())
        headers = {"Accept": "text/event-stream", "Idempotency-Key": sse_key}
        streamed = {**request, "monitor_duration_seconds": 5}
        with a.stream("POST", "/api/live-monitor", json=streamed, headers=headers) as response:
            events = read_sse(response, stop_after="started")
        with a.stream("POST", "/api/live-monitor", json=streamed, headers=headers) as response:
            assert response.status_code == 200
            replayed = read_sse(response, stop_after="started")
        assert events[0]["event"] == replayed[0]["event"] == "started"
        assert replayed[0]["data"]["job_id"] == events[0]["data"]["job_id"]
        assert a.get("/api/jobs").json()["total"] == 2
        for job in a.get("/api/jobs").json()["jobs"]:
            a.delete(f"/api/jobs/{job['job_id']}")


def test_sessions_check_their_source_at_start(server: LiveServer, stream: LiveHLSServer) -> None:
    with server.client() as client:
        for url in (f"{stream.base_url}/missing.m3u8", "http://127.0.0.1:9/live.m3u8"):
            refused = client.post("/api/live/start-session", data={"source_url": url, "name": "cam"})
            assert refused.status_code == 400, refused.text
            assert refused.json()["error"]["code"] in ("STREAM_OFFLINE", "STREAM_FETCH_FAILED", "NOT_LIVESTREAM")
            assert refused.json()["error"]["remediation"]
        assert client.get("/api/live/live-sessions").json()["sessions"] == []
        # A camera known to come up later: skip_validation starts it all the same.
        later = client.post(
            "/api/live/start-session",
            data={"source_url": "http://127.0.0.1:9/live.m3u8", "name": "cam", "skip_validation": "true"},
        )
        assert later.status_code == 200 and later.json()["status"] == "INITIALIZING"
        client.post("/api/live/end-session", data={k: later.json()[k] for k in ("stream_id", "session_id")})


def test_bad_input_gets_plain_words(server: LiveServer, stream: LiveHLSServer) -> None:
    """Blank text is refused on every entry point, and 422s read as sentences, not pydantic's wording."""
    with server.client() as client:
        for path, body in (
            ("/api/check-once", {"stream_url": stream.url, "condition": "   "}),
            ("/api/live-monitor", {"stream_url": stream.url, "condition": ""}),
            ("/api/analyze-frame", {"frame_b64": "aGVsbG8=", "question": " \t"}),
            ("/api/streams/validate", {"stream_url": "  "}),
        ):
            refused = client.post(path, json=body)
            assert refused.status_code == 422, (path, refused.text)
            message = refused.json()["error"]["message"]
            assert "must not be" in message and "should" not in message, (path, message)
        refused = client.post("/api/live/start-session", data={"source_url": stream.url, "name": "  "})
        assert refused.status_code == 422 and refused.json()["error"]["message"] == "name: must not be blank"
        limits = client.post(
            "/api/live-monitor", json={"stream_url": stream.url, "condition": "a red square?", "max_triggers": 0}
        )
        assert limits.json()["error"]["fields"] == [
            {"field": "max_triggers", "message": "must be at least 1", "type": "greater_than_equal"}
        ]
        missing = client.post("/api/live-monitor", json={"stream_url": stream.url})
        assert missing.json()["error"]["message"] == "condition: is required"
