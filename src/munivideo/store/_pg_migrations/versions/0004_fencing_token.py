"""The outbox row's claim counter: every claim adds one and hands it to the worker as its
fencing token; every fenced write checks it, so a superseded claim is refused even when its
worker id holds the row again (two live processes sharing one worker id).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "outbox",
        sa.Column("fencing_token", sa.BigInteger, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_column("outbox", "fencing_token")
