"""Run an ASGI app on a real uvicorn server in a background thread, for tests and the demo.

Tests of SSE, the SDK and the test VLM need a real socket: Starlette's TestClient and httpx's ASGITransport
buffer whole responses. Binding port 0 and reading the port back from uvicorn avoids port races.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx
import uvicorn

if TYPE_CHECKING:
    from livesight.settings import Settings


class ServerThread:
    """A uvicorn server for ``app`` on ``host`` (port 0 → a free port) running in a daemon thread.

    ``start()`` returns once the server accepts connections (or raises if it failed to start);
    ``stop()`` asks uvicorn to shut down gracefully, waiting up to ``graceful_timeout`` seconds for
    in-flight requests before cancelling them. Extra keyword arguments go to :class:`uvicorn.Config`.
    """

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ready_timeout: float = 10.0,
        graceful_timeout: float = 2.0,
        **config: Any,
    ) -> None:
        self.app = app
        self.host = host
        self._requested_port = port
        self._ready_timeout = ready_timeout
        self._graceful_timeout = graceful_timeout
        self._config = config
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("server is not running")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> ServerThread:
        if self.running:
            return self
        options: dict[str, Any] = {"log_level": "warning", "timeout_graceful_shutdown": self._graceful_timeout}
        options.update(self._config)
        # Restarting after stop() reuses the port we were given last time, like a server coming back.
        port = self._port if self._port is not None else self._requested_port
        config = uvicorn.Config(self.app, host=self.host, port=port, **options)
        server = uvicorn.Server(config)
        self._server = server
        self._error = None
        self._thread = threading.Thread(target=self._run, args=(server,), name=f"uvicorn-{port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self._ready_timeout
        while not server.started:
            if not self._thread.is_alive():
                self._thread.join()
                raise RuntimeError(f"uvicorn failed to start on {self.host}:{port}") from self._error
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"uvicorn did not start within {self._ready_timeout} s")
            time.sleep(0.01)
        self._port = server.servers[0].sockets[0].getsockname()[1]
        return self

    def _run(self, server: uvicorn.Server) -> None:
        try:
            server.run()
        except BaseException as exc:  # surfaced by start(); a thread has nowhere else to report it
            self._error = exc

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(self._graceful_timeout + 5.0)
        if thread.is_alive():
            server.force_exit = True
            thread.join(5.0)
        self._thread = None
        self._server = None

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@dataclass
class LiveServer:
    """A LiveSight server started by :func:`start_server`: its thread, settings and an HTTP client maker."""

    thread: ServerThread
    settings: Settings

    @property
    def url(self) -> str:
        return self.thread.base_url

    @property
    def state(self) -> Any:
        return self.thread.app.state.ls

    def client(self, token: str | None = None, *, headers: dict[str, str] | None = None, **kw: Any) -> httpx.Client:
        sent = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers={**sent, **(headers or {})}, timeout=30, **kw)


def start_server(settings: Settings) -> LiveServer:
    """The LiveSight app for ``settings`` on a free loopback port; links in events use that port."""
    from livesight.api.app import create_app

    thread = ServerThread(create_app(settings)).start()
    settings.public_url = thread.base_url
    return LiveServer(thread, settings)
