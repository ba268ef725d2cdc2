"""The LiveSight Python SDK: ``LiveSight`` / ``AsyncLiveSight`` clients, their error tree and typed answers.

::

    from livesight import LiveSight

    with LiveSight() as client:  # LIVESIGHT_BASE_URL, LIVESIGHT_API_KEY
        started = client.livestream.start_session(url, "front door", rapid_review_query="a person at the door")
        for event in client.livestream.iter_events(started.stream_id, started.session_id):
            print(event.t_start, event.label, event.description)
"""

from __future__ import annotations

from livesight.sdk._base_client import DEFAULT_BASE_URL, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, NOT_GIVEN, NotGiven
from livesight.sdk._client import AsyncLiveSight, LiveSight
from livesight.sdk.errors import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    LiveSightAPIError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
    WebhookVerificationError,
)
from livesight.sdk.types import (
    AttachStreamResponse,
    CancelResult,
    CheckOnceResult,
    CheckProgress,
    Chunk,
    EndSessionResponse,
    FieldError,
    Job,
    JobDetail,
    JobEnded,
    JobList,
    JobStarted,
    JobStats,
    LiveEvent,
    MonitorEvent,
    Session,
    SignedManifest,
    StartSessionResponse,
    StreamValidation,
    Trigger,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "NOT_GIVEN",
    "APIConnectionError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncLiveSight",
    "AttachStreamResponse",
    "AuthenticationError",
    "BadRequestError",
    "CancelResult",
    "CheckOnceResult",
    "CheckProgress",
    "Chunk",
    "ConflictError",
    "EndSessionResponse",
    "FieldError",
    "InternalServerError",
    "Job",
    "JobDetail",
    "JobEnded",
    "JobList",
    "JobStarted",
    "JobStats",
    "LiveEvent",
    "LiveSight",
    "LiveSightAPIError",
    "MonitorEvent",
    "NotFoundError",
    "NotGiven",
    "PermissionDeniedError",
    "RateLimitError",
    "Session",
    "SignedManifest",
    "StartSessionResponse",
    "StreamValidation",
    "Trigger",
    "UnprocessableEntityError",
    "WebhookVerificationError",
]
