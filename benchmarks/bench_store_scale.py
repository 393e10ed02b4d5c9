"""The store at scale: claim, status and a page of ``list_items`` with ROWS outbox rows (1,000,000
by default; 20,000 in smoke mode), on SQLite and on PostgreSQL.

One busy tenant holds the rows: 80% delivered, 20% pending and due (the case of issue 15, where
``status()`` counted every row in 618 ms and ``list_items(100)`` sorted all of them in 394 ms).
A second, quiet tenant has one row waiting for a retry: an idle worker polls it (an empty claim,
then ``outbox_counts``), which must cost the same whatever the busy tenant holds. The rows are
loaded in bulk (not timed); every figure is the median of REPEAT calls.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROWS = 1_000_000
SMOKE_ROWS = 5_000
REPEAT = 21
BUSY, QUIET = "busy", "quiet"
NOW = datetime(2030, 3, 5, 12, 0, tzinfo=UTC)


def _entry_json() -> str:
    from munivideo.models import Applicant, Outcome, ProtocolEntry
    from munivideo.sandbox.seeds import make_cpf

    return ProtocolEntry(
        external_reference="munivideo:busy:AG-0",
        tenant_id=BUSY,
        booking_id="AG-0",
        subject_code="IPTU-REV",
        applicant=Applicant(name="João da Conceição", cpf=make_cpf(3)),
        department_code="SMF-FISC",
        opened_at=NOW,
        summary="Atendimento por vídeo: revisão de IPTU.",
        outcome=Outcome.ATTENDED,
    ).model_dump_json()


def _load_sqlite(path: Path, rows: int) -> Any:
    from munivideo.store.sqlite import SqliteStore, stamp

    store = SqliteStore(path, synchronous="NORMAL")
    entry = _entry_json()
    past, future = stamp(NOW - timedelta(hours=1)), stamp(NOW + timedelta(hours=1))
    pending_from = rows - rows // 5

    def row(i: int) -> tuple[Any, ...]:
        state = "pending" if i >= pending_from else "delivered"
        return (BUSY, f"AG-{i}", f"munivideo:{BUSY}:AG-{i}", entry, state, 1, 8, past, past, past)

    conn = store._conn
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO outbox (tenant_id, booking_id, external_reference, entry, state, attempts, "
        "max_attempts, next_attempt_at, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (row(i) for i in range(rows)),
    )
    conn.execute(
        "INSERT INTO outbox (tenant_id, booking_id, external_reference, entry, state, attempts, "
        "max_attempts, next_attempt_at, created_at, updated_at) "
        "VALUES (?, 'AG-1', 'munivideo:quiet:AG-1', ?, 'pending', 1, 8, ?, ?, ?)",
        (QUIET, entry, future, past, past),
    )
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    return store


def _load_postgres(url: str, rows: int) -> Any:
    import psycopg

    from munivideo.store.postgres import PostgresStore

    store = PostgresStore(url, wake=False)
    entry = _entry_json()
    with psycopg.connect(url, autocommit=True) as conn:
        # bulk load without the per-row counter trigger; the counters are computed once after
        conn.execute("ALTER TABLE outbox DISABLE TRIGGER outbox_count")
        conn.execute(
            """
            INSERT INTO outbox (tenant_id, booking_id, external_reference, entry, state, attempts,
                max_attempts, next_attempt_at, created_at, updated_at)
            SELECT %(t)s, 'AG-' || i, 'munivideo:busy:AG-' || i, %(e)s,
                CASE WHEN i >= %(p)s THEN 'pending' ELSE 'delivered' END, 1, 8,
                %(past)s, %(past)s, %(past)s
            FROM generate_series(0, %(n)s - 1) AS i
            """,
            {
                "t": BUSY,
                "e": entry,
                "p": rows - rows // 5,
                "n": rows,
                "past": NOW - timedelta(hours=1),
            },
        )
        conn.execute(
            "INSERT INTO outbox (tenant_id, booking_id, external_reference, entry, state, "
            "attempts, max_attempts, next_attempt_at, created_at, updated_at) "
            "VALUES (%s, 'AG-1', 'munivideo:quiet:AG-1', %s, 'pending', 1, 8, %s, %s, %s)",
            (QUIET, entry, NOW + timedelta(hours=1), NOW, NOW),
        )
        conn.execute("ALTER TABLE outbox ENABLE TRIGGER outbox_count")
        conn.execute(
            """
            INSERT INTO outbox_count (tenant_id, pending, in_flight, delivered, failed)
            SELECT tenant_id, COUNT(*) FILTER (WHERE state = 'pending'),
                COUNT(*) FILTER (WHERE state = 'in_flight'),
                COUNT(*) FILTER (WHERE state = 'delivered'),
                COUNT(*) FILTER (WHERE state = 'failed')
            FROM outbox GROUP BY tenant_id
            """
        )
        conn.execute("VACUUM ANALYZE outbox")
    return store


def _median_ms(work: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _measure(store: Any, rows: int, repeat: int) -> dict[str, float]:
    deep = rows - rows // 10
    counter = iter(range(10**9))
    out = {
        "claim 10 (busy)": _median_ms(
            lambda: store.claim(
                f"w{next(counter)}", limit=10, lease_seconds=60, now=NOW, tenant_id=BUSY
            ),
            repeat,
        ),
        "empty claim + outbox_counts (quiet)": _median_ms(
            lambda: (
                store.claim("idle", limit=10, lease_seconds=60, now=NOW, tenant_id=QUIET),
                store.outbox_counts(QUIET, now=NOW),
            ),
            repeat,
        ),
        "outbox_counts (busy)": _median_ms(lambda: store.outbox_counts(BUSY, now=NOW), repeat),
        "status (busy)": _median_ms(lambda: store.status(BUSY, now=NOW), repeat),
        "list_items 100, first page": _median_ms(lambda: store.list_items(BUSY, limit=100), repeat),
        "list_items 100, after 90% of rows": _median_ms(
            lambda: store.list_items(BUSY, limit=100, after=deep), repeat
        ),
        "list_items 100 pending": _median_ms(
            lambda: store.list_items(BUSY, limit=100, state=_pending()), repeat
        ),
    }
    counts = store.outbox_counts(BUSY, now=NOW)
    assert counts.pending + counts.in_flight == rows // 5, counts
    assert counts.delivered == rows - rows // 5, counts
    return out


def _pending() -> Any:
    from munivideo.store import OutboxState

    return OutboxState.PENDING


def main(argv: list[str] | None = None, *, smoke: bool = False) -> None:
    args = argv if argv is not None else sys.argv[1:]
    rows = SMOKE_ROWS if smoke else int(args[0]) if args else ROWS
    repeat = 5 if smoke else REPEAT
    from munivideo.testing.postgres import throwaway_cluster

    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        store = _load_sqlite(Path(tmp) / "scale.db", rows)
        print(f"sqlite: {rows:,} rows loaded in {time.perf_counter() - started:.0f} s", flush=True)
        results["sqlite"] = _measure(store, rows, repeat)
        store.close()
    cluster = throwaway_cluster()
    try:
        started = time.perf_counter()
        store = _load_postgres(cluster.create_database("scale"), rows)
        print(
            f"postgres: {rows:,} rows loaded in {time.perf_counter() - started:.0f} s", flush=True
        )
        results["postgres"] = _measure(store, rows, repeat)
        store.close()
    finally:
        cluster.stop()
    print(f"\n{rows:,} outbox rows (20% pending), median of {repeat} calls, ms")
    print(f"{'operation':<38} {'sqlite':>10} {'postgres':>10}")
    for name in results["sqlite"]:
        print(f"{name:<38} {results['sqlite'][name]:>10.2f} {results['postgres'][name]:>10.2f}")


if __name__ == "__main__":
    main()
