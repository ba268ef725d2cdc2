"""``livesight serve`` as a real process, driven by ``livesight sessions …`` and ``livesight jobs …``."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from rich.cells import cell_len

from livesight.cli_format import job_event_line
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
        LIVESIGHT_DATA_DIR=str(tmp_path / "data"),
        LIVESIGHT_MODEL_BASE_URL=vlm.base_url,
        LIVESIGHT_MODEL="livesight-test-vlm",
        LIVESIGHT_ALLOW_LOOPBACK="true",
        LIVESIGHT_MIN_INTERVAL_SECONDS="1",
        LIVESIGHT_BASE_URL=f"http://127.0.0.1:{port}",
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "livesight", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
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
    return subprocess.run(
        [sys.executable, "-m", "livesight", *args], env=env, capture_output=True, text=True, timeout=120
    )


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("livesight: error: "), result.stderr
    return lines[0]


EVENT_LINE = re.compile(r"^\d\d:\d\d:\d\d  (?P<name>\w+) +(?P<facts>.+)$")


def test_sessions_and_jobs_through_the_cli(served: dict[str, str]) -> None:
    # The square comes late enough (40 s = 10 s at 4x) that the CLI follows the job live before its trigger ends it.
    spec = SceneSpec(duration=60.0, events=((40.0, 48.0),))
    with LiveHLSServer(spec=spec, speed=4.0, end_list=True) as stream:
        started = cli(served, "sessions", "start", stream.url, "--name", "porch", "--query", "red square", "--json")
        assert started.returncode == 0, started.stderr
        ids = json.loads(started.stdout)
        job = json.loads(
            cli(served, "jobs", "create", stream.url, "is there a red square?", "--interval", "1", "--json").stdout
        )
        events = cli(served, "jobs", "events", job["job_id"], "--json", "--progress")
        records = [json.loads(line) for line in events.stdout.splitlines()]  # one JSON object per line
        checks = [r["data"] for r in records if r["event"] == "progress"]
        names = [r["event"] for r in records if r["event"] != "progress"]
        assert names[0] == "started" and "triggered" in names and names[-1] == "stopped"
        triggered = next(r["data"] for r in records if r["event"] == "triggered")
        # The same events, replayed, one readable line each: time, name, verdict, stream time, explanation.
        readable = cli(served, "jobs", "events", job["job_id"])
        assert readable.returncode == 0, readable.stderr
        lines = readable.stdout.splitlines()
        matches = [EVENT_LINE.match(line) for line in lines]
        assert all(matches), lines
        assert [m["name"] for m in matches if m] == names
        [trigger_line] = [m["facts"] for m in matches if m and m["name"] == "triggered"]
        minutes, seconds = divmod(triggered["stream_time"], 60)
        clock = f"{int(minutes):02d}:{seconds:04.1f}"
        assert trigger_line.startswith(f"YES {triggered['confidence']:4.0%}  stream {clock}  "), trigger_line
        assert " ".join(triggered["explanation"].split()) in trigger_line
        assert "{" not in readable.stdout
        assert "completed" in lines[-1] and "checks" in lines[-1]
        # Progress events are live only (a replay has none): their lines, from the data the server sent.
        assert checks
        for check in checks:
            line = job_event_line("progress", check)
            assert re.fullmatch(r"\d\d:\d\d:\d\d  progress   (YES|no ) +\d+%  stream \d\d:\d\d\.\d  .+", line), line
        detail = json.loads(cli(served, "jobs", "get", job["job_id"], "--json").stdout)
        assert detail["status"] == "completed" and len(detail["triggers"]) == 1
        followed = cli(
            served, "sessions", "events", ids["stream_id"], ids["session_id"], "--poll-interval", "0.5", "--json"
        )
        assert followed.returncode == 0, followed.stderr
        found = [json.loads(line) for line in followed.stdout.splitlines()]
        # one appearance; it may straddle a chunk boundary, and then each chunk reports its part
        assert 1 <= len(found) <= 2 and len({e["event_id"] for e in found}) == len(found)
        assert 40 <= found[0]["capture_time"] <= 41.1
    listed = cli(served, "sessions", "list", "--json")
    assert [json.loads(line)["session_id"] for line in listed.stdout.splitlines()] == [ids["session_id"]]
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


def test_sessions_list_fits_the_terminal(served: dict[str, str]) -> None:
    with LiveHLSServer(spec=SceneSpec(duration=30.0, events=())) as stream:
        long_url = f"{stream.url}?{'camera=front-door-north-side&' * 8}end=1"
        started = cli(
            served, "sessions", "start", long_url, "--name", "a rather long name for the porch camera", "--json"
        )
        assert started.returncode == 0, started.stderr
        ids = json.loads(started.stdout)
        table = cli({**served, "COLUMNS": "80"}, "sessions", "list")
        assert table.returncode == 0, table.stderr
        lines = table.stdout.splitlines()
        assert len(lines) == 2, table.stdout  # the header and one line for the session: nothing wrapped
        assert all(cell_len(line) <= 80 for line in lines), lines
        header, row = lines
        assert header.split()[:3] == ["SESSION", "STREAM", "STATUS"] and header.split()[-1] == "SOURCE"
        assert row.split()[:2] == [ids["session_id"], ids["stream_id"]]  # ids are never cut
        source = row.split()[-1]
        assert source.endswith("…") and long_url.startswith(source[:-1]) and len(source) > 8
        wide = cli({**served, "COLUMNS": "1000"}, "sessions", "list").stdout.splitlines()
        assert len(wide) == 2 and wide[1].endswith(long_url) and "a rather long name for the porch camera" in wide[1]
        cli(served, "sessions", "end", ids["stream_id"], ids["session_id"])


def test_validation_errors_of_the_server_name_the_option(served: dict[str, str]) -> None:
    # The server checks the fields before it looks at the stream, and answers 422: one line, the CLI's words.
    line = _one_line_error(
        cli(served, "jobs", "create", "http://127.0.0.1:9/live.m3u8", "is it on?", "--duration", "2")
    )
    assert line == "livesight: error: --duration must be at least 5.", line
    assert "Input should" not in line and "monitor_duration_seconds" not in line
