"""One check, no job: grab the newest picture (or clip) of a source and ask the judge once."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from livesight.judges import Judge, accepts_video
from livesight.pipeline.sampler import Sampler
from livesight.sources.errors import SourceError
from livesight.sources.hub import SourceOptions, SourceRegistry
from livesight.sources.subscription import SourceEnd
from livesight.types import Frame, InputMode, Sample, Verdict


class FrameCaptureFailed(SourceError):
    """The stream gave no picture to judge (the hosted API's code for it)."""

    code = "FRAME_CAPTURE_FAILED"
    remediation = "The stream may have ended or stalled mid-capture; check it with POST /api/streams/validate, retry."


class ClipCaptureFailed(SourceError):
    """The stream ended before a whole clip (``clip_duration_seconds``) could be captured."""

    code = "CLIP_CAPTURE_FAILED"
    remediation = "Reduce clip_duration_seconds, or use input_mode 'frames'; then retry."


@dataclass(frozen=True)
class OnceResult:
    verdict: Verdict
    sample: Sample
    latency_ms: int


async def check_once(
    source_url: str,
    condition: str,
    judge: Judge,
    registry: SourceRegistry,
    *,
    input_mode: InputMode = "frames",
    clip_duration: float = 3.0,
    long_side: int = 768,
    wait_seconds: float = 30.0,
) -> OnceResult:
    """Judge ``condition`` on the source's newest frame (``frames``) or last ``clip_duration`` seconds."""
    loop = asyncio.get_running_loop()
    source, sub = registry.acquire(source_url, loop, SourceOptions(realtime=True))
    sampler = Sampler(input_mode, clip_duration=clip_duration, long_side=long_side, video=accepts_video(judge))
    needed = 0.0 if input_mode == "frames" else clip_duration
    first: Frame | None = None
    last: Frame | None = None
    try:
        async with asyncio.timeout(wait_seconds):
            while True:
                for item in await sub.get_batch():
                    if isinstance(item, Frame):
                        sampler.add(item)
                        first = first or item
                        last = item
                    elif isinstance(item, SourceEnd):
                        if last is not None:
                            break
                        raise FrameCaptureFailed(f"The source gave no picture: {item.reason}")
                else:
                    if first is None or last is None or last.session_time - first.session_time < needed:
                        continue  # a clip is the last `clip_duration` seconds seen here, not of a shared source
                break
    except TimeoutError:
        if last is None:
            raise FrameCaptureFailed(f"No picture arrived within {wait_seconds:.0f}s.") from None
    finally:
        registry.release(source, sub)
    assert first is not None and last is not None
    if needed and last.session_time - first.session_time < needed / 2:
        # The stream ended (or stalled past the wait) with under half the clip: not a clip worth judging.
        raise ClipCaptureFailed(
            f"Only {last.session_time - first.session_time:.1f}s of the {clip_duration:g}s clip arrived."
        )
    sample = await sampler.sample(last)
    started = time.monotonic()
    verdict = await judge.check(condition, sample)
    return OnceResult(verdict, sample, round((time.monotonic() - started) * 1000))
