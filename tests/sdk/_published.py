"""The published Nomadic SDKs, each in a virtualenv of its own, driven in a subprocess.

``nomadic`` and ``nomadicml`` both install a ``nomadicml`` module, so they cannot share the test process
(or each other's virtualenv). :func:`sdk_python` builds one virtualenv per pinned package in a cache
directory, once per machine, and :class:`SDKDriver` runs this very file under that virtualenv's python:
the driver half (:func:`_drive`, at the bottom) reads one JSON command a line on stdin, makes the SDK
call and writes JSON lines on stdout, which the test process reads and asserts on.

Only the standard library is imported at the top: the driver's python has nothing but the SDK.
"""

from __future__ import annotations

import fcntl
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

__all__ = ["PUBLISHED", "Published", "RegistryUnreachable", "SDKCallError", "SDKDriver", "sdk_python"]


@dataclass(frozen=True)
class Published:
    """A published SDK: its distribution, pinned version, and the client class a user imports."""

    package: str
    version: str
    module: str
    client: str

    @property
    def id(self) -> str:
        return f"{self.package}-{self.version}"


PUBLISHED = (
    Published("nomadic", "0.1.64", "nomadic", "NomadicAI"),
    Published("nomadicml", "0.1.53", "nomadicml", "NomadicML"),
)

# What pip prints when it cannot reach the package index (no network, DNS, proxy), as opposed to a real failure.
_UNREACHABLE = (
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "Connection refused",
    "ProxyError",
    "Max retries exceeded",
    "No matching distribution found",
    "Could not find a version that satisfies",
)


class RegistryUnreachable(Exception):
    """pip could not download the package: the tests that need it are skipped, saying why."""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "livesight-tests"


def sdk_python(sdk: Published, *, root: Path | None = None) -> Path:
    """The python of a virtualenv holding only ``sdk`` (built on first use, then reused).

    The virtualenv is keyed by the pinned version and this interpreter's version. Two pytest processes may
    race here: the build runs under an exclusive lock on a file beside it, and a ``.complete`` marker is
    written last, so a half-built virtualenv (a killed build) is recognised and rebuilt.
    """
    root = cache_dir() if root is None else root
    target = root / f"{sdk.id}-py{sys.version_info.major}{sys.version_info.minor}"
    python = target / "bin" / "python"
    marker = target / ".complete"
    if marker.exists():
        return python
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if this process dies
        if marker.exists():  # another process built it while this one waited
            return python
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(target)], check=True, capture_output=True, timeout=120)
        install = ["install", "-q", "--disable-pip-version-check", "--retries", "2", "--timeout", "30"]
        pip = subprocess.run(
            [str(python), "-m", "pip", *install, f"{sdk.package}=={sdk.version}"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if pip.returncode != 0:
            shutil.rmtree(target, ignore_errors=True)
            output = pip.stdout + pip.stderr
            if any(sign in output for sign in _UNREACHABLE):
                last = next((line for line in reversed(output.splitlines()) if line.strip()), "")
                raise RegistryUnreachable(f"pip cannot fetch {sdk.package}=={sdk.version}: {last.strip()}")
            raise RuntimeError(f"pip install {sdk.package}=={sdk.version} failed:\n{output}")
        marker.write_text(f"{sdk.package}=={sdk.version}\n")
    return python


class SDKCallError(Exception):
    """The SDK raised: ``error`` describes the exception (type, ``str()``, status code, details)."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error['type']}: {error['str']}")
        self.error = error

    @property
    def type(self) -> str:
        return str(self.error["type"])

    @property
    def text(self) -> str:
        """``str()`` of the SDK's exception: what its user reads."""
        return str(self.error["str"])


class SDKDriver:
    """One driver process: an SDK client for ``base_url`` with ``api_key``, taking commands one at a time.

    ``stderr`` goes to a file (the SDKs log failed requests there), which :meth:`stderr_text` reads.
    """

    def __init__(self, python: Path, sdk: Published, base_url: str, api_key: str, stderr_path: Path) -> None:
        self.sdk = sdk
        self.stderr_path = stderr_path
        self._stderr: IO[str] = open(stderr_path, "w")  # closed in close()
        # -I: nothing from this environment (PYTHONPATH, the tests' folder) leaks into the SDK's python.
        self.process = subprocess.Popen(
            [str(python), "-I", "-u", str(Path(__file__).resolve()), sdk.module, sdk.client, base_url, api_key],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name=f"sdk-driver-{sdk.package}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def send(self, op: str, **fields: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.process.stdin.flush()

    def message(self, timeout: float) -> dict[str, Any]:
        """The next line the driver writes, as a dict."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"{self.sdk.id}: no answer from the driver in {timeout} s") from None
        if line is None:
            raise AssertionError(f"{self.sdk.id}: the driver exited ({self.process.wait()}): {self.stderr_text()}")
        message: dict[str, Any] = json.loads(line)
        return message

    def result(self, timeout: float = 60.0, on_event: Callable[[dict[str, Any]], None] | None = None) -> Any:
        """The result of the command sent last; the events it yields on the way go to ``on_event``."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.message(max(0.1, deadline - time.monotonic()))
            if message["kind"] == "event":
                assert on_event is not None, message
                on_event(message["event"])
                continue
            if not message["ok"]:
                raise SDKCallError(message["error"])
            return message["result"]

    def call(self, method: str, *args: Any, timeout: float = 60.0, **kwargs: Any) -> Any:
        """``client.<method>(*args, **kwargs)`` in the SDK (``method`` may be dotted: ``livestream.get_session``)."""
        self.send("call", method=method, args=list(args), kwargs=kwargs)
        return self.result(timeout)

    def stderr_text(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text()

    def close(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.closed:
            try:
                self.process.stdin.close()  # the driver's loop ends at EOF
            except BrokenPipeError:
                pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()  # e.g. still inside an SDK call
            self.process.wait()
        self._reader.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()


# --- the driver: runs under the SDK's own python ---------------------------------------------------


def _jsonable(value: Any) -> Any:
    """An SDK result as JSON: a ``requests.Response`` (from ``_make_request``) becomes its status, headers, body."""
    if hasattr(value, "status_code") and hasattr(value, "headers") and callable(getattr(value, "json", None)):
        try:
            body = value.json()
        except ValueError:
            body = value.text
        return {"status_code": value.status_code, "headers": dict(value.headers), "json": body}
    return value


def _describe(exc: BaseException) -> dict[str, Any]:
    kind = type(exc)
    return {
        "type": f"{kind.__module__}.{kind.__qualname__}",
        "str": str(exc),
        "status_code": getattr(exc, "status_code", None),
        "details": getattr(exc, "details", None),
    }


def _drive(argv: list[str]) -> None:
    import importlib

    module_name, class_name, base_url, api_key = argv
    module = importlib.import_module(module_name)
    client = getattr(module, class_name)(api_key=api_key, base_url=base_url, timeout=30)

    def emit(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message, default=str) + "\n")
        sys.stdout.flush()

    for line in sys.stdin:
        command = json.loads(line)
        try:
            if command["op"] == "hello":
                kind = type(client)
                result: Any = {"version": module.__version__, "client": f"{kind.__module__}.{kind.__qualname__}"}
            elif command["op"] == "iter_events":
                count = 0
                for event in client.livestream.iter_events(**command["kwargs"]):
                    emit({"kind": "event", "event": event})
                    count += 1
                result = {"yielded": count}
            else:
                target: Any = client
                for name in command["method"].split("."):
                    target = getattr(target, name)
                result = _jsonable(target(*command["args"], **command["kwargs"]))
        except Exception as exc:
            emit({"kind": "result", "ok": False, "error": _describe(exc)})
        else:
            emit({"kind": "result", "ok": True, "result": result})


if __name__ == "__main__":
    _drive(sys.argv[1:])
