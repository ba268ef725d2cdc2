"""Initial schema: streams, sessions, jobs, chunks, events, gaps.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(64)
SHORT = sa.String(32)
OWNER = sa.String(128)
ONE_OWNER = "(session_id IS NULL) <> (job_id IS NULL)"


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _owner_fks(table: str) -> list[sa.schema.SchemaItem]:
    return [
        sa.Column("session_id", ID, nullable=True),
        sa.Column("job_id", ID, nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f(f"fk_{table}_session_id_sessions"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f(f"fk_{table}_job_id_jobs"), ondelete="CASCADE"),
        sa.CheckConstraint(ONE_OWNER, name=op.f(f"ck_{table}_one_owner")),
    ]


def upgrade() -> None:
    op.create_table(
        "streams",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("source_url", sa.Text(), nullable=False),
        sa.Column("owner", OWNER, nullable=True),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_streams")),
    )
    op.create_index(op.f("ix_streams_owner"), "streams", ["owner"])

    op.create_table(
        "sessions",
        sa.Column("id", ID, nullable=False),
        sa.Column("stream_id", ID, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("source_url", sa.Text(), nullable=False),
        sa.Column("rapid_review_query", sa.Text(), nullable=True),
        sa.Column("status", SHORT, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("last_event_seq", sa.Integer(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("owner", OWNER, nullable=True),
        _ts("created_at"),
        _ts("started_at", nullable=True),
        _ts("ended_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
        sa.ForeignKeyConstraint(["stream_id"], ["streams.id"], name=op.f("fk_sessions_stream_id_streams")),
        sa.CheckConstraint(
            "status IN ('INITIALIZING', 'ACTIVE', 'ENDING', 'FINISHED', 'FAILED')", name=op.f("ck_sessions_status")
        ),
    )
    op.create_index(op.f("ix_sessions_stream_id"), "sessions", ["stream_id"])
    op.create_index(op.f("ix_sessions_status"), "sessions", ["status"])
    op.create_index(op.f("ix_sessions_owner_created_at"), "sessions", ["owner", "created_at"])

    op.create_table(
        "jobs",
        sa.Column("id", ID, nullable=False),
        sa.Column("job_type", SHORT, nullable=False),
        sa.Column("stream_url", sa.Text(), nullable=False),
        sa.Column("condition", sa.Text(), nullable=True),
        sa.Column("status", SHORT, nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("delivery_mode", SHORT, nullable=False),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("stats", sa.JSON(), nullable=False),
        sa.Column("last_event_seq", sa.Integer(), nullable=False),
        sa.Column("owner", OWNER, nullable=True),
        _ts("created_at"),
        _ts("started_at", nullable=True),
        _ts("ended_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'completed', 'stopped', 'failed')", name=op.f("ck_jobs_status")
        ),
        sa.CheckConstraint("job_type IN ('live-monitor', 'live-digest', 'watch')", name=op.f("ck_jobs_job_type")),
        sa.CheckConstraint("delivery_mode IN ('webhook', 'sse', 'polling')", name=op.f("ck_jobs_delivery_mode")),
    )
    op.create_index(op.f("ix_jobs_status"), "jobs", ["status"])
    op.create_index(op.f("ix_jobs_owner_created_at"), "jobs", ["owner", "created_at"])

    op.create_table(
        "chunks",
        sa.Column("id", ID, nullable=False),
        *_owner_fks("chunks"),
        sa.Column("chunk_index", sa.Integer(), nullable=False),
        sa.Column("start_time", sa.Float(), nullable=False),
        sa.Column("end_time", sa.Float(), nullable=False),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("status", SHORT, nullable=False),
        sa.Column("analysis_id", ID, nullable=True),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("discontinuity", sa.Boolean(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chunks")),
        sa.UniqueConstraint("session_id", "chunk_index", name=op.f("uq_chunks_session_id_chunk_index")),
        sa.UniqueConstraint("job_id", "chunk_index", name=op.f("uq_chunks_job_id_chunk_index")),
        sa.CheckConstraint("status IN ('recording', 'recorded', 'analysed', 'failed')", name=op.f("ck_chunks_status")),
    )

    # The unique constraints are also the (owner, seq) indexes of "events after N" reads.
    op.create_table(
        "events",
        sa.Column("id", ID, nullable=False),
        *_owner_fks("events"),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("severity", SHORT, nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("stream_time", sa.Float(), nullable=False),
        sa.Column("capture_time", sa.Float(), nullable=False),
        sa.Column("chunk_index", sa.Integer(), nullable=False),
        sa.Column("chunk_relative_time", sa.Float(), nullable=False),
        sa.Column("hls_cumulative_offset", sa.Float(), nullable=False),
        sa.Column("t_start", SHORT, nullable=False),
        sa.Column("t_end", SHORT, nullable=False),
        sa.Column("analysis_id", ID, nullable=False),
        sa.Column("chunk_id", ID, nullable=False),
        sa.Column("end_time", sa.Float(), nullable=True),
        _ts("created_at"),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("session_id", "seq", name=op.f("uq_events_session_id_seq")),
        sa.UniqueConstraint("job_id", "seq", name=op.f("uq_events_job_id_seq")),
    )

    op.create_table(
        "gaps",
        sa.Column("id", ID, nullable=False),
        *_owner_fks("gaps"),
        sa.Column("session_time", sa.Float(), nullable=False),
        sa.Column("wall_seconds", sa.Float(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gaps")),
    )
    op.create_index(op.f("ix_gaps_session_id"), "gaps", ["session_id"])
    op.create_index(op.f("ix_gaps_job_id"), "gaps", ["job_id"])


def downgrade() -> None:
    for table in ("gaps", "events", "chunks", "jobs", "sessions", "streams"):
        op.drop_table(table)
