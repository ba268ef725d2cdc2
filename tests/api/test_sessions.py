"""Livestream sessions over HTTP: rapid review, ending, the recording and its signed playlist."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx

from livesight.testing.hls_server import LiveHLSServer
from livesight.testing.playback import frames_by_time

from .conftest import LiveServer

QUERY = "report every red square you see"


def _wait_session(client: httpx.Client, path: str, done: Any, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        session = client.get(path).json()
        if done(session):
            return session  # type: ignore[no-any-return]
        time.sleep(0.5)
    raise AssertionError(f"session never reached the state: {session}")


def test_session_records_reviews_and_plays_back(server: LiveServer, stream: LiveHLSServer) -> None:
    with server.client() as client:
        started = client.post(
            "/api/live/start-session",
            data={"source_url": stream.url, "name": "front door", "rapid_review_query": QUERY},
        )
        assert started.status_code == 200, started.text
        ids = started.json()
        assert ids["status"] == "INITIALIZING" and ids["stream_id"] and ids["session_id"]
        path = f"/api/live/live-sessions/{ids['stream_id']}/{ids['session_id']}"
        _wait_session(client, path, lambda s: s["status"] == "ACTIVE")
        active = _wait_session(client, path, lambda s: len(s["events"]) >= 2)
        assert active["status"] == "ACTIVE"
        ended = client.post(
            "/api/live/end-session", json={"stream_id": ids["stream_id"], "session_id": ids["session_id"]}
        )
        assert ended.json() == {"status": "ended"}
        again = client.post(
            "/api/live/end-session", json={"stream_id": ids["stream_id"], "session_id": ids["session_id"]}
        )
        assert again.json() == {"status": "already_ended"}
        final = client.get(path).json()
        assert final["status"] == "FINISHED" and final["name"] == "front door"
        assert final["chunk_count"] == len(final["chunks"]) >= 2
        assert [c["chunk_index"] for c in final["chunks"]] == list(range(len(final["chunks"])))
        events = final["events"]
        assert len(events) == 2 and len({e["event_id"] for e in events}) == 2
        for event in events:
            assert abs(event["stream_time"] - (event["hls_cumulative_offset"] + event["chunk_relative_time"])) < 1e-3
            chunk = final["chunks"][event["chunk_index"]]
            assert chunk["chunk_id"] == event["chunk_id"] and chunk["start_time"] == event["hls_cumulative_offset"]
            assert httpx.get(event["thumbnail_url"]).headers["content-type"] == "image/jpeg"
        # the scene's clock (capture_time) puts the appearances at 20 s and 50 s
        assert 20 <= events[0]["capture_time"] <= 21.1 and 50 <= events[1]["capture_time"] <= 51.1

        manifest = client.post(f"/api/live/session/{ids['session_id']}/signed-manifest").json()
        assert manifest["method"] == "GET" and manifest["expires_at"]
        playlist = httpx.get(manifest["url"])
        assert playlist.status_code == 200 and "#EXT-X-ENDLIST" in playlist.text
        assert "#EXT-X-PROGRAM-DATE-TIME" in playlist.text
        frames = frames_by_time(manifest["url"])
        recorded = sum(c["duration"] for c in final["chunks"])
        assert abs(frames[-1][0] - recorded) < 0.5  # the playlist covers the session from start to end
        for event in events:
            # the frame at each event's stream_time shows the red square; 3 s before it does not
            at = min(frames, key=lambda f: abs(f[0] - (event["stream_time"] + 0.5)))
            before = min(frames, key=lambda f: abs(f[0] - (event["stream_time"] - 3)))
            assert at[1] > 0.003 and before[1] < 0.001, (event["stream_time"], at, before)

        altered = manifest["url"].replace("playlist.m3u8", "playlist.m3u8").replace("sig=", "sig=x")
        assert httpx.get(altered).status_code == 403
        expired = manifest["url"].split("expires=")[0] + "expires=1000&" + manifest["url"].split("&", 1)[1]
        assert httpx.get(expired).status_code == 403
        listed = client.get("/api/live/live-sessions", params={"scope": "ended"}).json()["sessions"]
        assert [s["session_id"] for s in listed] == [ids["session_id"]]


def test_session_without_query_records_and_finishes_by_itself(server: LiveServer) -> None:
    from livesight.testing.scene import SceneSpec

    with (
        LiveHLSServer(spec=SceneSpec(duration=24.0, events=()), speed=4.0, end_list=True) as short,
        server.client() as client,
    ):
        started = client.post("/api/live/start-session", json={"source_url": short.url, "name": "short"}).json()
        path = f"/api/live/live-sessions/{started['stream_id']}/{started['session_id']}"
        final = _wait_session(client, path, lambda s: s["status"] in ("FINISHED", "FAILED"))
        again = client.post(
            "/api/live/end-session", json={"stream_id": started["stream_id"], "session_id": started["session_id"]}
        )
    assert final["status"] == "FINISHED" and final["events"] == [] and final["chunk_count"] >= 2
    assert again.json() == {"status": "already_ended"}


def test_session_events_stream_and_manifest_expiry(server_settings: Any, stream: LiveHLSServer) -> None:
    """Session SSE resumes with Last-Event-ID and ends with ``ended``; a manifest link dies at its expiry."""
    from .conftest import start_server
    from .test_monitor import read_sse

    # Manifest links that expire before they are issued: expiry is checked without waiting for it.
    live = start_server(server_settings.model_copy(update={"manifest_ttl_seconds": -60.0}))
    try:
        with live.client() as client:
            ids = client.post(
                "/api/live/start-session",
                json={
                    "source_url": stream.url,
                    "name": "sse",
                    "rapid_review_query": QUERY,
                },
            ).json()
            path = f"/api/live/live-sessions/{ids['stream_id']}/{ids['session_id']}/events"
            with client.stream("GET", path) as response:
                first = read_sse(response, stop_after="event")
            assert first[-1]["data"]["stream_time"] >= 0 and first[-1]["id"].isdigit()
            client.post("/api/live/end-session", json=ids)
            with client.stream("GET", path, headers={"Last-Event-ID": first[-1]["id"]}) as response:
                rest = read_sse(response)
            assert rest[-1]["event"] == "ended" and rest[-1]["data"]["status"] == "FINISHED"
            resumed = [e for e in rest if e["event"] == "event"]
            stored = client.get(f"/api/live/live-sessions/{ids['stream_id']}/{ids['session_id']}").json()["events"]
            assert [e["data"]["event_id"] for e in [first[-1], *resumed]] == [e["event_id"] for e in stored]
            manifest = client.post(f"/api/live/session/{ids['session_id']}/signed-manifest").json()
            path = f"/api/live/session/{ids['session_id']}/playlist.m3u8"
            assert manifest["url"].startswith(f"{live.url}{path}?")
            assert datetime.fromisoformat(manifest["expires_at"]) < datetime.now(UTC)  # the configured TTL
            assert httpx.get(manifest["url"]).status_code == 403  # expired
            # The same playlist, signed by the server's own signer to expire a minute from now, plays: what
            # the link above lacks is only time.
            fresh, _ = live.state.signer.sign(path, 60.0)
            assert httpx.get(f"{live.url}{fresh}").status_code == 200
    finally:
        live.thread.stop()
