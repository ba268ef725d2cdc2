"""What a job or session is asked to do, and the engine's run config for it.

A spec is built from a validated API request when a run is created, and rebuilt from its stored row
(``stream_url``, ``condition``, ``webhook_url``, ``config``) when a worker — this process after a restart,
another replica, a Ray actor — claims it: the run config comes from the spec and settings alone.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from livesight.judges import Judge
from livesight.pipeline.gate import GateConfig
from livesight.pipeline.runner import RunConfig
from livesight.pipeline.stats import RunStats
from livesight.rules import StopReason, TriggerRule
from livesight.settings import Settings
from livesight.sources.hub import SourceOptions
from livesight.sources.urls import redact
from livesight.store.records import JobRecord, SessionRecord
from livesight.types import InputMode

DIGEST_QUERY = (
    "Summarize what happens in this stretch of a live stream in two or three sentences, and list the notable "
    "events with their times."
)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value.strip()


NonBlank = Annotated[str, AfterValidator(_not_blank)]
"""Text that must say something: surrounding spaces go, and only spaces is refused like an empty value."""


def http_url(value: str) -> str:
    value = value.strip()
    if not value.lower().startswith(("http://", "https://")) or len(value.split("://", 1)[1]) == 0:
        raise ValueError("must be an http(s) URL")
    return value


HttpURL = Annotated[str, AfterValidator(http_url)]

_DEFAULT_MIN_INTERVAL: float = Settings.model_fields["min_interval_seconds"].default
_SPEC = ConfigDict(extra="ignore", frozen=True)


class MonitorSpec(BaseModel):
    """What a live-monitor job watches for, and how (SPEC §3): declared once, here. The API's request body is
    this plus ``skip_validation``; the job's stored ``config`` is this without the URL, condition and webhook
    (which have their own columns); the engine's :class:`RunConfig` is derived from it and settings."""

    model_config = _SPEC

    stream_url: NonBlank = Field(min_length=1, max_length=500, description="HLS, RTSP(S) or YouTube/Twitch live URL.")
    condition: NonBlank = Field(min_length=1, max_length=1000, description="Best phrased as a yes/no question.")
    webhook_url: HttpURL | None = Field(default=None, min_length=1, max_length=2083, description="Webhook mode.")
    interval_seconds: float = Field(
        default=10,
        le=300,
        json_schema_extra={"minimum": _DEFAULT_MIN_INTERVAL},
        description="Seconds between checks: from the server's minimum (LIVESIGHT_MIN_INTERVAL_SECONDS, 5 unless "
        "configured lower) to 300.",
    )
    input_mode: InputMode = Field(default="frames", description="frames, clip or hybrid.")
    clip_duration_seconds: float = Field(default=3, ge=1, le=10, description="Clip length (clip, hybrid).")
    monitor_duration_seconds: float | None = Field(default=600, ge=5, description="null: until cancelled.")
    trigger_cooldown_seconds: float = Field(default=0, ge=0, le=3600)
    max_triggers: int | None = Field(default=1, ge=1, description="null: unlimited.")
    enable_prefilter: bool = Field(default=True, description="Skip model calls while the picture is unchanged.")
    include_frame: bool = Field(default=False, description="Add frame_b64 to watch_triggered webhooks.")
    max_model_calls_per_hour: int | None = Field(
        default=None,
        ge=1,
        description="LiveSight extension: a budget of model calls per hour; past it the interval stretches "
        "instead of the job failing (null: the server's LIVESIGHT_MAX_MODEL_CALLS_PER_HOUR).",
    )

    def config(self) -> dict[str, Any]:
        """What is stored in the job's ``config`` (the URL, condition and webhook have their own columns)."""
        return self.model_dump(include=set(MonitorSpec.model_fields) - {"stream_url", "condition", "webhook_url"})

    @classmethod
    def of(cls, job: JobRecord) -> MonitorSpec:
        """The spec of a stored job (not validated again: it was when the job was created)."""
        stored = {k: v for k, v in job.config.items() if k in MonitorSpec.model_fields}
        return MonitorSpec.model_construct(
            stream_url=job.stream_url, condition=job.condition or "", webhook_url=job.webhook_url, **stored
        )

    def run_config(self, settings: Settings) -> RunConfig:
        return RunConfig(
            source_url=self.stream_url,
            condition=self.condition,
            interval_seconds=self.interval_seconds,
            input_mode=self.input_mode,
            clip_duration_seconds=self.clip_duration_seconds,
            chunk_seconds=settings.chunk_seconds,
            max_duration_seconds=self.monitor_duration_seconds,
            rule=TriggerRule(self.trigger_cooldown_seconds, self.max_triggers, once_per_appearance=False),
            source=SourceOptions(realtime=True),
            concurrency=settings.model_concurrency,
            frame_long_side=settings.frame_long_side,
            jpeg_quality=settings.jpeg_quality,
            prefilter=self.enable_prefilter,
            gate=GateConfig.from_settings(settings),
            max_model_calls_per_hour=self.max_model_calls_per_hour or settings.max_model_calls_per_hour,
        )


class DigestSpec(BaseModel):
    """A digest job: a summary of every window of the stream (declared once, as :class:`MonitorSpec`)."""

    model_config = _SPEC

    stream_url: NonBlank = Field(min_length=1, max_length=500)
    window_minutes: float = Field(default=5, ge=0.1, le=120, description="Length of each summarised window.")
    capture_interval_seconds: float = Field(default=30, ge=1, le=600, description="One frame every this many seconds.")
    include_frames: bool = Field(default=False, description="Add the judged frames (base64) to each summary.")
    max_windows: int | None = Field(default=None, ge=1, description="Stop after this many summaries (null: never).")
    webhook_url: HttpURL | None = Field(default=None, min_length=1, max_length=2083)

    def config(self) -> dict[str, Any]:
        return self.model_dump(include=set(DigestSpec.model_fields) - {"stream_url", "webhook_url"})

    @classmethod
    def of(cls, job: JobRecord) -> DigestSpec:
        stored = {k: v for k, v in job.config.items() if k in DigestSpec.model_fields}
        return DigestSpec.model_construct(stream_url=job.stream_url, webhook_url=job.webhook_url, **stored)

    def run_config(self, settings: Settings) -> RunConfig:
        window = self.window_minutes * 60
        return RunConfig(
            source_url=self.stream_url,
            review_query=DIGEST_QUERY,
            chunk_seconds=window,
            review_frames=max(1, min(60, round(window / self.capture_interval_seconds))),
            max_reviews=self.max_windows,
            source=SourceOptions(realtime=True),
            prefilter=False,  # every window gets its digest, changed or not
            concurrency=settings.model_concurrency,
            frame_long_side=settings.frame_long_side,
            jpeg_quality=settings.jpeg_quality,
        )


def session_run_config(session: SessionRecord, settings: Settings) -> RunConfig:
    """A livestream session's run: recorded in chunks, each reviewed when it has a rapid-review query."""
    return RunConfig(
        source_url=session.source_url,
        review_query=session.rapid_review_query,
        chunk_seconds=settings.chunk_seconds,
        record=True,
        source=SourceOptions(realtime=True),
        concurrency=settings.model_concurrency,
        frame_long_side=settings.frame_long_side,
        jpeg_quality=settings.jpeg_quality,
        prefilter=settings.session_prefilter,
        gate=GateConfig.from_settings(settings),
        event_max_hold_seconds=settings.session_event_max_hold_seconds,
    )


def model_name(judge: Judge) -> str:
    """The model a job's checks go to, as ``config.model`` reports it."""
    return str(getattr(judge, "model", None) or type(judge).__name__)


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
        out["source"] = source_health(health)
    return out


def source_health(health: Any) -> dict[str, Any]:
    """A run's source as its stored stats show it (``stats.source``): what the API and the web UI read."""
    age = health.last_frame_age()
    return {
        "state": health.state.value,
        "reconnects": health.reconnects,
        "last_frame_age_seconds": None if age is None else round(age, 3),
        "error": health.error,
    }


def session_stats(stats: RunStats, health: Any = None) -> dict[str, Any]:
    """A session's stored ``stats``: the run's counters and, while it runs, its source's health."""
    out = stats.as_dict()
    if health is not None:
        out["source"] = source_health(health)
    return out
