"""What the benchmark scripts share: a free loopback port, and `livesight serve` as a subprocess."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def livesight_serve(data: Path, env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`livesight serve` on a free port with its data in ``data`` and ``env`` added to the environment,
    logging to ``data/server.log``; yields its base URL and process once /healthz answers, stops it with
    SIGINT (a clean shutdown) on the way out."""
    port = free_port()
    with open(data / "server.log", "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "livesight", "serve", "--port", str(port)],
            env={**os.environ, "LIVESIGHT_DATA_DIR": str(data), **env},
            stdout=log,
            stderr=log,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit(f"the server did not start; see {data}/server.log")
                time.sleep(0.2)
            yield base, server
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(60)
