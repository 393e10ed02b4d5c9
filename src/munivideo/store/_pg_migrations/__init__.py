"""Alembic migrations of the PostgreSQL store (shipped in the package; applied by
:func:`munivideo.store.postgres.migrate`)."""

from __future__ import annotations


def run_raw(sql: str) -> None:
    """Run ``sql`` on the driver's connection of the running migration, without parameters:
    PL/pgSQL bodies hold ``%`` and ``:name`` that neither SQLAlchemy nor psycopg must read as
    placeholders."""
    from alembic import op

    dbapi = op.get_bind().connection.dbapi_connection
    if dbapi is None:
        raise RuntimeError("the migration has no open connection")
    cursor = dbapi.cursor()
    try:
        cursor.execute(sql)
    finally:
        cursor.close()
