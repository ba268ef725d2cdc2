"""Live-monitor jobs: starting, supervising and stopping runs, and announcing what they do.

Every announcement is written to the store with its webhooks in one transaction (the job's event log,
whose ``seq`` is the SSE id, and the outbox), then published to SSE subscribers and the dispatcher woken,
so nothing a client is told can be lost by a crash, and no webhook sent twice.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from livesight.delivery.broker import Message, until_ended
from livesight.delivery.webhooks import new_delivery
from livesight.errors import LiveSightError
from livesight.judges import Judge, accepts_video
from livesight.metrics import RunCounters
from livesight.pipeline.gate import GateConfig
from livesight.pipeline.manager import RunManager
from livesight.pipeline.runner import ChunkAnalysis, Resume, Run, RunConfig, resume_point
from livesight.pipeline.sinks import StoreSink
from livesight.pipeline.stats import RunStats
from livesight.rules import StopReason, TriggerRule, job_status_for, make_event, new_id
from livesight.sources.hub import SourceOptions
from livesight.sources.probe import RecentProbes
from livesight.sources.urls import redact
from livesight.store._checks import JobCheck
from livesight.store.records import EventRecord, JobRecord, NewDelivery
from livesight.types import Chunk, Event, Gap, InputMode, Sample, Verdict

if TYPE_CHECKING:
    from livesight.pipeline.runner import RunResult

log = logging.getLogger(__name__)

# SSE event names (SPEC §3) for the stored event types, and the webhook types for them.
SSE_NAMES = {
    "job_started": "started",
    "condition": "triggered",
    "job_stopped": "stopped",
    "error": "error",
    "summary": "summary",
}
WEBHOOK_TYPES = {
    "job_started": "job_started",
    "condition": "watch_triggered",
    "job_stopped": "job_stopped",
    "error": "error",
    "summary": "summary_generated",
}
DIGEST_QUERY = (
    "Summarize what happens in this stretch of a live stream in two or three sentences, and list the notable "
    "events with their times."
)
TERMINAL_TYPES = {"job_stopped", "error"}
_STATS_EVERY = 2.0  # seconds between stats writes while a job runs
_STATS_IDLE = 10.0  # seconds without a check after which a monitor job's stored stats are refreshed anyway
_CANCEL_WAIT = 15.0  # seconds a cancel waits for the job to end before answering
_CHECKS_EVERY = 2.0  # seconds between writes of a job's checks (the UI's chart); a trigger writes at once


class MaxJobsReached(LiveSightError):
    code = "MAX_JOBS_REACHED"
    remediation = "Cancel a running job (DELETE /api/jobs/{job_id}) or raise LIVESIGHT_MAX_JOBS."


@dataclass(frozen=True)
class MonitorSpec:
    """A validated ``POST /api/live-monitor`` request (SPEC §3)."""

    stream_url: str
    condition: str
    webhook_url: str | None = None
    interval_seconds: float = 10.0
    input_mode: InputMode = "frames"
    clip_duration_seconds: float = 3.0
    monitor_duration_seconds: float | None = 600.0
    trigger_cooldown_seconds: float = 0.0
    max_triggers: int | None = 1
    enable_prefilter: bool = True
    include_frame: bool = False
    #: LiveSight's extension: past this many model calls an hour the interval stretches (None: settings').
    max_model_calls_per_hour: int | None = None

    def config(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in ("stream_url", "condition", "webhook_url")}


@dataclass(frozen=True)
class DigestSpec:
    """A validated ``POST /api/live-digest`` request: a summary of every window of the stream."""

    stream_url: str
    window_minutes: float = 5.0
    capture_interval_seconds: float = 30.0
    include_frames: bool = False
    max_windows: int | None = None
    webhook_url: str | None = None

    def config(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in ("stream_url", "webhook_url")}


def _spec_args(spec: type[MonitorSpec | DigestSpec], config: dict[str, Any]) -> dict[str, Any]:
    """A stored config's fields of ``spec`` (it also records e.g. the model, which is not the spec's)."""
    names = {f.name for f in fields(spec)}
    return {k: v for k, v in config.items() if k in names}


def job_config(job: JobRecord) -> dict[str, Any]:
    """``config`` of ``GET /api/jobs/{id}`` (and the ``details`` of the job just created): the documented
    keys (condition, model, webhook_url — redacted) and every other setting the job was created with."""
    out: dict[str, Any] = {"condition": job.condition} if job.job_type != "live-digest" else {}
    out.update({"model": job.config.get("model"), "webhook_url": redact(job.webhook_url) if job.webhook_url else None})
    out.update({k: v for k, v in job.config.items() if k not in out})
    return out


def job_stats(stats: RunStats, reason: str | None, health: Any = None, summaries: int | None = None) -> dict[str, Any]:
    """``stats`` of ``GET /api/jobs/{id}``: SPEC's fields first, then LiveSight's extras. ``summaries`` (a
    digest's windows summarised) is ``summaries_generated``."""
    extra = stats.as_dict()
    out: dict[str, Any] = {
        "checks_performed": stats.checks_performed,
        "triggers_fired": stats.triggers_fired,
        "frames_skipped": stats.frames_skipped,
        "elapsed_seconds": round(stats.elapsed_seconds, 3),
        "auto_stopped": reason in (StopReason.MAX_DURATION_REACHED, StopReason.SOURCE_ENDED),
        "reason": reason,
        "model_calls": stats.model_calls,
        "tokens": extra["tokens"],
    }
    if summaries is not None:
        out["summaries_generated"] = summaries
    out.update({k: v for k, v in extra.items() if k not in out})
    if health is not None:
        out["source"] = {
            "state": health.state.value,
            "reconnects": health.reconnects,
            "last_frame_age_seconds": None if health.last_frame_age() is None else round(health.last_frame_age(), 3),
        }
    return out


class JobManager(RunManager):
    """Runs every live-monitor job of this process."""

    def __init__(self, **resources: Any) -> None:
        super().__init__(**resources)
        #: Streams ``POST /api/prepare-stream`` found live a moment ago: the next job on them skips its probe.
        self.probes = RecentProbes()

    # -- lifecycle ---------------------------------------------------------------------------
    async def claim(self, dead_workers: Iterable[str] = ()) -> int:
        """Claim the jobs whose lease ran out (their process is gone) and resume them here: same id, its
        timeline and counters continued, the outage recorded as a gap. A source that is gone ends it by
        the give-up rule; a cancel asked for meanwhile stops it at once."""
        claimed = await self.store.claim_jobs(self.worker_id, self.settings.lease_seconds, dead_workers=dead_workers)
        resumed = 0
        for job in claimed:
            if job.id in self._runs:
                continue  # already runs here: the claim renewed a lease that had lapsed
            try:
                resume = await resume_point(self.store, "job", job.id, job.stats, job.started_at or job.created_at)
                judge = self.judge()
                if job.job_type == "live-digest":
                    digest = DigestSpec(
                        stream_url=job.stream_url, webhook_url=job.webhook_url, **_spec_args(DigestSpec, job.config)
                    )
                    sink: _JobSink = _DigestSink(self, job, digest)
                    self._launch(job, self._digest_config(digest), judge, sink, job.owner, resume)
                else:
                    spec = MonitorSpec(
                        stream_url=job.stream_url,
                        condition=job.condition or "",
                        webhook_url=job.webhook_url,
                        **_spec_args(MonitorSpec, job.config),
                    )
                    self._launch(job, self._monitor_config(spec), judge, _JobSink(self, job, spec), job.owner, resume)
                resumed += 1
                log.info("job %s resumed at %.1fs by worker %s", job.id, resume.time_offset, self.worker_id)
            except Exception as exc:  # a job that cannot be rebuilt ends visibly instead of staying "running"
                log.exception("job %s could not be resumed", job.id)
                await self.store.update_job(
                    job.id,
                    status="failed",
                    reason="server_restarted",
                    ended_at=datetime.now(UTC),
                    stats={**job.stats, "reason": "server_restarted", "error": f"could not resume: {exc}"},
                )
        return resumed

    # -- jobs --------------------------------------------------------------------------------
    async def create(
        self, spec: MonitorSpec, owner: str | None, delivery_mode: Literal["webhook", "sse", "polling"]
    ) -> JobRecord:
        await self._check_capacity(owner)
        judge = self.judge()  # raises JudgeNotConfigured before anything is created
        config = {**spec.config(), "model": _model_name(judge)}
        job = await self.store.create_job(
            "live-monitor",
            spec.stream_url,
            spec.condition,
            delivery_mode,
            spec.webhook_url,
            config,
            owner,
            worker_id=self.worker_id,
            lease_seconds=self.settings.lease_seconds,
        )
        return self._launch(job, self._monitor_config(spec), judge, _JobSink(self, job, spec), owner)

    def _monitor_config(self, spec: MonitorSpec) -> RunConfig:
        return RunConfig(
            source_url=spec.stream_url,
            condition=spec.condition,
            interval_seconds=spec.interval_seconds,
            input_mode=spec.input_mode,
            clip_duration_seconds=spec.clip_duration_seconds,
            chunk_seconds=self.settings.chunk_seconds,
            max_duration_seconds=spec.monitor_duration_seconds,
            rule=TriggerRule(spec.trigger_cooldown_seconds, spec.max_triggers, once_per_appearance=False),
            source=SourceOptions(realtime=True),
            concurrency=self.settings.model_concurrency,
            frame_long_side=self.settings.frame_long_side,
            jpeg_quality=self.settings.jpeg_quality,
            prefilter=spec.enable_prefilter,
            gate=GateConfig.from_settings(self.settings),
            max_model_calls_per_hour=spec.max_model_calls_per_hour or self.settings.max_model_calls_per_hour,
        )

    async def create_digest(
        self, spec: DigestSpec, owner: str | None, delivery_mode: Literal["webhook", "sse", "polling"]
    ) -> JobRecord:
        await self._check_capacity(owner)
        judge = self.judge()
        config = {**spec.config(), "model": _model_name(judge)}
        job = await self.store.create_job(
            "live-digest",
            spec.stream_url,
            None,
            delivery_mode,
            spec.webhook_url,
            config,
            owner,
            worker_id=self.worker_id,
            lease_seconds=self.settings.lease_seconds,
        )
        return self._launch(job, self._digest_config(spec), judge, _DigestSink(self, job, spec), owner)

    def _digest_config(self, spec: DigestSpec) -> RunConfig:
        window = spec.window_minutes * 60
        return RunConfig(
            source_url=spec.stream_url,
            review_query=DIGEST_QUERY,
            chunk_seconds=window,
            review_frames=max(1, min(60, round(window / spec.capture_interval_seconds))),
            source=SourceOptions(realtime=True),
            prefilter=False,  # every window gets its digest, changed or not
            concurrency=self.settings.model_concurrency,
            frame_long_side=self.settings.frame_long_side,
            jpeg_quality=self.settings.jpeg_quality,
        )

    async def _check_capacity(self, owner: str | None) -> None:
        # Counted in the store: the key's jobs may run on any replica.
        if await self.store.count_live_jobs(owner) >= self.settings.max_jobs:
            raise MaxJobsReached(f"This key already runs {self.settings.max_jobs} jobs.")

    def _launch(
        self,
        job: JobRecord,
        config: RunConfig,
        judge: Judge,
        sink: _JobSink,
        owner: str | None,
        resume: Resume | None = None,
    ) -> JobRecord:
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
        return job

    async def cancel(self, job_id: str, owner: str | None = None) -> bool:
        """Ask for the job to stop, whichever process runs it (a change to its row, which the owner acts on
        within a second), and wait a bounded time until the store shows it ended. ``False``: it had ended."""
        if not await self.store.request_job_stop(job_id, owner):
            return False
        self.stop_requested(job_id)  # it runs here: act now rather than at the next poll
        await self._wait_local(job_id, _CANCEL_WAIT)

        async def ended() -> bool:
            job = await self.store.get_job(job_id)
            return job is None or job.status not in ("pending", "running")

        await until_ended(self.broker, job_id, ended, _CANCEL_WAIT)
        return True

    async def _supervise(self, job: JobRecord, run: Run, sink: _JobSink) -> None:
        """A job is ``running`` (and says ``job_started``) from the moment its run starts, while its source
        is still connecting; whatever ends it, it says ``job_stopped`` with its status and reason — after
        ``error`` when it failed. The SSE stream ends at ``error`` (terminal), so ``job_stopped`` after an
        error goes to the webhook and the job's log only."""
        if run.resume is None:
            try:
                await sink.begin(run)
            except Exception:  # the run still starts; its end is stored and announced as always
                log.exception("job %s: announcing its start failed", job.id)
        ticker = asyncio.create_task(sink.tick(run), name=f"job:{job.id}:progress")
        try:
            result = await self.outcome(run, f"job {job.id}")
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker  # its last stats write lands before the final one
        await self._end(job, run, sink, result)

    async def _end(self, job: JobRecord, run: Run, sink: _JobSink, result: RunResult) -> None:
        if job.id in self._lost:
            return  # another worker runs it now and will store its end
        await sink.flush_checks()
        status = job_status_for(result.reason)
        stats = job_stats(result.stats, result.reason.value, run.health, sink.summaries)
        if status.value == "failed":
            stats["error"] = result.detail
        final = {"job_id": job.id, "status": status.value, "reason": result.reason.value, "final_stats": stats}
        # The SSE stream ends at ``error`` (terminal), so ``job_stopped`` after an error is not published.
        if status.value == "failed":
            final["message"] = result.detail
            announced = [("error", True), ("job_stopped", False)]
        else:
            announced = [("job_stopped", True)]
        events = [sink.lifecycle_event(type_, run) for type_, _ in announced]
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

    # -- reading -----------------------------------------------------------------------------
    def frame_url(self, job_id: str, event_id: str) -> str:
        path, _ = self.signer.sign(
            f"/api/jobs/{job_id}/events/{event_id}/frame.jpg", self.settings.signed_url_ttl_seconds
        )
        return self.public_url() + path

    def clip_url(self, job_id: str, chunk_index: int) -> str:
        path, _ = self.signer.sign(f"/api/jobs/{job_id}/chunks/{chunk_index}.ts", self.settings.signed_url_ttl_seconds)
        return self.public_url() + path

    def message_for(self, record: EventRecord) -> Message:
        """The SSE message of a stored event; every one names its job (``job_id``)."""
        name = SSE_NAMES.get(record.type, record.type)
        data = dict(record.data.get("payload") or {})
        if record.type == "condition" and record.job_id:
            data = {**data, **self.trigger_view(record)}
        data = {"job_id": record.job_id, **data}
        return Message(name, data, record.seq, terminal=record.type in TERMINAL_TYPES)

    def trigger_view(self, record: EventRecord) -> dict[str, Any]:
        """A trigger as ``GET /api/jobs/{id}`` and the ``triggered`` event show it."""
        assert record.job_id is not None
        event = record.to_event()
        view = asdict(event)
        view.update(
            condition=record.data.get("condition"),
            triggered=True,
            explanation=record.data.get("explanation", record.description),
            frame_url=self.frame_url(record.job_id, record.id) if record.data.get("frame_path") else None,
            clip_url=self.clip_url(record.job_id, record.chunk_index),
            seq=record.seq,
            # Which judge(s) said yes (a cascade: both stages), and whether the gate reused the verdict.
            stages=record.data.get("stages"),
            reused=record.data.get("reused", False),
        )
        return view


def _model_name(judge: Judge) -> str:
    """The model a job's checks go to, as ``config.model`` reports it."""
    return str(getattr(judge, "model", None) or type(judge).__name__)


class _JobSink(StoreSink):
    """Persists the run's output, then tells SSE subscribers and the webhook outbox."""

    def __init__(self, manager: JobManager, job: JobRecord, spec: MonitorSpec | DigestSpec) -> None:
        super().__init__(manager.store, "job", job.id)
        self.manager = manager
        self.job = job
        self.spec = spec
        self._last_stats = 0.0
        self._reconnects = 0
        self._counters = RunCounters(manager.metrics)
        self._checks: list[JobCheck] = []
        self._last_checks = time.monotonic()

    @property
    def summaries(self) -> int | None:
        """A digest's windows summarised so far (``stats.summaries_generated``); None for a monitor job."""
        return None

    def lifecycle_event(self, type_: str, run: Run) -> Event:
        """A lifecycle event (``job_started``, ``summary``, ``job_stopped``…) at the run's current point."""
        span = run.chunker.span_at(run.stats.session_time)
        return make_event(
            type=type_,
            label=type_,
            description=type_,
            severity="low",
            confidence=1.0,
            chunk_index=span.index if span else 0,
            chunk_id=span.chunk_id if span else "",
            chunk_start=span.start_time if span else 0.0,
            chunk_relative_time=run.stats.session_time - (span.start_time if span else 0.0),
            pts_offset=span.pts_offset if span else 0.0,
            analysis_id=new_id("ana"),
        )

    async def announce(self, type_: str, run: Run, payload: dict[str, Any], *, publish: bool = True) -> EventRecord:
        """Store a lifecycle event in the job's log with its webhook (one transaction), then publish it
        (unless not ``publish``: the SSE stream has ended)."""
        records = await self.store.add_events(
            "job",
            self.job.id,
            [self.lifecycle_event(type_, run)],
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
                manager.broker.publish(self.job.id, manager.message_for(record))
        if self.job.webhook_url and records and manager.dispatcher is not None:
            manager.dispatcher.notify()

    async def begin(self, run: Run) -> None:
        """The run starts: the job is ``running`` (its source may still be connecting; ``stats.source``
        says so) and ``job_started`` is announced."""
        # The first stats (the source connecting) are stored with the status: the API reads them from the store.
        stats = job_stats(run.stats, None, run.health, self.summaries)
        await self.store.set_job_status_if(self.job.id, "pending", "running", stats=stats, started_at=datetime.now(UTC))
        await self.announce(
            "job_started",
            run,
            {
                "job_id": self.job.id,
                "status": "running",
                "stream_url": redact(self.job.stream_url),
                "condition": self.job.condition,
            },
        )

    async def started(self, run: Run) -> None:
        """The first frame: nothing to announce, the job said ``job_started`` when its run began."""

    async def tick(self, run: Run) -> None:
        """Monitor jobs report progress and store stats at checks (:meth:`checked`); between them (a long
        interval, a source reconnecting) the stored stats are refreshed every ``_STATS_IDLE`` seconds, so
        that the API, which reads only the store, sees the source's state."""
        while True:
            await asyncio.sleep(_STATS_EVERY)
            if time.monotonic() - self._last_stats < _STATS_IDLE:
                continue
            self._last_stats = time.monotonic()
            try:
                await self.store.update_job(self.job.id, stats=job_stats(run.stats, None, run.health))
            except Exception:  # a missed refresh must not end the job
                log.exception("job %s: storing stats failed", self.job.id)

    async def checked(self, run: Run, sample: Sample, verdict: Verdict | None, fired: bool) -> None:
        metrics = self.manager.metrics
        outcome = "failed" if verdict is None else "reused" if verdict.reused else "ok"
        metrics.checks.labels(outcome).inc()
        if verdict is not None:
            metrics.observe_usage(verdict.usage)
        self._counters.update(run.stats.frames_skipped, run.stats.checks_deferred, run.stats.gate)
        health = run.health
        if health is not None and health.reconnects > self._reconnects:
            metrics.source_reconnects.inc(health.reconnects - self._reconnects)
            self._reconnects = health.reconnects
        progress = {
            "job_id": self.job.id,
            "checks_performed": run.stats.checks_performed,
            "triggers_fired": run.stats.triggers_fired,
            "frames_skipped": run.stats.frames_skipped,
            "model_calls": run.stats.model_calls,
            "stream_time": round(sample.session_time, 3),
            "reused": verdict is not None and verdict.reused,
            "triggered": None if verdict is None else verdict.match,
            "confidence": None if verdict is None else verdict.confidence,
            "explanation": None if verdict is None else verdict.explanation,
            "elapsed_seconds": round(run.stats.elapsed_seconds, 3),
        }
        self.manager.broker.publish(self.job.id, Message("progress", progress))
        match, confidence = (None, None) if verdict is None else (verdict.match, verdict.confidence)
        reused = verdict is not None and verdict.reused
        self._checks.append(JobCheck(round(sample.session_time, 3), match, confidence, reused, verdict is None))
        now = time.monotonic()
        if fired or now - self._last_checks >= _CHECKS_EVERY:
            await self.flush_checks()
        if now - self._last_stats >= _STATS_EVERY:
            self._last_stats = now
            await self.store.update_job(self.job.id, stats=job_stats(run.stats, None, health))

    async def flush_checks(self) -> None:
        """Store the checks made since the last write (a failed write loses them, never the job)."""
        checks, self._checks, self._last_checks = self._checks, [], time.monotonic()
        try:
            await self.store.add_checks(self.job.id, checks)
        except Exception:
            log.exception("job %s: storing %d checks failed", self.job.id, len(checks))

    async def events(self, run: Run, events: Sequence[Event], data: Sequence[dict[str, Any]]) -> None:
        payloads = [dict(d) for d in data]
        frames: dict[str, str] = {}
        if getattr(self.spec, "include_frame", False):  # read before the transaction, which must not wait on disk
            for event, payload in zip(events, payloads, strict=True):
                if payload.get("frame_path"):
                    jpeg = await run.read_stored(payload["frame_path"])
                    frames[event.event_id] = base64.b64encode(jpeg).decode()
        records = await self.store.add_events(
            "job",
            self.job.id,
            events,
            payloads,
            deliveries=lambda stored: self.webhooks([(r, self._trigger_payload(r, frames)) for r in stored]),
        )
        self.manager.metrics.triggers.inc(len(records))
        self.manager.metrics.events.inc(len(records))
        self.published(records)

    def _trigger_payload(self, record: EventRecord, frames: dict[str, str]) -> dict[str, Any]:
        view = self.manager.trigger_view(record)
        payload = {
            "condition": view["condition"],
            "triggered": True,
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
        if record.id in frames:
            payload["frame_b64"] = frames[record.id]
        return payload

    async def chunk_recorded(self, run: Run, chunk: Chunk) -> None:
        await self.store.add_chunk("job", self.job.id, chunk)

    async def gap(self, run: Run, gap: Gap) -> None:
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

    async def tick(self, run: Run) -> None:
        """A digest judges once a window, so it reports ``progress`` (and stores its stats) once a capture
        interval instead, as a monitor job does at each check."""
        while True:
            await asyncio.sleep(self.spec.capture_interval_seconds)
            try:
                await self._progress(run)
            except Exception:  # a missed progress report must not end the job
                log.exception("job %s: progress report failed", self.job.id)

    async def _progress(self, run: Run) -> None:
        stats = job_stats(run.stats, None, run.health, self.windows)
        progress = {
            "job_id": self.job.id,
            "summaries_generated": self.windows,
            "frames_received": run.stats.frames_received,
            "stream_time": round(run.stats.session_time, 3),
            "elapsed_seconds": stats["elapsed_seconds"],
            "source": stats.get("source"),
        }
        self.manager.broker.publish(self.job.id, Message("progress", progress))
        await self.store.update_job(self.job.id, stats=stats)

    async def events(self, run: Run, events: Sequence[Event], data: Sequence[dict[str, Any]]) -> None:
        await self.store.add_events("job", self.job.id, events, [dict(d) for d in data])
        self.manager.metrics.events.inc(len(events))

    async def chunk_analysed(self, run: Run, analysis: ChunkAnalysis) -> None:
        await super().chunk_analysed(run, analysis)
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
        await self.announce("summary", run, payload)
        if limit is not None and self.windows >= limit:
            run.stop(StopReason.MAX_WINDOWS_REACHED, f"{self.windows} window(s)")
