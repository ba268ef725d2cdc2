"""LiveSight's database layer: SQLAlchemy 2 async on SQLite (default) or PostgreSQL, Alembic migrations.

``store = await Store.open(url)`` migrates the database to the newest schema; every method returns
frozen records, never ORM objects.
"""

from __future__ import annotations

from livesight.store._deliveries import DeliveryInFlight, DeliveryNotFound, EndpointDisabled
from livesight.store._engine import alembic_config, normalise_url
from livesight.store._keys import ApiKeyNotFound, new_webhook_secret
from livesight.store.errors import (
    ChunkNotFound,
    Conflict,
    InvalidValue,
    JobNotFound,
    NotFound,
    SessionNotFound,
    StoreError,
    StreamNotFound,
)
from livesight.store.records import (
    LIVE_JOB_STATUSES,
    LIVE_SESSION_STATUSES,
    ApiKeyRecord,
    AttemptOutcome,
    AttemptRecord,
    ChunkRecord,
    ClaimScope,
    DeliveryMode,
    DeliveryRecord,
    DeliveryStatus,
    DisabledEndpointRecord,
    EventRecord,
    GapRecord,
    JobRecord,
    JobStatus,
    JobType,
    OwnerKind,
    SessionRecord,
    SessionStatus,
    StreamRecord,
    UnheldRun,
    format_utc,
    new_id,
    utcnow,
)
from livesight.store.store import Store

__all__ = [
    "LIVE_JOB_STATUSES",
    "LIVE_SESSION_STATUSES",
    "ApiKeyNotFound",
    "ApiKeyRecord",
    "AttemptOutcome",
    "AttemptRecord",
    "ChunkNotFound",
    "ChunkRecord",
    "ClaimScope",
    "Conflict",
    "DeliveryInFlight",
    "DeliveryMode",
    "DeliveryNotFound",
    "DeliveryRecord",
    "DeliveryStatus",
    "DisabledEndpointRecord",
    "EndpointDisabled",
    "EventRecord",
    "GapRecord",
    "InvalidValue",
    "JobNotFound",
    "JobRecord",
    "JobStatus",
    "JobType",
    "NotFound",
    "OwnerKind",
    "SessionNotFound",
    "SessionRecord",
    "SessionStatus",
    "Store",
    "StoreError",
    "StreamNotFound",
    "StreamRecord",
    "UnheldRun",
    "alembic_config",
    "format_utc",
    "new_id",
    "new_webhook_secret",
    "normalise_url",
    "utcnow",
]
