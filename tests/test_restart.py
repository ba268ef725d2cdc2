"""Restart recovery: after kill -9, a new server resumes sessions and jobs under the same ids."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from livesight.testing.hls_server import LiveHLSServer
from livesight.testing.scene import SceneSpec
from livesight.testing.vlm_server import VLMTestServer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``livesight serve`` as a real process on a fixed port and data directory."""

    def __init__(self, env: dict[str, str], port: int) -> None:
        self.env, self.port = env, port
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "livesight", "serve", "--port", str(self.port)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        wait_until(lambda: _healthy(self.url), 30)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)  # no shutdown of any kind
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(60)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz").status_code == 200
    except httpx.HTTPError:
        return False


def wait_until(check: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError("timed out")


@pytest.fixture
def server(tmp_path: Path, vlm: VLMTestServer) -> Iterator[Server]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIVESIGHT_", "OPENAI_"))}
    env.update(
        LIVESIGHT_DATA_DIR=str(tmp_path / "data"),
        LIVESIGHT_MODEL_BASE_URL=vlm.base_url,
        LIVESIGHT_MODEL="livesight-test-vlm",
        LIVESIGHT_ALLOW_LOOPBACK="true",
        LIVESIGHT_MIN_INTERVAL_SECONDS="1",
        LIVESIGHT_GIVE_UP_AFTER_SECONDS="6",
        LIVESIGHT_RECONNECT_MAX_SECONDS="1",
    )
    live = Server(env, _free_port())
    try:
        yield live
    finally:
        live.stop()


@pytest.mark.slow
def test_kill_9_then_resume_under_the_same_ids(server: Server) -> None:
    spec = SceneSpec(duration=120.0, events=((20.0, 26.0), (90.0, 96.0)))
    with LiveHLSServer(spec=spec, speed=2.0, end_list=True) as stream:
        server.start()
        with httpx.Client(base_url=server.url, timeout=30) as client:
            ids = client.post(
                "/api/live/start-session",
                json={"source_url": stream.url, "name": "resumed", "rapid_review_query": "red square"},
            ).json()
            job = client.post(
                "/api/live-monitor",
                json={
                    "stream_url": stream.url,
                    "condition": "is there a red square?",
                    "interval_seconds": 1,
                    "max_triggers": None,
                    "monitor_duration_seconds": None,
                },
            ).json()
            path = f"/api/live/live-sessions/{ids['stream_id']}/{ids['session_id']}"
            before = wait_until(lambda: (s := client.get(path).json())["events"] and s, 60)
            triggers_before = len(client.get(f"/api/jobs/{job['job_id']}").json()["triggers"])
        server.kill()  # returns once the process is gone: its port and database are free at once
        server.start()  # and waits for /healthz
        with httpx.Client(base_url=server.url, timeout=30) as client:
            after = wait_until(lambda: len((s := client.get(path).json())["events"]) > len(before["events"]) and s, 60)
            resumed_job = client.get(f"/api/jobs/{job['job_id']}").json()
            assert after["status"] == "ACTIVE" and resumed_job["status"] == "running"
            client.post("/api/live/end-session", json=ids)
            final = client.get(path).json()
    assert len(resumed_job["triggers"]) > triggers_before >= 1
    # nothing stored before the kill was lost, and the timeline went on after it
    kept = [e["event_id"] for e in final["events"]][: len(before["events"])]
    assert kept == [e["event_id"] for e in before["events"]]
    indexes = [c["chunk_index"] for c in final["chunks"]]
    assert indexes == list(range(len(indexes)))
    resumed = [c for c in final["chunks"] if c["discontinuity"]]
    assert resumed and resumed[0]["start_time"] >= before["chunks"][-1]["end_time"] - 1e-6
    db = sqlite3.connect(Path(server.env["LIVESIGHT_DATA_DIR"]) / "livesight.db")
    reasons = [r[0] for r in db.execute("select reason from gaps where session_id = ?", (ids["session_id"],))]
    assert "server restarted" in reasons


@pytest.mark.slow
def test_a_source_gone_after_the_restart_fails_with_a_reason(server: Server) -> None:
    spec = SceneSpec(duration=120.0, events=())
    with LiveHLSServer(spec=spec, speed=2.0) as stream:
        server.start()
        with httpx.Client(base_url=server.url, timeout=30) as client:
            ids = client.post("/api/live/start-session", json={"source_url": stream.url, "name": "gone"}).json()
            path = f"/api/live/live-sessions/{ids['stream_id']}/{ids['session_id']}"
            wait_until(lambda: client.get(path).json()["chunks"], 60)
        server.kill()
    server.start()  # the stream server is gone now
    with httpx.Client(base_url=server.url, timeout=30) as client:
        final = wait_until(lambda: (s := client.get(path).json())["status"] == "FAILED" and s, 60)
    assert "no frames for" in final["error"]
