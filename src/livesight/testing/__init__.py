"""Real test infrastructure shipped with LiveSight: synthetic video, live HLS and RTSP servers, a test VLM.

Used by the test suite and by ``livesight demo``. Names are imported lazily so that using one piece (say,
the scene generator) does not import the others' dependencies, and so that
``python -m livesight.testing.vlm_server`` does not find its module already imported by this package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from livesight.testing._server import ServerThread
    from livesight.testing.clock import ManualClock
    from livesight.testing.hls_server import FaultHook, FaultKind, LiveHLSServer, RequestRecord
    from livesight.testing.rtsp_server import RTSPTestServer
    from livesight.testing.scene import (
        SceneSpec,
        SegmentInfo,
        cached_scene,
        frame_index_from_image,
        read_segments,
        render_frame,
        scene_jpeg,
        write_file,
        write_hls,
    )
    from livesight.testing.vlm_server import Fault, VLMTestServer, create_vlm_app

_EXPORTS: dict[str, str] = {
    "SceneSpec": "scene",
    "SegmentInfo": "scene",
    "cached_scene": "scene",
    "frame_index_from_image": "scene",
    "read_segments": "scene",
    "render_frame": "scene",
    "scene_jpeg": "scene",
    "write_file": "scene",
    "write_hls": "scene",
    "LiveHLSServer": "hls_server",
    "RequestRecord": "hls_server",
    "FaultHook": "hls_server",
    "FaultKind": "hls_server",
    "RTSPTestServer": "rtsp_server",
    "VLMTestServer": "vlm_server",
    "Fault": "vlm_server",
    "create_vlm_app": "vlm_server",
    "ServerThread": "_server",
    "ManualClock": "clock",
}

__all__ = [
    "Fault",
    "FaultHook",
    "FaultKind",
    "LiveHLSServer",
    "ManualClock",
    "RTSPTestServer",
    "RequestRecord",
    "SceneSpec",
    "SegmentInfo",
    "ServerThread",
    "VLMTestServer",
    "cached_scene",
    "create_vlm_app",
    "frame_index_from_image",
    "read_segments",
    "render_frame",
    "scene_jpeg",
    "write_file",
    "write_hls",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
