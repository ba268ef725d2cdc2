"""Rapid review: every closed chunk's frames go to the judge with the review query, in chunk order.

A few frames are kept per chunk (``review_frames``, evenly spaced). When the chunk has closed and its
recording is written, the frames are sent in one request; the events that come back are timed inside
the chunk and handed to the sink in chunk order, one event per appearance even when it runs across a
chunk boundary (a continuation of the previous chunk's event is not reported again).

With the change gate on, a chunk whose kept frames all look like the last frame the judge reviewed is
not sent: nothing new can be in it. It is recorded as analysed with no events, its frames count in
``frames_skipped`` and the chunk in ``chunks_skipped``, and an appearance that was still open goes on
through it. The gate's maximum staleness forces a review every so often all the same.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from livesight.judges.errors import FATAL_JUDGE_ERRORS, JudgeError
from livesight.pipeline.gate import ChangeGate, Thumbnail, frame_thumbnail
from livesight.pipeline.sampler import encode_images
from livesight.rules import StopReason, make_event, new_id
from livesight.types import Chunk, DetectedEvent, Event, Frame, JudgeImage, Review

if TYPE_CHECKING:
    from livesight.pipeline.chunker import PendingChunk
    from livesight.pipeline.runner import Run

log = logging.getLogger(__name__)

__all__ = ["ChunkAnalysis", "ChunkReviewer"]


@dataclass(frozen=True)
class ChunkAnalysis:
    """The review of one chunk: how many events, the judge's summary, and the frames it saw.

    ``skipped`` is true for a chunk the change gate did not send (unchanged since the last review).
    ``decoded_at`` is when the chunk's last kept frame was decoded (monotonic), for the run's lag.
    """

    chunk: Chunk
    analysis_id: str
    event_count: int
    ok: bool
    summary: str = ""
    images: tuple[JudgeImage, ...] = ()
    skipped: bool = False
    decoded_at: float | None = None


@dataclass
class _Kept:
    """The frames kept from one chunk for its review, with the gate's thumbnails of them."""

    frames: list[Frame]
    thumbs: list[Thumbnail]


_UNCHANGED = "Unchanged since the last reviewed chunk: not sent to the model."


class ChunkReviewer:
    """The rapid-review half of a :class:`Run`: keeps frames, launches reviews, applies them in order."""

    def __init__(self, run: Run, gate: ChangeGate | None) -> None:
        config = run.config
        assert config.review_query is not None
        self.run = run
        self.query = config.review_query
        self.gate = gate
        self._step = config.chunk_seconds / max(1, config.review_frames)
        self._join = self._step + 0.5  # an event starting this soon after one of its label ended continues it
        self._kept: dict[int, _Kept] = {}
        self._closed: list[PendingChunk] = []
        self._queue: asyncio.Queue[asyncio.Task[tuple[ChunkAnalysis, list[Event]]] | None] = asyncio.Queue()
        self._evidence: dict[str, str | None] = {}
        self._open_labels: dict[str, float] = {}  # label → end of its event in the last reviewed chunk

    # -- called by the run, in stream order -----------------------------------------------------
    async def add_frame(self, frame: Frame) -> None:
        """Keep ``frame`` for its chunk's review if it is due, then launch the reviews of closed chunks."""
        span = self.run.chunker.span_at(frame.session_time)
        if span is not None:
            kept = self._kept.setdefault(span.index, _Kept([], []))
            if not kept.frames or frame.session_time - kept.frames[-1].session_time >= self._step - 1e-3:
                if self.gate is not None:  # in a thread: another run may hold the frame's lock
                    kept.thumbs.append(await asyncio.to_thread(frame_thumbnail, frame, self.gate.config.width))
                kept.frames.append(frame)
        self.launch_ready(frame.session_time)

    def chunk_closed(self, chunk: PendingChunk) -> None:
        self._closed.append(chunk)

    def launch_ready(self, now: float | None) -> None:
        """Launch the review of every closed chunk that ends by ``now`` (all of them when ``None``)."""
        while self._closed and (now is None or self._closed[0].end_time <= now + 1e-6):
            chunk = self._closed.pop(0)
            kept = self._kept.pop(chunk.index, _Kept([], []))
            unchanged = self._unchanged(kept)
            self._queue.put_nowait(asyncio.create_task(self._review(chunk, kept.frames, unchanged)))

    def close(self) -> None:
        """No more chunks: :meth:`apply` returns once every launched review is applied."""
        self.launch_ready(None)
        self._queue.put_nowait(None)

    # -- the gate -------------------------------------------------------------------------------
    def _unchanged(self, kept: _Kept) -> bool:
        """Whether every kept frame looks like the last reviewed one; decided at launch, in chunk order."""
        if self.gate is None or not kept.frames:
            return False
        decisions = [
            self.gate.decide(thumb, frame.session_time, frame.epoch)
            for frame, thumb in zip(kept.frames, kept.thumbs, strict=True)
        ]
        self.run.stats.gate = self.gate.stats.as_dict()
        if any(d.judge for d in decisions):
            last = kept.frames[-1]
            self.gate.judged(kept.thumbs[-1], last.session_time, last.epoch)
            return False
        self.run.stats.frames_skipped += len(kept.frames)
        return True

    # -- one chunk ------------------------------------------------------------------------------
    async def _review(
        self, chunk: PendingChunk, frames: list[Frame], unchanged: bool
    ) -> tuple[ChunkAnalysis, list[Event]]:
        """Analyse one chunk with the review query; events are handed on in chunk order by :meth:`apply`."""
        run = self.run
        analysis_id = new_id("ana")
        recorded = await run.writes.pop(chunk.index)
        decoded_at = frames[-1].decoded_at if frames else None
        if unchanged:
            return ChunkAnalysis(recorded, analysis_id, 0, True, _UNCHANGED, skipped=True, decoded_at=decoded_at), []
        events: list[Event] = []
        ok = True
        summary = ""
        images: tuple[JudgeImage, ...] = ()
        if frames:
            config = run.config
            images = await encode_images(frames, [config.frame_long_side] * len(frames), config.jpeg_quality)
            try:
                review = await self._review_with_retries(chunk, images)
                summary = review.summary
            except JudgeError as exc:
                ok = False
                log.warning("run %s: review of chunk %d failed: %s", run.run_id, chunk.index, exc)
                if isinstance(exc, FATAL_JUDGE_ERRORS):
                    run.stop(StopReason.JUDGE_FAILED, str(exc))
            else:
                events = [self._event(chunk, analysis_id, found) for found in review.events]
        for event in events:
            # The thumbnail of an event: the judged frame nearest to its start.
            nearest = min(images, key=lambda i: abs(i.session_time - event.stream_time))
            self._evidence[event.event_id] = await run.save_evidence(event.event_id, nearest.jpeg)
        analysis = ChunkAnalysis(recorded, analysis_id, len(events), ok, summary, images, decoded_at=decoded_at)
        return analysis, events

    @staticmethod
    def _event(chunk: PendingChunk, analysis_id: str, found: DetectedEvent) -> Event:
        return make_event(
            type=found.type,
            label=found.label,
            description=found.description,
            severity=found.severity,
            confidence=found.confidence,
            chunk_index=chunk.index,
            chunk_id=chunk.chunk_id,
            chunk_start=chunk.start_time,
            chunk_relative_time=found.start,
            pts_offset=chunk.pts_offset,
            analysis_id=analysis_id,
            duration=max(0.0, found.end - found.start),
        )

    async def _review_with_retries(self, chunk: PendingChunk, images: tuple[JudgeImage, ...]) -> Review:
        """A chunk the model could not analyse is tried again later (the judge already retried quickly);
        only errors that no wait fixes, or running out of tries, mark it failed."""
        run = self.run
        assert run.judge is not None
        duration = max(chunk.end_time - chunk.start_time, 0.0)
        for attempt in range(1, run.config.review_attempts + 1):
            try:
                async with run.model_slots:
                    review = await run.judge.review(self.query, images, chunk.start_time, duration)
                run.stats.add_usage(review.usage)
                return review
            except JudgeError as exc:
                if isinstance(exc, FATAL_JUDGE_ERRORS) or attempt == run.config.review_attempts:
                    raise
                delay = run.config.review_retry_seconds * attempt
                log.warning(
                    "run %s: chunk %d not analysed (%s); trying again in %.0fs", run.run_id, chunk.index, exc, delay
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    # -- applying, in chunk order ---------------------------------------------------------------
    async def apply(self) -> None:
        """The run's review worker: hands each chunk's analysis and events to the sink, in chunk order."""
        run = self.run
        while (task := await self._queue.get()) is not None:
            analysis, events = await task
            if analysis.skipped:
                self._carry_open_labels(analysis.chunk)
            else:
                events = self._drop_continuations(events)
            if not analysis.ok and self.gate is not None:
                self.gate.forget()  # nothing was learnt from that chunk: review the next one
            if events:
                run.stats.events += len(events)
                data = [{"query": self.query, "frame_path": self._evidence.pop(e.event_id, None)} for e in events]
                await run.sink.events(run, events, data)
            run.stats.chunks_analysed += analysis.ok and not analysis.skipped
            run.stats.chunks_skipped += analysis.skipped
            run.stats.chunks_failed += not analysis.ok
            if analysis.decoded_at is not None:
                run.stats.lag_seconds = max(0.0, time.monotonic() - analysis.decoded_at)
            await run.sink.chunk_analysed(run, analysis)

    def _drop_continuations(self, events: list[Event]) -> list[Event]:
        """One appearance is one event: an event that picks up at the start of a chunk where an event of
        the same label ran to the end of the previous chunk continues it, and is not reported again."""
        kept: list[Event] = []
        ends: dict[str, float] = {}
        for event in events:
            key = event.label.strip().lower()
            end = event.end_time if event.end_time is not None else event.stream_time
            previous = self._open_labels.get(key)
            if previous is None or event.stream_time - previous > self._join:
                kept.append(event)
            ends[key] = end
        self._open_labels = ends
        return kept

    def _carry_open_labels(self, chunk: Chunk) -> None:
        """An unchanged chunk shows what the last reviewed one ended with: appearances open at its end go on."""
        self._open_labels = {
            label: chunk.end_time for label, end in self._open_labels.items() if chunk.start_time - end <= self._join
        }
