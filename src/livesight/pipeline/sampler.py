"""Choosing the frames a check looks at, and turning them into JPEGs for a judge."""

from __future__ import annotations

import asyncio
import io
from collections import deque
from collections.abc import Sequence

from PIL import Image

from livesight.pipeline.clips import encode_clip_async
from livesight.types import Frame, InputMode, JudgeImage, Sample


def frame_to_image(frame: Frame, width: int, height: int) -> Image.Image:
    """The frame as an RGB PIL image of ``width`` × ``height``; safe to call from any thread."""
    image = frame.image
    with frame.lock:
        if (width, height) != (image.width, image.height):
            return image.to_image(width=width, height=height)  # type: ignore[no-untyped-call, no-any-return]
        return image.to_image()  # type: ignore[no-untyped-call, no-any-return]


def encode_jpeg(frame: Frame, long_side: int | None, quality: int) -> JudgeImage:
    """Downscale so the longer side is at most ``long_side`` (None: full resolution) and encode.

    Blocking (scaling and JPEG encoding): call through :func:`encode_images` or a thread.
    """
    image = frame.image
    width, height = image.width, image.height
    if long_side and max(width, height) > long_side:
        scale = long_side / max(width, height)
        width, height = max(2, round(width * scale)), max(2, round(height * scale))
    picture = frame_to_image(frame, width, height)
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=quality)
    return JudgeImage(buffer.getvalue(), frame.session_time, width, height)


def _encode_all(frames: Sequence[Frame], sizes: Sequence[int | None], quality: int) -> tuple[JudgeImage, ...]:
    return tuple(encode_jpeg(f, size, quality) for f, size in zip(frames, sizes, strict=True))


async def encode_images(frames: Sequence[Frame], sizes: Sequence[int | None], quality: int) -> tuple[JudgeImage, ...]:
    """Encode off the event loop: decoding threads and the loop must never wait on JPEG work."""
    return await asyncio.to_thread(_encode_all, frames, sizes, quality)


class FrameWindow:
    """The most recent frames, enough to build a clip of ``keep_seconds``."""

    def __init__(self, keep_seconds: float) -> None:
        self.keep_seconds = keep_seconds
        self._frames: deque[Frame] = deque()

    def add(self, frame: Frame) -> None:
        self._frames.append(frame)
        horizon = frame.session_time - self.keep_seconds
        while len(self._frames) > 1 and self._frames[0].session_time < horizon:
            self._frames.popleft()

    @property
    def latest(self) -> Frame | None:
        return self._frames[-1] if self._frames else None

    def between(self, start_time: float, end_time: float) -> list[Frame]:
        """Every kept frame in ``[start_time, end_time]``, oldest first."""
        return [f for f in self._frames if start_time - 1e-6 <= f.session_time <= end_time + 1e-6]

    def spread(self, end_time: float, duration: float, count: int) -> list[Frame]:
        """Up to ``count`` frames evenly spread over ``[end_time - duration, end_time]``."""
        window = [f for f in self._frames if end_time - duration - 1e-6 <= f.session_time <= end_time + 1e-6]
        if len(window) <= count:
            return window
        if count == 1:
            return [window[-1]]
        step = (len(window) - 1) / (count - 1)
        return [window[round(i * step)] for i in range(count)]


class Sampler:
    """Builds a :class:`Sample` for one check in the run's input mode (SPEC §3 ``input_mode``).

    With ``video``, clip and hybrid samples also carry the whole clip as an MP4 (every decoded frame of
    the window, not only the spread-out stills) for judges that take video input.
    """

    def __init__(
        self,
        mode: InputMode,
        *,
        clip_duration: float = 3.0,
        clip_frames: int = 6,
        long_side: int = 768,
        quality: int = 85,
        video: bool = False,
    ) -> None:
        self.mode = mode
        self.video = video and mode != "frames"
        self.clip_duration = clip_duration
        self.clip_frames = clip_frames
        self.long_side = long_side
        self.quality = quality
        self.window = FrameWindow(keep_seconds=clip_duration + 1.0)
        self._sequence = 0

    def add(self, frame: Frame) -> None:
        self.window.add(frame)

    def frames_for(self, frame: Frame) -> tuple[list[Frame], list[int | None]]:
        """The frames a check at ``frame`` judges, and the long side each is scaled to."""
        if self.mode == "frames":
            return [frame], [self.long_side]
        clip = self.window.spread(frame.session_time, self.clip_duration, self.clip_frames)
        if not clip or clip[-1] is not frame:
            clip = [*clip[-(self.clip_frames - 1) :], frame] if self.clip_frames > 1 else [frame]
        sizes: list[int | None] = [self.long_side] * len(clip)
        if self.mode == "hybrid":
            return [*clip, frame], [*sizes, None]  # the clip, then the newest frame at full resolution
        return clip, sizes

    async def sample(self, frame: Frame) -> Sample:
        frames, sizes = self.frames_for(frame)
        images = await encode_images(frames, sizes, self.quality)
        video = None
        if self.video:
            window = self.window.between(frame.session_time - self.clip_duration, frame.session_time)
            video = await encode_clip_async(window or [frame], self.long_side)
        self._sequence += 1
        return Sample(frame.session_time, frame.pts_time, images, self._sequence, frame.decoded_at, video, self.mode)
