"""The UI's own routes over HTTP (no browser): pages, whoami, the overview and its SSE stream, job playlists."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from livesight.api.routes_ui import HLS_JS
from livesight.settings import Settings
from livesight.store import Store
from livesight.types import Chunk

from .conftest import LiveServer, start_server

CAM = "http://192.0.2.10/cam/index.m3u8"


@dataclass
class World:
    server: LiveServer
    alice: str
    bob: str
    stream_id: str
    session_id: str
    matching_job: str
    other_job: str


@pytest.fixture
def world(web_settings: Settings, tmp_path: Path) -> Iterator[World]:
    """Alice's ended session on a stream with two recorded chunks (one reviewed), a job on the
    same camera with a recorded chunk, and a job on another URL; Bob has nothing."""
    chunk_file = tmp_path / "chunk.ts"
    chunk_file.write_bytes(b"\x47" + b"\x00" * 187)

    async def make() -> tuple[str, str, str, str, str, str]:
        store = await Store.open(web_settings.resolved_database_url())
        try:
            alice_key, alice = await store.create_api_key("alice")
            _, bob = await store.create_api_key("bob")
            owner = alice_key.id
            stream = await store.create_stream("gate", CAM, owner=owner)
            session = await store.create_session(stream.id, "gate, morning", CAM, "people?", {}, owner)
            for index in (0, 1):
                await store.add_chunk(
                    "session", session.id, Chunk("", index, index * 10.0, index * 10.0 + 10, str(chunk_file))
                )
            first = (await store.list_chunks("session", session.id))[0]
            await store.update_chunk(first.id, status="analysed", analysis_id="ana_1", event_count=2)
            await store.update_session(session.id, status="FINISHED", ended_at=datetime.now(UTC))
            matching = await store.create_job("live-monitor", CAM, "is the gate open?", owner=owner)
            await store.add_chunk("job", matching.id, Chunk("", 0, 0.0, 8.5, str(chunk_file)))
            stats = {"checks_performed": 7, "triggers_fired": 1, "chunks_recorded": 1, "session_time": 8.5}
            await store.update_job(matching.id, status="completed", reason="condition_triggered", stats=stats)
            other = await store.create_job("live-monitor", "rtsp://user:pw@192.0.2.11/s", "a truck?", owner=owner)
            await store.update_job(other.id, status="stopped", reason="cancelled", stats={})
            return alice, bob, stream.id, session.id, matching.id, other.id
        finally:
            await store.close()

    alice, bob, stream_id, session_id, matching, other = asyncio.run(make())
    server = start_server(web_settings)
    try:
        yield World(server, alice, bob, stream_id, session_id, matching, other)
    finally:
        server.thread.stop()


def test_pages_and_static_files_are_served(world: World) -> None:
    with world.server.client() as anonymous:
        for path, page in (
            ("/", "overview"),
            ("/ui/login", "login"),
            ("/ui/new", "new"),
            (f"/ui/sessions/{world.stream_id}/{world.session_id}", "session"),
            (f"/ui/jobs/{world.matching_job}", "job"),
        ):
            response = anonymous.get(path)
            assert response.status_code == 200 and response.headers["content-type"].startswith("text/html"), path
            assert f'data-page="{page}"' in response.text
        assert "text/javascript" in anonymous.get("/ui/static/app.js").headers["content-type"]
        assert anonymous.get("/ui/static/style.css").status_code == 200
        vendor = anonymous.get("/ui/vendor/hls.min.js")
        if HLS_JS.is_file():  # after `npm ci --prefix src/livesight/web`
            assert vendor.status_code == 200 and "javascript" in vendor.headers["content-type"]
        else:
            assert vendor.status_code == 404 and "npm ci" in vendor.json()["error"]["remediation"]
        # the UI's data needs a key like the rest of the API
        assert anonymous.get("/api/ui/overview").status_code == 401
        assert anonymous.get("/api/ui/whoami").json()["error"]["code"] == "UNAUTHORIZED"


def test_overview_groups_runs_by_source_with_counters_and_hides_other_keys(world: World) -> None:
    with world.server.client(world.alice) as alice, world.server.client(world.bob) as bob:
        assert alice.get("/api/ui/whoami").json() == {"dev_mode": False, "key_name": "alice"}
        assert bob.get("/api/ui/overview").json() == {"dev_mode": False, "streams": []}
        overview = alice.get("/api/ui/overview").json()
    gate, other = overview["streams"]
    assert (gate["stream_id"], gate["name"], gate["source_url"]) == (world.stream_id, "gate", CAM)
    [session] = gate["sessions"]
    assert session["session_id"] == world.session_id and session["status"] == "FINISHED"
    assert session["counters"] == {"chunks": 2, "checks": 1, "triggers": 0}
    assert session["session_time"] == 20.0 and session["health"] is None
    [job] = gate["jobs"]  # a job watching the stream's URL is shown with it
    assert job["job_id"] == world.matching_job and job["status"] == "completed"
    assert job["counters"] == {"chunks": 1, "checks": 7, "triggers": 1}
    assert other["stream_id"] is None and other["sessions"] == []
    assert [j["job_id"] for j in other["jobs"]] == [world.other_job]
    assert "pw" not in other["source_url"]  # credentials are redacted


def _first_event(response: httpx.Response) -> tuple[str, str]:
    name, data = "", ""
    for line in response.iter_lines():
        if line.startswith("event:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            data = line.split(":", 1)[1].strip()
        elif line == "" and data:
            return name, data
    raise AssertionError("the stream ended without an event")


def test_overview_stream_sends_snapshots(world: World) -> None:
    with world.server.client(world.alice) as alice:
        expected = alice.get("/api/ui/overview").json()
        with alice.stream("GET", "/api/ui/overview/stream") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            name, data = _first_event(response)
        assert name == "snapshot" and json.loads(data) == expected
        with alice.stream("GET", "/api/ui/overview/stream", params={"job_id": world.matching_job}) as response:
            name, data = _first_event(response)
        assert json.loads(data)["run"]["job_id"] == world.matching_job
        assert alice.get("/api/ui/overview/stream", params={"session_id": "ses_missing"}).status_code == 404
    with world.server.client(world.bob) as bob:  # another key's run reads as missing
        assert bob.get("/api/ui/overview/stream", params={"job_id": world.matching_job}).status_code == 404


def test_job_recording_has_a_signed_playlist(world: World) -> None:
    with world.server.client(world.alice) as alice, world.server.client(world.bob) as bob:
        assert bob.post(f"/api/ui/jobs/{world.matching_job}/signed-manifest").status_code == 404
        manifest = alice.post(f"/api/ui/jobs/{world.matching_job}/signed-manifest").json()
    assert manifest["method"] == "GET" and manifest["expires_at"]
    playlist = httpx.get(manifest["url"])
    assert playlist.status_code == 200 and playlist.headers["content-type"] == "application/vnd.apple.mpegurl"
    lines = playlist.text.splitlines()
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in lines and lines[-1] == "#EXT-X-ENDLIST"
    assert "#EXTINF:8.500," in lines
    [segment] = [line for line in lines if line.startswith("/api/jobs/")]
    chunk = httpx.get(world.server.url + segment)  # the signature is the one the chunk route checks
    assert chunk.status_code == 200 and chunk.content.startswith(b"\x47")
    assert httpx.get(manifest["url"].replace("sig=", "sig=x")).status_code == 403
    assert httpx.get(world.server.url + segment.replace("sig=", "sig=x")).status_code == 403
