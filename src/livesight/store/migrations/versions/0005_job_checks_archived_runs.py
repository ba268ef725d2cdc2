"""A monitor job's checks (the UI's chart) and the runs a user archived.

New tables only, so no batch mode is needed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-15
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_checks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("stream_time", sa.Float(), nullable=False),
        sa.Column("triggered", sa.Boolean(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("reused", sa.Boolean(), nullable=False),
        sa.Column("failed", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_job_checks_job_id_jobs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_checks")),
    )
    op.create_index("ix_job_checks_job_id_stream_time", "job_checks", ["job_id", "stream_time"])
    op.create_table(
        "archived_runs",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('session', 'job')", name=op.f("ck_archived_runs_kind")),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_archived_runs")),
    )


def downgrade() -> None:
    op.drop_table("archived_runs")
    op.drop_index("ix_job_checks_job_id_stream_time", table_name="job_checks")
    op.drop_table("job_checks")
