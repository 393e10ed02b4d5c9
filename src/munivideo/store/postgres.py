"""The PostgreSQL store: the :class:`munivideo.store.port.Store` port on psycopg 3, for many
cities served by workers on many machines.

* A connection pool (``psycopg_pool``) of autocommit connections; every method is one
  transaction (a single statement runs as its own, without BEGIN and COMMIT round trips). A
  connection is asked whether it is alive only when the server sent something since its last
  use (a restart's or ``pg_terminate_backend``'s goodbye), and a session the server ended before
  the commit is run again on another connection, so a restarted server costs the calls in
  flight (a :class:`StoreUnavailableError`, transient), not the process, and a healthy one no
  round trip per call.
* Claims are one ``UPDATE ... FROM (SELECT ... FOR UPDATE SKIP LOCKED)``: concurrent workers on
  any number of machines take disjoint rows without waiting for each other.
* Every change that makes a row due (enqueue, a retry, a requeue, a replay) defers the tenant's
  wake-up job (:mod:`munivideo.store.wake`) in the same transaction.
* The schema is versioned by Alembic (:mod:`munivideo.store._pg_migrations`), applied when the
  store opens, under an advisory lock; per-tenant counts are kept by a trigger.
* Deadlines: ``connect_timeout`` and ``statement_timeout`` bound every call.
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, LiteralString, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from munivideo.errors import ConfigurationError, LifecycleError, NotFoundError, TransientError
from munivideo.models import (
    Attendance,
    AttendanceEvent,
    Cursor,
    ProtocolEntry,
    ProtocolReceipt,
)
from munivideo.redact import redact
from munivideo.store.port import check_fence, check_resolvable
from munivideo.store.records import (
    AuditEntry,
    Binding,
    OutboxCounts,
    OutboxItem,
    QuarantineItem,
    QuarantineKind,
    TenantStatus,
)
from munivideo.store.rows import (
    Eraser,
    audit_from,
    binding_from,
    counts_from,
    cursor_from,
    erased_binding,
    erased_entry,
    item_from,
    quarantined_from,
)
from munivideo.store.states import OutboxState, can_transition
from munivideo.store.wake import WAKE_SQL, wake_params

T = TypeVar("T")
Conn = psycopg.Connection[DictRow]
_MAX_ERROR = 2000
_RETRIES = 5


class StoreUnavailableError(TransientError):
    """The database could not be reached or dropped the connection; the call did not complete
    (or, if it dropped during a commit, may have: every store change is safe to repeat or is
    fenced by the lease)."""


def _check_connection(conn: Conn) -> None:
    """The pool's check of a connection it hands out, without a round trip when nothing came
    from the server since the connection was last used: a server that restarted or ended the
    session (``pg_terminate_backend``) has sent its goodbye, so the socket is readable, and
    only then is the connection asked (:meth:`ConnectionPool.check_connection`; an error makes
    the pool drop it and hand out another). A round trip per transaction cost about a fifth of
    the store's time in the worker (py-spy, PostgreSQL load simulation)."""
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    readable, _, _ = select.select([conn.fileno()], [], [], 0)
    if readable:
        ConnectionPool.check_connection(conn)


def _timestamptz(value: datetime) -> datetime:
    """A ``timestamptz`` as psycopg reads it: already a tz-aware datetime (session time zone
    UTC)."""
    return value


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("store times must be tz-aware")
    return value


class PostgresStore:
    """The PostgreSQL implementation of :class:`munivideo.store.port.Store`.

    :param url: ``postgresql://user@host:port/database`` (libpq syntax; a password comes from
        ``PGPASSWORD`` or ``~/.pgpass``, never from the tenant file).
    :param pool_size: most connections this process opens.
    :param statement_timeout_ms: the deadline of every statement.
    :param wake: defer the tenant's wake-up job with every change that makes a row due
        (default). Off only for a database without workers, e.g. benchmarks of the store alone.
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 4,
        statement_timeout_ms: int = 30_000,
        connect_timeout_s: int = 10,
        wake: bool = True,
    ) -> None:
        self.url = url
        self.wake = wake
        migrate(url)
        self._pool: ConnectionPool[Conn] = ConnectionPool(
            url,
            min_size=1,
            max_size=max(1, pool_size),
            open=True,
            timeout=connect_timeout_s * 2,
            check=_check_connection,
            kwargs={
                "autocommit": True,
                "row_factory": dict_row,
                "connect_timeout": connect_timeout_s,
                "options": f"-c statement_timeout={int(statement_timeout_ms)} -c timezone=UTC",
            },
            name="munivideo-store",
            num_workers=1,
        )

    # -- plumbing ---------------------------------------------------------------------------

    def _tx(self, work: Callable[[Conn], T], *, single: bool = False) -> T:
        """Run ``work`` in one transaction; repeat it when PostgreSQL aborted it for a deadlock
        or a serialization failure (it surely did not commit then), or when the server had
        ended the session before our transaction could commit (``AdminShutdown``: a restart or
        ``pg_terminate_backend`` whose goodbye had not reached the pool's check yet), on
        another connection. ``single``: ``work`` is one statement, its own transaction on the
        autocommit connection (no BEGIN and COMMIT round trips)."""
        for attempt in range(_RETRIES):
            committing = False
            try:
                with self._pool.connection() as conn:
                    if single:
                        return work(conn)
                    with conn.transaction():
                        result = work(conn)
                        committing = True
                    return result
            except (pg_errors.DeadlockDetected, pg_errors.SerializationFailure):
                if attempt == _RETRIES - 1:
                    raise
                time.sleep(0.01 * (attempt + 1))
            except pg_errors.AdminShutdown as exc:
                if committing or attempt == _RETRIES - 1:
                    raise StoreUnavailableError(
                        f"PostgreSQL unavailable: {exc}", field="store.url"
                    ) from exc
            except (psycopg.OperationalError, PoolTimeout) as exc:
                raise StoreUnavailableError(
                    f"PostgreSQL unavailable: {exc}", field="store.url"
                ) from exc
        raise AssertionError("unreachable")

    def _read(
        self, sql: LiteralString, params: Sequence[Any] | dict[str, Any] = ()
    ) -> list[DictRow]:
        """One statement (a read, or a write that is atomic alone), in its own transaction."""
        return self._tx(lambda conn: conn.execute(sql, params).fetchall(), single=True)

    def close(self) -> None:
        """Close the connection pool (waits up to 2 s for connections in use)."""
        self._pool.close(timeout=2.0)

    def schema_version(self) -> str:
        """The Alembic revision the database is at."""
        rows = self._read("SELECT version_num FROM munivideo_schema_version")
        return str(rows[0]["version_num"])

    def _wake(self, conn: Conn, tenant_id: str, at: datetime | None = None) -> None:
        if self.wake:
            conn.execute(WAKE_SQL, wake_params(tenant_id, at))

    def wake_tenant(self, tenant_id: str, at: datetime | None = None) -> None:
        """Defer ``tenant_id``'s wake-up job (merged with a waiting one): a write-back turn
        that ran out of time puts the tenant at the back of the queue this way."""
        self._tx(lambda conn: conn.execute(WAKE_SQL, wake_params(tenant_id, at)), single=True)

    def due_tenants(self, *, now: datetime) -> list[str]:
        """Tenants with a due pending row or an expired lease (the sweep wakes them: a safety
        net for jobs lost with a killed worker). One index probe per tenant with rows."""
        rows = self._read(
            """
            SELECT c.tenant_id FROM outbox_count c
            WHERE (c.pending > 0 AND EXISTS (SELECT 1 FROM outbox o WHERE o.tenant_id = c.tenant_id
                       AND o.state = 'pending' AND o.next_attempt_at <= %(now)s))
               OR (c.in_flight > 0 AND EXISTS (SELECT 1 FROM outbox o
                       WHERE o.tenant_id = c.tenant_id AND o.state = 'in_flight'
                       AND o.lease_expires_at <= %(now)s))
            ORDER BY c.tenant_id
            """,
            {"now": _aware(now)},
        )
        return [str(r["tenant_id"]) for r in rows]

    # -- bindings ---------------------------------------------------------------------------

    def get_binding(self, tenant_id: str, booking_id: str) -> Binding | None:
        """The binding of (tenant, booking), or None."""
        rows = self._read(
            "SELECT * FROM binding WHERE tenant_id = %s AND booking_id = %s",
            (tenant_id, booking_id),
        )
        return binding_from(rows[0], _timestamptz) if rows else None

    def save_binding(self, binding: Binding) -> None:
        """Insert or update one binding."""
        self._tx(lambda conn: _upsert_bindings(conn, [binding]))

    def get_bindings(self, tenant_id: str, booking_ids: Sequence[str]) -> dict[str, Binding]:
        """The bindings of ``booking_ids`` that exist, by booking id."""
        rows = self._read(
            "SELECT * FROM binding WHERE tenant_id = %s AND booking_id = ANY(%s)",
            (tenant_id, list(booking_ids)),
        )
        return {r["booking_id"]: binding_from(r, _timestamptz) for r in rows}

    def save_bindings(self, bindings: Sequence[Binding], *, now: datetime) -> None:
        """Upsert many bindings in one transaction and resolve their bookings' quarantine."""

        def work(conn: Conn) -> None:
            _upsert_bindings(conn, bindings)
            with conn.cursor() as cur:
                cur.executemany(
                    "UPDATE quarantine SET resolved_at = %s WHERE tenant_id = %s "
                    "AND kind = 'booking' AND record_id = %s AND resolved_at IS NULL",
                    [(_aware(now), b.tenant_id, b.booking_id) for b in bindings],
                )

        self._tx(work)

    def count_bindings(self, tenant_id: str) -> int:
        """How many bookings ``tenant_id`` has bound."""
        rows = self._read("SELECT COUNT(*) AS n FROM binding WHERE tenant_id = %s", (tenant_id,))
        return int(rows[0]["n"])

    def dirty_bindings(self, tenant_id: str, *, limit: int = 1000) -> list[Binding]:
        """Bindings whose side effects (room, link, invitation) did not all finish."""
        rows = self._read(
            "SELECT * FROM binding WHERE tenant_id = %s AND fingerprint = '' "
            "ORDER BY updated_at LIMIT %s",
            (tenant_id, limit),
        )
        return [binding_from(r, _timestamptz) for r in rows]

    # -- cursors ----------------------------------------------------------------------------

    def get_cursor(self, tenant_id: str) -> Cursor | None:
        """The tenant's sync cursor, or None before the first sync."""
        rows = self._read("SELECT * FROM sync_cursor WHERE tenant_id = %s", (tenant_id,))
        if not rows:
            return None
        return cursor_from(rows[0], _timestamptz)

    def set_cursor(self, tenant_id: str, cursor: Cursor, *, now: datetime) -> None:
        """Move the tenant's sync cursor."""
        self._tx(
            lambda conn: conn.execute(
                """
                INSERT INTO sync_cursor (tenant_id, updated_at, record_id, saved_at)
                VALUES (%s, %s, %s, %s)
                ON CONFLICT (tenant_id) DO UPDATE SET updated_at = excluded.updated_at,
                    record_id = excluded.record_id, saved_at = excluded.saved_at
                """,
                (tenant_id, _aware(cursor.updated_at), cursor.id, _aware(now)),
            )
        )

    # -- sent messages ----------------------------------------------------------------------

    def was_sent(self, tenant_id: str, key: str) -> bool:
        """Whether message ``key`` was already sent for the tenant."""
        return bool(
            self._read(
                "SELECT 1 FROM sent_message WHERE tenant_id = %s AND key = %s", (tenant_id, key)
            )
        )

    def mark_sent(
        self, tenant_id: str, booking_id: str, key: str, reference: str, *, now: datetime
    ) -> None:
        """Remember that message ``key`` was sent (a repeat is a no-op)."""
        self._tx(
            lambda conn: conn.execute(
                "INSERT INTO sent_message (tenant_id, key, booking_id, reference, sent_at) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (tenant_id, key, booking_id, reference, _aware(now)),
            )
        )

    def forget_sent(self, tenant_id: str, key: str) -> None:
        """Drop a sent-message mark (a pending mark whose send surely did not happen)."""
        self._tx(
            lambda conn: conn.execute(
                "DELETE FROM sent_message WHERE tenant_id = %s AND key = %s", (tenant_id, key)
            )
        )

    # -- retention (LGPD) -------------------------------------------------------------------

    def purge_personal_data(
        self,
        tenant_id: str,
        *,
        before: datetime,
        booking: Eraser,
        attendance: Eraser,
        entry: Eraser,
        dry_run: bool = False,
    ) -> dict[str, int]:
        """Rewrite rows older than ``before`` with the given erasers (see
        :meth:`munivideo.store.port.Store.purge_personal_data`), in one transaction; the rows
        read are locked (``FOR UPDATE``) so a concurrent change waits instead of being lost."""
        cutoff = _aware(before)

        def work(conn: Conn) -> dict[str, int]:
            rows = conn.execute(
                "SELECT booking_id, booking, attendance FROM binding b WHERE tenant_id = %s "
                "AND updated_at < %s AND NOT EXISTS (SELECT 1 FROM outbox o WHERE "
                "o.tenant_id = b.tenant_id AND o.booking_id = b.booking_id "
                "AND o.state <> 'delivered') FOR UPDATE OF b",
                (tenant_id, cutoff),
            ).fetchall()
            bindings = [
                (*columns, tenant_id, r["booking_id"])
                for r in rows
                if (
                    columns := erased_binding(
                        r["booking"], r["attendance"], booking=booking, attendance=attendance
                    )
                )
            ]
            rows = conn.execute(
                "SELECT id, entry FROM outbox WHERE tenant_id = %s AND state = 'delivered' "
                "AND updated_at < %s FOR UPDATE",
                (tenant_id, cutoff),
            ).fetchall()
            entries = [
                (erased, r["id"])
                for r in rows
                if (erased := erased_entry(r["entry"], entry=entry)) is not None
            ]
            rows = conn.execute(
                "SELECT id, reason FROM quarantine WHERE tenant_id = %s "
                "AND last_seen_at < %s AND raw <> '' FOR UPDATE",
                (tenant_id, cutoff),
            ).fetchall()
            quarantined = [(redact(r["reason"]), r["id"]) for r in rows]
            if not dry_run:
                with conn.cursor() as cur:
                    cur.executemany(
                        "UPDATE binding SET booking = %s, attendance = %s "
                        "WHERE tenant_id = %s AND booking_id = %s",
                        bindings,
                    )
                    cur.executemany("UPDATE outbox SET entry = %s WHERE id = %s", entries)
                    cur.executemany(
                        "UPDATE quarantine SET raw = '', reason = %s WHERE id = %s", quarantined
                    )
            return {
                "bindings": len(bindings),
                "outbox": len(entries),
                "quarantine": len(quarantined),
            }

        return self._tx(work)

    # -- attendance events ------------------------------------------------------------------

    def add_events(
        self, tenant_id: str, events: Sequence[AttendanceEvent], *, now: datetime
    ) -> int:
        """Keep join/leave events until the outcome is recorded; repeats are stored once."""

        def work(conn: Conn) -> int:
            added = 0
            for e in events:
                added += conn.execute(
                    "INSERT INTO attendance_event (tenant_id, event_id, booking_id, event, "
                    "received_at) VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    (tenant_id, e.event_id, e.booking_id, e.model_dump_json(), _aware(now)),
                ).rowcount
            return added

        return self._tx(work)

    def events_for(self, tenant_id: str, booking_id: str) -> list[AttendanceEvent]:
        """The stored join/leave events of one booking, in arrival order."""
        rows = self._read(
            "SELECT event FROM attendance_event WHERE tenant_id = %s AND booking_id = %s "
            "ORDER BY received_at, event_id",
            (tenant_id, booking_id),
        )
        return [AttendanceEvent.model_validate_json(r["event"]) for r in rows]

    # -- outbox -----------------------------------------------------------------------------

    def enqueue(
        self,
        tenant_id: str,
        attendance: Attendance,
        entry: ProtocolEntry,
        *,
        max_attempts: int,
        now: datetime,
    ) -> tuple[OutboxItem, bool]:
        """Store the attendance on its binding and the entry in the outbox, and defer the
        tenant's wake-up job, in one transaction. Idempotent per (tenant, external reference)."""
        if entry.tenant_id != tenant_id or attendance.booking_id != entry.booking_id:
            raise LifecycleError(
                "entry and attendance must belong to the same tenant and booking",
                record_id=entry.booking_id,
                field="tenant_id",
            )
        ts = _aware(now)

        def work(conn: Conn) -> tuple[OutboxItem, bool]:
            updated = conn.execute(
                "UPDATE binding SET attendance = %s, external_reference = %s, updated_at = %s "
                "WHERE tenant_id = %s AND booking_id = %s",
                (
                    attendance.model_dump_json(),
                    entry.external_reference,
                    ts,
                    tenant_id,
                    entry.booking_id,
                ),
            ).rowcount
            if updated != 1:
                raise NotFoundError(
                    "no binding for this booking: sync it before recording its attendance",
                    record_id=entry.booking_id,
                    field="booking_id",
                )
            # Look before inserting: ON CONFLICT DO NOTHING still draws the next sequence value,
            # so a duplicate record would leave a gap in the outbox ids. The binding row the
            # UPDATE above locked serialises concurrent records of one booking; ON CONFLICT
            # stays as the backstop.
            existing = conn.execute(
                "SELECT * FROM outbox WHERE tenant_id = %s AND external_reference = %s",
                (tenant_id, entry.external_reference),
            ).fetchone()
            if existing is not None:
                return _items(conn, [existing])[0], False
            inserted = conn.execute(
                "INSERT INTO outbox (tenant_id, booking_id, external_reference, entry, state, "
                "attempts, max_attempts, next_attempt_at, created_at, updated_at) "
                "VALUES (%s, %s, %s, %s, 'pending', 0, %s, %s, %s, %s) "
                "ON CONFLICT (tenant_id, external_reference) DO NOTHING RETURNING id",
                (
                    tenant_id,
                    entry.booking_id,
                    entry.external_reference,
                    entry.model_dump_json(),
                    max_attempts,
                    ts,
                    ts,
                    ts,
                ),
            ).fetchone()
            row = _one(
                conn,
                "SELECT * FROM outbox WHERE tenant_id = %s AND external_reference = %s",
                (tenant_id, entry.external_reference),
            )
            if inserted is not None:
                _audit(
                    conn,
                    [(row["id"], tenant_id, None, OutboxState.PENDING)],
                    "engine",
                    "entry prepared and stored",
                    ts,
                )
                self._wake(conn, tenant_id)
            return _items(conn, [row])[0], inserted is not None

        return self._tx(work)

    def claim(
        self,
        owner: str,
        *,
        limit: int,
        lease_seconds: float,
        now: datetime,
        tenant_id: str | None = None,
    ) -> list[OutboxItem]:
        """Take up to ``limit`` due pending rows for ``owner`` under a lease, each with its next
        fencing token; rows another worker is taking at the same moment are skipped, not
        waited for."""
        ts = _aware(now)
        params = {
            "owner": owner,
            "expires": ts + timedelta(seconds=lease_seconds),
            "now": ts,
            "tenant": tenant_id,
            "limit": limit,
        }
        sql = _CLAIM_ANY if tenant_id is None else _CLAIM_TENANT

        def work(conn: Conn) -> list[OutboxItem]:
            rows = sorted(conn.execute(sql, params).fetchall(), key=lambda r: int(r["id"]))
            for row in rows:
                _audit(
                    conn,
                    [(row["id"], row["tenant_id"], OutboxState.PENDING, OutboxState.IN_FLIGHT)],
                    owner,
                    f"claimed, attempt {row['attempts']}, token {row['fencing_token']}",
                    ts,
                )
            return _items(conn, rows)

        return self._tx(work)

    def record_step(
        self,
        item_id: int,
        owner: str,
        step: str,
        detail: str,
        *,
        token: int,
        now: datetime,
        receipt: ProtocolReceipt | None = None,
    ) -> None:
        """Record that one sub-step is done in the ERP (and the receipt, after the create)."""
        ts = _aware(now)

        def work(conn: Conn) -> None:
            row = _held(conn, item_id, owner, token)
            conn.execute(
                "INSERT INTO outbox_step (outbox_id, step, detail, done_at, seq) "
                "VALUES (%(id)s, %(step)s, %(detail)s, %(ts)s, (SELECT COALESCE(MAX(seq), 0) + 1 "
                "FROM outbox_step WHERE outbox_id = %(id)s)) "
                "ON CONFLICT (outbox_id, step) DO UPDATE SET detail = excluded.detail, "
                "done_at = excluded.done_at, seq = excluded.seq",
                {"id": item_id, "step": step, "detail": redact(detail)[:_MAX_ERROR], "ts": ts},
            )
            if receipt is not None:
                conn.execute(
                    "UPDATE outbox SET receipt = %s, updated_at = %s WHERE id = %s",
                    (receipt.model_dump_json(), ts, item_id),
                )
                conn.execute(
                    "UPDATE binding SET protocol_label = %s, updated_at = %s "
                    "WHERE tenant_id = %s AND booking_id = %s",
                    (receipt.label, ts, row["tenant_id"], row["booking_id"]),
                )

        self._tx(work)

    def renew_lease(
        self, item_id: int, owner: str, *, token: int, lease_seconds: float, now: datetime
    ) -> datetime:
        """Fence and heartbeat (see :meth:`munivideo.store.port.Store.renew_lease`)."""
        expires = _aware(now) + timedelta(seconds=lease_seconds)

        def work(conn: Conn) -> None:
            _held(conn, item_id, owner, token)
            conn.execute(
                "UPDATE outbox SET lease_expires_at = %s WHERE id = %s", (expires, item_id)
            )

        self._tx(work)
        return expires

    def mark_attempted(
        self,
        item_id: int,
        owner: str,
        step: str,
        *,
        token: int,
        lease_seconds: float,
        now: datetime,
    ) -> None:
        """Fence, renew and record that ``step`` is about to be sent, in one transaction."""
        ts = _aware(now)

        def work(conn: Conn) -> None:
            _held(conn, item_id, owner, token)
            conn.execute(
                "UPDATE outbox SET lease_expires_at = %s WHERE id = %s",
                (ts + timedelta(seconds=lease_seconds), item_id),
            )
            conn.execute(
                "INSERT INTO outbox_attempt (outbox_id, step, attempts, first_at, last_at) "
                "VALUES (%s, %s, 1, %s, %s) ON CONFLICT (outbox_id, step) DO UPDATE SET "
                "attempts = outbox_attempt.attempts + 1, last_at = excluded.last_at",
                (item_id, step, ts, ts),
            )

        self._tx(work)

    def clear_attempted(
        self, item_id: int, owner: str, step: str, *, token: int, now: datetime
    ) -> None:
        """Forget ``step``'s attempt marker (the ERP surely did nothing). Fenced."""

        def work(conn: Conn) -> None:
            _held(conn, item_id, owner, token)
            conn.execute(
                "DELETE FROM outbox_attempt WHERE outbox_id = %s AND step = %s", (item_id, step)
            )

        self._tx(work)

    def defer(
        self,
        item_id: int,
        owner: str,
        *,
        token: int,
        next_attempt_at: datetime,
        reason: str,
        now: datetime,
    ) -> OutboxItem:
        """Back to ``pending`` until ``next_attempt_at``, giving back the claim's attempt."""
        ts = _aware(now)
        at = _aware(next_attempt_at)

        def work(conn: Conn) -> OutboxItem:
            row = _held(conn, item_id, owner, token)
            _move(conn, row, OutboxState.PENDING, owner, f"deferred: {reason}", ts)
            updated = conn.execute(
                "UPDATE outbox SET state = 'pending', lease_owner = NULL, "
                "lease_expires_at = NULL, attempts = GREATEST(attempts - 1, 0), "
                "next_attempt_at = %s, updated_at = %s WHERE id = %s RETURNING *",
                (at, ts, item_id),
            ).fetchall()
            self._wake(conn, row["tenant_id"], at)
            return _items(conn, updated)[0]

        return self._tx(work)

    def resolve_step(
        self,
        item_id: int,
        step: str,
        *,
        landed: bool,
        actor: str,
        now: datetime,
        receipt: ProtocolReceipt | None = None,
    ) -> OutboxItem:
        """A person's finding for a dead letter's step (see the Store port)."""
        ts = _aware(now)

        def work(conn: Conn) -> OutboxItem:
            row = _one(conn, "SELECT * FROM outbox WHERE id = %s FOR UPDATE", (item_id,))
            check_resolvable(row, step, landed=landed, receipt=receipt)
            if landed:
                detail = receipt.label if receipt is not None else f"confirmed by {actor}"
                conn.execute(
                    "INSERT INTO outbox_step (outbox_id, step, detail, done_at, seq) "
                    "VALUES (%(id)s, %(step)s, %(detail)s, %(ts)s, (SELECT COALESCE(MAX(seq), 0) "
                    "+ 1 FROM outbox_step WHERE outbox_id = %(id)s)) "
                    "ON CONFLICT (outbox_id, step) DO UPDATE SET detail = excluded.detail, "
                    "done_at = excluded.done_at",
                    {"id": item_id, "step": step, "detail": redact(detail)[:_MAX_ERROR], "ts": ts},
                )
                if receipt is not None:
                    conn.execute(
                        "UPDATE outbox SET receipt = %s, updated_at = %s WHERE id = %s",
                        (receipt.model_dump_json(), ts, item_id),
                    )
            else:
                conn.execute(
                    "DELETE FROM outbox_attempt WHERE outbox_id = %s AND step = %s",
                    (item_id, step),
                )
            verdict = "landed (recorded done)" if landed else "absent (will be sent again)"
            _audit(
                conn,
                [(item_id, row["tenant_id"], OutboxState.FAILED, OutboxState.FAILED)],
                actor,
                f"step {step} checked in the ERP: {verdict}",
                ts,
            )
            fresh = conn.execute("SELECT * FROM outbox WHERE id = %s", (item_id,)).fetchall()
            return _items(conn, fresh)[0]

        return self._tx(work)

    def complete(self, item_id: int, owner: str, *, token: int, now: datetime) -> OutboxItem:
        """Mark the row delivered; LeaseLostError when ``owner``'s claim ``token`` no longer
        holds it."""
        ts = _aware(now)

        def work(conn: Conn) -> OutboxItem:
            row = _held(conn, item_id, owner, token)
            _move(conn, row, OutboxState.DELIVERED, owner, "every step done", ts)
            updated = conn.execute(
                "UPDATE outbox SET state = 'delivered', lease_owner = NULL, "
                "lease_expires_at = NULL, delivered_at = %s, updated_at = %s WHERE id = %s "
                "RETURNING *",
                (ts, ts, item_id),
            ).fetchall()
            return _items(conn, updated)[0]

        return self._tx(work)

    def fail(
        self,
        item_id: int,
        owner: str,
        *,
        token: int,
        to_state: OutboxState,
        next_attempt_at: datetime,
        error_type: str,
        message: str,
        now: datetime,
    ) -> OutboxItem:
        """Route a failed attempt to ``pending`` (retry later: the wake-up job is deferred to
        ``next_attempt_at``) or ``failed`` (dead letter). Fenced."""
        ts = _aware(now)
        safe = redact(message)[:_MAX_ERROR]

        def work(conn: Conn) -> OutboxItem:
            row = _held(conn, item_id, owner, token)
            _move(conn, row, to_state, owner, f"{error_type}: {safe}", ts)
            updated = conn.execute(
                "UPDATE outbox SET state = %s, lease_owner = NULL, lease_expires_at = NULL, "
                "next_attempt_at = %s, last_error = %s, last_error_type = %s, updated_at = %s "
                "WHERE id = %s RETURNING *",
                (to_state.value, _aware(next_attempt_at), safe, error_type, ts, item_id),
            ).fetchall()
            if to_state is OutboxState.PENDING:
                self._wake(conn, row["tenant_id"], next_attempt_at)
            return _items(conn, updated)[0]

        return self._tx(work)

    def requeue_stale(self, *, now: datetime, tenant_id: str | None = None) -> int:
        """Put rows whose lease expired back to ``pending``, due since the lease ran out."""
        ts = _aware(now)

        def work(conn: Conn) -> int:
            rows = conn.execute(
                "UPDATE outbox o SET state = 'pending', lease_owner = NULL, "
                "lease_expires_at = NULL, next_attempt_at = old.lease_expires_at, updated_at = %s "
                "FROM (SELECT id, lease_owner, lease_expires_at FROM outbox "
                "      WHERE state = 'in_flight' AND lease_expires_at <= %s "
                "      AND (%s::text IS NULL OR tenant_id = %s) FOR UPDATE SKIP LOCKED) old "
                "WHERE o.id = old.id RETURNING o.id, o.tenant_id, old.lease_owner",
                (ts, ts, tenant_id, tenant_id),
            ).fetchall()
            for row in rows:
                _audit(
                    conn,
                    [(row["id"], row["tenant_id"], OutboxState.IN_FLIGHT, OutboxState.PENDING)],
                    "store",
                    f"lease of {row['lease_owner']} expired; requeued",
                    ts,
                )
            for tenant in sorted({r["tenant_id"] for r in rows}):
                self._wake(conn, tenant)
            return len(rows)

        return self._tx(work)

    def release_owner(self, owner: str, *, now: datetime, tenant_id: str | None = None) -> int:
        """Requeue every row ``owner`` holds, expired or not (a restarted worker's id)."""
        ts = _aware(now)

        def work(conn: Conn) -> int:
            rows = conn.execute(
                "UPDATE outbox SET state = 'pending', lease_owner = NULL, "
                "lease_expires_at = NULL, next_attempt_at = %s, updated_at = %s "
                "WHERE state = 'in_flight' AND lease_owner = %s "
                "AND (%s::text IS NULL OR tenant_id = %s) RETURNING id, tenant_id",
                (ts, ts, owner, tenant_id, tenant_id),
            ).fetchall()
            _audit(
                conn,
                [
                    (r["id"], r["tenant_id"], OutboxState.IN_FLIGHT, OutboxState.PENDING)
                    for r in rows
                ],
                owner,
                "worker restarted; its earlier leases released",
                ts,
            )
            for tenant in sorted({r["tenant_id"] for r in rows}):
                self._wake(conn, tenant)
            return len(rows)

        return self._tx(work)

    def replay(
        self,
        *,
        tenant_id: str,
        item_ids: Sequence[int] | None,
        actor: str,
        reason: str,
        now: datetime,
    ) -> list[OutboxItem]:
        """Move dead letters back to ``pending`` with a fresh attempt budget."""
        ts = _aware(now)

        def work(conn: Conn) -> list[OutboxItem]:
            if item_ids is None:
                ids = [
                    int(r["id"])
                    for r in conn.execute(
                        "SELECT id FROM outbox WHERE tenant_id = %s AND state = 'failed' "
                        "ORDER BY id FOR UPDATE",
                        (tenant_id,),
                    ).fetchall()
                ]
            else:
                ids = list(item_ids)
            out: list[DictRow] = []
            for item_id in ids:
                row = _one(conn, "SELECT * FROM outbox WHERE id = %s FOR UPDATE", (item_id,))
                if row["tenant_id"] != tenant_id:
                    raise NotFoundError(
                        f"outbox item {item_id} does not belong to tenant {tenant_id}",
                        record_id=str(item_id),
                        field="tenant_id",
                    )
                if row["state"] != OutboxState.FAILED:
                    raise LifecycleError(
                        f"only failed items can be replayed; this one is {row['state']}",
                        record_id=row["external_reference"],
                        field="state",
                    )
                _move(conn, row, OutboxState.PENDING, actor, f"replay: {reason}", ts)
                out.extend(
                    conn.execute(
                        "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = %s, "
                        "lease_owner = NULL, lease_expires_at = NULL, updated_at = %s "
                        "WHERE id = %s RETURNING *",
                        (ts, ts, item_id),
                    ).fetchall()
                )
            if out:
                self._wake(conn, tenant_id)
            return _items(conn, out)

        return self._tx(work)

    def get_item(self, item_id: int) -> OutboxItem:
        """One outbox row with its steps; NotFoundError when there is none."""
        return self._tx(
            lambda conn: _items(
                conn, [_one(conn, "SELECT * FROM outbox WHERE id = %s", (item_id,))]
            )[0]
        )

    def list_items(
        self,
        tenant_id: str,
        *,
        state: OutboxState | None = None,
        limit: int = 1000,
        after: int | None = None,
    ) -> list[OutboxItem]:
        """A page of a tenant's rows in id order; ``after``: the last id of the previous page
        (keyset pagination: each page costs the same however deep it is)."""
        params = {
            "t": tenant_id,
            "s": state.value if state is not None else None,
            "after": after if after is not None else 0,
            "limit": limit,
        }
        sql = _LIST_ALL if state is None else _LIST_STATE
        return self._tx(lambda conn: _items(conn, conn.execute(sql, params).fetchall()))

    def audit_trail(self, item_id: int) -> list[AuditEntry]:
        """Every state change of outbox row ``item_id``, oldest first."""
        rows = self._read("SELECT * FROM outbox_audit WHERE outbox_id = %s ORDER BY id", (item_id,))
        return [audit_from(r, _timestamptz) for r in rows]

    # -- quarantine -------------------------------------------------------------------------

    def quarantine(
        self,
        tenant_id: str,
        kind: QuarantineKind,
        record_id: str,
        *,
        field: str | None,
        reason: str,
        error_type: str,
        raw: str,
        now: datetime,
    ) -> QuarantineItem:
        """Keep a bad record with its reason; seeing it again updates it and counts."""
        ts = _aware(now)
        rows = self._read(
            """
            INSERT INTO quarantine (tenant_id, kind, record_id, field, reason, error_type,
                raw, occurrences, first_seen_at, last_seen_at)
            VALUES (%s, %s, %s, %s, %s, %s, %s, 1, %s, %s)
            ON CONFLICT (tenant_id, kind, record_id) DO UPDATE SET
                field = excluded.field, reason = excluded.reason,
                error_type = excluded.error_type, raw = excluded.raw,
                occurrences = quarantine.occurrences + 1,
                last_seen_at = excluded.last_seen_at, resolved_at = NULL
            RETURNING *
            """,
            (
                tenant_id,
                kind.value,
                record_id,
                field,
                redact(reason)[:_MAX_ERROR],
                error_type,
                raw,
                ts,
                ts,
            ),
        )
        return quarantined_from(rows[0], _timestamptz)

    def resolve_quarantine(
        self, tenant_id: str, kind: QuarantineKind, record_id: str, *, now: datetime
    ) -> bool:
        """Mark a quarantined record resolved; False when none was open."""
        rows = self._read(
            "UPDATE quarantine SET resolved_at = %s WHERE tenant_id = %s AND kind = %s "
            "AND record_id = %s AND resolved_at IS NULL RETURNING id",
            (_aware(now), tenant_id, kind.value, record_id),
        )
        return len(rows) == 1

    def list_quarantine(
        self, tenant_id: str, *, include_resolved: bool = False, limit: int = 1000
    ) -> list[QuarantineItem]:
        """The tenant's quarantined records (unresolved only, unless asked), by id."""
        rows = self._read(
            "SELECT * FROM quarantine WHERE tenant_id = %s AND (%s OR resolved_at IS NULL) "
            "ORDER BY id LIMIT %s",
            (tenant_id, include_resolved, limit),
        )
        return [quarantined_from(r, _timestamptz) for r in rows]

    # -- console reads and operator actions --------------------------------------------------

    def bindings_starting(
        self,
        tenant_id: str,
        *,
        start: datetime,
        end: datetime,
        servant_registration: str | None = None,
        limit: int = 500,
    ) -> list[Binding]:
        """Bindings whose booking starts in ``[start, end)``, by start (the servant's agenda)."""
        rows = self._read(
            "SELECT * FROM binding WHERE tenant_id = %(t)s "
            "AND (booking::jsonb ->> 'start')::timestamptz >= %(start)s "
            "AND (booking::jsonb ->> 'start')::timestamptz < %(end)s "
            "AND (%(reg)s::text IS NULL "
            "OR booking::jsonb -> 'servant' ->> 'registration' = %(reg)s) "
            "ORDER BY (booking::jsonb ->> 'start')::timestamptz, booking_id LIMIT %(limit)s",
            {
                "t": tenant_id,
                "start": _aware(start),
                "end": _aware(end),
                "reg": servant_registration,
                "limit": limit,
            },
        )
        return [binding_from(r, _timestamptz) for r in rows]

    def item_for_booking(self, tenant_id: str, booking_id: str) -> OutboxItem | None:
        """The outbox row of a booking's attendance, or None before it is recorded."""

        def work(conn: Conn) -> OutboxItem | None:
            rows = conn.execute(
                "SELECT o.* FROM binding b JOIN outbox o ON o.tenant_id = b.tenant_id "
                "AND o.external_reference = b.external_reference "
                "WHERE b.tenant_id = %s AND b.booking_id = %s",
                (tenant_id, booking_id),
            ).fetchall()
            return _items(conn, rows)[0] if rows else None

        return self._tx(work)

    def requeue(
        self,
        *,
        tenant_id: str,
        item_ids: Sequence[int],
        actor: str,
        reason: str,
        now: datetime,
    ) -> list[OutboxItem]:
        """An operator makes ``pending`` rows due now; attempts and steps are kept."""
        ts = _aware(now)

        def work(conn: Conn) -> list[OutboxItem]:
            out: list[DictRow] = []
            for item_id in item_ids:
                row = _owned(conn, item_id, tenant_id)
                if row["state"] != OutboxState.PENDING:
                    raise LifecycleError(
                        f"only pending items can be requeued (replay dead letters); this one "
                        f"is {row['state']}",
                        record_id=row["external_reference"],
                        field="state",
                    )
                _move(conn, row, OutboxState.PENDING, actor, f"requeue: {reason}", ts)
                out.extend(
                    conn.execute(
                        "UPDATE outbox SET next_attempt_at = %s, updated_at = %s WHERE id = %s "
                        "RETURNING *",
                        (ts, ts, item_id),
                    ).fetchall()
                )
            if out:
                self._wake(conn, tenant_id)
            return _items(conn, out)

        return self._tx(work)

    def mark_done_elsewhere(
        self,
        item_id: int,
        *,
        tenant_id: str,
        actor: str,
        reason: str,
        receipt: ProtocolReceipt,
        now: datetime,
    ) -> OutboxItem:
        """A dead letter a person delivered by hand -> ``delivered`` with their receipt."""
        ts = _aware(now)

        def work(conn: Conn) -> OutboxItem:
            row = _owned(conn, item_id, tenant_id)
            if row["state"] != OutboxState.FAILED:
                raise LifecycleError(
                    f"only failed items can be marked done elsewhere; this one is {row['state']}",
                    record_id=row["external_reference"],
                    field="state",
                )
            _move(
                conn,
                row,
                OutboxState.DELIVERED,
                actor,
                f"done elsewhere (protocol {receipt.label}): {reason}",
                ts,
            )
            updated = conn.execute(
                "UPDATE outbox SET state = 'delivered', receipt = %s, delivered_at = %s, "
                "lease_owner = NULL, lease_expires_at = NULL, updated_at = %s WHERE id = %s "
                "RETURNING *",
                (receipt.model_dump_json(), ts, ts, item_id),
            ).fetchall()
            conn.execute(
                "UPDATE binding SET protocol_label = %s, updated_at = %s "
                "WHERE tenant_id = %s AND booking_id = %s",
                (receipt.label, ts, tenant_id, row["booking_id"]),
            )
            return _items(conn, updated)[0]

        return self._tx(work)

    # -- overview ---------------------------------------------------------------------------

    def outbox_counts(self, tenant_id: str, *, now: datetime) -> OutboxCounts:
        """The tenant's outbox by state, from the trigger-kept counters and index lookups."""
        rows = self._read(_COUNTS_SQL, {"t": tenant_id, "now": _aware(now)})
        return counts_from(rows[0], _timestamptz)

    def status(self, tenant_id: str, *, now: datetime) -> TenantStatus:
        """Cursor, bindings, outbox counts and open quarantine of one tenant."""
        cursor = self.get_cursor(tenant_id)
        quarantined = self._read(
            "SELECT COUNT(*) AS n FROM quarantine WHERE tenant_id = %s AND resolved_at IS NULL",
            (tenant_id,),
        )[0]["n"]
        return TenantStatus(
            tenant_id=tenant_id,
            cursor_updated_at=cursor.updated_at if cursor else None,
            cursor_id=cursor.id if cursor else None,
            bindings=self.count_bindings(tenant_id),
            outbox=self.outbox_counts(tenant_id, now=now),
            quarantined=int(quarantined),
        )


# -- SQL -------------------------------------------------------------------------------------

_CLAIM_TENANT: LiteralString = """
UPDATE outbox o SET state = 'in_flight', lease_owner = %(owner)s,
    lease_expires_at = %(expires)s, fencing_token = o.fencing_token + 1,
    attempts = o.attempts + 1, updated_at = %(now)s
FROM (SELECT id FROM outbox
      WHERE tenant_id = %(tenant)s AND state = 'pending' AND next_attempt_at <= %(now)s
      ORDER BY tenant_id, state, next_attempt_at, id LIMIT %(limit)s FOR UPDATE SKIP LOCKED) picked
WHERE o.id = picked.id RETURNING o.*
"""

_CLAIM_ANY: LiteralString = """
UPDATE outbox o SET state = 'in_flight', lease_owner = %(owner)s,
    lease_expires_at = %(expires)s, fencing_token = o.fencing_token + 1,
    attempts = o.attempts + 1, updated_at = %(now)s
FROM (SELECT id FROM outbox
      WHERE state = 'pending' AND next_attempt_at <= %(now)s
      ORDER BY state, next_attempt_at, id LIMIT %(limit)s FOR UPDATE SKIP LOCKED) picked
WHERE o.id = picked.id AND %(tenant)s::text IS NULL RETURNING o.*
"""

_LIST_ALL: LiteralString = """
SELECT * FROM outbox WHERE id = ANY(ARRAY(
    SELECT id FROM outbox WHERE tenant_id = %(t)s AND id > %(after)s AND %(s)s::text IS NULL
    ORDER BY tenant_id, id LIMIT %(limit)s))
ORDER BY id
"""

_LIST_STATE: LiteralString = """
SELECT * FROM outbox WHERE id = ANY(ARRAY(
    SELECT id FROM outbox WHERE tenant_id = %(t)s AND state = %(s)s AND id > %(after)s
    ORDER BY tenant_id, state, id LIMIT %(limit)s))
ORDER BY id
"""

# Counts from the counters; the oldest pending row is the pending row with the lowest id (ids
# grow with creation time), found through (tenant_id, state, id) without reading the others.
# Pages and the oldest row take their ids from an index-only scan first, then read the rows by
# id: asked for whole rows in id order, the planner walks the primary key and filters, reading
# every delivered row before the pending ones (it assumes states are spread evenly over ids;
# they are not: old rows are delivered). Measured: 1.6 s -> under 3 ms with 1M rows.
_COUNTS_SQL: LiteralString = """
SELECT c.pending, c.in_flight, c.delivered, c.failed,
  (SELECT COUNT(*) FROM outbox WHERE tenant_id = %(t)s AND state = 'in_flight'
     AND lease_expires_at <= %(now)s) AS stale,
  (SELECT created_at FROM outbox WHERE id = (SELECT id FROM outbox
     WHERE tenant_id = %(t)s AND state = 'pending' ORDER BY tenant_id, state, id LIMIT 1))
     AS oldest,
  (SELECT next_attempt_at FROM outbox WHERE tenant_id = %(t)s AND state = 'pending'
     ORDER BY tenant_id, state, next_attempt_at LIMIT 1) AS next_at
FROM (SELECT %(t)s AS tenant_id) AS t LEFT JOIN outbox_count c USING (tenant_id)
"""


# A page's steps done (in the order done) and attempt markers (by step name), tagged by `done`.
_STEPS_AND_ATTEMPTS: LiteralString = """
SELECT outbox_id, TRUE AS done, step, detail, NULL::timestamptz AS last_at, seq AS ord,
    '' AS name FROM outbox_step WHERE outbox_id = ANY(%(ids)s)
UNION ALL
SELECT outbox_id, FALSE, step, NULL, last_at, 0, step FROM outbox_attempt
    WHERE outbox_id = ANY(%(ids)s)
ORDER BY outbox_id, done, ord, name
"""


# -- helpers ---------------------------------------------------------------------------------


def _one(conn: Conn, sql: LiteralString, params: Sequence[Any]) -> DictRow:
    row = conn.execute(sql, params).fetchone()
    if row is None:
        raise NotFoundError("no such outbox item", record_id=str(params[0]), field="id")
    return row


def _owned(conn: Conn, item_id: int, tenant_id: str) -> DictRow:
    row = _one(conn, "SELECT * FROM outbox WHERE id = %s FOR UPDATE", (item_id,))
    if row["tenant_id"] != tenant_id:
        raise NotFoundError(
            f"outbox item {item_id} does not belong to tenant {tenant_id}",
            record_id=str(item_id),
            field="tenant_id",
        )
    return row


def _held(conn: Conn, item_id: int, owner: str, token: int) -> DictRow:
    row = _one(conn, "SELECT * FROM outbox WHERE id = %s FOR UPDATE", (item_id,))
    check_fence(row, owner, token)
    return row


def _audit(
    conn: Conn,
    moves: Iterable[tuple[int, str, OutboxState | None, OutboxState]],
    actor: str,
    reason: str,
    ts: datetime,
) -> None:
    safe = redact(reason)[:_MAX_ERROR]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO outbox_audit (outbox_id, tenant_id, from_state, to_state, actor, "
            "reason, at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [
                (item_id, tenant, old.value if old else None, new.value, actor, safe, ts)
                for item_id, tenant, old, new in moves
            ],
        )


def _move(
    conn: Conn, row: DictRow, new: OutboxState, actor: str, reason: str, ts: datetime
) -> None:
    old = OutboxState(row["state"])
    if not can_transition(old, new):
        raise LifecycleError(
            f"outbox item cannot go from {old.value} to {new.value}",
            record_id=row["external_reference"],
            field="state",
        )
    _audit(conn, [(row["id"], row["tenant_id"], old, new)], actor, reason, ts)


def _items(conn: Conn, rows: Sequence[DictRow]) -> list[OutboxItem]:
    """Outbox rows as items, with their steps done and attempt markers read in one query for
    the whole page (one round trip, not one per table)."""
    steps: dict[int, dict[str, str]] = {int(r["id"]): {} for r in rows}
    attempted: dict[int, dict[str, datetime]] = {int(r["id"]): {} for r in rows}
    if rows:
        for s in conn.execute(_STEPS_AND_ATTEMPTS, {"ids": list(steps)}).fetchall():
            if s["done"]:
                steps[int(s["outbox_id"])][s["step"]] = s["detail"]
            else:
                attempted[int(s["outbox_id"])][s["step"]] = s["last_at"]
    return [
        item_from(
            row,
            _timestamptz,
            steps=steps[int(row["id"])],
            attempted=attempted[int(row["id"])],
        )
        for row in rows
    ]


def _upsert_bindings(conn: Conn, bindings: Sequence[Binding]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            """
            INSERT INTO binding (tenant_id, booking_id, booking, fingerprint, room,
                room_link_recorded, invitation_uid, invitation_sequence, invitation_method,
                invitation_key, attendance, external_reference, protocol_label, created_at,
                updated_at)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (tenant_id, booking_id) DO UPDATE SET
                booking = excluded.booking, fingerprint = excluded.fingerprint,
                room = excluded.room, room_link_recorded = excluded.room_link_recorded,
                invitation_uid = excluded.invitation_uid,
                invitation_sequence = excluded.invitation_sequence,
                invitation_method = excluded.invitation_method,
                invitation_key = excluded.invitation_key,
                attendance = COALESCE(excluded.attendance, binding.attendance),
                external_reference = CASE WHEN excluded.external_reference = ''
                    THEN binding.external_reference ELSE excluded.external_reference END,
                protocol_label = CASE WHEN excluded.protocol_label = ''
                    THEN binding.protocol_label ELSE excluded.protocol_label END,
                updated_at = excluded.updated_at
            """,
            [b.columns(_aware) for b in bindings],
        )


# -- migrations ------------------------------------------------------------------------------

MIGRATIONS_DIR = Path(__file__).parent / "_pg_migrations"


def sqlalchemy_url(url: str) -> str:
    """``postgresql://...`` as SQLAlchemy names it with the psycopg 3 driver."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("postgresql", "postgres", "postgresql+psycopg"):
        raise ConfigurationError(f"not a PostgreSQL url: {scheme}://...", field="store.url")
    return f"postgresql+psycopg://{rest}"


HEAD_REVISION = "0004"
"""The newest Alembic revision in :data:`MIGRATIONS_DIR` (a test keeps them equal)."""


def _current_revision(url: str) -> str | None:
    try:
        with psycopg.connect(url, connect_timeout=10, autocommit=True) as conn:
            row = conn.execute("SELECT version_num FROM munivideo_schema_version").fetchone()
    except pg_errors.UndefinedTable:
        return None
    except psycopg.OperationalError as exc:
        raise StoreUnavailableError(f"PostgreSQL unavailable: {exc}", field="store.url") from exc
    return str(row[0]) if row else None


def migrate(url: str) -> str | None:
    """Bring the database at ``url`` to the newest schema with Alembic; returns the revision
    found before (None: empty database). Refuses a database migrated by a newer munivideo.

    A database already at :data:`HEAD_REVISION` is recognised with one query, without loading
    Alembic (every worker process opens the store)."""
    if _current_revision(url) == HEAD_REVISION:
        return HEAD_REVISION
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine, exc, pool, text

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    known = {s.revision for s in ScriptDirectory.from_config(config).walk_revisions()}
    engine = create_engine(
        sqlalchemy_url(url), poolclass=pool.NullPool, connect_args={"connect_timeout": 10}
    )
    try:
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": 0x6D756E69})
            found = MigrationContext.configure(
                conn, opts={"version_table": "munivideo_schema_version"}
            ).get_current_revision()
            if found is not None and found not in known:
                raise ConfigurationError(
                    f"the store has schema revision {found}, newer than this munivideo knows; "
                    "upgrade munivideo",
                    field="store.url",
                )
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    except (psycopg.OperationalError, exc.OperationalError) as error:
        raise StoreUnavailableError(
            f"PostgreSQL unavailable: {error}", field="store.url"
        ) from error
    finally:
        engine.dispose()
    return found
