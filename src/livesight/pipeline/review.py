"""Rapid review: every closed chunk's frames go to the judge with the review query, in chunk order.

A few frames are kept per chunk (``review_frames``, evenly spaced). When the chunk has closed and its
recording is written, the frames are sent in one request; the events that come back are timed inside
the chunk and applied in chunk order, one event per appearance even when it runs across chunk boundaries.

The judge only sees one chunk, so an appearance still visible at a chunk's end comes back again from the
next one. An event that runs to the end of its chunk is therefore held, not handed on, until a later chunk
shows where it ends: an event of the same label picking up at that chunk's start continues it (its end
moves on, it is not reported again), anything else closes it. The hold is bounded
(``RunConfig.event_max_hold_seconds`` of stream time from the event's start): past it the event is handed
on with its end so far, and later continuations update the stored event's end in place
(``RunSink.event_extended``). Events are handed on in the order they start. A chunk's ``event_count`` is
the number of events that start in it, reported when the chunk is applied even if one of them is still held.

With the change gate on, a chunk whose kept frames all look like the last frame the judge reviewed is
not sent: nothing new can be in it. It is recorded as analysed with no events, its frames count in
``frames_skipped`` and the chunk in ``chunks_skipped``, and an appearance that was still open goes on
through it (to that chunk's end). The gate's maximum staleness forces a review every so often all the same.
A chunk whose review failed tells nothing: the events held are handed on with the last end known.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from livesight.judges.errors import FATAL_JUDGE_ERRORS, JudgeError
from livesight.pipeline.context import ChunkAnalysis, RunContext
from livesight.pipeline.gate import ChangeGate, Thumbnail, frame_thumbnail
from livesight.pipeline.sampler import encode_images
from livesight.rules import StopReason, make_event, new_id
from livesight.rules.events import event_ending_at
from livesight.types import Chunk, DetectedEvent, Event, Frame, JudgeImage, Review

if TYPE_CHECKING:
    from livesight.pipeline.chunker import PendingChunk

log = logging.getLogger(__name__)

__all__ = ["ChunkAnalysis", "ChunkReviewer"]


@dataclass
class _Kept:
    """The frames kept from one chunk for its review, with the gate's thumbnails of them."""

    frames: list[Frame]
    thumbs: list[Thumbnail]
    slot: int = -1  # the grid step (from the chunk's start) of the last kept frame


@dataclass
class _Appearance:
    """One appearance of a label: its event (from the chunk it started in) and that event's extra data.

    It is ``open`` while it ran to the end of the last applied chunk (the next one may continue it), and
    ``overdue`` once it has been held for the maximum hold; either way it is handed on (``emitted``) when
    it is no longer open or overdue, after every appearance that started before it.
    """

    event: Event
    data: dict[str, Any]
    open: bool = False
    overdue: bool = False
    emitted: bool = False

    @property
    def end(self) -> float:
        return self.event.end_time if self.event.end_time is not None else self.event.stream_time

    @property
    def due(self) -> bool:
        return not self.open or self.overdue

    def extend(self, end: float) -> bool:
        """Move the end to ``end`` if that is later; whether it moved."""
        if end <= self.end:
            return False
        self.event = event_ending_at(self.event, end)
        return True


def _key(label: str) -> str:
    return label.strip().lower()


_UNCHANGED = "Unchanged since the last reviewed chunk: not sent to the model."


class ChunkReviewer:
    """The analyser of a run with a review query: keeps frames, launches reviews, applies them in order. It sits
    beside the condition checker (:mod:`.checks`) and sees the run only through its :class:`RunContext`."""

    def __init__(self, ctx: RunContext, gate: ChangeGate | None) -> None:
        config = ctx.config
        assert config.review_query is not None and ctx.judge is not None
        self.ctx = ctx
        self.judge = ctx.judge
        self.query = config.review_query
        self.gate = gate
        self._step = config.chunk_seconds / max(1, config.review_frames)
        self._join = self._step + 0.5  # an event starting this soon after one of its label ended continues it
        self._kept: dict[int, _Kept] = {}
        self._closed: list[PendingChunk] = []
        self._queue: asyncio.Queue[asyncio.Task[tuple[ChunkAnalysis, list[Event]]] | None] = asyncio.Queue()
        self._evidence: dict[str, str | None] = {}
        self._max_hold = config.event_max_hold_seconds
        self._open: dict[str, _Appearance] = {}  # label → its appearance that ran to the last applied chunk's end
        self._unsent: list[_Appearance] = []  # appearances not handed on yet, in the order they started

    # -- called by the run, in stream order -----------------------------------------------------
    async def add_frame(self, frame: Frame) -> None:
        """Keep ``frame`` for its chunk's review if it is due, then launch the reviews of closed chunks."""
        span = self.ctx.chunker.span_at(frame.session_time)
        if span is not None:
            kept = self._kept.setdefault(span.index, _Kept([], []))
            # One frame per step of a grid from the chunk's start: spacing frames by "one step after the last
            # kept" would drift by up to a decoded frame's period each time (1.2 s apart at 1 s steps).
            slot = math.floor((frame.session_time - span.start_time) / self._step + 1e-3)
            if slot > kept.slot:
                kept.slot = slot
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
        self.ctx.stats.gate = self.gate.stats.as_dict()
        if any(d.judge for d in decisions):
            last = kept.frames[-1]
            self.gate.judged(kept.thumbs[-1], last.session_time, last.epoch)
            return False
        self.ctx.stats.frames_skipped += len(kept.frames)
        return True

    # -- one chunk ------------------------------------------------------------------------------
    async def _review(
        self, chunk: PendingChunk, frames: list[Frame], unchanged: bool
    ) -> tuple[ChunkAnalysis, list[Event]]:
        """Analyse one chunk with the review query; events are handed on in chunk order by :meth:`apply`."""
        ctx = self.ctx
        analysis_id = new_id("ana")
        recorded = await ctx.writes.pop(chunk.index)
        decoded_at = frames[-1].decoded_at if frames else None
        if unchanged:
            return ChunkAnalysis(recorded, analysis_id, 0, True, _UNCHANGED, skipped=True, decoded_at=decoded_at), []
        events: list[Event] = []
        ok = True
        summary = ""
        images: tuple[JudgeImage, ...] = ()
        if frames:
            config = ctx.config
            images = await encode_images(frames, [config.frame_long_side] * len(frames), config.jpeg_quality)
            try:
                review = await self._review_with_retries(chunk, images)
                summary = review.summary
            except JudgeError as exc:
                ok = False
                log.warning("run %s: review of chunk %d failed: %s", ctx.run_id, chunk.index, exc)
                if isinstance(exc, FATAL_JUDGE_ERRORS):
                    ctx.stop(StopReason.JUDGE_FAILED, str(exc))
            else:
                events = [self._event(chunk, analysis_id, found) for found in review.events]
        for event in events:
            # The thumbnail of an event: the judged frame nearest to its start.
            nearest = min(images, key=lambda i: abs(i.session_time - event.stream_time))
            self._evidence[event.event_id] = await ctx.evidence.save(event.event_id, nearest.jpeg)
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
        ctx = self.ctx
        duration = max(chunk.end_time - chunk.start_time, 0.0)
        for attempt in range(1, ctx.config.review_attempts + 1):
            try:
                async with ctx.model_slots:
                    review = await self.judge.review(self.query, images, chunk.start_time, duration)
                ctx.stats.add_usage(review.usage)
                return review
            except JudgeError as exc:
                if isinstance(exc, FATAL_JUDGE_ERRORS) or attempt == ctx.config.review_attempts:
                    raise
                delay = ctx.config.review_retry_seconds * attempt
                log.warning(
                    "run %s: chunk %d not analysed (%s); trying again in %.0fs", ctx.run_id, chunk.index, exc, delay
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    # -- applying, in chunk order ---------------------------------------------------------------
    async def apply(self) -> None:
        """The run's review worker: applies each chunk's analysis in chunk order, handing the sink every
        chunk's analysis as it is applied and every event once its end is known (or it was held too long)."""
        ctx, stats = self.ctx, self.ctx.stats
        while (task := await self._queue.get()) is not None:
            analysis, events = await task
            chunk = analysis.chunk
            started = 0
            extended: list[_Appearance] = []
            if analysis.skipped:
                extended = self._carry_open(chunk)
            elif analysis.ok:
                started, extended = await self._follow(chunk, events)
            else:
                self._close_all()  # nothing is known about that chunk: what was held ends where it was last seen
                if self.gate is not None:
                    self.gate.forget()  # nothing was learnt from that chunk: review the next one
            self._hold_until(chunk.end_time)
            if analysis.decoded_at is not None:
                stats.lag_seconds = max(0.0, time.monotonic() - analysis.decoded_at)
            await self._hand_on(extended)
            stats.chunks_analysed += analysis.ok and not analysis.skipped
            stats.chunks_skipped += analysis.skipped
            stats.chunks_failed += not analysis.ok
            # Counted as the events that start in the chunk: not continuations, and held ones already.
            await ctx.sink.chunk_analysed(ctx.progress(), replace(analysis, event_count=started))
            reviews = stats.chunks_analysed + stats.chunks_skipped + stats.chunks_failed
            if ctx.config.max_reviews is not None and reviews >= ctx.config.max_reviews:
                ctx.stop(StopReason.MAX_WINDOWS_REACHED, f"{reviews} window(s)")
        self._close_all()  # the run is over: every appearance ends where it was last seen
        await self._hand_on([])

    async def _follow(self, chunk: Chunk, events: list[Event]) -> tuple[int, list[_Appearance]]:
        """Match a reviewed chunk's events with the appearances open at the previous chunk's end.

        An event of an open appearance's label that starts within ``_join`` of that appearance's end
        continues it (the event itself is dropped); any other event starts a new appearance. Returns how
        many started in this chunk, and the appearances whose end moved.
        """
        previous, self._open = self._open, {}
        latest: dict[str, _Appearance] = {}
        extended: list[_Appearance] = []
        started = 0
        for event in sorted(events, key=lambda e: e.stream_time):
            key = _key(event.label)
            held = previous.pop(key, None)
            if held is not None and event.stream_time - held.end <= self._join:
                if held.extend(event.end_time if event.end_time is not None else event.stream_time):
                    extended.append(held)
                latest[key] = held
                await self._discard_evidence(event.event_id)
                continue
            if held is not None:
                held.open = False
            frame_path = self._evidence.pop(event.event_id, None)
            appearance = _Appearance(event, {"query": self.query, "frame_path": frame_path})
            self._unsent.append(appearance)
            started += 1
            if key in latest:
                latest[key].open = False  # an earlier appearance of the label in this chunk, over
            latest[key] = appearance
        for held in previous.values():
            held.open = False  # not seen again at this chunk's start: it ended in the last one
        for key, appearance in latest.items():
            # Open when a continuation in the next chunk could still join it (it starts at that chunk's start).
            appearance.open = chunk.end_time - appearance.end <= self._join
            if appearance.open:
                self._open[key] = appearance
        return started, extended

    def _carry_open(self, chunk: Chunk) -> list[_Appearance]:
        """An unchanged chunk shows what the last reviewed one ended with: appearances open at its end go on
        to this chunk's end."""
        extended: list[_Appearance] = []
        for key, appearance in list(self._open.items()):
            if chunk.start_time - appearance.end <= self._join:
                if appearance.extend(chunk.end_time):
                    extended.append(appearance)
            else:
                appearance.open = False
                del self._open[key]
        return extended

    def _close_all(self) -> None:
        for appearance in self._open.values():
            appearance.open = False
        self._open = {}

    def _hold_until(self, now: float) -> None:
        """An appearance held for the maximum hold of stream time is handed on with its end so far."""
        for appearance in self._open.values():
            if now - appearance.event.stream_time >= self._max_hold:
                appearance.overdue = True

    async def _hand_on(self, extended: list[_Appearance]) -> None:
        """Update the events already handed on whose end moved; hand on the due ones, in the order they started."""
        ctx = self.ctx
        for appearance in extended:
            if appearance.emitted:
                await ctx.sink.event_extended(ctx.progress(), appearance.event)
        ready: list[_Appearance] = []
        while self._unsent and self._unsent[0].due:
            ready.append(self._unsent.pop(0))
        if ready:
            for appearance in ready:
                appearance.emitted = True
            ctx.stats.events += len(ready)
            await ctx.sink.events(ctx.progress(), [a.event for a in ready], [a.data for a in ready], {})

    async def _discard_evidence(self, event_id: str) -> None:
        """A continuation is not an event: the thumbnail saved for it goes."""
        path = self._evidence.pop(event_id, None)
        if path is not None:
            await self.ctx.evidence.discard(path)
