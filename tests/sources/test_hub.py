"""The decode hub: bounded queues with a drop policy, give-up with a reason, no credentials in logs."""

from __future__ import annotations

import asyncio
import logging
import socket
from fractions import Fraction

import av
import numpy as np
import pytest

from livesight.settings import Settings
from livesight.sources.hub import SourceOptions, SourceRegistry
from livesight.sources.subscription import DropPolicy, SourceEnd, Subscription
from livesight.types import Frame


def _frame(t: float) -> Frame:
    image = av.VideoFrame.from_ndarray(np.zeros((8, 8, 3), np.uint8), format="rgb24")
    return Frame(image, t, t)


def test_live_queue_drops_the_oldest_frames_and_counts_them() -> None:
    async def main() -> tuple[list[float], int]:
        sub = Subscription(asyncio.get_running_loop(), max_frames=3, policy=DropPolicy.DROP_OLDEST)
        from livesight.types import EncodedPacket, StreamInfo

        info = StreamInfo("h264", 8, 8, 10.0, Fraction(1, 10))
        sub.put(EncodedPacket(b"k", 0, 0, Fraction(1, 10), True, 0.0, info))  # the first keyframe starts time
        for i in range(6):
            sub.put(_frame(i * 0.1))
        batch = await sub.get_batch()
        return [round(f.session_time, 1) for f in batch if isinstance(f, Frame)], sub.frames_dropped

    times, dropped = asyncio.run(main())
    assert times == [0.3, 0.4, 0.5] and dropped == 3


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_gives_up_with_a_readable_reason_and_no_credentials(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings.model_copy(update={"give_up_after_seconds": 1.5, "reconnect_initial_seconds": 0.1})
    url = f"rtsp://admin:hunter2@127.0.0.1:{_closed_port()}/stream"

    async def main() -> SourceEnd:
        registry = SourceRegistry(settings)
        source, sub = registry.acquire(url, asyncio.get_running_loop(), SourceOptions())
        try:
            while True:
                for item in await sub.get_batch():
                    if isinstance(item, SourceEnd):
                        return item
        finally:
            registry.release(source, sub)
            registry.stop_all()

    with caplog.at_level(logging.DEBUG):
        end = asyncio.run(main())
    assert end.state == "failed" and "no frames for" in end.reason and "give-up" in end.reason
    assert "hunter2" not in end.reason and "hunter2" not in caplog.text
    assert "reconnecting" in caplog.text
