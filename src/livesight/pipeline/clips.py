"""Short MP4 clips for judges that take video input (``input_mode`` clip/hybrid with a video backend).

The clip is re-encoded from the decoded frames of the last ``clip_duration`` seconds rather than cut
from the source's packets: a cut would have to start on a keyframe (often seconds away), while
re-encoding gives exactly the judged window, at the judge's resolution, with timestamps that follow the
session clock. H.264 in MP4 is what Gemini and vLLM's video loaders read (the whole file is sent at once,
so the index at its end costs nothing).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from fractions import Fraction

import av

from livesight.types import Frame, JudgeVideo

__all__ = ["encode_clip", "encode_clip_async"]

_TIME_BASE = Fraction(1, 1000)


def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def encode_clip(frames: Sequence[Frame], long_side: int | None = 768, crf: int = 28) -> JudgeVideo:
    """Encode ``frames`` (oldest first) as an H.264 MP4 whose timestamps are their session times.

    Blocking (scaling and encoding): call :func:`encode_clip_async` from the event loop.
    """
    if not frames:
        raise ValueError("a clip needs at least one frame")
    first = frames[0].image
    scale = 1.0
    if long_side and max(first.width, first.height) > long_side:
        scale = long_side / max(first.width, first.height)
    width, height = _even(first.width * scale), _even(first.height * scale)
    origin = frames[0].session_time
    span = max(frames[-1].session_time - origin, 1e-3)
    rate = max(1, round((len(frames) - 1) / span)) if len(frames) > 1 else 1
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate, options={"preset": "ultrafast", "crf": str(crf)})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = _TIME_BASE
        last_pts = -1
        for frame in frames:
            with frame.lock:  # the decoded frame is shared with other runs: one scaler at a time
                picture = frame.image.reformat(width=width, height=height, format="yuv420p")
            pts = max(last_pts + 1, round((frame.session_time - origin) / _TIME_BASE))
            picture.pts, picture.time_base, last_pts = pts, _TIME_BASE, pts
            for packet in stream.encode(picture):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return JudgeVideo(
        data=buffer.getvalue(),
        start_time=origin,
        end_time=frames[-1].session_time,
        width=width,
        height=height,
        frame_count=len(frames),
    )


async def encode_clip_async(frames: Sequence[Frame], long_side: int | None = 768) -> JudgeVideo:
    """:func:`encode_clip` in a thread, so the event loop never waits on the encoder."""
    return await asyncio.to_thread(encode_clip, list(frames), long_side)
