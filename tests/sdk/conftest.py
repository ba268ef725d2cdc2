"""A real LiveSight server (uvicorn in a thread) and a live HLS stream, for the SDK's end-to-end tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from livesight import AsyncLiveSight, LiveSight
from livesight.settings import Settings
from livesight.testing._server import LiveServer, start_server
from livesight.testing.hls_server import LiveHLSServer
from livesight.testing.scene import SceneSpec

CONDITION = "is there a red square?"
# The square is visible at 8–14 s and 24–30 s of a 40 s scene played 4× faster than real time: the first
# appearance comes about 2 s after the stream starts, the stream ends after about 10 s.
SCENE = SceneSpec(duration=40.0, events=((8.0, 14.0), (24.0, 30.0)))


@pytest.fixture
def server_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"min_interval_seconds": 1.0, "allow_loopback": True, "sse_keepalive_seconds": 1.0, "chunk_seconds": 5.0}
    )


@pytest.fixture
def server(server_settings: Settings) -> Iterator[LiveServer]:
    live = start_server(server_settings)
    try:
        yield live
    finally:
        live.thread.stop()


@pytest.fixture
def stream() -> Iterator[LiveHLSServer]:
    with LiveHLSServer(spec=SCENE, speed=4.0, end_list=True) as hls:
        yield hls


@pytest.fixture
def client(server: LiveServer) -> Iterator[LiveSight]:
    with LiveSight(base_url=server.url, timeout=30) as sdk:
        yield sdk


@pytest.fixture
async def aclient(server: LiveServer) -> AsyncIterator[AsyncLiveSight]:
    async with AsyncLiveSight(base_url=server.url, timeout=30) as sdk:
        yield sdk
