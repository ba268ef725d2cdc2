"""User-supplied URLs are checked against the network policy before anything connects."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from livesight.settings import Settings
from livesight.testing.hls_server import LiveHLSServer

from .conftest import LiveServer, start_server


@pytest.fixture
def default_policy_server(settings: Settings) -> Iterator[LiveServer]:
    live = start_server(settings.model_copy(update={"min_interval_seconds": 1.0}))  # loopback not allowed
    try:
        yield live
    finally:
        live.thread.stop()


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/x.m3u8",  # cloud metadata
        "http://[::ffff:169.254.169.254]/x.m3u8",  # the same, IPv4-mapped IPv6
        "http://2852039166/x.m3u8",  # the same, as a decimal number
        "http://127.0.0.1:8800/x.m3u8",  # loopback, not allowed by default
        "http://0x7f.1/x.m3u8",  # loopback in hex
        "rtsp://[::1]:554/stream",
    ],
)
def test_private_targets_are_refused(default_policy_server: LiveServer, url: str) -> None:
    with default_policy_server.client() as client:
        for path, body in (
            ("/api/live-monitor", {"stream_url": url, "condition": "x", "skip_validation": True}),
            ("/api/streams/validate", {"stream_url": url}),
            ("/api/live/start-session", {"source_url": url, "name": "x"}),
        ):
            response = client.post(path, json=body)
            assert response.status_code == 400, (path, response.text)
            assert response.json()["error"]["code"] == "URL_NOT_ALLOWED"


def test_webhook_to_metadata_is_refused(server: LiveServer, stream: LiveHLSServer) -> None:
    with server.client() as client:
        response = client.post(
            "/api/live-monitor",
            json={
                "stream_url": stream.url,
                "condition": "x",
                "webhook_url": "http://169.254.169.254/hook",
            },
        )
    assert response.status_code == 400 and response.json()["error"]["code"] == "URL_NOT_ALLOWED"
    assert client.is_closed


def test_local_files_are_refused_over_the_api(server: LiveServer) -> None:
    with server.client() as client:
        response = client.post("/api/streams/validate", json={"stream_url": "/etc/hostname"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "INVALID_URL"
