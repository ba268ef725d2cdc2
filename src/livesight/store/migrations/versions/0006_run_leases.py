"""Runs have an owner and a lease: ``worker_id`` / ``lease_until`` on sessions and jobs, and a job's
``stop_requested_at`` (a cancel any replica received, which the owner acts on).

Nullable columns: existing rows need no default (a live row without a lease is claimable), and SQLite
adds them in place.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-20
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("worker_id", sa.String(128), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("worker_id", sa.String(128), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("stop_requested_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f("ix_sessions_status_lease_until"), "sessions", ["status", "lease_until"])
    op.create_index(op.f("ix_jobs_status_lease_until"), "jobs", ["status", "lease_until"])


def downgrade() -> None:
    op.drop_index(op.f("ix_jobs_status_lease_until"), table_name="jobs")
    op.drop_index(op.f("ix_sessions_status_lease_until"), table_name="sessions")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("stop_requested_at")
        batch.drop_column("lease_until")
        batch.drop_column("worker_id")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("worker_id")
