"""ServerThread: a real uvicorn server in a thread, on a port it reports, stopped and restarted cleanly."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from livesight.testing import ServerThread


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    return app


def test_serves_on_a_chosen_port_and_comes_back_on_it() -> None:
    server = ServerThread(_app())
    with server:
        port = server.port
        assert port > 0 and server.base_url == f"http://127.0.0.1:{port}"
        assert httpx.get(f"{server.base_url}/ping").json() == {"pong": "yes"}
    assert not server.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/ping")
    with server:
        assert server.port == port  # a restarted server is where clients left it
        assert httpx.get(f"{server.base_url}/ping").status_code == 200


def test_failure_to_start_is_reported() -> None:
    with ServerThread(_app()) as first, pytest.raises(RuntimeError, match="failed to start"):
        ServerThread(_app(), port=first.port).start()
