"""A real LiveSight server (uvicorn in a thread) for API tests, with a live HLS stream to watch."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from livesight.settings import Settings
from livesight.store import Store
from livesight.testing._server import LiveServer, start_server
from livesight.testing.hls_server import LiveHLSServer
from livesight.testing.scene import SceneSpec


@pytest.fixture
def server_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"min_interval_seconds": 1.0, "allow_loopback": True, "sse_keepalive_seconds": 1.0}
    )


@pytest.fixture
def server(server_settings: Settings) -> Iterator[LiveServer]:
    live = start_server(server_settings)
    try:
        yield live
    finally:
        live.thread.stop()


@pytest.fixture
def keyed(server_settings: Settings) -> Iterator[tuple[LiveServer, str, str]]:
    """A server with two API keys, alice's and bob's (so not in development mode), and their tokens."""

    async def make() -> tuple[str, str]:
        store = await Store.open(server_settings.resolved_database_url())
        try:
            _, alice = await store.create_api_key("alice")
            _, bob = await store.create_api_key("bob")
            return alice, bob
        finally:
            await store.close()

    alice, bob = asyncio.run(make())
    live = start_server(server_settings)
    try:
        yield live, alice, bob
    finally:
        live.thread.stop()


@pytest.fixture
def stream() -> Iterator[LiveHLSServer]:
    """A 90 s scene with a red square at 20–28 s and 50–58 s, played 4× faster than real time (22.5 s)."""
    spec = SceneSpec(duration=90.0, events=((20.0, 28.0), (50.0, 58.0)))
    with LiveHLSServer(spec=spec, speed=4.0, end_list=True) as hls:
        yield hls
