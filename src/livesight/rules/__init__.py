"""Rule state: when a verdict becomes a trigger, when a run is done, and how events are timed."""

from __future__ import annotations

from livesight.rules.events import format_clock, make_event
from livesight.rules.outcome import StopReason, job_status_for, session_status_for
from livesight.rules.trigger import Decision, TriggerRule, TriggerState
from livesight.types import JobStatus, SessionStatus, new_id

__all__ = [
    "Decision",
    "JobStatus",
    "SessionStatus",
    "StopReason",
    "TriggerRule",
    "TriggerState",
    "format_clock",
    "job_status_for",
    "make_event",
    "new_id",
    "session_status_for",
]
