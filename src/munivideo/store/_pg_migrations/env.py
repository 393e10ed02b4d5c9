"""Alembic environment: runs on the connection handed over in ``config.attributes``, under a
transaction-level advisory lock so two processes starting together migrate once."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

MIGRATION_LOCK = 0x6D756E69  # "muni": pg_advisory_xact_lock key shared by every munivideo

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=None,
    version_table="munivideo_schema_version",
    transactional_ddl=True,
)
with context.begin_transaction():
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    context.run_migrations()
