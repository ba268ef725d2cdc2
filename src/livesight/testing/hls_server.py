"""A real HTTP server that plays a generated HLS scene as a live sliding-window stream, with faults.

Two clocks, kept apart on purpose:

* the **media clock** decides what the live playlist lists: ``media = preroll + (monotonic - t0) * speed``.
  A segment is published once its end time is ≤ the media clock. ``preroll`` defaults to one segment, so at
  start exactly the first segment is listed and a reader joining at the live edge starts at media time 0.
  ``speed > 1`` runs the stream faster than real time (a live reader follows whatever the playlist lists);
* the **wall clock** — seconds since :meth:`LiveHLSServer.start`, see :meth:`LiveHLSServer.elapsed` — times
  the faults (``outages``, ``vanish_at``), because reliability tests reason about how long a reader waits,
  not about where the video is. Convert with ``media = preroll + wall * speed`` when needed.

Faults are resolved per request in this order: the server is down (``set_down``, an outage, or past
``vanish_at``) → every request fails as ``outage_mode`` says; then fault hooks; then one-shot faults from
:meth:`LiveHLSServer.fail_next`; then ``segment_faults`` keyed by file name (segments or playlists).
"""

from __future__ import annotations

import math
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import av

from livesight.testing.scene import SceneSpec, SegmentInfo, cached_scene, h264_codecs_string, read_segments

FaultKind = Literal["404", "500", "503", "close", "reset", "truncate", "corrupt", "stall"]
OutageMode = Literal["503", "close"]
FaultHook = Callable[[str, float], FaultKind | None]
"""``hook(file_name, wall_seconds) -> fault or None``; consulted for every request while the server is up."""

FAULT_KINDS: tuple[str, ...] = ("404", "500", "503", "close", "reset", "truncate", "corrupt", "stall")


@dataclass(frozen=True)
class RequestRecord:
    """One request the server saw: when (wall seconds since start), what, and how it was answered."""

    wall_time: float
    path: str
    status: int | None  # None when the connection was dropped without a response
    fault: str | None = None


class _HTTPServer(ThreadingHTTPServer):
    # Non-daemon handler threads joined by server_close(), so no socket outlives stop().
    daemon_threads = False
    block_on_close = True

    def __init__(self, address: tuple[str, int], owner: LiveHLSServer) -> None:
        self.owner = owner
        self.connections: set[socket.socket] = set()
        self.aborted: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            aborted = request in self.aborted
            self.aborted.discard(request)
        if aborted:
            # Skip the usual shutdown(SHUT_WR): its FIN would tell the client "clean end" before the RST.
            request.close()
        else:
            super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-response are normal here (and provoked by the faults); stay quiet.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    timeout = 60  # a forgotten keep-alive connection must not pin a thread forever

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.connections_lock:
                self.server.connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.owner._handle(self, head=False)

    def do_HEAD(self) -> None:
        self.server.owner._handle(self, head=True)

    # --- response helpers used by LiveHLSServer._handle ---

    def send_body(self, status: int, body: bytes, content_type: str, head: bool, length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Access-Control-Allow-Origin", "*")
        if status >= 400:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if not head:
            self.wfile.write(body)
        self.wfile.flush()

    def abort(self) -> None:
        # SO_LINGER 0 turns close() into a TCP RST: the client sees "connection reset", not a clean EOF.
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        with self.server.connections_lock:
            self.server.aborted.add(self.connection)


class LiveHLSServer:
    """Serve an HLS scene as a live stream on ``http://127.0.0.1:<port>/live.m3u8`` from a background thread.

    ``hls_dir`` is a directory written by :func:`~livesight.testing.scene.write_hls` (default: the cached
    scene of ``spec``). Routes: ``/live.m3u8`` (sliding window of ``window`` published segments, with
    ``#EXT-X-ENDLIST`` once all are published if ``end_list``; otherwise the playlist just stops advancing,
    like a stalled live stream), ``/vod.m3u8`` (everything, ``PLAYLIST-TYPE:VOD``), ``/master.m3u8`` (one
    variant → ``live.m3u8``) and the segment files. Fault settings (see module docstring) may be changed
    while running from any thread. ``clock`` (default :func:`time.monotonic`) drives both clocks; tests may
    pass a fake one to step time deterministically.
    """

    def __init__(
        self,
        hls_dir: str | Path | None = None,
        *,
        spec: SceneSpec | None = None,
        window: int = 5,
        speed: float = 1.0,
        preroll: float | None = None,
        end_list: bool = False,
        outages: Iterable[tuple[float, float]] = (),
        vanish_at: float | None = None,
        outage_mode: OutageMode = "503",
        segment_faults: dict[str, FaultKind] | None = None,
        stall_seconds: float = 30.0,
        program_date_time: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed <= 0 or window < 1:
            raise ValueError("speed must be > 0 and window ≥ 1")
        self.hls_dir = Path(hls_dir) if hls_dir is not None else cached_scene(spec or SceneSpec(), "hls")
        self.segments: list[SegmentInfo] = read_segments(self.hls_dir)
        if not self.segments:
            raise ValueError(f"no segments listed in {self.hls_dir / 'index.m3u8'}")
        self._data = {s.name: (self.hls_dir / s.name).read_bytes() for s in self.segments}
        self.window = window
        self.end_list = end_list
        self.preroll = self.segments[0].duration if preroll is None else preroll
        self.stall_seconds = stall_seconds
        self.program_date_time = program_date_time
        self.total_duration = self.segments[-1].end
        self.target_duration = math.ceil(max(s.duration for s in self.segments) - 1e-6)
        first = self.hls_dir / self.segments[0].name
        with av.open(str(first)) as probe:
            video = probe.streams.video[0]
            self.resolution = (video.codec_context.width, video.codec_context.height)
            self.frame_rate = float(video.average_rate or video.guessed_rate or 0)
        self.codecs = h264_codecs_string(first)

        self._clock = clock
        self._lock = threading.Lock()
        self._speed = speed
        self._outages = list(outages)
        self._vanish_at = vanish_at
        self._down = False
        self.outage_mode: OutageMode = outage_mode
        self._segment_faults: dict[str, FaultKind] = dict(segment_faults or {})
        self._one_shot: list[list[Any]] = []  # [name, kind, remaining]
        self._hooks: list[FaultHook] = []
        self._log: deque[RequestRecord] = deque(maxlen=100_000)  # bounded: a demo may run for days
        self._host, self._requested_port = host, port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._t0 = 0.0
        self._anchor_mono = 0.0
        self._anchor_media = self.preroll
        self._started_at = datetime.now(UTC)

    # --- lifecycle ---

    def start(self) -> LiveHLSServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = _HTTPServer((self._host, self._requested_port), self)
        with self._lock:
            self._t0 = self._anchor_mono = self._clock()
            self._anchor_media = self.preroll
            self._started_at = datetime.now(UTC)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="live-hls-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        self._stopping.set()  # releases stalled responses
        httpd.shutdown()
        thread.join()
        with httpd.connections_lock:
            for conn in list(httpd.connections):
                try:  # wakes handler threads blocked reading the next keep-alive request
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        httpd.server_close()
        self._httpd = None
        self._thread = None

    def __enter__(self) -> LiveHLSServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- addresses ---

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server is not running")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/live.m3u8"

    @property
    def vod_url(self) -> str:
        return f"{self.base_url}/vod.m3u8"

    @property
    def master_url(self) -> str:
        return f"{self.base_url}/master.m3u8"

    # --- clocks ---

    def elapsed(self) -> float:
        """Wall-clock seconds since :meth:`start` (the clock faults are timed on)."""
        return self._clock() - self._t0

    def media_time(self) -> float:
        """The media clock: how far into the scene the live edge is."""
        with self._lock:
            return self._anchor_media + (self._clock() - self._anchor_mono) * self._speed

    @property
    def speed(self) -> float:
        return self._speed

    def set_speed(self, speed: float) -> None:
        """Change the pace from now on; the media clock continues from where it is (no jump)."""
        if speed <= 0:
            raise ValueError("speed must be > 0")
        now = self._clock()
        with self._lock:
            self._anchor_media += (now - self._anchor_mono) * self._speed
            self._anchor_mono, self._speed = now, speed

    def published(self) -> list[SegmentInfo]:
        """Segments whose end is at or before the media clock."""
        media = self.media_time() + 1e-9
        return [s for s in self.segments if s.end <= media]

    # --- faults ---

    def set_down(self, down: bool) -> None:
        """Fail every request (as ``outage_mode``) until ``set_down(False)``."""
        with self._lock:
            self._down = down

    def set_outages(self, outages: Iterable[tuple[float, float]]) -> None:
        """Replace the outage windows: ``(start, end)`` wall seconds since start, end exclusive."""
        with self._lock:
            self._outages = list(outages)

    @property
    def vanish_at(self) -> float | None:
        return self._vanish_at

    @vanish_at.setter
    def vanish_at(self, seconds: float | None) -> None:
        with self._lock:
            self._vanish_at = seconds

    def set_segment_fault(self, name: str, kind: FaultKind | None) -> None:
        """Make every request for file ``name`` fail as ``kind`` (``None`` clears it)."""
        if kind is not None and kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; expected one of {FAULT_KINDS}")
        with self._lock:
            if kind is None:
                self._segment_faults.pop(name, None)
            else:
                self._segment_faults[name] = kind

    def fail_next(self, name: str, kind: FaultKind, times: int = 1) -> None:
        """Fail the next ``times`` requests for file ``name`` as ``kind``; later requests succeed."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; expected one of {FAULT_KINDS}")
        with self._lock:
            self._one_shot.append([name, kind, times])

    def add_fault_hook(self, hook: FaultHook) -> None:
        with self._lock:
            self._hooks.append(hook)

    def is_down(self, wall: float | None = None) -> bool:
        wall = self.elapsed() if wall is None else wall
        with self._lock:
            return (
                self._down
                or (self._vanish_at is not None and wall >= self._vanish_at)
                or any(start <= wall < end for start, end in self._outages)
            )

    def _fault_for(self, name: str, wall: float) -> FaultKind | None:
        if self.is_down(wall):
            return self.outage_mode
        with self._lock:
            hooks = list(self._hooks)
        for hook in hooks:
            if (kind := hook(name, wall)) is not None:
                return kind
        with self._lock:
            for entry in self._one_shot:
                if entry[0] == name and entry[2] > 0:
                    entry[2] -= 1
                    return entry[1]  # type: ignore[no-any-return]
            return self._segment_faults.get(name)

    # --- observation ---

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._log)

    def request_count(self, name: str | None = None) -> int:
        """Requests seen in total, or for one file name (``"live.m3u8"``, ``"seg00003.ts"``)."""
        with self._lock:
            return sum(1 for r in self._log if name is None or r.path.rsplit("/", 1)[-1] == name)

    # --- playlists ---

    def live_playlist(self) -> str:
        published = self.published()
        listed = published[-self.window :]
        sequence = len(published) - len(listed)
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:3",
            f"#EXT-X-TARGETDURATION:{self.target_duration}",
            f"#EXT-X-MEDIA-SEQUENCE:{sequence}",
        ]
        lines += self._segment_lines(listed)
        if self.end_list and len(published) == len(self.segments):
            lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"

    def vod_playlist(self) -> str:
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:3",
            f"#EXT-X-TARGETDURATION:{self.target_duration}",
            "#EXT-X-MEDIA-SEQUENCE:0",
            "#EXT-X-PLAYLIST-TYPE:VOD",
        ]
        lines += self._segment_lines(self.segments)
        lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"

    def master_playlist(self) -> str:
        total_bytes = sum(len(b) for b in self._data.values())
        bandwidth = max(1, math.ceil(total_bytes * 8 / max(self.total_duration, 1e-6) * 1.25))
        width, height = self.resolution
        inf = f'BANDWIDTH={bandwidth},RESOLUTION={width}x{height},CODECS="{self.codecs}"'
        if self.frame_rate:
            inf += f",FRAME-RATE={self.frame_rate:.3f}"
        return f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-STREAM-INF:{inf}\nlive.m3u8\n"

    def _segment_lines(self, segments: list[SegmentInfo]) -> list[str]:
        lines: list[str] = []
        for seg in segments:
            if self.program_date_time:
                # Media time `preroll` is the moment the server started; PDT follows the media timeline.
                when = self._started_at + timedelta(seconds=seg.start - self.preroll)
                lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{when.isoformat(timespec='milliseconds')}")
            lines += [f"#EXTINF:{seg.duration:.6f},", seg.name]
        return lines

    # --- request handling (runs on handler threads) ---

    def _handle(self, handler: _Handler, head: bool) -> None:
        wall = self.elapsed()
        path = handler.path.split("?", 1)[0]
        name = path.rsplit("/", 1)[-1]
        fault = self._fault_for(name, wall)
        status: int | None
        if fault is not None and fault not in ("reset", "truncate", "corrupt", "stall"):
            status = None if fault == "close" else int(fault)
            self._record(wall, path, status, fault)
            if status is None:
                handler.abort()
            else:
                handler.send_body(status, f"injected fault {fault}\n".encode(), "text/plain", head)
            return

        playlists = {
            "live.m3u8": self.live_playlist,
            "vod.m3u8": self.vod_playlist,
            "master.m3u8": self.master_playlist,
        }
        if path.count("/") == 1 and name in playlists:
            body, ctype = playlists[name]().encode(), "application/vnd.apple.mpegurl"
        elif path.count("/") == 1 and name in self._data:
            body, ctype = self._data[name], "video/mp2t"
        else:
            self._record(wall, path, 404, None)
            handler.send_body(404, b"not found\n", "text/plain", head)
            return

        self._record(wall, path, None if fault in ("reset", "stall") else 200, fault)
        if fault is None:
            handler.send_body(200, body, ctype, head)
        elif fault == "truncate":  # a well-formed response carrying only half the file
            handler.send_body(200, body[: len(body) // 2], ctype, head)
        elif fault == "corrupt":  # right length, garbage in the middle third
            third = len(body) // 3
            garbage = bytes(b ^ 0x5A for b in body[third : 2 * third])
            handler.send_body(200, body[:third] + garbage + body[2 * third :], ctype, head)
        elif fault == "reset":  # headers promise the whole file, the connection dies halfway
            handler.send_body(200, body[: len(body) // 2], ctype, head, length=len(body))
            handler.abort()
        else:  # stall: headers promise the file, then nothing until stall_seconds pass (or stop())
            handler.send_body(200, b"", ctype, head=True, length=len(body))
            self._stopping.wait(self.stall_seconds)
            handler.abort()

    def _record(self, wall: float, path: str, status: int | None, fault: str | None) -> None:
        with self._lock:
            self._log.append(RequestRecord(wall_time=wall, path=path, status=status, fault=fault))
