"""What only the PostgreSQL store has: Alembic revisions, the wake-up job deferred in the same
transaction as the outbox row, and surviving a server restart."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import psycopg
import pytest

from munivideo.errors import ConfigurationError, NotFoundError
from munivideo.store import OutboxState
from munivideo.store.postgres import HEAD_REVISION, PostgresStore, StoreUnavailableError, migrate
from munivideo.store.wake import WRITEBACK_TASK, tenant_lock

from ._factories import T0, attendance, binding, entry


@pytest.fixture
def pg(postgres_url: str) -> Iterator[PostgresStore]:
    store = PostgresStore(postgres_url)
    yield store
    store.close()


def _jobs(url: str) -> list[tuple[str, str, str, object]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT task_name, queueing_lock, status::text, scheduled_at FROM procrastinate_jobs "
            "ORDER BY id"
        ).fetchall()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def test_migrations_are_versioned_and_a_newer_revision_is_refused(
    new_postgres_url: Callable[[], str],
) -> None:
    url = new_postgres_url()
    assert migrate(url) is None
    assert migrate(url) == HEAD_REVISION  # again: nothing to do
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE munivideo_schema_version SET version_num = '9999'")
    with pytest.raises(ConfigurationError, match="newer"):
        migrate(url)


def test_the_head_revision_constant_is_alembics_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from munivideo.store.postgres import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(config).get_heads() == [HEAD_REVISION]


def test_enqueue_defers_one_wake_job_per_tenant_in_its_transaction(pg: PostgresStore) -> None:
    for booking_id in ("AG-1", "AG-2"):
        pg.save_binding(binding(booking_id))
        pg.enqueue("gravatai", attendance(booking_id), entry(booking_id), max_attempts=3, now=T0)
    pg.save_binding(binding("AG-1", tenant="canoas"))
    pg.enqueue(
        "canoas", attendance("AG-1", "canoas"), entry("AG-1", "canoas"), max_attempts=3, now=T0
    )
    jobs = _jobs(pg.url)
    # one waiting job per tenant (the queueing lock merged the second), due now
    assert [(j[0], j[1], j[2], j[3]) for j in jobs] == [
        (WRITEBACK_TASK, tenant_lock("gravatai"), "todo", None),
        (WRITEBACK_TASK, tenant_lock("canoas"), "todo", None),
    ]


def test_a_rolled_back_enqueue_leaves_no_job(pg: PostgresStore) -> None:
    with pytest.raises(NotFoundError):  # no binding: the transaction rolls back
        pg.enqueue("gravatai", attendance(), entry(), max_attempts=3, now=T0)
    assert _jobs(pg.url) == []
    assert pg.list_items("gravatai") == []


def test_a_retry_wakes_the_tenant_at_its_next_attempt(pg: PostgresStore) -> None:
    pg.save_binding(binding())
    item, _ = pg.enqueue("gravatai", attendance(), entry(), max_attempts=3, now=T0)
    with psycopg.connect(pg.url) as conn:  # a worker took the job
        conn.execute("UPDATE procrastinate_jobs SET status = 'doing'")
    pg.claim("w", limit=1, lease_seconds=30, now=T0)
    later = T0 + timedelta(minutes=5)
    pg.fail(
        item.id,
        "w",
        token=1,
        to_state=OutboxState.PENDING,
        next_attempt_at=later,
        error_type="TransientError",
        message="503",
        now=T0,
    )
    assert [(j[2], j[3]) for j in _jobs(pg.url)] == [("doing", None), ("todo", later)]


def test_dropped_connections_are_replaced_and_an_unreachable_server_is_transient(
    pg: PostgresStore, postgres_server: str
) -> None:
    pg.save_binding(binding())
    with psycopg.connect(postgres_server, autocommit=True) as admin:  # as a restart would
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (pg.url.rpartition("/")[2],),
        )
    assert pg.get_binding("gravatai", "AG-1") is not None
    from munivideo.testing.postgres import free_port

    with pytest.raises(StoreUnavailableError) as info:
        PostgresStore(f"postgresql://munivideo@127.0.0.1:{free_port()}/nowhere")
    assert info.value.field == "store.url"
