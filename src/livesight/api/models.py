"""Request and response bodies of the HTTP API, field for field as SPEC §3 (the live-monitor API)."""

from __future__ import annotations

from contextvars import ContextVar
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, field_validator
from pydantic_core import PydanticCustomError

from livesight.settings import Settings

InputModeField = Literal["frames", "clip", "hybrid"]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value.strip()


NonBlank = Annotated[str, AfterValidator(_not_blank)]
"""Text that must say something: surrounding spaces go, and only spaces is refused like an empty value."""

_DEFAULT_MIN_INTERVAL: float = Settings.model_fields["min_interval_seconds"].default
MIN_INTERVAL_SECONDS: ContextVar[float] = ContextVar("min_interval_seconds", default=_DEFAULT_MIN_INTERVAL)
"""The serving app's ``LIVESIGHT_MIN_INTERVAL_SECONDS``. Set for each request (``routes_jobs.server_bounds``)
before its body is validated, so the one bound that depends on the server is enforced where the static ones
are, in a single 422; ``routes_jobs.document_bounds`` writes the same value into /openapi.json."""
UUID_FORMAT: dict[str, JsonValue] = {"format": "uuid"}


def _plain_number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _http_url(value: str) -> str:
    value = value.strip()
    if not value.lower().startswith(("http://", "https://")) or len(value.split("://", 1)[1]) == 0:
        raise ValueError("must be an http(s) URL")
    return value


class LiveMonitorRequest(BaseModel):
    """Start a live monitor job that checks a yes/no condition on a live stream."""

    model_config = ConfigDict(extra="ignore")

    stream_url: NonBlank = Field(min_length=1, max_length=500, description="HLS, RTSP(S) or YouTube/Twitch live URL.")
    condition: NonBlank = Field(min_length=1, max_length=1000, description="Best phrased as a yes/no question.")
    webhook_url: str | None = Field(default=None, min_length=1, max_length=2083, description="Webhook mode.")
    interval_seconds: float = Field(
        default=10,
        le=300,
        json_schema_extra={"minimum": _DEFAULT_MIN_INTERVAL},
        description="Seconds between checks: from the server's minimum (LIVESIGHT_MIN_INTERVAL_SECONDS, 5 unless "
        "configured lower) to 300.",
    )
    input_mode: InputModeField = Field(default="frames", description="frames, clip or hybrid.")
    clip_duration_seconds: float = Field(default=3, ge=1, le=10, description="Clip length (clip, hybrid).")
    monitor_duration_seconds: float | None = Field(default=600, ge=5, description="null: until cancelled.")
    trigger_cooldown_seconds: float = Field(default=0, ge=0, le=3600)
    max_triggers: int | None = Field(default=1, ge=1, description="null: unlimited.")
    enable_prefilter: bool = Field(default=True, description="Skip model calls while the picture is unchanged.")
    include_frame: bool = Field(default=False, description="Add frame_b64 to watch_triggered webhooks.")
    skip_validation: bool = Field(default=False, description="Do not probe the stream before creating the job.")
    max_model_calls_per_hour: int | None = Field(
        default=None,
        ge=1,
        description="LiveSight extension: a budget of model calls per hour; past it the interval stretches "
        "instead of the job failing (null: the server's LIVESIGHT_MAX_MODEL_CALLS_PER_HOUR).",
    )

    @field_validator("webhook_url")
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value)

    @field_validator("interval_seconds")
    @classmethod
    def _interval(cls, value: float) -> float:
        minimum = MIN_INTERVAL_SECONDS.get()
        if value < minimum:
            raise PydanticCustomError(
                "greater_than_equal",
                "must be at least {ge} second" + ("" if minimum == 1 else "s"),
                {"ge": _plain_number(minimum)},
            )
        return value


class LiveDigestRequest(BaseModel):
    """Start a digest job: a summary of each window of the stream."""

    model_config = ConfigDict(extra="ignore")

    stream_url: NonBlank = Field(min_length=1, max_length=500)
    window_minutes: float = Field(default=5, ge=0.1, le=120, description="Length of each summarised window.")
    capture_interval_seconds: float = Field(default=30, ge=1, le=600, description="One frame every this many seconds.")
    include_frames: bool = Field(default=False, description="Add the judged frames (base64) to each summary.")
    max_windows: int | None = Field(default=None, ge=1, description="Stop after this many summaries (null: never).")
    webhook_url: str | None = Field(default=None, min_length=1, max_length=2083)
    skip_validation: bool = False

    @field_validator("webhook_url")
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value)


class JobResponse(BaseModel):
    """A job as ``POST /api/live-monitor``, ``POST /api/live-digest`` and ``GET /api/jobs`` items show it."""

    job_id: str = Field(json_schema_extra=UUID_FORMAT)
    status: str
    created_at: datetime
    stream_url: str
    job_type: str
    details: dict[str, Any] = Field(
        default_factory=dict,
        description="On creation: the job's configuration (condition, interval_seconds, model, …); in the job "
        "list: its statistics (checks_performed, triggers_fired, frames_skipped; summaries_generated for digests).",
    )
    message: str | None = None


class JobDetail(BaseModel):
    job_id: str = Field(json_schema_extra=UUID_FORMAT)
    status: str
    job_type: str
    created_at: datetime
    stream_url: str
    condition: str | None
    delivery_mode: str
    config: dict[str, Any]
    stats: dict[str, Any]
    triggers: list[dict[str, Any]]
    summaries: list[dict[str, Any]] = Field(default_factory=list, description="live-digest jobs: one per window.")
    started_at: datetime | None = None
    ended_at: datetime | None = None


class JobList(BaseModel):
    jobs: list[JobResponse]
    total: int
    limit: int
    offset: int


class CancelResponse(BaseModel):
    job_id: str = Field(json_schema_extra=UUID_FORMAT)
    status: str
    message: str
    final_stats: dict[str, Any]


class CheckOnceRequest(BaseModel):
    stream_url: NonBlank = Field(min_length=1, max_length=500)
    condition: NonBlank = Field(min_length=1, max_length=1000)
    input_mode: InputModeField = "frames"
    clip_duration_seconds: float = Field(default=3, ge=1, le=10)
    include_frame: bool = False


class CheckOnceResponse(BaseModel):
    triggered: bool
    explanation: str
    confidence: float
    latency_ms: int = Field(description="Milliseconds the model took to answer.")
    stream_time: float | None = None
    frame_b64: str | None = None


class ValidateRequest(BaseModel):
    stream_url: NonBlank = Field(min_length=1, max_length=500)


class ValidateResponse(BaseModel):
    """The hosted API's fields (null where the source cannot tell: only live pages have a channel or viewers),
    then LiveSight's: the video's size, frame rate and codec."""

    is_live: bool
    valid: bool = Field(description="Legacy: the same as is_live.")
    platform: str | None
    stream_id: str | None = Field(description="The platform's id of the stream (live pages only).")
    title: str | None
    channel: str | None = Field(description="The channel or uploader (live pages only).")
    thumbnail_url: str | None = Field(description="The platform's thumbnail (live pages only).")
    viewer_count: int | None = Field(description="Concurrent viewers, when the platform says (live pages only).")
    parsed_url: str | None
    width: int | None
    height: int | None
    fps: float | None
    codec: str | None
    error_hint: str | None


class AnalyzeFrameRequest(BaseModel):
    frame_b64: str = Field(min_length=1, max_length=20_000_000, description="A JPEG or PNG, base64 (data URL ok).")
    question: NonBlank = Field(min_length=1, max_length=1000)
    include_frame: bool = Field(default=False, description="Send the frame back in frame_b64.")


class AnalyzeFrameResponse(BaseModel):
    answer: str
    triggered: bool | None
    latency_ms: int = Field(description="Milliseconds the model took to answer.")
    frame_b64: str | None = Field(default=None, description="The frame as judged (JPEG), when include_frame.")


class PrepareStreamResponse(BaseModel):
    """``POST /api/prepare-stream?url=…``: the stream checked, remembered for the next calls, and how to embed it."""

    success: bool
    message: str = Field(description="What was done, with its time (e.g. 'Stream URL cached in 234ms').")
    cached: bool = Field(
        description="Whether the check is remembered, so the next job or check-once on it starts "
        "without probing the stream again."
    )
    embed_url: str | None = Field(description="An iframe player for YouTube/Twitch pages; else the stream URL.")
    embed_type: Literal["iframe", "video"]


class ErrorBody(BaseModel):
    code: str
    message: str
    remediation: str


class ErrorEnvelope(BaseModel):
    error: ErrorBody
    detail: str = Field(description="The same error in one sentence (code, message, remediation).")
