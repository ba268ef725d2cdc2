"""An RTSP "camera" for tests: a GStreamer RTSP server subprocess serving an H.264 MPEG-TS file.

GStreamer's Python bindings live in the system Python, not in LiveSight's environment, so the server is a
small script (:mod:`livesight.testing._gst_rtsp_server`) run with ``/usr/bin/python3``. It needs the Debian
packages ``python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-{base,good,bad}``; check
:meth:`RTSPTestServer.available` and skip when it is false.

Behaviour observed with PyAV (FFmpeg 8.1) as the client: every connection gets its own playback from the
start of the file, paced in real time; ``av.open`` returns after ~2.8 s of stream probing, during which the
server keeps sending, so the first ~3 s of frames arrive in a burst and later frames at the real frame rate.
The first frame may have ``pts=None``. ``stop()`` then ``start()`` brings the camera back on the same port.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import threading
import time
from collections import deque
from pathlib import Path
from types import TracebackType

from livesight.testing.scene import SceneSpec, cached_scene

SYSTEM_PYTHON = "/usr/bin/python3"
_SCRIPT = Path(__file__).with_name("_gst_rtsp_server.py")
_REQUIRED_ELEMENTS = ("filesrc", "multifilesrc", "tsdemux", "h264parse", "rtph264pay")
_CHECK = f"""
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer
Gst.init(None)
missing = [n for n in {_REQUIRED_ELEMENTS!r} if Gst.ElementFactory.find(n) is None]
print("missing:" + ",".join(missing) if missing else "ok")
"""


@functools.cache
def _unavailable_reason(python: str = SYSTEM_PYTHON) -> str | None:
    if not (os.path.exists(python) or shutil.which(python)):
        return f"{python} not found"
    try:
        done = subprocess.run([python, "-c", _CHECK], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {python}: {exc}"
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"GStreamer RTSP bindings unusable from {python}: {last}"
    if lines[-1] != "ok":
        return f"GStreamer elements missing ({lines[-1][len('missing:') :]})"
    return None


class RTSPTestServer:
    """Serve ``media_path`` (H.264 in MPEG-TS) at ``rtsp://127.0.0.1:<port><mount>`` from a subprocess.

    ``media_path`` defaults to the cached default :class:`~livesight.testing.scene.SceneSpec` (90 s).
    ``port=None`` lets the first start pick a free port; later ``start()`` calls reuse it, so a test can
    ``stop()`` the camera and bring it back where clients expect it. ``loop`` repeats the file forever
    with continuous timestamps; without it each playback ends after one pass.
    """

    def __init__(
        self,
        media_path: str | Path | None = None,
        port: int | None = None,
        *,
        mount: str = "/stream",
        loop: bool = True,
        python: str = SYSTEM_PYTHON,
        ready_timeout: float = 15.0,
    ) -> None:
        self.media_path = Path(media_path) if media_path is not None else cached_scene(SceneSpec(), "ts")
        if not self.media_path.is_file():
            raise FileNotFoundError(self.media_path)
        self.mount = mount if mount.startswith("/") else f"/{mount}"
        self.loop = loop
        self.python = python
        self.ready_timeout = ready_timeout
        self._port = port
        self._process: subprocess.Popen[str] | None = None
        self._drain: threading.Thread | None = None
        self._output: deque[str] = deque(maxlen=200)

    @staticmethod
    def available(python: str = SYSTEM_PYTHON) -> bool:
        """Whether the system Python has GStreamer's RTSP server bindings and the needed plugins."""
        return _unavailable_reason(python) is None

    @staticmethod
    def unavailable_reason(python: str = SYSTEM_PYTHON) -> str | None:
        """Why :meth:`available` is false (``None`` when it is true), for skip messages."""
        return _unavailable_reason(python)

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("server has not been started")
        return self._port

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}{self.mount}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def output(self) -> list[str]:
        """The server's recent stdout/stderr lines (GStreamer warnings land here)."""
        return list(self._output)

    def start(self) -> RTSPTestServer:
        if self.running:
            return self
        if (reason := _unavailable_reason(self.python)) is not None:
            raise RuntimeError(f"RTSP test server unavailable: {reason}")
        deadline = time.monotonic() + self.ready_timeout
        while True:
            error = self._launch(deadline)
            if error is None:
                return self
            # Right after stop() the old socket may still hold a fixed port for a moment: retry until deadline.
            if self._port is None or time.monotonic() > deadline:
                raise RuntimeError(f"RTSP test server failed to start: {error}")
            time.sleep(0.2)

    def _launch(self, deadline: float) -> str | None:
        args = [
            self.python,
            str(_SCRIPT),
            str(self.media_path),
            str(self._port or 0),
            self.mount,
            "1" if self.loop else "0",
        ]
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        assert process.stdout is not None
        ready: list[int] = []
        got_line = threading.Event()

        def drain() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                line = line.rstrip("\n")
                if line.startswith("READY ") and not ready:
                    ready.append(int(line.split()[1]))
                    got_line.set()
                else:
                    self._output.append(line)
            got_line.set()  # EOF: the process died before becoming ready (or has exited)

        thread = threading.Thread(target=drain, name="rtsp-test-server-output", daemon=True)
        thread.start()
        got_line.wait(max(0.1, deadline - time.monotonic()))
        if ready:
            self._process, self._drain, self._port = process, thread, ready[0]
            return None
        self._terminate(process, thread)
        return (self._output[-1] if self._output else "") or "no READY line before the timeout"

    @staticmethod
    def _terminate(process: subprocess.Popen[str], thread: threading.Thread | None) -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if thread is not None:
            thread.join(5)
        if process.stdout is not None:
            process.stdout.close()

    def stop(self) -> None:
        """Stop serving (clients see their connection drop); ``start()`` again to come back on the same port."""
        if self._process is not None:
            self._terminate(self._process, self._drain)
        self._process = None
        self._drain = None

    def __enter__(self) -> RTSPTestServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
