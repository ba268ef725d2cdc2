"""The RTSP test camera: PyAV decodes the scene over TCP; the camera can drop and come back on its port."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from livesight.testing import RTSPTestServer, SceneSpec, cached_scene, frame_index_from_image

pytestmark = [
    pytest.mark.rtsp,
    pytest.mark.skipif(
        not RTSPTestServer.available(),
        reason=f"GStreamer RTSP server unavailable ({RTSPTestServer.unavailable_reason()}); "
        "apt-get install python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-{base,good,bad}",
    ),
]

# Short enough that reading past its end (to see it loop) takes a few seconds.
SPEC = SceneSpec(duration=4.0, events=((1.0, 2.0),))
# Less probing than FFmpeg's default (~2.8 s of stream) so the tests wait less; the stream is plain H.264.
OPEN_OPTIONS = {"rtsp_transport": "tcp", "analyzeduration": "500000"}


@pytest.fixture(scope="module")
def media() -> Path:
    return cached_scene(SPEC, "ts")


@pytest.fixture
def camera(media: Path) -> Iterator[RTSPTestServer]:
    with RTSPTestServer(media) as server:
        yield server


def test_pyav_decodes_the_looping_scene_over_tcp(camera: RTSPTestServer) -> None:
    assert camera.url == f"rtsp://127.0.0.1:{camera.port}/stream"
    indices: list[int] = []
    times: list[float] = []
    with av.open(camera.url, options=OPEN_OPTIONS, timeout=(5.0, 5.0)) as container:
        for frame in container.decode(video=0):
            image = frame.to_ndarray(format="rgb24")
            n = frame_index_from_image(image, SPEC)
            red = image[180, 320]
            assert (red[0] > 200 and red[1] < 60) == SPEC.square_visible(SPEC.frame_time(n)), f"frame {n}"
            indices.append(n)
            if frame.time is not None:
                times.append(float(frame.time))
            if len(indices) >= SPEC.frame_count + 15:
                break
    # Starts at the file's first frame, every frame in order, and wraps around to frame 0 with PTS still rising.
    expected = [k % SPEC.frame_count for k in range(len(indices))]
    assert indices == expected
    assert all(b - a == pytest.approx(0.1, abs=1e-3) for a, b in itertools.pairwise(times))


def test_camera_drops_and_comes_back_on_the_same_port(camera: RTSPTestServer) -> None:
    port = camera.port
    camera.stop()
    assert not camera.running
    with pytest.raises(av.error.ConnectionRefusedError):
        av.open(camera.url, options=OPEN_OPTIONS, timeout=(5.0, 5.0))
    camera.start()
    assert camera.port == port
    # FFmpeg's default probing this time: what a source opening a camera without tuning does.
    with av.open(camera.url, options={"rtsp_transport": "tcp"}, timeout=(5.0, 5.0)) as container:
        first = next(container.decode(video=0))
        assert frame_index_from_image(first.to_ndarray(format="rgb24"), SPEC) == 0  # a new playback
