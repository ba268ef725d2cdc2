"""End to end on an S3-compatible store: a real server with LIVESIGHT_STORAGE_URL=s3://… records a
session and a job into the bucket, and serves the signed playlist, thumbnails and trigger frames from it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest

from livesight.settings import Settings
from livesight.testing._server import LiveServer, start_server
from livesight.testing.hls_server import LiveHLSServer
from livesight.testing.playback import frames_by_time
from livesight.testing.scene import SceneSpec

from .conftest import S3Server

T = TypeVar("T")
QUERY = "report every red square you see"
CONDITION = "is there a red square?"


def _wait(what: str, read: Callable[[], T], done: Callable[[T], bool], timeout: float = 90) -> T:
    """Poll ``read`` until ``done`` holds (a condition, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} never happened: {value}")
        time.sleep(0.25)


@pytest.fixture
def stream() -> Iterator[LiveHLSServer]:
    """A 90 s scene with a red square at 20–28 s and 50–58 s, played 4× faster than real time."""
    with LiveHLSServer(
        spec=SceneSpec(duration=90.0, events=((20.0, 28.0), (50.0, 58.0))), speed=4.0, end_list=True
    ) as hls:
        yield hls


@pytest.fixture
def server(settings: Settings, s3: S3Server) -> Iterator[LiveServer]:
    live = start_server(
        settings.model_copy(
            update={
                "min_interval_seconds": 1.0,
                "allow_loopback": True,
                "storage_url": f"s3://{s3.bucket}/deploy",
                "storage_endpoint_url": s3.endpoint_url,  # credentials: the AWS_* variables the s3 fixture set
            }
        )
    )
    try:
        yield live
    finally:
        live.thread.stop()


def test_recordings_and_evidence_live_in_the_bucket(server: LiveServer, stream: LiveHLSServer, s3: S3Server) -> None:
    with server.client() as client:
        ids = client.post(
            "/api/live/start-session", json={"source_url": stream.url, "name": "s3", "rapid_review_query": QUERY}
        ).json()
        job = client.post(
            "/api/live-monitor", json={"stream_url": stream.url, "condition": CONDITION, "interval_seconds": 1}
        ).json()
        path = f"/api/live/live-sessions/{ids['stream_id']}/{ids['session_id']}"
        _wait("two session events", lambda: client.get(path).json(), lambda s: len(s["events"]) >= 2)
        done = _wait(
            "the job's end",
            lambda: client.get(f"/api/jobs/{job['job_id']}").json(),
            lambda j: j["status"] in ("completed", "stopped", "failed"),
        )
        assert client.post("/api/live/end-session", json=ids).json() == {"status": "ended"}
        final = _wait("the session's end", lambda: client.get(path).json(), lambda s: s["status"] == "FINISHED")

        # the recording is in the bucket, under the prefix and the run's id
        keys = s3.keys()
        session_chunks = [k for k in keys if k.startswith(f"deploy/{ids['session_id']}/chunk_") and k.endswith(".ts")]
        assert len(session_chunks) == final["chunk_count"] >= 2
        assert sum(k.startswith(f"deploy/{ids['session_id']}/evidence/") for k in keys) == len(final["events"])
        assert any(k.startswith(f"deploy/{job['job_id']}/chunk_") for k in keys)
        assert sum(k.startswith(f"deploy/{job['job_id']}/evidence/") for k in keys) == len(done["triggers"]) == 1
        # and nothing is left in the local spool
        assert not [p for p in server.settings.recordings_dir.rglob("*") if p.suffix in (".ts", ".jpg")]

        # the signed playlist plays from the bucket, the red square where the events say
        manifest = client.post(f"/api/live/session/{ids['session_id']}/signed-manifest").json()
        playlist = httpx.get(manifest["url"])
        assert playlist.status_code == 200 and playlist.text.count(".ts?") == final["chunk_count"]
        frames = frames_by_time(manifest["url"])
        assert abs(frames[-1][0] - sum(c["duration"] for c in final["chunks"])) < 0.5
        for event in final["events"]:
            at = min(frames, key=lambda f: abs(f[0] - (event["stream_time"] + 0.5)))
            assert at[1] > 0.003, (event["stream_time"], at)
            thumbnail = httpx.get(event["thumbnail_url"])
            assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/jpeg"
            assert thumbnail.content[:2] == b"\xff\xd8"

        # the job's trigger frame and clip, through their signed links
        [trigger] = done["triggers"]
        frame = httpx.get(trigger["frame_url"])
        assert frame.status_code == 200 and frame.content[:2] == b"\xff\xd8"
        clip = httpx.get(trigger["clip_url"])
        assert clip.status_code == 200 and clip.content[:1] == b"\x47"
        assert httpx.get(trigger["frame_url"].replace("sig=", "sig=A")).status_code == 403

        # deleting the session in the UI removes its objects, and only its
        deleted = client.delete(f"/api/ui/sessions/{ids['session_id']}")
        assert deleted.status_code == 200, deleted.text
        left: list[Any] = s3.keys()
        assert not [k for k in left if k.startswith(f"deploy/{ids['session_id']}/")]
        assert any(k.startswith(f"deploy/{job['job_id']}/") for k in left)
