"""Request and response bodies of the HTTP API, field for field as SPEC §3 (the live-monitor API)."""

from __future__ import annotations

from contextvars import ContextVar
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, JsonValue, field_validator
from pydantic_core import PydanticCustomError

from livesight.runs.specs import DigestSpec, MonitorSpec, NonBlank
from livesight.settings import Settings

InputModeField = Literal["frames", "clip", "hybrid"]


_DEFAULT_MIN_INTERVAL: float = Settings.model_fields["min_interval_seconds"].default
MIN_INTERVAL_SECONDS: ContextVar[float] = ContextVar("min_interval_seconds", default=_DEFAULT_MIN_INTERVAL)
"""The serving app's ``LIVESIGHT_MIN_INTERVAL_SECONDS``. Set for each request (``routes_jobs.server_bounds``)
before its body is validated, so the one bound that depends on the server is enforced where the static ones
are, in a single 422; ``routes_jobs.document_bounds`` writes the same value into /openapi.json."""
UUID_FORMAT: dict[str, JsonValue] = {"format": "uuid"}


def _plain_number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


class LiveMonitorRequest(MonitorSpec):
    """Start a live monitor job that checks a yes/no condition on a live stream."""

    skip_validation: bool = Field(default=False, description="Do not probe the stream before creating the job.")

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

    def spec(self) -> MonitorSpec:
        return MonitorSpec.model_construct(**{name: getattr(self, name) for name in MonitorSpec.model_fields})


class LiveDigestRequest(DigestSpec):
    """Start a digest job: a summary of each window of the stream."""

    skip_validation: bool = False

    def spec(self) -> DigestSpec:
        return DigestSpec.model_construct(**{name: getattr(self, name) for name in DigestSpec.model_fields})


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
