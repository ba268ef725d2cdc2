"""The engine of every session and job: source → chunks (recorded) and frames → the run's analysers → sink.

A run reads its source, cuts the packets into chunks it records, and feeds the frames to its analysers: the
condition checker (:mod:`.checks`: jobs and ``livesight watch``, one verdict per check point) and the chunk
reviewer (:mod:`.review`: sessions and digests, one judge request per closed chunk). Everything it reports
goes to its :class:`~livesight.pipeline.context.RunSink` as values, each with a
:class:`~livesight.pipeline.context.RunProgress` snapshot, and every ``progress_seconds`` a progress report of
its own; sinks never read the run, and the run knows nothing of who supervises it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from livesight.judges import Judge
from livesight.pipeline.checks import ConditionChecker
from livesight.pipeline.chunker import Chunker, PendingChunk, write_chunk
from livesight.pipeline.context import (
    ChunkAnalysis,
    Evidence,
    Resume,
    RunConfig,
    RunContext,
    RunProgress,
    RunResult,
    RunSink,
    snapshot,
)
from livesight.pipeline.gate import ChangeGate
from livesight.pipeline.review import ChunkReviewer
from livesight.pipeline.rule_checks import RulesChecker
from livesight.pipeline.stats import RunStats
from livesight.rules import StopReason
from livesight.sources.hub import SharedSource, SourceHealth, SourceRegistry
from livesight.sources.subscription import SourceEnd
from livesight.storage import Storage
from livesight.types import Chunk, ChunkStatus, EncodedPacket, Frame, Gap

log = logging.getLogger(__name__)

__all__ = [
    "ChunkAnalysis",
    "Resume",
    "Run",
    "RunConfig",
    "RunProgress",
    "RunResult",
    "RunSink",
    "resume_point",
]

_SOURCE_STOPS = (StopReason.SOURCE_ENDED, StopReason.SOURCE_FAILED)


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
        if config.condition is None and not config.rules and config.review_query is None and not config.record:
            raise ValueError("a run needs a condition, rules, a review query or recording")
        if (config.condition or config.rules or config.review_query) and judge is None:
            raise ValueError("a run with a condition, rules or a review query needs a judge")
        self.run_id = run_id
        self.config = config
        self.registry = registry
        self.sink = sink
        self.stats = RunStats()
        self.resume = resume
        self._offset = 0.0
        first_index = 0
        if resume is not None:
            self._offset = resume.time_offset
            first_index = resume.next_chunk_index
            self.stats.restore(resume.stats)
        self.chunker = Chunker(config.chunk_seconds, first_index=first_index)
        self.source: SharedSource | None = None
        self._cancelled = asyncio.Event()
        self._stop: tuple[StopReason, str] | None = None
        self._started = False
        self.ctx = RunContext(
            run_id=run_id,
            config=config,
            judge=judge,
            stats=self.stats,
            sink=sink,
            chunker=self.chunker,
            model_slots=asyncio.Semaphore(max(1, config.concurrency)),  # model requests at once
            evidence=Evidence(run_id, recordings_dir, storage),
            stop=self.stop,
            halted=lambda: self._stop is not None and self._stop[0] not in _SOURCE_STOPS,
            progress=self.progress,
        )
        self.checker: ConditionChecker | None = None
        if config.rules:
            self.checker = RulesChecker(self.ctx, start_at=self._offset, cancelled=self._cancelled)
        elif config.condition:
            self.checker = ConditionChecker(self.ctx, start_at=self._offset, cancelled=self._cancelled)
        self.reviewer = (
            ChunkReviewer(self.ctx, ChangeGate(config.gate) if config.prefilter else None)
            if config.review_query
            else None
        )

    # -- control ------------------------------------------------------------------------------
    def cancel(self) -> None:
        self._cancelled.set()

    def stop(self, reason: StopReason, detail: str) -> None:
        """End the run for ``reason``; outstanding results are dropped (unless the source ended)."""
        if self._stop is None:
            self._stop = (reason, detail)
        self._cancelled.set()

    @property
    def health(self) -> SourceHealth | None:
        return self.source.health if self.source is not None else None

    def progress(self) -> RunProgress:
        """Where the run stands now (what its sink is handed with every report)."""
        return snapshot(self.run_id, self.stats, self.health, self.chunker, resumed=self.resume is not None)

    # -- main loop ----------------------------------------------------------------------------
    async def run(self) -> RunResult:
        loop = asyncio.get_running_loop()
        self.source, sub = self.registry.acquire(self.config.source_url, loop, self.config.source)
        workers = [
            asyncio.create_task(analyser.apply(), name=f"{self.run_id}:{name}")
            for name, analyser in (("checks", self.checker), ("reviews", self.reviewer))
            if analyser is not None
        ]
        for worker in workers:
            worker.add_done_callback(self._on_worker_done)
        ticker = asyncio.create_task(self._tick(), name=f"{self.run_id}:progress")
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
                        await self.sink.gap(self.progress(), item)
                    elif isinstance(item, SourceEnd):
                        if self._stop is None:
                            ended = item.state == "ended"
                            self._stop = (StopReason.SOURCE_ENDED if ended else StopReason.SOURCE_FAILED, item.reason)
                        break
                    if self._stop is not None:
                        break
        except asyncio.CancelledError:
            self._stop = (StopReason.CANCELLED, "cancelled")
            raise
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            self.registry.release(self.source, sub)
            await self._finish(workers, drain=self._stop is not None and self._stop[0] in _SOURCE_STOPS)
        assert self._stop is not None
        reason, detail = self._stop
        log.info("run %s ended: %s (%s)", self.run_id, reason.value, detail)
        return RunResult(reason, detail, self.stats, self.progress())

    def _on_worker_done(self, worker: asyncio.Task[None]) -> None:
        """Results are applied in order by the analysers' workers; if one dies the run cannot go on, and must
        not wait forever for a slot only that worker would free: it ends FAILED with the reason."""
        if worker.cancelled() or worker.exception() is None or self._cancelled.is_set():
            return
        exc = worker.exception()  # logged with its traceback when the run finishes
        self.stop(StopReason.INTERNAL_ERROR, f"applying results failed: {type(exc).__name__}: {exc}")

    async def _tick(self) -> None:
        """A progress report every ``progress_seconds``, between the run's other reports (a long interval, a
        source reconnecting): a failing sink never ends the run."""
        while True:
            await asyncio.sleep(self.config.progress_seconds)
            try:
                await self.sink.progress(self.progress())
            except Exception:
                log.exception("run %s: a progress report failed", self.run_id)

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
        self.ctx.writes[chunk.index] = write
        if self.reviewer is not None:
            self.reviewer.chunk_closed(chunk)  # its review takes the write from ``writes``
        else:
            write.add_done_callback(functools.partial(self._written, chunk.index))

    def _written(self, index: int, _write: asyncio.Task[Chunk]) -> None:
        self.ctx.writes.pop(index, None)

    async def _write(self, pending: PendingChunk) -> Chunk:
        path: str | None = None
        status = ChunkStatus.RECORDED
        directory = self.ctx.evidence.recordings_dir
        if self.config.record and directory is not None and pending.packets:
            name = f"chunk_{pending.index:05d}.ts"
            try:
                written = await asyncio.to_thread(write_chunk, pending, directory / name)
                path = await self.ctx.evidence.store_file(name, written)
            except Exception as exc:  # a chunk that cannot be written is marked, the run goes on
                log.warning("run %s: chunk %d not recorded: %s", self.run_id, pending.index, exc)
                status = ChunkStatus.FAILED
        pending.packets = []  # written: free the memory
        chunk = pending.to_chunk(path, status)
        self.stats.chunks_recorded += status is ChunkStatus.RECORDED
        await self.sink.chunk_recorded(self.progress(), chunk)
        return chunk

    # -- frames ---------------------------------------------------------------------------------
    async def _on_frame(self, frame: Frame) -> None:
        self.stats.frames_received += 1
        self.stats.session_time = frame.session_time
        if not self._started:
            self._started = True
            if self.resume is not None:
                gap = Gap(self._offset, self.resume.outage_seconds, "server restarted")
                self.stats.gaps += 1
                await self.sink.gap(self.progress(), gap)
            await self.sink.started(self.progress())
        if self.checker is not None:
            await self.checker.add_frame(frame)
        if self.reviewer is not None:
            await self.reviewer.add_frame(frame)

    # -- shutdown -------------------------------------------------------------------------------
    async def _finish(self, workers: list[asyncio.Task[None]], *, drain: bool) -> None:
        """Record the last chunk; apply outstanding checks when the source ended, drop them otherwise."""
        last = self.chunker.finish()
        if last is not None:
            self._close_chunk(last)
        if self.reviewer is not None:
            self.reviewer.close()
        if self.checker is not None:
            self.checker.close(drain=drain)
        for outcome in await asyncio.gather(*workers, return_exceptions=True):
            if isinstance(outcome, Exception):
                log.error("run %s: result handling failed", self.run_id, exc_info=outcome)
        await asyncio.gather(*self.ctx.writes.values(), return_exceptions=True)


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
