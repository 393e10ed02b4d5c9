"""Write-back steps marked attempted before they are sent (kept across replays and requeues),
so a restarted or replayed row probes a step that may have landed before re-sending it.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "outbox_attempt",
        sa.Column("outbox_id", sa.BigInteger, sa.ForeignKey("outbox.id"), primary_key=True),
        sa.Column("step", sa.Text, primary_key=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("first_at", TS, nullable=False),
        sa.Column("last_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("outbox_attempt")
