"""The async client passes the same end-to-end session test as the sync one, playback included."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import av
import httpx
import pytest

from livesight import AsyncLiveSight
from livesight.testing._vision import colour_fraction
from livesight.testing.hls_server import LiveHLSServer

from .conftest import SCENE

QUERY = "report every red square you see"


def _red_by_time(url: str) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    with av.open(url) as container:
        first: float | None = None
        for frame in container.decode(video=0):
            t = float(frame.pts * frame.time_base)
            first = t if first is None else first
            out.append((t - first, colour_fraction(frame.to_image(), "red")))
    return out


async def test_session_end_to_end_async(aclient: AsyncLiveSight, stream: LiveHLSServer) -> None:
    live = aclient.livestream
    started = await live.start_session(stream.url, "sdk async", rapid_review_query=QUERY)
    events = [e async for e in live.iter_events(started.stream_id, started.session_id, poll_interval=0.5, timeout=60)]
    ids = [e.event_id for e in events]
    assert len(ids) == len(set(ids)) >= 2
    for start, _ in SCENE.events:
        assert any(start <= e.capture_time <= start + 1.5 for e in events)
    final = await live.get_session(started.stream_id, started.session_id)
    assert final.status == "FINISHED" and final.chunk_count == len(final.chunks) >= 2
    for e in events:
        assert e.stream_time == pytest.approx(e.hls_cumulative_offset + e.chunk_relative_time, abs=2e-3)
    assert (await live.end_session(started.stream_id, started.session_id)).status == "already_ended"
    manifest = await live.get_signed_manifest(started.session_id)
    assert manifest.expires_at > datetime.now(UTC)
    frames = await asyncio.to_thread(_red_by_time, manifest.url)
    assert abs(frames[-1][0] - sum(c.duration for c in final.chunks)) < 0.5  # start to end
    for e in events:  # the frame at each event's stream_time shows the red square
        at = min(frames, key=lambda f: abs(f[0] - (e.stream_time + 0.5)))
        assert at[1] > 0.003, (e.stream_time, at)
    async with httpx.AsyncClient() as http:
        assert (await http.get(manifest.url.replace("sig=", "sig=A"))).status_code == 403
