"""Fixtures every test area shares: a PostgreSQL server for the store tests that run against
both stores.

The server is the one ``.ci/run`` starts (its superuser url in ``MUNIVIDEO_TEST_POSTGRES_URL``)
or, when that is not set (a developer's ``pytest``), a throwaway cluster started here for the
session. PostgreSQL missing is an error, never a skip: the PostgreSQL half of the suite must run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from munivideo.store import Store, open_store

ENV_URL = "MUNIVIDEO_TEST_POSTGRES_URL"
STORES = ("sqlite", "postgres")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The superuser url (database ``postgres``) of a running PostgreSQL server."""
    given = os.environ.get(ENV_URL)
    if given:
        yield given
        return
    from munivideo.testing.postgres import throwaway_cluster

    cluster = throwaway_cluster()
    try:
        yield cluster.url
    finally:
        cluster.stop()


def _create_database(server_url: str, name: str, template: str | None = None) -> str:
    import psycopg
    from psycopg import sql

    with psycopg.connect(server_url, autocommit=True, connect_timeout=10) as conn:
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            statement = sql.SQL("{} TEMPLATE {}").format(statement, sql.Identifier(template))
        conn.execute(statement)
    base, _, _ = server_url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def postgres_database(postgres_server: str) -> str:
    """A database migrated once per session (creating one costs a checkpoint, ~1.5 s)."""
    from munivideo.store.postgres import PostgresStore

    url = _create_database(postgres_server, f"mv_tests_{uuid.uuid4().hex[:8]}")
    PostgresStore(url).close()
    return url


@pytest.fixture
def new_postgres_url(postgres_server: str) -> Callable[[], str]:
    """Makes a fresh database (migrated when a store first opens it) and returns its url."""

    def make() -> str:
        return _create_database(postgres_server, f"mv_{uuid.uuid4().hex[:12]}")

    return make


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    """The session's database, emptied: every table but the schema versions is truncated."""
    import psycopg

    with psycopg.connect(postgres_database, autocommit=True, connect_timeout=10) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'munivideo_schema_version'"
            ).fetchall()
        ]
        conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    return postgres_database


@pytest.fixture(params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store's url, once per store kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'munivideo.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    yield opened
    opened.close()
