"""Errors the store raises on purpose; all derive from :class:`livesight.errors.LiveSightError`."""

from __future__ import annotations

from livesight.errors import LiveSightError


class StoreError(LiveSightError):
    """Base of the store's domain errors."""

    code = "STORE_ERROR"


class NotFound(StoreError):
    """A row that does not exist, or that belongs to another owner (the two are not told apart)."""

    code = "NOT_FOUND"


class StreamNotFound(NotFound):
    code = "STREAM_NOT_FOUND"
    remediation = "Check the stream_id, or start a session without one to create a stream."


class SessionNotFound(NotFound):
    code = "SESSION_NOT_FOUND"
    remediation = "Check the session_id; list sessions to see the ones this key can reach."


class JobNotFound(NotFound):
    code = "JOB_NOT_FOUND"
    remediation = "Check the job_id; GET /api/jobs lists the jobs this key can reach."


class ChunkNotFound(NotFound):
    code = "CHUNK_NOT_FOUND"


class Conflict(StoreError):
    """A write that collides with an existing row (duplicate id, chunk index or stream owner)."""

    code = "CONFLICT"


class InvalidValue(StoreError, ValueError):
    """A value outside what a column accepts (unknown status, naive datetime, mismatched lengths)."""

    code = "VALIDATION_ERROR"
