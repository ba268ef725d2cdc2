"""Request and response bodies of the HTTP API, field for field as SPEC §3 (the live-monitor API)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

InputModeField = Literal["frames", "clip", "hybrid"]


def _http_url(value: str) -> str:
    value = value.strip()
    if not value.lower().startswith(("http://", "https://")) or len(value.split("://", 1)[1]) == 0:
        raise ValueError("must be an http(s) URL")
    return value


class LiveMonitorRequest(BaseModel):
    """Start a live monitor job that checks a yes/no condition on a live stream."""

    model_config = ConfigDict(extra="ignore")

    stream_url: str = Field(min_length=1, max_length=500, description="HLS, RTSP(S) or YouTube/Twitch live URL.")
    condition: str = Field(min_length=1, max_length=1000, description="Best phrased as a yes/no question.")
    webhook_url: str | None = Field(default=None, min_length=1, max_length=2083, description="Webhook mode.")
    interval_seconds: float = Field(default=10, ge=1, le=300, description="Seconds between checks (5–300).")
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

    @field_validator("stream_url", "condition")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


class LiveDigestRequest(BaseModel):
    """Start a digest job: a summary of each window of the stream."""

    model_config = ConfigDict(extra="ignore")

    stream_url: str = Field(min_length=1, max_length=500)
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
    job_id: str
    status: str
    created_at: datetime
    job_type: str
    stream_url: str
    message: str | None = None


class JobDetail(BaseModel):
    job_id: str
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
    job_id: str
    status: str
    message: str
    final_stats: dict[str, Any]


class CheckOnceRequest(BaseModel):
    stream_url: str = Field(min_length=1, max_length=500)
    condition: str = Field(min_length=1, max_length=1000)
    input_mode: InputModeField = "frames"
    clip_duration_seconds: float = Field(default=3, ge=1, le=10)
    include_frame: bool = False


class CheckOnceResponse(BaseModel):
    triggered: bool
    explanation: str
    confidence: float
    latency_ms: float
    stream_time: float | None = None
    frame_b64: str | None = None


class ValidateRequest(BaseModel):
    stream_url: str = Field(min_length=1, max_length=500)


class ValidateResponse(BaseModel):
    is_live: bool
    platform: str | None
    title: str | None
    parsed_url: str | None
    width: int | None
    height: int | None
    fps: float | None
    codec: str | None
    error_hint: str | None


class AnalyzeFrameRequest(BaseModel):
    frame_b64: str = Field(min_length=1, max_length=20_000_000, description="A JPEG or PNG, base64 (data URL ok).")
    question: str = Field(min_length=1, max_length=1000)


class AnalyzeFrameResponse(BaseModel):
    answer: str
    triggered: bool | None
    latency_ms: float


class ErrorBody(BaseModel):
    code: str
    message: str
    remediation: str


class ErrorEnvelope(BaseModel):
    error: ErrorBody
    detail: str = Field(description="The same error in one sentence (code, message, remediation).")
