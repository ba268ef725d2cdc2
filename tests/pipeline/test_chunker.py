"""Chunks cut at keyframes, tiled with no holes, and written as playable MPEG-TS."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from livesight.pipeline.chunker import Chunker, has_parameter_sets, write_chunk
from livesight.types import EncodedPacket, StreamInfo


def _encode(codec: str, seconds: float, fps: int = 10, gop: int = 20) -> tuple[list[EncodedPacket], StreamInfo]:
    """Packets of a real encode, placed on a session timeline starting at 0."""
    ctx = av.CodecContext.create(codec, "w")
    ctx.width, ctx.height, ctx.pix_fmt = 160, 96, "yuv420p"
    ctx.time_base = Fraction(1, fps)
    ctx.framerate = Fraction(fps)
    ctx.gop_size = gop
    if codec == "libx264":
        ctx.options = {"preset": "ultrafast", "bf": "0", "keyint_min": str(gop), "sc_threshold": "0"}
    info = StreamInfo("h264" if codec == "libx264" else codec, 160, 96, float(fps), Fraction(1, fps))
    packets: list[EncodedPacket] = []
    frames = [
        av.VideoFrame.from_ndarray(np.full((96, 160, 3), (i * 7) % 255, np.uint8), format="rgb24").reformat(
            format="yuv420p"
        )
        for i in range(int(seconds * fps))
    ]
    for i, frame in enumerate([*frames, None]):
        if frame is not None:
            frame.pts = i
        for p in ctx.encode(frame):
            packets.append(EncodedPacket(bytes(p), p.pts, p.dts, Fraction(1, fps), p.is_keyframe, p.pts / fps, info))
    if info.codec == "h264":
        info = StreamInfo("h264", 160, 96, float(fps), Fraction(1, fps), extradata=None)
    return packets, info


def test_chunks_tile_the_timeline_at_keyframes(tmp_path: Path) -> None:
    packets, _ = _encode("libx264", 25.0)
    chunker = Chunker(chunk_seconds=10.0)
    closed = [c for c in (chunker.add(p) for p in packets) if c is not None]
    last = chunker.finish()
    assert last is not None
    chunks = [*closed, last]
    assert [c.index for c in chunks] == [0, 1, 2]
    assert [c.start_time for c in chunks] == [0.0, 10.0, 20.0]
    assert chunks[-1].end_time == pytest.approx(25.0)
    for c in chunks:
        assert c.packets[0].is_keyframe
    assert chunker.span_at(12.3) is not None and chunker.span_at(12.3).index == 1  # type: ignore[union-attr]
    # every chunk is written as MPEG-TS that decodes to exactly its frames, on the session clock
    for c in chunks:
        path = write_chunk(c, tmp_path / f"c{c.index}.ts")
        with av.open(str(path)) as container:
            decoded = list(container.decode(video=0))
        assert len(decoded) == len(c.packets)
        first = float(decoded[0].pts * decoded[0].time_base)
        last_t = float(decoded[-1].pts * decoded[-1].time_base)
        assert last_t - first == pytest.approx(c.end_time - c.start_time - 0.1, abs=1e-3)


def test_non_h264_sources_are_reencoded(tmp_path: Path) -> None:
    packets, _ = _encode("mpeg4", 3.0, gop=10)
    chunker = Chunker(chunk_seconds=10.0)
    for p in packets:
        chunker.add(p)
    chunk = chunker.finish()
    assert chunk is not None
    path = write_chunk(chunk, tmp_path / "c.ts")
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert len(list(container.decode(video=0))) == len(packets)


def test_parameter_set_detection() -> None:
    sps = b"\x00\x00\x00\x01\x67\x42"
    idr = b"\x00\x00\x00\x01\x65\x88"
    assert has_parameter_sets(sps + idr, "h264") and not has_parameter_sets(idr, "h264")


def test_a_long_run_keeps_only_the_latest_spans() -> None:
    """Days of chunks must not pile up in memory: span lookups only need the recent ones."""
    packets, _ = _encode("libx264", 2.0, gop=5)  # four keyframes
    keyframes = [p for p in packets if p.is_keyframe]
    chunker = Chunker(chunk_seconds=1.0)
    for n in range(500):  # 500 one-second chunks
        chunker.add(replace(keyframes[n % len(keyframes)], session_time=float(n)))
    assert 0 < len(chunker.spans) <= 64
    span = chunker.span_at(498.5)
    assert span is not None and span.index == 498
