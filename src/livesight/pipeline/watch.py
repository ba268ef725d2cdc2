"""``livesight watch`` and ``livesight check``: one run from the command line, recorded in the store."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from livesight.judges import Judge, accepts_video, build_judge
from livesight.pipeline.gate import GateConfig
from livesight.pipeline.once import OnceResult, check_once
from livesight.pipeline.runner import Run, RunConfig, RunProgress
from livesight.pipeline.sinks import NullSink, StoreSink
from livesight.rules import StopReason, TriggerRule, job_status_for
from livesight.settings import Settings
from livesight.sources.hub import SourceOptions, SourceRegistry
from livesight.sources.probe import probe
from livesight.sources.urls import classify, redact
from livesight.store import Store
from livesight.types import Event, Sample, Verdict

if TYPE_CHECKING:
    from livesight.cli import TriggerPrinter


@dataclass(frozen=True)
class WatchOptions:
    source: str
    condition: str
    interval: float = 2.0
    mode: Literal["frames", "clip", "hybrid"] = "frames"
    clip_duration: float = 3.0
    rule: TriggerRule = field(default_factory=lambda: TriggerRule(max_triggers=None, once_per_appearance=True))
    duration: float | None = None
    start_at: Literal["live_edge", "first"] = "live_edge"
    realtime: bool = True
    chunk_seconds: float = 10.0
    prefilter: bool = True


class _PrinterSink(NullSink):
    def __init__(self, printer: TriggerPrinter) -> None:
        self.printer = printer

    async def events(
        self,
        progress: RunProgress,
        events: Sequence[Event],
        data: Sequence[dict[str, Any]],
        frames: Mapping[str, bytes],
    ) -> None:
        for event, extra in zip(events, data, strict=True):
            self.printer.event(event, extra)

    async def checked(self, progress: RunProgress, sample: Sample, verdict: Verdict | None, fired: bool) -> None:
        self.printer.status(status_line(progress))

    async def chunk_recorded(self, progress: RunProgress, chunk: Any) -> None:
        self.printer.status(status_line(progress))

    async def progress(self, progress: RunProgress) -> None:
        self.printer.status(status_line(progress))


def status_line(progress: RunProgress) -> str:
    s = progress.stats
    health = progress.health
    state = health.state.value if health is not None else "starting"
    reconnects = f" · reconnects {health.reconnects}" if health is not None and health.reconnects else ""
    local = f" · local {s.local_calls}" if s.local_calls else ""
    tokens = f" · tokens {s.input_tokens}/{s.output_tokens}" if s.input_tokens or s.output_tokens else ""
    deferred = f" · deferred {s.checks_deferred}" if s.checks_deferred else ""
    return (
        f"{state} · t={s.session_time:6.1f}s · chunks {s.chunks_recorded} · checks {s.checks_performed}"
        f" · skipped {s.frames_skipped} · triggers {s.triggers_fired} · model calls {s.model_calls}{local}{tokens}"
        f"{deferred} · lag {s.lag_seconds:.1f}s{reconnects}"
    )


async def _validate(settings: Settings, source: str) -> None:
    classify(source)  # raises InvalidSourceURL with a readable message
    await asyncio.to_thread(probe, source, settings)


async def watch_source(
    settings: Settings, options: WatchOptions, printer: TriggerPrinter, judge: Judge | None = None
) -> int:
    """Watch until the source ends, the limits are reached or Ctrl-C; returns the exit code."""
    await _validate(settings, options.source)
    own_judge = judge is None
    # The command line may download local CLIP's weights on first use (a progress bar, then the run).
    if judge is None:
        judge = await asyncio.to_thread(build_judge, settings, download=True)
    store = await Store.open(settings.resolved_database_url())
    registry = SourceRegistry(settings)
    try:
        config = RunConfig(
            source_url=options.source,
            condition=options.condition,
            interval_seconds=options.interval,
            input_mode=options.mode,
            clip_duration_seconds=options.clip_duration,
            chunk_seconds=options.chunk_seconds,
            max_duration_seconds=options.duration,
            rule=options.rule,
            source=SourceOptions(realtime=options.realtime, start_at=options.start_at),
            concurrency=settings.model_concurrency,
            frame_long_side=settings.frame_long_side,
            jpeg_quality=settings.jpeg_quality,
            prefilter=options.prefilter,
            gate=GateConfig.from_settings(settings),
            max_model_calls_per_hour=settings.max_model_calls_per_hour,
            video_clips=accepts_video(judge),
        )
        job = await store.create_job(
            "watch",
            options.source,
            options.condition,
            config={
                "interval_seconds": options.interval,
                "input_mode": options.mode,
                "rule": vars(options.rule),
                "enable_prefilter": options.prefilter,
                "judge": judge.name,
            },
        )
        sink = StoreSink(store, "job", job.id, [_PrinterSink(printer)])
        run = Run(
            job.id, config, judge=judge, registry=registry, sink=sink, recordings_dir=settings.recordings_dir / job.id
        )
        await store.update_job(job.id, status="running", started_at=datetime.now(UTC))
        printer.info(f"watching {redact(options.source)} for “{options.condition}” (job {job.id}; Ctrl-C to stop)")
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGINT, run.cancel)
            loop.add_signal_handler(signal.SIGTERM, run.cancel)
        with printer:
            result = await run.run()
        status = job_status_for(result.reason)
        if result.reason in (StopReason.SOURCE_ENDED, StopReason.CANCELLED):
            status = job_status_for(StopReason.CANCELLED)
        await store.update_job(
            job.id,
            status=status.value,
            reason=result.reason.value,
            stats=result.stats.as_dict(),
            ended_at=datetime.now(UTC),
        )
        s = result.stats
        printer.info(
            f"{result.reason.value}: {result.detail} · {s.session_time:.1f}s watched · {s.checks_performed} checks"
            f" · {s.frames_skipped} skipped (unchanged) · {s.model_calls} model calls · {s.triggers_fired} trigger(s)"
            f" · {s.chunks_recorded} chunks"
        )
        return 1 if status.value == "failed" else 0
    finally:
        registry.stop_all()
        if own_judge:
            await judge.aclose()
        await store.close()


async def check_source(
    settings: Settings, source: str, condition: str, mode: Literal["frames", "clip", "hybrid"], clip_duration: float
) -> OnceResult:
    classify(source)
    judge = await asyncio.to_thread(build_judge, settings, download=True)
    registry = SourceRegistry(settings)
    try:
        await asyncio.to_thread(probe, source, settings)
        return await check_once(
            source,
            condition,
            judge,
            registry,
            input_mode=mode,
            clip_duration=clip_duration,
            long_side=settings.frame_long_side,
        )
    finally:
        registry.stop_all()
        await judge.aclose()
