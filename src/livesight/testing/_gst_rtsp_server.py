"""GStreamer RTSP server for one H.264 MPEG-TS file; started by :mod:`livesight.testing.rtsp_server`.

Runs under the *system* Python (``/usr/bin/python3``), which has the GObject-introspection bindings, so it
must import nothing but the standard library and ``gi``.

Usage: ``/usr/bin/python3 _gst_rtsp_server.py MEDIA PORT MOUNT LOOP`` — prints ``READY <port>`` once
listening (PORT 0 picks a free port) and serves until SIGTERM/SIGINT. Every client gets its own playback
from the start of the file, paced in real time by the pipeline clock like a camera. With LOOP=1 the file is
re-read forever by ``multifilesrc loop=true``; tsdemux turns each restart of the file's clock into a
discontinuity and keeps output timestamps increasing (segment seeks do not work with tsdemux).
"""

from __future__ import annotations

import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    media_path, port, mount, loop_media = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    location = media_path.replace("\\", "\\\\").replace('"', '\\"')
    source = f'multifilesrc loop=true location="{location}"' if loop_media else f'filesrc location="{location}"'
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(f"( {source} ! tsdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )")
    factory.set_shared(False)
    server.get_mount_points().add_factory(mount, factory)
    if server.attach(None) == 0:
        print(f"ERROR cannot listen on 127.0.0.1:{port}", flush=True)
        sys.exit(2)
    main_loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, main_loop.quit)
    print(f"READY {server.get_bound_port()}", flush=True)
    main_loop.run()


if __name__ == "__main__":
    main()
