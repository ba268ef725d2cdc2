"""Why a run ended, and what status that gives a job (SPEC §3) or a session (SPEC §2)."""

from __future__ import annotations

import enum

from livesight.types import JobStatus, SessionStatus


class StopReason(enum.StrEnum):
    CONDITION_TRIGGERED = "condition_triggered"
    MAX_TRIGGERS_REACHED = "max_triggers_reached"
    MAX_DURATION_REACHED = "max_duration_reached"
    MAX_WINDOWS_REACHED = "max_windows_reached"
    CANCELLED = "cancelled"
    SOURCE_ENDED = "source_ended"
    SOURCE_FAILED = "source_failed"
    JUDGE_FAILED = "judge_failed"
    INTERNAL_ERROR = "internal_error"


_FAILURES = {StopReason.SOURCE_FAILED, StopReason.JUDGE_FAILED, StopReason.INTERNAL_ERROR}


def job_status_for(reason: StopReason) -> JobStatus:
    """``completed`` when the condition matched (the first time, or up to ``max_triggers`` times); a limit
    or a cancel without a failure is ``stopped`` — a digest's ``max_windows`` too, as the hosted job
    lifecycle lists it; a source, judge or internal failure is ``failed``."""
    if reason in (StopReason.CONDITION_TRIGGERED, StopReason.MAX_TRIGGERS_REACHED):
        return JobStatus.COMPLETED
    if reason in _FAILURES:
        return JobStatus.FAILED
    return JobStatus.STOPPED


def session_status_for(reason: StopReason) -> SessionStatus:
    return SessionStatus.FAILED if reason in _FAILURES else SessionStatus.FINISHED
