"""What a job or session is asked to do, and the engine's run config for it.

A spec is built from a validated API request when a run is created, and rebuilt from its stored row
(``stream_url``, ``condition``, ``webhook_url``, ``config``) when a worker — this process after a restart,
another replica, a Ray actor — claims it: the run config comes from the spec and settings alone.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from livesight.judges import Judge
from livesight.pipeline.gate import GateConfig
from livesight.pipeline.runner import RunConfig
from livesight.pipeline.stats import RunStats
from livesight.rules import StopReason, TriggerRule
from livesight.rules.appearances import DAYS, RuleSpec, Schedule
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

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_EVERY_DAY: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class KOfN(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    k: int = Field(ge=1, description="positive answers needed…")
    n: int = Field(ge=1, le=100, description="…among the last n checks")

    @model_validator(mode="after")
    def _k_within_n(self) -> KOfN:
        if self.k > self.n:
            raise ValueError(f"k ({self.k}) must not exceed n ({self.n})")
        return self


class ScheduleModel(BaseModel):
    """When a rule is asked: days and hours in a time zone; outside them it is not asked and costs nothing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    days: list[Day] = Field(default_factory=lambda: list(_EVERY_DAY), min_length=1)
    start: dt.time = Field(default=dt.time(0, 0), description="local time, e.g. 22:00")
    end: dt.time = Field(default=dt.time(0, 0), description="local time; before start: past midnight; = start: all day")
    timezone: str = Field(default="UTC", description="an IANA time zone, e.g. Europe/Paris")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ValueError, ZoneInfoNotFoundError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Paris)") from None
        return value

    def schedule(self) -> Schedule:
        return Schedule(frozenset(DAYS.index(d) for d in self.days), self.start, self.end, self.timezone)


class RuleModel(BaseModel):
    """One named rule of a job: a question asked at every check point, and when its answers make an
    appearance (every operator is optional)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="unique in the job; letters, digits, _ . -")
    condition: NonBlank = Field(min_length=1, max_length=1000, description="a yes/no question")
    min_duration_seconds: float = Field(default=0, ge=0, le=86400, description="true this long before it starts")
    k_of_n: KOfN | None = Field(default=None, description="k positive answers of the last n checks")
    enter_confidence: float = Field(default=0, ge=0, le=1, description="confidence a yes needs to start it")
    exit_confidence: float | None = Field(default=None, ge=0, le=1, description="…and to go on (default: enter)")
    exit_delay_seconds: float = Field(default=0, ge=0, le=3600, description="no yes this long before it ends")
    cooldown_seconds: float = Field(default=0, ge=0, le=86400, description="between the end of one and the next")
    ongoing_every_seconds: float | None = Field(default=None, gt=0, description="a reminder this often while on")
    schedule: ScheduleModel | None = None
    severity: Literal["low", "medium", "high"] = "medium"

    def spec(self) -> RuleSpec:
        k_of_n = self.k_of_n or KOfN(k=1, n=1)
        return RuleSpec(
            name=self.name,
            condition=self.condition,
            k=k_of_n.k,
            n=k_of_n.n,
            min_duration_seconds=self.min_duration_seconds,
            enter_confidence=self.enter_confidence,
            exit_confidence=self.exit_confidence,
            exit_delay_seconds=self.exit_delay_seconds,
            cooldown_seconds=self.cooldown_seconds,
            ongoing_every_seconds=self.ongoing_every_seconds,
            schedule=self.schedule.schedule() if self.schedule is not None else None,
            severity=self.severity,
        )


_DEFAULT_MIN_INTERVAL: float = Settings.model_fields["min_interval_seconds"].default
_SPEC = ConfigDict(extra="ignore", frozen=True)


class MonitorSpec(BaseModel):
    """What a live-monitor job watches for, and how (SPEC §3): declared once, here. The API's request body is
    this plus ``skip_validation``; the job's stored ``config`` is this without the URL, condition and webhook
    (which have their own columns); the engine's :class:`RunConfig` is derived from it and settings."""

    model_config = _SPEC

    stream_url: NonBlank = Field(min_length=1, max_length=500, description="HLS, RTSP(S) or YouTube/Twitch live URL.")
    condition: NonBlank | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="Best phrased as a yes/no question. Required unless rules are given; with rules, it is one "
        "more rule, named 'condition'.",
    )
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
    rules: list[RuleModel] | None = Field(
        default=None,
        min_length=1,
        max_length=20,
        description="LiveSight extension: several named rules on the one stream, all asked in one model call per "
        "check point; each reports appearances (rule_started, announced as watch_triggered; rule_ended with "
        "start, end and duration). max_triggers then counts appearances.",
    )

    @model_validator(mode="wrap")
    @classmethod
    def _something_to_ask(cls, data: Any, handler: ModelWrapValidatorHandler[MonitorSpec]) -> MonitorSpec:
        """``condition`` is required unless rules are given: reported with the other fields' errors, in one 422."""
        missing = isinstance(data, dict) and data.get("condition") is None and not data.get("rules")
        try:
            spec = handler(data)
        except ValidationError as exc:
            if not missing:
                raise
            errors: list[InitErrorDetails] = [
                {
                    # the same error, message and context (field_message words it from the context)
                    "type": PydanticCustomError(
                        e["type"], e["msg"].replace("{", "{{").replace("}", "}}"), e.get("ctx")
                    ),
                    "loc": e["loc"],
                    "input": e["input"],
                }
                for e in exc.errors()
            ]
            errors.insert(0, {"type": "missing", "loc": ("condition",), "input": data})
            raise ValidationError.from_exception_data(exc.title, errors) from None
        if missing:
            raise ValidationError.from_exception_data(
                cls.__name__, [{"type": "missing", "loc": ("condition",), "input": data}]
            )
        names = [r.name for r in spec.rules or []] + (["condition"] if spec.rules and spec.condition else [])
        if len(names) != len(set(names)):
            raise ValueError("rule names must be unique (a condition given with rules is the rule 'condition')")
        return spec

    def rule_specs(self) -> tuple[RuleSpec, ...]:
        """The job's rules; a condition given with them is one more (named ``condition``)."""
        if not self.rules:
            return ()
        specs = [r.spec() for r in self.rules]
        if self.condition:
            specs.append(RuleSpec("condition", self.condition, cooldown_seconds=self.trigger_cooldown_seconds))
        return tuple(specs)

    def config(self) -> dict[str, Any]:
        """What is stored in the job's ``config`` (the URL, condition and webhook have their own columns)."""
        fields = set(MonitorSpec.model_fields) - {"stream_url", "condition", "webhook_url"}
        return self.model_dump(mode="json", include=fields, exclude_none=False)

    @classmethod
    def of(cls, job: JobRecord) -> MonitorSpec:
        """The spec of a stored job (not validated again: it was when the job was created)."""
        stored = {k: v for k, v in job.config.items() if k in MonitorSpec.model_fields}
        if stored.get("rules"):
            stored["rules"] = [RuleModel.model_validate(r) for r in stored["rules"]]
        return MonitorSpec.model_construct(
            stream_url=job.stream_url, condition=job.condition, webhook_url=job.webhook_url, **stored
        )

    def run_config(self, settings: Settings) -> RunConfig:
        rules = self.rule_specs()
        return RunConfig(
            source_url=self.stream_url,
            condition=None if rules else self.condition,
            rules=rules,
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


def source_key(health: Any) -> tuple[str, int] | None:
    """What of a source's health, when it changes, is stored at once (the API and the UI show it): its state
    and reconnects."""
    return None if health is None else (health.state.value, health.reconnects)


def session_stats(stats: RunStats, health: Any = None) -> dict[str, Any]:
    """A session's stored ``stats``: the run's counters and, while it runs, its source's health."""
    out = stats.as_dict()
    if health is not None:
        out["source"] = source_health(health)
    return out
