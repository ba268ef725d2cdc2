"""yt-dlp resolution, exercised on a local HLS URL (its generic extractor): no internet needed."""

from __future__ import annotations

import pytest

from livesight.sources.errors import SourceOffline
from livesight.sources.pages import resolve_page
from livesight.testing.hls_server import LiveHLSServer
from livesight.testing.scene import SceneSpec


def test_resolves_a_playlist_url() -> None:
    with LiveHLSServer(spec=SceneSpec(duration=10.0, events=())) as server:
        page = resolve_page(server.url, require_live=False)
    assert "live.m3u8" in page.stream_url


def test_unreachable_page_is_one_readable_error() -> None:
    with pytest.raises(SourceOffline) as info:
        resolve_page("http://127.0.0.1:9/watch?v=nothing")
    assert "Could not resolve" in info.value.message and "\n" not in info.value.message
