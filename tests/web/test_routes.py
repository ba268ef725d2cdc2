"""The UI's own routes over HTTP (no browser): pages, whoami, the overview and its SSE stream, job playlists,
the charts' data, and archiving and deleting ended runs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from livesight.api.routes_ui import HLS_JS, UPLOT_JS
from livesight.rules import make_event
from livesight.settings import Settings
from livesight.store import Store
from livesight.store._checks import JobCheck
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
    event_id: str
    settings: Settings


@pytest.fixture
def world(web_settings: Settings, tmp_path: Path) -> Iterator[World]:
    """Alice's ended session on a stream with two recorded chunks (one reviewed, with an event and its
    frame) in its recording directory, a job on the same camera with a recorded chunk, checks and a gap,
    and a job on another URL; Bob has nothing."""
    chunk_file = tmp_path / "chunk.ts"
    chunk_file.write_bytes(b"\x47" + b"\x00" * 187)
    frame = tmp_path / "frame.jpg"
    frame.write_bytes(b"\xff\xd8\xff\xd9")

    async def make() -> tuple[str, str, str, str, str, str, str]:
        store = await Store.open(web_settings.resolved_database_url())
        try:
            alice_key, alice = await store.create_api_key("alice")
            _, bob = await store.create_api_key("bob")
            owner = alice_key.id
            stream = await store.create_stream("gate", CAM, owner=owner)
            await store.create_stream("gate again", CAM, owner=owner)  # a second stream on the same URL
            session = await store.create_session(stream.id, "gate, morning", CAM, "people?", {}, owner)
            recording = web_settings.recordings_dir / session.id
            recording.mkdir(parents=True)
            for index in (0, 1):
                path = recording / f"chunk_{index:05d}.ts"
                path.write_bytes(chunk_file.read_bytes())
                await store.add_chunk(
                    "session", session.id, Chunk("", index, index * 10.0, index * 10.0 + 10, str(path))
                )
            first = (await store.list_chunks("session", session.id))[0]
            await store.update_chunk(first.id, status="analysed", analysis_id="ana_1", event_count=2)
            event = make_event(
                type="appearance",
                label="person",
                description="a person at the gate",
                severity="low",
                confidence=0.9,
                chunk_index=0,
                chunk_id=first.id,
                chunk_start=0.0,
                chunk_relative_time=4.0,
                pts_offset=0.0,
                analysis_id="ana_1",
            )
            [stored] = await store.add_events("session", session.id, [event], [{"frame_path": str(frame)}])
            await store.update_event_end(stored.id, end_time=9.0, t_end="00:09")
            await store.update_session(session.id, status="FINISHED", ended_at=datetime.now(UTC))
            matching = await store.create_job("live-monitor", CAM, "is the gate open?", owner=owner)
            await store.add_chunk("job", matching.id, Chunk("", 0, 0.0, 8.5, str(chunk_file)))
            await store.add_checks(
                matching.id,
                [
                    JobCheck(1.0, False, 0.8, False, False),
                    JobCheck(2.0, False, 0.7, True, False),
                    JobCheck(3.0, None, None, False, True),
                    JobCheck(4.0, True, 0.95, False, False),
                ],
            )
            await store.add_gap("job", matching.id, 2.5, 3.0, "source stalled")
            stats = {"checks_performed": 7, "triggers_fired": 1, "chunks_recorded": 1, "session_time": 8.5}
            await store.update_job(matching.id, status="completed", reason="condition_triggered", stats=stats)
            other = await store.create_job("live-monitor", "rtsp://user:pw@192.0.2.11/s", "a truck?", owner=owner)
            await store.update_job(other.id, status="stopped", reason="cancelled", stats={})
            return alice, bob, stream.id, session.id, matching.id, other.id, stored.id
        finally:
            await store.close()

    alice, bob, stream_id, session_id, matching, other, event_id = asyncio.run(make())
    server = start_server(web_settings)
    try:
        yield World(server, alice, bob, stream_id, session_id, matching, other, event_id, web_settings)
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
        chart = anonymous.get("/ui/vendor/uplot.esm.js")
        if UPLOT_JS.is_file():
            assert chart.status_code == 200 and "javascript" in chart.headers["content-type"]
            assert "export" in chart.text and anonymous.get("/ui/vendor/uplot.min.css").status_code == 200
        else:
            assert chart.status_code == 404 and "npm ci" in chart.json()["error"]["remediation"]
        icon = anonymous.get("/favicon.ico")
        assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml" and b"<svg" in icon.content
        # the UI's data needs a key like the rest of the API
        assert anonymous.get("/api/ui/overview").status_code == 401
        assert anonymous.get("/api/ui/whoami").json()["error"]["code"] == "UNAUTHORIZED"


def test_overview_groups_runs_by_source_with_counters_and_hides_other_keys(world: World) -> None:
    with world.server.client(world.alice) as alice, world.server.client(world.bob) as bob:
        assert alice.get("/api/ui/whoami").json() == {"dev_mode": False, "key_name": "alice"}
        assert bob.get("/api/ui/overview").json() == {"dev_mode": False, "streams": [], "archived_count": 0}
        overview = alice.get("/api/ui/overview").json()
        thumbnail = httpx.get(overview["streams"][0]["thumbnail"]["url"])  # a signed link, no bearer
    gate, other = overview["streams"]
    assert (gate["stream_id"], gate["name"], gate["source_url"]) == (world.stream_id, "gate", CAM)
    assert gate["thumbnail"]["run_id"] == world.session_id and gate["thumbnail"]["stream_time"] == 4.0
    assert thumbnail.status_code == 200 and thumbnail.content.startswith(b"\xff\xd8")
    assert other["thumbnail"] is None  # no frame: the page shows a placeholder
    [session] = gate["sessions"]
    assert session["session_id"] == world.session_id and session["status"] == "FINISHED"
    assert session["counters"] == {"chunks": 2, "checks": 1, "triggers": 1}  # the one stored event
    assert session["archived_at"] is None and session["started_at"]
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


def test_overview_groups_one_urls_streams_and_the_thumbnail_link_is_stable(world: World) -> None:
    with world.server.client(world.alice) as alice:
        first = alice.get("/api/ui/overview").json()
        second = alice.get("/api/ui/overview").json()
    [gate] = [g for g in first["streams"] if g["source_url"] == CAM]  # one group for the URL's two streams
    assert len(gate["stream_ids"]) == 2 and gate["stream_id"] == world.stream_id  # named by the oldest
    assert first == second  # the signed thumbnail link does not change from one snapshot to the next


def test_a_jobs_checks_and_a_sessions_chunks_for_the_charts(world: World) -> None:
    with world.server.client(world.alice) as alice, world.server.client(world.bob) as bob:
        checks = alice.get(f"/api/ui/jobs/{world.matching_job}/checks").json()
        chunks = alice.get(f"/api/ui/sessions/{world.session_id}/chunks").json()
        assert bob.get(f"/api/ui/jobs/{world.matching_job}/checks").json()["error"]["code"] == "JOB_NOT_FOUND"
        assert bob.get(f"/api/ui/sessions/{world.session_id}/chunks").status_code == 404
    assert [(c["stream_time"], c["triggered"], c["reused"], c["failed"]) for c in checks["checks"]] == [
        (1.0, False, False, False),
        (2.0, False, True, False),
        (3.0, None, False, True),
        (4.0, True, False, False),
    ]
    assert checks["total"] == 4 and checks["checks"][-1]["confidence"] == 0.95 and checks["started_at"]
    assert checks["gaps"] == [{"session_time": 2.5, "wall_seconds": 3.0, "reason": "source stalled"}]
    assert [(c["start_time"], c["status"], c["event_count"]) for c in chunks["chunks"]] == [
        (0.0, "analysed", 2),
        (10.0, "recorded", 0),
    ]
    assert chunks["gaps"] == [] and chunks["event_ends"] == {world.event_id: 9.0}


def test_archive_hides_an_ended_run_and_delete_removes_it_with_its_recording(world: World) -> None:
    recording = world.settings.recordings_dir / world.session_id
    assert recording.is_dir()
    with world.server.client(world.alice) as alice, world.server.client(world.bob) as bob:
        assert bob.post(f"/api/ui/jobs/{world.matching_job}/archive").status_code == 404
        archived = alice.post(f"/api/ui/jobs/{world.matching_job}/archive").json()
        assert archived["archived_at"] and alice.post(f"/api/ui/jobs/{world.matching_job}/archive").json() == archived
        overview = alice.get("/api/ui/overview").json()
        assert overview["archived_count"] == 1
        assert world.matching_job not in json.dumps(overview["streams"])
        everything = alice.get("/api/ui/overview", params={"archived": "true"}).json()
        [job] = [j for g in everything["streams"] for j in g["jobs"] if j["job_id"] == world.matching_job]
        assert job["archived_at"] == archived["archived_at"]
        assert alice.delete(f"/api/ui/jobs/{world.matching_job}/archive").json()["archived_at"] is None
        assert world.matching_job in json.dumps(alice.get("/api/ui/overview").json()["streams"])

        assert bob.delete(f"/api/ui/sessions/{world.session_id}").status_code == 404
        assert recording.is_dir()  # bob's try changed nothing
        assert alice.delete(f"/api/ui/sessions/{world.session_id}").json() == {
            "kind": "session",
            "id": world.session_id,
            "deleted": True,
        }
        assert not recording.exists()
        assert alice.get(f"/api/live/live-sessions/{world.stream_id}/{world.session_id}").status_code == 404
        assert alice.delete(f"/api/ui/sessions/{world.session_id}").status_code == 404
        assert alice.delete(f"/api/ui/jobs/{world.matching_job}").json()["deleted"] is True
        assert alice.get(f"/api/ui/jobs/{world.matching_job}/checks").status_code == 404
        assert alice.get(f"/api/jobs/{world.matching_job}").status_code == 404


def test_a_running_run_cannot_be_archived_or_deleted(world: World) -> None:
    with world.server.client(world.alice) as alice:
        started = alice.post(
            "/api/live/start-session",
            json={"source_url": "http://127.0.0.1:9/x.m3u8", "name": "live", "skip_validation": True},
        ).json()
        for method, path in (
            ("DELETE", f"/api/ui/sessions/{started['session_id']}"),
            ("POST", f"/api/ui/sessions/{started['session_id']}/archive"),
        ):
            answer = alice.request(method, path)
            assert answer.status_code == 409, answer.text
            error = answer.json()["error"]
            assert error["code"] == "RUN_STILL_RUNNING" and "end-session" in error["remediation"]
        assert alice.get(f"/api/live/live-sessions/{started['stream_id']}/{started['session_id']}").status_code == 200
