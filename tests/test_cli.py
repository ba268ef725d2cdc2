"""The ``livesight`` command as a user runs it: real subprocesses, real servers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import typer

from livesight import __version__
from livesight.cli import app
from livesight.testing.hls_server import LiveHLSServer
from livesight.testing.scene import SceneSpec, cached_scene
from livesight.testing.vlm_server import VLMTestServer


def run_cli(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "livesight", *args], capture_output=True, text=True, env=env, timeout=timeout
    )


@pytest.fixture
def env(tmp_path: Path, vlm: VLMTestServer) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LIVESIGHT_", "OPENAI_"))}
    clean.update(
        LIVESIGHT_DATA_DIR=str(tmp_path / "data"),
        LIVESIGHT_MODEL_BASE_URL=vlm.base_url,
        LIVESIGHT_MODEL="livesight-test-vlm",
        LIVESIGHT_OPEN_TIMEOUT_SECONDS="3",
        LIVESIGHT_READ_TIMEOUT_SECONDS="3",
    )
    return clean


@pytest.fixture
def html_page() -> Iterator[str]:
    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html><body>not a stream</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    server.shutdown()
    server.server_close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("livesight: error: ")
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_url_that_is_not_a_stream_gets_one_line(env: dict[str, str], html_page: str) -> None:
    result = run_cli("watch", html_page, "is there a red square?", env=env)
    _assert_one_line_error(result, "video", html_page)
    # FFmpeg's own words ("[Errno 1094995529] Invalid data found when processing input") stay out of it.
    assert "Errno" not in result.stderr and "Invalid data found" not in result.stderr


def test_version() -> None:
    for flag in ("--version", "-V"):
        result = run_cli(flag, env=dict(os.environ))
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"livesight {__version__}\n"


@pytest.mark.parametrize(
    "args",
    [
        ("watch", "{path}", "{blank}"),
        ("check", "{path}", "{blank}"),
        ("jobs", "create", "http://127.0.0.1:{port}/live.m3u8", "{blank}"),
    ],
    ids=["watch", "check", "jobs-create"],
)
@pytest.mark.parametrize("blank", ["", "   "], ids=["empty", "spaces"])
def test_blank_condition_is_refused(env: dict[str, str], args: tuple[str, ...], blank: str) -> None:
    # Refused before anything is opened or sent: no stream, and no server listening for `jobs create`.
    path = cached_scene(SceneSpec(duration=4.0, events=()), "mp4")
    port = _closed_port()
    argv = [a.format(path=path, port=port, blank=blank) for a in args]
    result = run_cli(*argv, env={**env, "LIVESIGHT_BASE_URL": f"http://127.0.0.1:{port}"})
    _assert_one_line_error(result, "CONDITION is")
    assert result.stdout == ""


def test_blank_session_query_is_refused(env: dict[str, str]) -> None:
    port = _closed_port()
    result = run_cli(
        "sessions",
        "start",
        "http://127.0.0.1:9/live.m3u8",
        "--query",
        " ",
        env={**env, "LIVESIGHT_BASE_URL": f"http://127.0.0.1:{port}"},
    )
    _assert_one_line_error(result, "--query is blank")


@pytest.mark.parametrize("command", [("watch", "a.mp4", "x"), ("check", "a.mp4", "x"), ("jobs", "create", "u", "x")])
def test_bad_mode_lists_the_choices(env: dict[str, str], command: tuple[str, ...]) -> None:
    result = run_cli(*command, "--mode", "video", env=env)
    _assert_one_line_error(result, "--mode must be one of frames, clip, hybrid, not 'video'")
    assert "Value error" not in result.stderr


def test_out_of_range_option_in_plain_words(env: dict[str, str]) -> None:
    result = run_cli("watch", "a.mp4", "x", "--interval", "0", env=env)
    _assert_one_line_error(result, "--interval must be at least 0.2", "livesight watch --help")
    assert "Input should" not in result.stderr


def test_invalid_setting_names_the_variable(env: dict[str, str], tmp_path: Path) -> None:
    result = run_cli("validate", str(tmp_path / "a.mp4"), env={**env, "LIVESIGHT_MIN_INTERVAL_SECONDS": "soon"})
    _assert_one_line_error(result, "LIVESIGHT_MIN_INTERVAL_SECONDS must be a number")
    assert "pydantic" not in result.stderr


HELP_COMMANDS = [
    (),
    ("watch",),
    ("check",),
    ("validate",),
    ("demo",),
    ("serve",),
    ("keys",),
    ("keys", "create"),
    ("keys", "list"),
    ("keys", "revoke"),
    ("jobs",),
    ("jobs", "create"),
    ("jobs", "list"),
    ("jobs", "get"),
    ("jobs", "cancel"),
    ("jobs", "events"),
    ("sessions",),
    ("sessions", "start"),
    ("sessions", "list"),
    ("sessions", "get"),
    ("sessions", "events"),
    ("sessions", "end"),
    ("sessions", "manifest"),
]


@pytest.mark.parametrize("command", HELP_COMMANDS, ids=lambda c: " ".join(c) or "livesight")
def test_help_fits_the_terminal(command: tuple[str, ...]) -> None:
    env = {**os.environ, "COLUMNS": "72"}
    result = run_cli(*command, "--help", env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert all(len(line) <= 72 for line in lines), "\n".join(line for line in lines if len(line) > 72)
    assert "..." not in result.stdout.replace("[ARGS]...", "")  # no command's summary cut short


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def test_every_option_and_argument_has_help() -> None:
    root = typer.main.get_command(app)
    listed = {path for path, _ in _commands(root)}
    assert listed >= set(HELP_COMMANDS)  # the help test above covers every command
    for path, command in _commands(root):
        assert command.help, path
        for param in command.params:
            assert getattr(param, "help", None), (path, param.name)


def test_help_uses_a_wide_terminal() -> None:
    result = run_cli("jobs", "create", "--help", env={**os.environ, "COLUMNS": "120"})
    assert max(len(line) for line in result.stdout.splitlines()) > 80


def test_unreachable_stream_gets_one_line(env: dict[str, str]) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/live.m3u8"
    _assert_one_line_error(run_cli("validate", url, env=env), "127.0.0.1")


def test_missing_file_and_bad_scheme_get_one_line(env: dict[str, str], tmp_path: Path) -> None:
    _assert_one_line_error(run_cli("watch", str(tmp_path / "nope.mp4"), "x", env=env), "nope.mp4")
    _assert_one_line_error(run_cli("check", "ftp://example.com/a.m3u8", "x", env=env), "ftp")


def test_credentials_never_printed(env: dict[str, str]) -> None:
    url = f"rtsp://admin:hunter2@127.0.0.1:{_closed_port()}/stream"
    result = run_cli("validate", url, env=env)
    assert result.returncode == 2
    assert "hunter2" not in result.stderr + result.stdout and "admin" not in result.stderr


def test_no_model_configured_says_what_to_set(env: dict[str, str]) -> None:
    env = {k: v for k, v in env.items() if k != "LIVESIGHT_MODEL_BASE_URL"}
    path = cached_scene(SceneSpec(duration=4.0, events=()), "mp4")
    _assert_one_line_error(run_cli("check", str(path), "x", env=env), "LIVESIGHT_MODEL_BASE_URL")


def test_validate_reports_a_live_stream(env: dict[str, str]) -> None:
    with LiveHLSServer(spec=SceneSpec(duration=20.0, events=())) as server:
        result = run_cli("validate", server.url, "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1, result.stdout  # one line of JSON, for scripts
    info = json.loads(result.stdout)
    assert info["is_live"] is True and info["platform"] == "hls"
    assert (info["codec"], info["width"], info["height"], info["fps"]) == ("h264", 640, 360, 10.0)


def test_check_prints_the_verdict_from_the_pixels(env: dict[str, str]) -> None:
    spec = SceneSpec(duration=4.0, events=((0.0, 4.0),))
    path = cached_scene(spec, "mp4")
    result = run_cli("check", str(path), "is there a red square?", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1
    assert json.loads(result.stdout)["triggered"] is True
    result = run_cli("check", str(path), "is there a green square?", "--json", env=env)
    assert json.loads(result.stdout)["triggered"] is False


def test_watch_json_lines_on_a_file(env: dict[str, str]) -> None:
    spec = SceneSpec(duration=30.0, events=((12.0, 16.0),))
    path = cached_scene(spec, "mp4")
    result = run_cli("watch", str(path), "is there a red square?", "--fast", "--interval", "1", "--json", env=env)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 1
    record = records[0]
    assert 12.0 <= record["stream_time"] <= 13.35
    assert record["explanation"] and record["condition"] == "is there a red square?"
    for field in (
        "event_id",
        "capture_time",
        "chunk_index",
        "chunk_relative_time",
        "hls_cumulative_offset",
        "t_start",
        "t_end",
        "created_at",
        "analysis_id",
        "chunk_id",
        "severity",
        "confidence",
    ):
        assert field in record
