"""The engine of every session and job: source → chunks and samples → change gate → judge → rules → sink.

Checks run concurrently (a slow model must not stall the stream) under a per-run limit, and their
results are applied strictly in stream order, so triggers and events come out in the order the
pictures were shown.

With the change gate on (``RunConfig.prefilter``), a check point whose picture has not changed since
the last judged frame is not sent to the judge: it waits, in order, for that frame's verdict and reuses
it. A reused verdict is applied to the trigger rule exactly like a fresh one — the rule sees what the
judge would have said about the unchanged picture, so appearances, cooldown and "every positive check"
behave as with fixed-interval checking — but it counts in ``frames_skipped``, not ``checks_performed``,
and costs nothing. A trigger fired by a reused verdict carries the current frame as its evidence.

Rapid review (sessions and digests: one judge request per closed chunk) is :mod:`.review`'s
:class:`~livesight.pipeline.review.ChunkReviewer`, which the run feeds frames and closed chunks.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from livesight.judges import Judge
from livesight.judges.errors import FATAL_JUDGE_ERRORS, JudgeError
from livesight.pipeline.budget import CallBudget
from livesight.pipeline.chunker import Chunker, PendingChunk, write_chunk
from livesight.pipeline.gate import ChangeGate, GateConfig, frame_thumbnail
from livesight.pipeline.review import ChunkAnalysis, ChunkReviewer
from livesight.pipeline.sampler import Sampler, encode_images
from livesight.pipeline.stats import RunStats
from livesight.rules import StopReason, TriggerRule, TriggerState, make_event, new_id
from livesight.sources.hub import SharedSource, SourceOptions, SourceRegistry
from livesight.sources.subscription import DropPolicy, SourceEnd
from livesight.storage import Storage
from livesight.types import (
    Chunk,
    ChunkStatus,
    EncodedPacket,
    Event,
    Frame,
    Gap,
    InputMode,
    Sample,
    Usage,
    Verdict,
)

log = logging.getLogger(__name__)

__all__ = ["ChunkAnalysis", "Resume", "Run", "RunConfig", "RunResult", "RunSink", "resume_point"]


@dataclass(frozen=True)
class RunConfig:
    """What one run watches and how. Sessions set ``review_query``; jobs and ``watch`` set ``condition``."""

    source_url: str
    condition: str | None = None
    review_query: str | None = None
    interval_seconds: float = 10.0
    input_mode: InputMode = "frames"
    clip_duration_seconds: float = 3.0
    clip_frames: int = 6
    chunk_seconds: float = 10.0
    review_frames: int = 10
    max_duration_seconds: float | None = None
    rule: TriggerRule = field(default_factory=TriggerRule)
    record: bool = True
    source: SourceOptions = field(default_factory=SourceOptions)
    concurrency: int = 4
    frame_long_side: int = 768
    jpeg_quality: int = 85
    review_attempts: int = 3  # a chunk the model failed on is tried again later, this many times in all
    review_retry_seconds: float = 15.0
    #: The change gate (``enable_prefilter``): reuse the last verdict while the picture is unchanged.
    prefilter: bool = True
    gate: GateConfig = field(default_factory=GateConfig)
    #: Model calls allowed per hour of session time; past it the interval stretches (None: no limit).
    max_model_calls_per_hour: int | None = None
    #: Clip and hybrid modes also encode the clip as a short MP4 for judges that take video.
    video_clips: bool = False
    #: Rapid review holds an event open at its chunk's end this long (stream time from its start) for its end.
    event_max_hold_seconds: float = 60.0


@dataclass(frozen=True)
class _Outcome:
    """One check point's result, applied in stream order.

    ``judged`` is false for a check point the gate answered: ``result`` is then the reused verdict (or
    the error of the check it waited for), and ``frame`` is kept to make evidence if it fires.
    """

    sample: Sample
    result: Verdict | BaseException
    judged: bool = True
    frame: Frame | None = None


class _ReferenceLost(Exception):
    """The judged check a skipped check point waited for was dropped."""


@dataclass(frozen=True)
class Resume:
    """Where a run that a restart interrupted left off, so it goes on under the same id.

    Its timeline continues at ``time_offset`` (the end of what was recorded), chunk indexes at
    ``next_chunk_index``, and its counters and trigger count where they were.
    """

    time_offset: float
    next_chunk_index: int
    stats: dict[str, Any]
    outage_seconds: float


@dataclass(frozen=True)
class RunResult:
    reason: StopReason
    detail: str
    stats: RunStats


class RunSink(Protocol):
    """Where a run's output goes: the store, the CLI's printer, a test's list."""

    async def started(self, run: Run) -> None: ...
    async def chunk_recorded(self, run: Run, chunk: Chunk) -> None: ...
    async def chunk_analysed(self, run: Run, analysis: ChunkAnalysis) -> None: ...
    async def events(self, run: Run, events: Sequence[Event], data: Sequence[dict[str, Any]]) -> None: ...
    async def event_extended(self, run: Run, event: Event) -> None: ...
    async def gap(self, run: Run, gap: Gap) -> None: ...
    async def checked(self, run: Run, sample: Sample, verdict: Verdict | None, fired: bool) -> None: ...


class Run:
    """One session or job in progress. ``await run.run()`` returns why it ended."""

    def __init__(
        self,
        run_id: str,
        config: RunConfig,
        *,
        judge: Judge | None,
        registry: SourceRegistry,
        sink: RunSink,
        recordings_dir: Path | None = None,
        storage: Storage | None = None,
        resume: Resume | None = None,
    ) -> None:
        if config.condition is None and config.review_query is None and not config.record:
            raise ValueError("a run needs a condition, a review query or recording")
        if (config.condition or config.review_query) and judge is None:
            raise ValueError("a run with a condition or review query needs a judge")
        self.run_id = run_id
        self.config = config
        self.judge = judge
        self.registry = registry
        self.sink = sink
        self.recordings_dir = recordings_dir  # the local spool: chunks are written here, then handed to storage
        self.storage = storage  # None: the files stay in recordings_dir, their paths are the references
        self.stats = RunStats()
        self.rule_state = TriggerState(config.rule)
        self.chunker = Chunker(config.chunk_seconds)
        self.resume = resume
        self._offset = 0.0
        if resume is not None:
            self._offset = resume.time_offset
            self.chunker = Chunker(config.chunk_seconds, first_index=resume.next_chunk_index)
            self.stats.restore(resume.stats)
            self.rule_state.triggers = self.stats.triggers_fired
        self.sampler = Sampler(
            config.input_mode,
            clip_duration=config.clip_duration_seconds,
            clip_frames=config.clip_frames,
            long_side=config.frame_long_side,
            quality=config.jpeg_quality,
            video=config.video_clips,
        )
        self.gate = ChangeGate(config.gate) if config.prefilter and config.condition else None
        self.budget = CallBudget(config.max_model_calls_per_hour) if config.max_model_calls_per_hour else None
        # A judge that calls the model on every check reserves its call at launch, so concurrent checks never
        # overrun the budget; one that may not (local CLIP, a cascade) is charged when its usage is known.
        self._reserve = getattr(judge, "always_calls_model", True)
        self._reference: asyncio.Task[_Outcome] | None = None  # the judged check the gate compares with
        self.source: SharedSource | None = None
        self._cancelled = asyncio.Event()
        self._stop: tuple[StopReason, str] | None = None
        self.model_slots = asyncio.Semaphore(max(1, config.concurrency))  # model requests at once
        # Checks launched but not yet applied; past this, live runs drop new checks.
        self._slots = asyncio.Semaphore(max(2, config.concurrency * 2))
        self._checks: asyncio.Queue[asyncio.Task[_Outcome] | None] = asyncio.Queue()
        self._check_tasks: set[asyncio.Task[_Outcome]] = set()
        self.writes: dict[int, asyncio.Task[Chunk]] = {}  # chunk index → its recording, until it is done
        self.reviewer = (
            ChunkReviewer(self, ChangeGate(config.gate) if config.prefilter else None) if config.review_query else None
        )
        self._next_check: float = self._offset
        self._started = False

    # -- control ------------------------------------------------------------------------------
    def cancel(self) -> None:
        self._cancelled.set()

    def stop(self, reason: StopReason, detail: str) -> None:
        """End the run for ``reason`` (e.g. a limit its owner counts); outstanding results are dropped."""
        if self._stop is None:
            self._stop = (reason, detail)
        self._cancelled.set()

    @property
    def health(self) -> Any:
        return self.source.health if self.source is not None else None

    # -- main loop ----------------------------------------------------------------------------
    async def run(self) -> RunResult:
        loop = asyncio.get_running_loop()
        self.source, sub = self.registry.acquire(self.config.source_url, loop, self.config.source)
        applier = asyncio.create_task(self._apply_checks(), name=f"{self.run_id}:checks")
        workers = [applier]
        if self.reviewer is not None:
            workers.append(asyncio.create_task(self.reviewer.apply(), name=f"{self.run_id}:reviews"))
        for worker in workers:
            worker.add_done_callback(self._on_worker_done)
        ended_normally = False
        try:
            while self._stop is None:
                if self._cancelled.is_set():
                    self._stop = self._stop or (StopReason.CANCELLED, "cancelled")
                    break
                if self._duration_reached():
                    self._stop = (StopReason.MAX_DURATION_REACHED, "monitor duration reached")
                    break
                batch = await self._next_batch(sub)
                if self._offset:
                    batch = [self._shift(item) for item in batch]
                for item in batch:
                    if isinstance(item, EncodedPacket):
                        self._on_packet(item)
                    elif isinstance(item, Frame):
                        await self._on_frame(item)
                    elif isinstance(item, Gap):
                        self.stats.gaps += 1
                        await self.sink.gap(self, item)
                    elif isinstance(item, SourceEnd):
                        ended_normally = item.state == "ended"
                        if self._stop is None:
                            reason = StopReason.SOURCE_ENDED if ended_normally else StopReason.SOURCE_FAILED
                            self._stop = (reason, item.reason)
                        break
                    if self._stop is not None:
                        break
        except asyncio.CancelledError:
            self._stop = (StopReason.CANCELLED, "cancelled")
            raise
        finally:
            self.registry.release(self.source, sub)
            await self._finish(
                workers,
                drain=self._stop is not None and self._stop[0] in (StopReason.SOURCE_ENDED, StopReason.SOURCE_FAILED),
            )
        assert self._stop is not None
        reason, detail = self._stop
        log.info("run %s ended: %s (%s)", self.run_id, reason.value, detail)
        return RunResult(reason, detail, self.stats)

    def _on_worker_done(self, worker: asyncio.Task[None]) -> None:
        """Results are applied in order by two workers; if one dies the run cannot go on, and must not
        wait forever for a slot only that worker would free: it ends FAILED with the reason."""
        if worker.cancelled() or worker.exception() is None or self._cancelled.is_set():
            return
        exc = worker.exception()  # logged with its traceback when the run finishes
        self.stop(StopReason.INTERNAL_ERROR, f"applying results failed: {type(exc).__name__}: {exc}")

    async def _next_batch(self, sub: Any) -> list[Any]:
        getter = asyncio.ensure_future(sub.get_batch())
        cancel_wait = asyncio.ensure_future(self._cancelled.wait())
        try:
            done, _ = await asyncio.wait({getter, cancel_wait}, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
        finally:
            cancel_wait.cancel()
        if getter in done:
            batch: list[Any] = getter.result()
            return batch
        getter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await getter
        return []

    def _shift(self, item: Any) -> Any:
        """A resumed run's timeline goes on from where the recording stopped."""
        if isinstance(item, EncodedPacket | Frame | Gap):
            return replace(item, session_time=item.session_time + self._offset)
        return item

    def _duration_reached(self) -> bool:
        limit = self.config.max_duration_seconds
        if limit is None:
            return False
        elapsed = self.stats.elapsed_seconds if self.config.source.realtime else self.stats.session_time
        return elapsed >= limit

    # -- packets and chunks -------------------------------------------------------------------
    def _on_packet(self, packet: EncodedPacket) -> None:
        closed = self.chunker.add(packet)
        if closed is not None:
            self._close_chunk(closed)

    def _close_chunk(self, chunk: PendingChunk) -> None:
        write = asyncio.create_task(self._write(chunk), name=f"{self.run_id}:chunk{chunk.index}")
        self.writes[chunk.index] = write
        if self.reviewer is not None:
            self.reviewer.chunk_closed(chunk)  # its review takes the write from ``writes``
        else:
            write.add_done_callback(functools.partial(self._written, chunk.index))

    def _written(self, index: int, _write: asyncio.Task[Chunk]) -> None:
        self.writes.pop(index, None)

    async def _write(self, pending: PendingChunk) -> Chunk:
        path: str | None = None
        status = ChunkStatus.RECORDED
        if self.config.record and self.recordings_dir is not None and pending.packets:
            name = f"chunk_{pending.index:05d}.ts"
            try:
                written = await asyncio.to_thread(write_chunk, pending, self.recordings_dir / name)
                path = await self._store_file(name, written)
            except Exception as exc:  # a chunk that cannot be written is marked, the run goes on
                log.warning("run %s: chunk %d not recorded: %s", self.run_id, pending.index, exc)
                status = ChunkStatus.FAILED
        pending.packets = []  # written: free the memory
        chunk = pending.to_chunk(path, status)
        self.stats.chunks_recorded += status is ChunkStatus.RECORDED
        await self.sink.chunk_recorded(self, chunk)
        return chunk

    # -- frames and checks --------------------------------------------------------------------
    async def _on_frame(self, frame: Frame) -> None:
        self.stats.frames_received += 1
        self.stats.session_time = frame.session_time
        if not self._started:
            self._started = True
            if self.resume is not None:
                gap = Gap(self._offset, self.resume.outage_seconds, "server restarted")
                self.stats.gaps += 1
                await self.sink.gap(self, gap)
            await self.sink.started(self)
        self.sampler.add(frame)
        if self.reviewer is not None:
            await self.reviewer.add_frame(frame)
        if self.config.condition and frame.session_time + 1e-6 >= self._next_check:
            interval = self.config.interval_seconds
            # Stay on the grid 0, I, 2I, …; after a stall resume at the next grid point, never in a burst.
            self._next_check = max(self._next_check + interval, frame.session_time - frame.session_time % interval)
            if self._next_check <= frame.session_time:
                self._next_check += interval
            await self._at_check_point(frame)

    async def _at_check_point(self, frame: Frame) -> None:
        """Gate, budget, then launch: a judged check, a reuse of the last verdict, or nothing."""
        thumb = None
        if self.gate is not None:
            thumb = await asyncio.to_thread(frame_thumbnail, frame, self.gate.config.width)
            decision = self.gate.decide(thumb, frame.session_time, frame.epoch)
            self.stats.gate = self.gate.stats.as_dict()
            reference = self._reference
            if not decision.judge and reference is not None:
                await self._launch(lambda: self._reuse(frame, reference), frame)
                return
        if self.budget is not None and not self.budget.available(frame.session_time):
            # Over budget: no call now; the next check waits for the grid point after a call is available.
            resume = self.budget.defer(frame.session_time)
            interval = self.config.interval_seconds
            self._next_check = max(self._next_check, -(-resume // interval) * interval)
            self.stats.checks_deferred += 1
            self.stats.budget = self.budget.as_dict(interval)
            return
        task = await self._launch(lambda: self._check(frame), frame)
        if task is None:
            return
        if self.budget is not None and self._reserve:
            self.budget.spend(frame.session_time)  # reserved now, settled with the real count when applied
            self.stats.budget = self.budget.as_dict(self.config.interval_seconds)
        if self.gate is not None and thumb is not None:
            self.gate.judged(thumb, frame.session_time, frame.epoch)
            self._reference = task

    async def _launch(
        self, make: Callable[[], Coroutine[Any, Any, _Outcome]], frame: Frame
    ) -> asyncio.Task[_Outcome] | None:
        if self._slots.locked() and self._policy() is DropPolicy.DROP_OLDEST:
            self.stats.checks_dropped += 1  # live: the model cannot keep up; skip rather than lag
            return None
        if not await self._acquire_slot():  # footage: wait for a slot, lose nothing
            return None
        task = asyncio.create_task(make(), name=f"{self.run_id}:check@{frame.session_time:.2f}")
        self._check_tasks.add(task)
        task.add_done_callback(self._check_tasks.discard)
        self._checks.put_nowait(task)
        return task

    async def _acquire_slot(self) -> bool:
        """A slot for one more outstanding check, unless the run is cancelled while waiting."""
        acquire = asyncio.ensure_future(self._slots.acquire())
        cancelled = asyncio.ensure_future(self._cancelled.wait())
        await asyncio.wait({acquire, cancelled}, return_when=asyncio.FIRST_COMPLETED)
        cancelled.cancel()
        if acquire.done() and not acquire.cancelled():
            return True
        acquire.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await acquire
        if not acquire.cancelled():
            self._slots.release()  # acquired in the same step the run was cancelled: hand it back
        return False

    def _policy(self) -> DropPolicy:
        return DropPolicy.DROP_OLDEST if self.config.source.realtime else DropPolicy.BLOCK

    async def _check(self, frame: Frame) -> _Outcome:
        sample = await self.sampler.sample(frame)
        assert self.judge is not None and self.config.condition is not None
        async with self.model_slots:
            try:
                return _Outcome(sample, await self.judge.check(self.config.condition, sample))
            except JudgeError as exc:
                return _Outcome(sample, exc)

    async def _reuse(self, frame: Frame, reference: asyncio.Task[_Outcome]) -> _Outcome:
        """The verdict of the judged check ``reference``, for an unchanged picture at ``frame``."""
        sample = Sample(frame.session_time, frame.pts_time, (), 0, frame.decoded_at)
        await asyncio.wait({reference})  # not ``await reference``: cancelling this must not cancel that
        if reference.cancelled():
            return _Outcome(sample, _ReferenceLost(), judged=False, frame=frame)
        result = reference.result().result
        if isinstance(result, Verdict):
            result = replace(result, usage=Usage(), reused=True)
        return _Outcome(sample, result, judged=False, frame=frame)

    async def _apply_checks(self) -> None:
        while (task := await self._checks.get()) is not None:
            try:
                checked = await task
            except asyncio.CancelledError:
                if task.cancelled():
                    continue  # a check dropped at shutdown
                raise
            finally:
                self._slots.release()
            if self._stop is not None and self._stop[0] not in (StopReason.SOURCE_ENDED, StopReason.SOURCE_FAILED):
                continue  # already done: later verdicts must not fire
            sample, outcome = checked.sample, checked.result
            self.stats.lag_seconds = max(0.0, time.monotonic() - sample.decoded_at) if sample.decoded_at else 0.0
            if not checked.judged:
                self.stats.frames_skipped += 1
                if isinstance(outcome, BaseException):
                    continue  # the check it would reuse failed: nothing to apply (that failure was counted)
            elif isinstance(outcome, BaseException):
                self.stats.checks_failed += 1
                usage = getattr(outcome, "usage", None)
                if usage is not None:
                    self.stats.add_usage(usage)
                self._settle_budget(sample, usage)
                if self._reference is task and self.gate is not None:
                    self.gate.forget()  # nothing to reuse: the next check point is judged
                    self._reference = None
                log.warning("run %s: check at %.2fs failed: %s", self.run_id, sample.session_time, outcome)
                if isinstance(outcome, FATAL_JUDGE_ERRORS):
                    self._stop = (StopReason.JUDGE_FAILED, str(outcome))
                    self._cancelled.set()
                await self.sink.checked(self, sample, None, False)
                continue
            else:
                self.stats.checks_performed += 1
                self.stats.add_usage(outcome.usage)
                self._settle_budget(sample, outcome.usage)
            verdict = outcome
            decision = self.rule_state.apply(verdict.match, sample.session_time)
            if decision.fire:
                self.stats.triggers_fired += 1
                if not sample.images and checked.frame is not None:
                    # A reused verdict fired: the evidence is the current picture, encoded only now.
                    images = await encode_images(
                        [checked.frame], [self.config.frame_long_side], self.config.jpeg_quality
                    )
                    sample = replace(sample, images=images)
                await self._emit_trigger(sample, verdict)
            await self.sink.checked(self, sample, verdict, decision.fire)
            if decision.done and self._stop is None:
                max_triggers = self.config.rule.max_triggers
                reason = StopReason.CONDITION_TRIGGERED if max_triggers == 1 else StopReason.MAX_TRIGGERS_REACHED
                self._stop = (reason, f"{self.rule_state.triggers} trigger(s)")

    def _settle_budget(self, sample: Sample, usage: Usage | None) -> None:
        """Count the model calls a check really made (retries and repairs included), less its reservation."""
        if self.budget is not None:
            used = usage.model_calls if usage is not None else 0
            self.budget.spend(sample.session_time, used - (1 if self._reserve else 0))
            self.stats.budget = self.budget.as_dict(self.config.interval_seconds)

    async def _emit_trigger(self, sample: Sample, verdict: Verdict) -> None:
        span = self.chunker.span_at(sample.session_time)
        chunk_start = span.start_time if span else 0.0
        assert self.config.condition is not None
        event = make_event(
            type="condition",
            label=self.config.condition[:200],
            description=verdict.explanation,
            severity="medium",
            confidence=verdict.confidence,
            chunk_index=span.index if span else 0,
            chunk_id=span.chunk_id if span else "",
            chunk_start=chunk_start,
            chunk_relative_time=sample.session_time - chunk_start,
            pts_offset=sample.pts_time - sample.session_time,
            analysis_id=new_id("ana"),
        )
        frame_path = await self.save_evidence(event.event_id, sample.images[-1].jpeg)
        data = {
            "condition": self.config.condition,
            "triggered": True,
            "explanation": verdict.explanation,
            "frame_path": frame_path,
            "images_judged": len(sample.images),
            "judge": verdict.judge,
            "reused": verdict.reused,
            # A cascade's every stage (cheap first), else the one verdict: kept with the event.
            "stages": [stage.summary() for stage in verdict.stages] or [verdict.summary()],
        }
        self.stats.events += 1
        await self.sink.events(self, [event], [data])

    async def _store_file(self, name: str, written: Path) -> str:
        if self.storage is None:
            return str(written)
        return await asyncio.to_thread(self.storage.put_file, f"{self.run_id}/{name}", written)

    async def save_evidence(self, event_id: str, jpeg: bytes) -> str | None:
        """Store an event's frame; returns its reference (``frame_path`` in the event's data)."""
        if self.recordings_dir is None:
            return None
        if self.storage is not None:
            return await asyncio.to_thread(self.storage.put_bytes, f"{self.run_id}/evidence/{event_id}.jpg", jpeg)
        path = self.recordings_dir / "evidence" / f"{event_id}.jpg"

        def write() -> str:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(jpeg)
            return str(path)

        return await asyncio.to_thread(write)

    async def read_stored(self, ref: str) -> bytes:
        """A file this run stored (an evidence frame for a webhook), by its reference."""
        if self.storage is None:
            return await asyncio.to_thread(Path(ref).read_bytes)
        return await asyncio.to_thread(self.storage.read_bytes, ref)

    async def discard_stored(self, ref: str) -> None:
        """Delete a file this run stored that is not wanted after all (a continuation's thumbnail)."""
        if self.storage is None:
            await asyncio.to_thread(Path(ref).unlink, missing_ok=True)
        else:
            await asyncio.to_thread(self.storage.delete, ref)

    # -- shutdown -------------------------------------------------------------------------------
    async def _finish(self, workers: list[asyncio.Task[None]], *, drain: bool) -> None:
        """Record the last chunk; apply outstanding checks when the source ended, drop them otherwise."""
        last = self.chunker.finish()
        if last is not None:
            self._close_chunk(last)
        if self.reviewer is not None:
            self.reviewer.close()
        if not drain:
            for task in self._check_tasks:
                task.cancel()  # the run is over: later verdicts must not fire
        self._checks.put_nowait(None)
        for outcome in await asyncio.gather(*workers, return_exceptions=True):
            if isinstance(outcome, Exception):
                log.error("run %s: result handling failed", self.run_id, exc_info=outcome)
        await asyncio.gather(*self.writes.values(), return_exceptions=True)


async def resume_point(
    store: Any, kind: Literal["session", "job"], owner_id: str, stats: dict[str, Any], started: datetime
) -> Resume:
    """Where a run interrupted by a restart goes on: after its last recorded chunk."""
    chunks = await store.list_chunks(kind, owner_id)
    last_seen = max([c.created_at for c in chunks] or [started])
    return Resume(
        time_offset=max([c.end_time for c in chunks] or [0.0]),
        next_chunk_index=max([c.chunk_index for c in chunks] or [-1]) + 1,
        stats=stats,
        outage_seconds=max(0.0, (datetime.now(UTC) - last_seen).total_seconds()),
    )
