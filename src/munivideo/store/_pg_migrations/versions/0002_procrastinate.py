"""Procrastinate's tables and functions (the job queue that wakes workers), in the same
database as the outbox so a job is deferred in the same transaction as its row.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from munivideo.store._pg_migrations import run_raw

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from procrastinate.schema import SchemaManager

    run_raw(SchemaManager.get_schema())


def downgrade() -> None:
    raise NotImplementedError("procrastinate's schema is not removed by a downgrade")
