"""``livesight serve`` as a real process, driven by ``livesight sessions …`` and ``livesight jobs …``."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from livesight.testing.hls_server import LiveHLSServer
from livesight.testing.scene import SceneSpec
from livesight.testing.vlm_server import VLMTestServer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path, vlm: VLMTestServer) -> Iterator[dict[str, str]]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIVESIGHT_", "OPENAI_"))}
    env.update(
        LIVESIGHT_DATA_DIR=str(tmp_path / "data"), LIVESIGHT_MODEL_BASE_URL=vlm.base_url,
        LIVESIGHT_MODEL="livesight-test-vlm", LIVESIGHT_ALLOW_LOOPBACK="true", LIVESIGHT_MIN_INTERVAL_SECONDS="1",
        LIVESIGHT_BASE_URL=f"http://127.0.0.1:{port}",
    )
    server = subprocess.Popen([sys.executable, "-m", "livesight", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield env
    finally:
        server.send_signal(signal.SIGINT)  # graceful shutdown stops runs cleanly
        _, stderr = server.communicate(timeout=60)
        assert server.returncode == 0, stderr
        assert "development mode" in stderr


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "livesight", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_sessions_and_jobs_through_the_cli(served: dict[str, str]) -> None:
    spec = SceneSpec(duration=60.0, events=((20.0, 28.0),))
    with LiveHLSServer(spec=spec, speed=4.0, end_list=True) as stream:
        started = cli(served, "sessions", "start", stream.url, "--name", "porch", "--query", "red square", "--json")
        assert started.returncode == 0, started.stderr
        ids = json.loads(started.stdout)
        job = json.loads(cli(served, "jobs", "create", stream.url, "is there a red square?", "--interval", "1",
                             "--json").stdout)
        events = cli(served, "jobs", "events", job["job_id"], "--json")
        names = [json.loads(line)["event"] for line in events.stdout.splitlines()]
        assert names[0] == "started" and "triggered" in names and names[-1] == "stopped"
        detail = json.loads(cli(served, "jobs", "get", job["job_id"], "--json").stdout)
        assert detail["status"] == "completed" and len(detail["triggers"]) == 1
        followed = cli(served, "sessions", "events", ids["stream_id"], ids["session_id"], "--poll-interval", "0.5",
                       "--json")
        assert followed.returncode == 0, followed.stderr
        found = [json.loads(line) for line in followed.stdout.splitlines()]
        # one appearance; it may straddle a chunk boundary, and then each chunk reports its part
        assert 1 <= len(found) <= 2 and len({e["event_id"] for e in found}) == len(found)
        assert 20 <= found[0]["capture_time"] <= 21.1
    listed = cli(served, "sessions", "list", "--json")
    assert [s["session_id"] for s in json.loads(listed.stdout)] == [ids["session_id"]]
    assert cli(served, "sessions", "end", ids["stream_id"], ids["session_id"]).stdout.strip() == "already_ended"
    manifest = cli(served, "sessions", "manifest", ids["session_id"]).stdout.strip()
    assert "#EXT-X-ENDLIST" in httpx.get(manifest).text
    missing = cli(served, "jobs", "get", "job_nope")
    assert missing.returncode == 2 and missing.stderr.startswith("livesight: error: ")
    assert "Traceback" not in missing.stderr


def test_cli_without_a_server_says_so(tmp_path: Path) -> None:
    env = {**os.environ, "LIVESIGHT_BASE_URL": f"http://127.0.0.1:{_free_port()}"}
    result = cli(env, "jobs", "list")
    assert result.returncode == 2 and "livesight serve" in result.stderr and "Traceback" not in result.stderr
