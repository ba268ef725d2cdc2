"""Typed answers of the LiveSight API.

Every model accepts fields it does not know (``extra="allow"``), so an older SDK keeps working against a
newer server; unknown fields stay readable as attributes and in ``model_dump()``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AttachStreamResponse",
    "CancelResult",
    "CheckOnceResult",
    "CheckProgress",
    "Chunk",
    "EndSessionResponse",
    "FieldError",
    "Job",
    "JobDetail",
    "JobEnded",
    "JobList",
    "JobStarted",
    "JobStats",
    "LiveEvent",
    "MonitorEvent",
    "Session",
    "SignedManifest",
    "StartSessionResponse",
    "StreamValidation",
    "Trigger",
]

SESSION_ENDED_STATUSES = frozenset({"FINISHED", "FAILED"})
JOB_ENDED_STATUSES = frozenset({"completed", "stopped", "failed"})
MONITOR_TERMINAL_EVENTS = frozenset({"stopped", "error"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


# -- livestream sessions (SPEC §2) -------------------------------------------------------------------


class LiveEvent(_Model):
    """One detection in a session, with every timing field of the session timeline.

    ``stream_time`` (seconds from the session start) is the field to display; it always equals
    ``hls_cumulative_offset + chunk_relative_time``. ``capture_time`` is the same moment on the source's own
    clock. ``t_start``/``t_end`` are ``MM:SS`` (``HH:MM:SS`` past an hour).
    """

    event_id: str
    type: str
    label: str
    description: str
    severity: str
    confidence: float
    stream_time: float
    capture_time: float
    chunk_index: int
    chunk_relative_time: float
    hls_cumulative_offset: float
    t_start: str
    t_end: str
    created_at: datetime
    analysis_id: str
    chunk_id: str
    end_time: float | None = None
    thumbnail_url: str | None = None
    clip_url: str | None = None


class Chunk(_Model):
    """A recorded piece of the session timeline (``status``: ``recorded``, ``analysed`` or ``failed``)."""

    chunk_id: str
    chunk_index: int
    start_time: float
    end_time: float
    duration: float
    status: str
    analysis_id: str | None = None
    event_count: int = 0


class Session(_Model):
    """A session as ``GET /api/live/live-sessions/{stream_id}/{session_id}`` returns it.

    ``status`` goes ``INITIALIZING → ACTIVE → ENDING → FINISHED``, or ``FAILED`` (then ``error`` says why).
    """

    stream_id: str
    session_id: str
    name: str
    source_url: str
    status: str
    chunk_count: int = 0
    events: list[LiveEvent] = Field(default_factory=list)
    chunks: list[Chunk] = Field(default_factory=list)
    created_at: datetime
    error: str | None = None

    @property
    def is_ended(self) -> bool:
        """True once the session is ``FINISHED`` or ``FAILED``: nothing will change any more."""
        return self.status in SESSION_ENDED_STATUSES


class StartSessionResponse(_Model):
    """The answer of ``start_session``: the new session and its (possibly new) parent stream."""

    session_id: str
    stream_id: str
    status: str


class EndSessionResponse(_Model):
    """``status`` is ``"ended"``, or ``"already_ended"`` when the session had ended before the call."""

    status: str


class AttachStreamResponse(_Model):
    """``ok`` is true once the stream exists with the given name and source."""

    ok: bool


class SignedManifest(_Model):
    """A short-lived URL to an HLS playlist of the session's recording; fetch it with ``method``."""

    url: str
    expires_at: datetime
    method: str = "GET"


# -- live-monitor jobs (SPEC §3) ---------------------------------------------------------------------


class Job(_Model):
    """The immediate answer to starting a job, and one row of :class:`JobList`."""

    job_id: str
    status: str
    created_at: datetime
    job_type: str
    stream_url: str
    message: str | None = None

    @property
    def is_ended(self) -> bool:
        """True once the job is ``completed``, ``stopped`` or ``failed``."""
        return self.status in JOB_ENDED_STATUSES


class JobStats(_Model):
    """Counters of a job; ``reason`` says why it ended (``condition_triggered``, ``max_triggers_reached``,
    ``max_duration_reached``, ``cancelled``, or a failure reason)."""

    checks_performed: int = 0
    triggers_fired: int = 0
    frames_skipped: int = 0
    elapsed_seconds: float = 0.0
    auto_stopped: bool = False
    reason: str | None = None
    model_calls: int = 0
    tokens: dict[str, int] | int | None = None


class Trigger(LiveEvent):
    """A time the condition held: the event's timing fields plus the model's explanation and evidence links."""

    condition: str | None = None
    triggered: bool = True
    explanation: str = ""
    frame_url: str | None = None
    seq: int | None = None


class JobDetail(_Model):
    """A job as ``GET /api/jobs/{job_id}`` returns it: its configuration, counters and triggers so far."""

    job_id: str
    status: str
    job_type: str
    created_at: datetime
    stream_url: str
    condition: str | None = None
    delivery_mode: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    stats: JobStats = Field(default_factory=JobStats)
    triggers: list[Trigger] = Field(default_factory=list)
    summaries: list[dict[str, Any]] = Field(default_factory=list)
    started_at: datetime | None = None
    ended_at: datetime | None = None

    @property
    def is_ended(self) -> bool:
        """True once the job is ``completed``, ``stopped`` or ``failed``."""
        return self.status in JOB_ENDED_STATUSES


class JobList(_Model):
    """One page of jobs, newest first; ``total`` counts every job matching the filters."""

    jobs: list[Job]
    total: int
    limit: int
    offset: int


class CancelResult(_Model):
    """The answer of cancelling a job; ``message`` says whether it was running or had already ended."""

    job_id: str
    status: str
    message: str = ""
    final_stats: JobStats = Field(default_factory=JobStats)


class CheckOnceResult(_Model):
    """One synchronous check of a condition on the stream's newest frame (or clip)."""

    triggered: bool
    explanation: str
    confidence: float
    latency_ms: int
    stream_time: float | None = None
    frame_b64: str | None = None


class StreamValidation(_Model):
    """Whether a URL is a readable live stream, and what it carries; ``error_hint`` says why not."""

    is_live: bool
    platform: str | None = None
    title: str | None = None
    parsed_url: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    codec: str | None = None
    error_hint: str | None = None


class JobStarted(_Model):
    """``started``: the job's run began (its source may still be connecting)."""

    job_id: str
    status: str = "running"
    stream_url: str | None = None
    condition: str | None = None


class CheckProgress(_Model):
    """``progress``: one check point. ``triggered`` is ``None`` when no verdict came (the check failed);
    ``reused`` is true when the change gate reused the last verdict for an unchanged picture."""

    job_id: str
    stream_time: float | None = None
    triggered: bool | None = None
    confidence: float | None = None
    explanation: str | None = None
    reused: bool = False
    checks_performed: int = 0
    triggers_fired: int = 0
    frames_skipped: int = 0
    model_calls: int = 0
    elapsed_seconds: float = 0.0


class JobEnded(_Model):
    """``stopped`` or ``error``: the job ended, with its ``status``, why (``reason``) and its final counters;
    ``message`` says what went wrong for a failed job."""

    job_id: str
    status: str
    reason: str | None = None
    final_stats: JobStats = Field(default_factory=JobStats)
    message: str | None = None


class MonitorEvent(_Model):
    """One Server-Sent Event of a job: ``started``, ``progress``, ``triggered``, ``stopped`` or ``error``.

    ``id`` is what a reconnect sends as ``Last-Event-ID`` (stored events have integer ids, progress snapshots
    ``<seq>.<n>``). ``data`` is the event's JSON object (a non-object payload is wrapped as ``{"value": ...}``);
    :attr:`payload` is the same as a typed model — :class:`JobStarted`, :class:`CheckProgress`, :class:`Trigger`
    or :class:`JobEnded` — and :attr:`trigger` the trigger of a ``triggered`` event.
    """

    event: str
    id: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        """True for ``stopped`` and ``error``: the job's stream ends after this event."""
        return self.event in MONITOR_TERMINAL_EVENTS

    @property
    def payload(self) -> JobStarted | CheckProgress | Trigger | JobEnded | dict[str, Any]:
        """``data`` as the typed model of this event's name (the plain dict for a name this SDK does not know)."""
        model = _PAYLOADS.get(self.event)
        return model.model_validate(self.data) if model is not None else self.data

    @property
    def trigger(self) -> Trigger | None:
        """The trigger, for a ``triggered`` event; ``None`` for every other event."""
        return Trigger.model_validate(self.data) if self.event == "triggered" else None


_PAYLOADS: dict[str, type[JobStarted | CheckProgress | Trigger | JobEnded]] = {
    "started": JobStarted,
    "progress": CheckProgress,
    "triggered": Trigger,
    "stopped": JobEnded,
    "error": JobEnded,
}


class FieldError(_Model):
    """One invalid request field named by a 422 ``VALIDATION_ERROR``."""

    field: str
    message: str
    type: str | None = None
