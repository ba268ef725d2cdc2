"""Live-monitor and digest jobs on a worker: running the jobs it claims, and announcing what they do.

Every announcement is written to the store with its webhooks in one transaction (the job's event log,
whose ``seq`` is the SSE id, and the outbox), then published on the bus and the dispatcher woken, so
nothing a client is told can be lost by a crash, and no webhook sent twice.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from livesight.delivery.broker import Message
from livesight.delivery.webhooks import new_delivery
from livesight.judges import Judge, accepts_video
from livesight.metrics import RunCounters
from livesight.pipeline.runner import ChunkAnalysis, Resume, Run, RunConfig, RunProgress, resume_point
from livesight.pipeline.sinks import StoreSink
from livesight.rules import job_status_for, make_event, new_id
from livesight.runs.manager import RunManager
from livesight.runs.specs import DigestSpec, MonitorSpec, job_stats, source_key
from livesight.runs.views import RULE_TYPES, TRIGGER_TYPES, WEBHOOK_TYPES
from livesight.sources.urls import redact
from livesight.store import ClaimScope
from livesight.store._checks import JobCheck
from livesight.store.records import EventRecord, JobRecord, NewDelivery
from livesight.types import Chunk, Event, Gap, Sample, Verdict

if TYPE_CHECKING:
    from livesight.pipeline.runner import RunResult

log = logging.getLogger(__name__)

_STATS_EVERY = 2.0  # seconds between stats writes while a job runs
_STATS_IDLE = 10.0  # seconds without a check after which a monitor job's stored stats are refreshed anyway
_CHECKS_EVERY = 2.0  # seconds between writes of a job's checks (the UI's chart); a trigger writes at once


class JobManager(RunManager):
    """Runs the live-monitor and digest jobs this worker holds."""

    async def claim(self, dead_workers: Iterable[str] = (), scope: ClaimScope | None = None) -> int:
        """Claim the jobs whose lease ran out (their process is gone), or just placed here, and run them: a
        job that had started is resumed — same id, its timeline and counters continued, the outage recorded as
        a gap. A source that is gone ends it by the give-up rule; a cancel asked for meanwhile stops it at once."""
        lease = self.settings.lease_seconds
        claimed = await self.store.claim_jobs(self.worker_id, lease, dead_workers=dead_workers, scope=scope)
        started = 0
        for job in claimed:
            if job.id in self._runs:
                continue  # already runs here: the claim renewed a lease that had lapsed
            try:
                resume = None
                if job.status != "pending":  # it ran somewhere: go on after its last recorded chunk
                    resume = await resume_point(self.store, "job", job.id, job.stats, job.started_at or job.created_at)
                judge = self.judge()
                if job.job_type == "live-digest":
                    digest = DigestSpec.of(job)
                    sink: _JobSink = _DigestSink(self, job, digest)
                    self._launch(job, digest.run_config(self.settings), judge, sink, resume)
                else:
                    spec = MonitorSpec.of(job)
                    self._launch(job, spec.run_config(self.settings), judge, _JobSink(self, job, spec), resume)
                started += 1
                if resume is not None:
                    log.info("job %s resumed at %.1fs by worker %s", job.id, resume.time_offset, self.worker_id)
            except Exception as exc:  # a job that cannot be rebuilt ends visibly instead of staying "running"
                log.exception("job %s could not be started", job.id)
                await self.store.update_job(
                    job.id,
                    status="failed",
                    reason="server_restarted",
                    ended_at=datetime.now(UTC),
                    stats={**job.stats, "reason": "server_restarted", "error": f"could not resume: {exc}"},
                )
        return started

    def _launch(
        self,
        job: JobRecord,
        config: RunConfig,
        judge: Judge,
        sink: _JobSink,
        resume: Resume | None = None,
    ) -> None:
        config = replace(config, video_clips=accepts_video(judge))
        run = Run(
            job.id,
            config,
            judge=judge,
            registry=self.registry,
            sink=sink,
            recordings_dir=self.settings.recordings_dir / job.id,
            storage=self.storage,
            resume=resume,
        )
        task = asyncio.create_task(self._supervise(job, run, sink), name=f"job:{job.id}")
        self._track(job.id, task, run)

    async def _supervise(self, job: JobRecord, run: Run, sink: _JobSink) -> None:
        """A job is ``running`` (and says ``job_started``) from the moment its run starts, while its source
        is still connecting; whatever ends it, it says ``job_stopped`` with its status and reason — after
        ``error`` when it failed. The SSE stream ends at ``error`` (terminal), so ``job_stopped`` after an
        error goes to the webhook and the job's log only."""
        if run.resume is None:
            try:
                await sink.begin(run.progress())
            except Exception:  # the run still starts; its end is stored and announced as always
                log.exception("job %s: announcing its start failed", job.id)
        result = await self.outcome(run, f"job {job.id}")  # its last progress report lands before its end
        await self._end(job, sink, result)

    async def _end(self, job: JobRecord, sink: _JobSink, result: RunResult) -> None:
        if job.id in self._lost:
            return  # another worker runs it now and will store its end
        await sink.flush_checks()
        status = job_status_for(result.reason)
        final_progress = result.final
        health = final_progress.health if final_progress is not None else None
        stats = job_stats(result.stats, result.reason.value, health, sink.summaries)
        if status.value == "failed":
            stats["error"] = result.detail
        final = {"job_id": job.id, "status": status.value, "reason": result.reason.value, "final_stats": stats}
        # The SSE stream ends at ``error`` (terminal), so ``job_stopped`` after an error is not published.
        if status.value == "failed":
            final["message"] = result.detail
            announced = [("error", True), ("job_stopped", False)]
        else:
            announced = [("job_stopped", True)]
        events = [sink.lifecycle_event(type_, final_progress) for type_, _ in announced]
        payloads = [{"payload": final} for _ in announced]
        # Status, final stats, the closing events and their webhooks: one transaction, so "ended" is never
        # read without them, and a crash leaves either a live job (resumed) or an ended one (announced).
        records = await self.store.end_job(
            job.id,
            status=status.value,
            reason=result.reason.value,
            stats=stats,
            events=events,
            data=payloads,
            deliveries=lambda stored: sink.webhooks([(r, final) for r in stored]),
            worker_id=self.worker_id,
        )
        if records is None:
            log.warning("job %s: claimed by another worker before it ended here; its end is theirs", job.id)
            return
        self.metrics.jobs_ended.labels(status.value).inc()
        sink.published(records, publish=[p for _, p in announced])


class _JobSink(StoreSink):
    """Persists the run's output, then tells SSE subscribers and the webhook outbox."""

    def __init__(self, manager: JobManager, job: JobRecord, spec: MonitorSpec | DigestSpec) -> None:
        super().__init__(manager.store, "job", job.id)
        self.manager = manager
        self.job = job
        self.spec = spec
        self._last_stats = 0.0
        self._reconnects = 0
        self._source_seen: tuple[str, int] | None = None
        self._counters = RunCounters(manager.metrics)
        self._checks: list[JobCheck] = []
        self._last_checks = time.monotonic()

    @property
    def summaries(self) -> int | None:
        """A digest's windows summarised so far (``stats.summaries_generated``); None for a monitor job."""
        return None

    def lifecycle_event(self, type_: str, progress: RunProgress | None) -> Event:
        """A lifecycle event (``job_started``, ``summary``, ``job_stopped``…) at the run's current point."""
        span = progress.span if progress is not None else None
        now = progress.session_time if progress is not None else 0.0
        return make_event(
            type=type_,
            label=type_,
            description=type_,
            severity="low",
            confidence=1.0,
            chunk_index=span.index if span else 0,
            chunk_id=span.chunk_id if span else "",
            chunk_start=span.start_time if span else 0.0,
            chunk_relative_time=now - (span.start_time if span else 0.0),
            pts_offset=span.pts_offset if span else 0.0,
            analysis_id=new_id("ana"),
        )

    async def announce(
        self, type_: str, progress: RunProgress, payload: dict[str, Any], *, publish: bool = True
    ) -> EventRecord:
        """Store a lifecycle event in the job's log with its webhook (one transaction), then publish it
        (unless not ``publish``: the SSE stream has ended)."""
        records = await self.store.add_events(
            "job",
            self.job.id,
            [self.lifecycle_event(type_, progress)],
            [{"payload": payload}],
            deliveries=lambda stored: self.webhooks([(r, payload) for r in stored]),
        )
        self.published(records, publish=[publish])
        return records[0]

    def webhooks(self, announced: Sequence[tuple[EventRecord, dict[str, Any]]]) -> list[NewDelivery]:
        """The outbox rows announcing stored events (``(record, webhook data)`` pairs); none without a URL."""
        if not self.job.webhook_url:
            return []
        return [
            new_delivery(self.job.owner, self.job.webhook_url, WEBHOOK_TYPES[r.type], payload, job_id=self.job.id)
            for r, payload in announced
        ]

    def published(self, records: Sequence[EventRecord], *, publish: Sequence[bool] | None = None) -> None:
        """Stored (with their webhooks): tell SSE subscribers and wake the dispatcher."""
        manager = self.manager
        for i, record in enumerate(records):
            if publish is None or publish[i]:
                manager.bus.publish(self.job.id, manager.views.job_message(record))
        if self.job.webhook_url and records:
            manager.resources.wake_deliveries()

    async def begin(self, progress: RunProgress) -> None:
        """The run starts: the job is ``running`` (its source may still be connecting; ``stats.source``
        says so) and ``job_started`` is announced."""
        # The first stats (the source connecting) are stored with the status: the API reads them from the store.
        stats = job_stats(progress.stats, None, progress.health, self.summaries)
        await self.store.set_job_status_if(self.job.id, "pending", "running", stats=stats, started_at=datetime.now(UTC))
        await self.announce(
            "job_started",
            progress,
            {
                "job_id": self.job.id,
                "status": "running",
                "stream_url": redact(self.job.stream_url),
                "condition": self.job.condition,
            },
        )

    async def started(self, progress: RunProgress) -> None:
        """The first frame: nothing to announce, the job said ``job_started`` when its run began."""

    async def progress(self, progress: RunProgress) -> None:
        """Monitor jobs report progress and store stats at checks (:meth:`checked`); between them (a long
        interval, a source reconnecting) the stored stats are refreshed when the source's state changes and
        every ``_STATS_IDLE`` seconds, so that the API, which reads only the store, sees the source's state."""
        seen = source_key(progress.health)
        if seen == self._source_seen and time.monotonic() - self._last_stats < _STATS_IDLE:
            return
        self._source_seen, self._last_stats = seen, time.monotonic()
        await self.store.update_job(self.job.id, stats=job_stats(progress.stats, None, progress.health))

    async def checked(self, progress: RunProgress, sample: Sample, verdict: Verdict | None, fired: bool) -> None:
        metrics = self.manager.metrics
        outcome = "failed" if verdict is None else "reused" if verdict.reused else "ok"
        metrics.checks.labels(outcome).inc()
        if verdict is not None:
            metrics.observe_usage(verdict.usage)
        stats = progress.stats
        self._counters.update(stats.frames_skipped, stats.checks_deferred, stats.gate)
        health = progress.health
        if health is not None and health.reconnects > self._reconnects:
            metrics.source_reconnects.inc(health.reconnects - self._reconnects)
            self._reconnects = health.reconnects
        report = {
            "job_id": self.job.id,
            "checks_performed": stats.checks_performed,
            "triggers_fired": stats.triggers_fired,
            "frames_skipped": stats.frames_skipped,
            "model_calls": stats.model_calls,
            "stream_time": round(sample.session_time, 3),
            "reused": verdict is not None and verdict.reused,
            "triggered": None if verdict is None else verdict.match,
            "confidence": None if verdict is None else verdict.confidence,
            "explanation": None if verdict is None else verdict.explanation,
            "elapsed_seconds": round(stats.elapsed_seconds, 3),
        }
        self.manager.bus.publish(self.job.id, Message("progress", report))
        match, confidence = (None, None) if verdict is None else (verdict.match, verdict.confidence)
        reused = verdict is not None and verdict.reused
        self._checks.append(JobCheck(round(sample.session_time, 3), match, confidence, reused, verdict is None))
        now = time.monotonic()
        if fired or now - self._last_checks >= _CHECKS_EVERY:
            await self.flush_checks()
        if fired or now - self._last_stats >= _STATS_EVERY:  # fired: the rules' new state is stored at once
            self._last_stats = now
            await self.store.update_job(self.job.id, stats=job_stats(stats, None, health))

    async def flush_checks(self) -> None:
        """Store the checks made since the last write (a failed write loses them, never the job)."""
        checks, self._checks, self._last_checks = self._checks, [], time.monotonic()
        try:
            await self.store.add_checks(self.job.id, checks)
        except Exception:
            log.exception("job %s: storing %d checks failed", self.job.id, len(checks))

    async def events(
        self,
        progress: RunProgress,
        events: Sequence[Event],
        data: Sequence[dict[str, Any]],
        frames: Mapping[str, bytes],
    ) -> None:
        payloads = [dict(d) for d in data]
        attached: dict[str, str] = {}
        if getattr(self.spec, "include_frame", False):
            attached = {event_id: base64.b64encode(jpeg).decode() for event_id, jpeg in frames.items()}
        records = await self.store.add_events(
            "job",
            self.job.id,
            events,
            payloads,
            deliveries=lambda stored: self.webhooks([(r, self._trigger_payload(r, attached)) for r in stored]),
        )
        self.manager.metrics.triggers.inc(sum(r.type in TRIGGER_TYPES for r in records))
        self.manager.metrics.events.inc(len(records))
        self.published(records)

    def _trigger_payload(self, record: EventRecord, frames: dict[str, str]) -> dict[str, Any]:
        view = self.manager.views.trigger_view(record)
        payload = {
            "condition": view["condition"],
            "triggered": view["triggered"],
            "explanation": view["explanation"],
            "confidence": record.confidence,
            "stream_time": record.stream_time,
            "frame_url": view["frame_url"],
            "clip_url": view["clip_url"],
            "event_id": record.id,
            "capture_time": record.capture_time,
            "chunk_index": record.chunk_index,
            "t_start": record.t_start,
        }
        if record.type in RULE_TYPES:
            payload.update({k: view[k] for k in ("rule", "transition", "start", "end", "duration", "peak_confidence")})
        if record.id in frames:
            payload["frame_b64"] = frames[record.id]
        return payload

    async def chunk_recorded(self, progress: RunProgress, chunk: Chunk) -> None:
        await self.store.add_chunk("job", self.job.id, chunk)

    async def gap(self, progress: RunProgress, gap: Gap) -> None:
        await self.store.add_gap("job", self.job.id, gap.session_time, gap.wall_seconds, gap.reason)


class _DigestSink(_JobSink):
    """A digest announces one ``summary`` per window; its review events are stored, not alerted."""

    spec: DigestSpec

    def __init__(self, manager: JobManager, job: JobRecord, spec: DigestSpec) -> None:
        super().__init__(manager, job, spec)
        self.windows = int(job.stats.get("summaries_generated") or 0)  # a resumed job goes on counting

    @property
    def summaries(self) -> int | None:
        return self.windows

    async def progress(self, progress: RunProgress) -> None:
        """A digest judges once a window, so it reports ``progress`` (and stores its stats) once a capture
        interval instead, as a monitor job does at each check."""
        if time.monotonic() - self._last_stats < self.spec.capture_interval_seconds:
            return
        self._last_stats = time.monotonic()
        stats = job_stats(progress.stats, None, progress.health, self.windows)
        report = {
            "job_id": self.job.id,
            "summaries_generated": self.windows,
            "frames_received": progress.stats.frames_received,
            "stream_time": round(progress.session_time, 3),
            "elapsed_seconds": stats["elapsed_seconds"],
            "source": stats.get("source"),
        }
        self.manager.bus.publish(self.job.id, Message("progress", report))
        await self.store.update_job(self.job.id, stats=stats)

    async def events(
        self,
        progress: RunProgress,
        events: Sequence[Event],
        data: Sequence[dict[str, Any]],
        frames: Mapping[str, bytes],
    ) -> None:
        await self.store.add_events("job", self.job.id, events, [dict(d) for d in data])
        self.manager.metrics.events.inc(len(events))

    async def chunk_analysed(self, progress: RunProgress, analysis: ChunkAnalysis) -> None:
        await super().chunk_analysed(progress, analysis)
        limit = self.spec.max_windows
        if limit is not None and self.windows >= limit:
            return
        self.windows += 1
        chunk = analysis.chunk
        payload: dict[str, Any] = {
            "job_id": self.job.id,
            "window_index": chunk.index,
            "window_start": round(chunk.start_time, 3),
            "window_end": round(chunk.end_time, 3),
            "summary": analysis.summary,
            "event_count": analysis.event_count,
            "ok": analysis.ok,
        }
        if self.spec.include_frames:
            payload["frames_b64"] = [base64.b64encode(i.jpeg).decode() for i in analysis.images]
        await self.announce("summary", progress, payload)  # the run stops itself at max_windows
