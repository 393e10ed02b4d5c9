"""The embedded store: stdlib ``sqlite3`` in WAL mode, safe across threads and processes.

* One connection per :class:`SqliteStore`, guarded by a lock; open one store per process (or
  per worker thread) on the same file to work concurrently.
* Autocommit mode with explicit ``BEGIN IMMEDIATE`` for every write: the write lock is taken at
  the start of the transaction, so two claimers can never read the same pending row and both
  take it (no deferred-lock upgrade deadlocks either). ``busy_timeout`` makes waiters wait.
* Claims are one ``UPDATE ... WHERE state = 'pending' ... RETURNING`` statement.
* Times are stored as fixed-width UTC text, so text order is time order.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

from munivideo.errors import ConfigurationError, LifecycleError, NotFoundError, TransientError
from munivideo.models import Attendance, AttendanceEvent, Cursor, ProtocolEntry, ProtocolReceipt
from munivideo.redact import redact
from munivideo.store.migrations import migrate
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

_STAMP = "%Y-%m-%dT%H:%M:%S.%fZ"
_MAX_ERROR = 2000


def stamp(value: datetime) -> str:
    """How SQLite stores a time: UTC text of fixed width, ``2026-03-01T13:05:00.000000Z``,
    so comparing the text compares the times (indexes and ``<=`` work on it).

    :raises ValueError: ``value`` is naive (no time zone).
    """
    if value.tzinfo is None:
        raise ValueError("store times must be tz-aware")
    return value.astimezone(UTC).strftime(_STAMP)


def unstamp(text: str) -> datetime:
    """The inverse of :func:`stamp`: a tz-aware UTC :class:`~datetime.datetime`.

    :raises ValueError: ``text`` is not in :func:`stamp`'s format.
    """
    return datetime.strptime(text, _STAMP).replace(tzinfo=UTC)


_ITEM_SQL = "SELECT * FROM outbox WHERE id = ?"
_T = TypeVar("_T")
_DISK_FAULT = re.compile(r"(?i)full|disk i/o|readonly|read-only")


def _while_locked(work: Callable[[], _T], timeout_ms: int) -> _T:
    """Run ``work``, retrying "database is locked/busy" with a short backoff for up to
    ``timeout_ms`` (then the last error is raised)."""
    deadline = time.monotonic() + timeout_ms / 1000
    delay = 0.01
    while True:
        try:
            return work()
        except sqlite3.OperationalError as exc:
            text = str(exc).lower()
            if ("locked" not in text and "busy" not in text) or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


class SqliteStore:
    """The SQLite implementation of :class:`munivideo.store.port.Store`.

    Opening it creates the file (and its directory) if needed and applies pending migrations.
    Usually opened through :func:`munivideo.store.open_store` from the tenant's ``store.url``.

    :param path: the database file, or ``":memory:"`` (tests; nothing survives ``close``).
    :param busy_timeout_ms: how long a write waits for another process's write lock, in
        milliseconds, before ``database is locked`` is raised.
    :param synchronous: ``"FULL"`` (default) fsyncs every commit, so a commit survives a power
        loss; ``"NORMAL"`` survives a process crash but may lose the last commits on power
        loss, and is faster (SQLite docs, "PRAGMA synchronous" in WAL mode).
    :raises munivideo.errors.ConfigurationError: the file is not a SQLite database, cannot be
        opened, or stays locked (field ``store.url``); ``synchronous`` is neither value.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout_ms: int = 10_000,
        synchronous: Literal["NORMAL", "FULL"] = "FULL",
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ConfigurationError("synchronous must be NORMAL or FULL", field="store.url")
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        try:
            self._conn = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=busy_timeout_ms / 1000,
            )
            # busy_timeout first: every later statement waits for other openers.
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            if self.path != ":memory:":
                # Switching to WAL can answer "database is locked" at once (no busy handler)
                # while another process creates the same new file: retry within the timeout.
                _while_locked(
                    lambda: self._conn.execute("PRAGMA journal_mode = WAL"), busy_timeout_ms
                )
            # WAL + NORMAL: a commit survives a process crash (kill -9) - it is in the WAL,
            # which the OS keeps - but not a power loss; FULL also fsyncs every commit (a few
            # ms each on ordinary disks). Both keep the database consistent.
            self._conn.execute(f"PRAGMA synchronous = {synchronous}")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self.schema_version_found = _while_locked(
                lambda: migrate(self._conn, stamp(datetime.now(UTC))), busy_timeout_ms
            )
        except sqlite3.DatabaseError as exc:
            # Not a database (a corrupt or foreign file), unreadable, or still locked.
            raise ConfigurationError(
                f"the store {self.path} cannot be opened: {exc}", field="store.url"
            ) from None

    # -- plumbing ---------------------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException as exc:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError) and _DISK_FAULT.search(str(exc)):
                    # A full disk or an I/O error: the write did not happen; retry later.
                    raise TransientError(
                        f"the store {self.path} cannot write: {exc}", field="store.url"
                    ) from exc
                raise

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            cur = self._conn.execute(sql, params)
            cur.row_factory = sqlite3.Row
            return list(cur.fetchall())

    def close(self) -> None:
        """Close the connection (see :meth:`munivideo.store.port.Store.close`)."""
        with self._lock:
            self._conn.close()

    def schema_version(self) -> int:
        """The highest migration applied to the file (see :mod:`munivideo.store.migrations`)."""
        return int(self._read("SELECT MAX(version) AS v FROM schema_version")[0]["v"])

    # -- bindings ---------------------------------------------------------------------------

    def get_binding(self, tenant_id: str, booking_id: str) -> Binding | None:
        """The binding of (tenant, booking), or None (see
        :meth:`munivideo.store.port.Store.get_binding`)."""
        rows = self._read(
            "SELECT * FROM binding WHERE tenant_id = ? AND booking_id = ?", (tenant_id, booking_id)
        )
        return binding_from(rows[0], unstamp) if rows else None

    def save_binding(self, binding: Binding) -> None:
        """Upsert one binding, keeping what it leaves empty (see
        :meth:`munivideo.store.port.Store.save_binding`)."""
        with self._tx() as conn:
            _upsert_binding(conn, binding)

    def get_bindings(self, tenant_id: str, booking_ids: Sequence[str]) -> dict[str, Binding]:
        """The bindings of ``booking_ids`` that exist, read 500 ids per query (see
        :meth:`munivideo.store.port.Store.get_bindings`)."""
        out: dict[str, Binding] = {}
        for start in range(0, len(booking_ids), 500):
            chunk = list(booking_ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self._read(
                "SELECT * FROM binding WHERE tenant_id = ? AND booking_id IN "  # noqa: S608
                f"({marks})",
                (tenant_id, *chunk),
            )
            out.update((r["booking_id"], binding_from(r, unstamp)) for r in rows)
        return out

    def save_bindings(self, bindings: Sequence[Binding], *, now: datetime) -> None:
        """Upsert many bindings in one transaction (the sync's bind-only path) and resolve any
        quarantine entry of those bookings: they came back valid."""
        with self._tx() as conn:
            for binding in bindings:
                _upsert_binding(conn, binding)
            conn.executemany(
                "UPDATE quarantine SET resolved_at = ? WHERE tenant_id = ? AND kind = 'booking' "
                "AND record_id = ? AND resolved_at IS NULL",
                [(stamp(now), b.tenant_id, b.booking_id) for b in bindings],
            )

    def count_bindings(self, tenant_id: str) -> int:
        """How many bookings ``tenant_id`` has bound (see
        :meth:`munivideo.store.port.Store.count_bindings`)."""
        return int(
            self._read("SELECT COUNT(*) AS n FROM binding WHERE tenant_id = ?", (tenant_id,))[0][
                "n"
            ]
        )

    def dirty_bindings(self, tenant_id: str, *, limit: int = 1000) -> list[Binding]:
        """Bindings whose side effects (room, link, invitation) did not all finish."""
        rows = self._read(
            "SELECT * FROM binding WHERE tenant_id = ? AND fingerprint = '' "
            "ORDER BY updated_at LIMIT ?",
            (tenant_id, limit),
        )
        return [binding_from(r, unstamp) for r in rows]

    # -- cursors ----------------------------------------------------------------------------

    def get_cursor(self, tenant_id: str) -> Cursor | None:
        """The tenant's sync cursor, or None before the first sync (see
        :meth:`munivideo.store.port.Store.get_cursor`)."""
        rows = self._read("SELECT * FROM sync_cursor WHERE tenant_id = ?", (tenant_id,))
        if not rows:
            return None
        return cursor_from(rows[0], unstamp)

    def set_cursor(self, tenant_id: str, cursor: Cursor, *, now: datetime) -> None:
        """Move the tenant's sync cursor (see :meth:`munivideo.store.port.Store.set_cursor`)."""
        with self._tx() as conn:
            conn.execute(
                """
                INSERT INTO sync_cursor (tenant_id, updated_at, record_id, saved_at)
                VALUES (?, ?, ?, ?)
                ON CONFLICT (tenant_id) DO UPDATE SET updated_at = excluded.updated_at,
                    record_id = excluded.record_id, saved_at = excluded.saved_at
                """,
                (tenant_id, stamp(cursor.updated_at), cursor.id, stamp(now)),
            )

    # -- sent messages ----------------------------------------------------------------------

    def was_sent(self, tenant_id: str, key: str) -> bool:
        """Whether message ``key`` is marked sent for the tenant (see
        :meth:`munivideo.store.port.Store.was_sent`)."""
        return bool(
            self._read(
                "SELECT 1 FROM sent_message WHERE tenant_id = ? AND key = ?", (tenant_id, key)
            )
        )

    def mark_sent(
        self, tenant_id: str, booking_id: str, key: str, reference: str, *, now: datetime
    ) -> None:
        """Mark message ``key`` sent; a repeat is a no-op (see
        :meth:`munivideo.store.port.Store.mark_sent`)."""
        with self._tx() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO sent_message (tenant_id, key, booking_id, reference, "
                "sent_at) VALUES (?, ?, ?, ?, ?)",
                (tenant_id, key, booking_id, reference, stamp(now)),
            )

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
        :meth:`munivideo.store.port.Store.purge_personal_data`), in one transaction."""
        cutoff = stamp(before)
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT booking_id, booking, attendance FROM binding b WHERE tenant_id = ? "
                "AND updated_at < ? AND NOT EXISTS (SELECT 1 FROM outbox o WHERE "
                "o.tenant_id = b.tenant_id AND o.booking_id = b.booking_id "
                "AND o.state != 'delivered')",
                (tenant_id, cutoff),
            ).fetchall()
            bindings = [
                (*columns, tenant_id, booking_id)
                for booking_id, doc, attended in rows
                if (
                    columns := erased_binding(doc, attended, booking=booking, attendance=attendance)
                )
            ]
            rows = conn.execute(
                "SELECT id, entry FROM outbox WHERE tenant_id = ? AND state = 'delivered' "
                "AND updated_at < ?",
                (tenant_id, cutoff),
            ).fetchall()
            entries = [
                (erased, item_id)
                for item_id, doc in rows
                if (erased := erased_entry(doc, entry=entry)) is not None
            ]
            rows = conn.execute(
                "SELECT record_id, kind, reason FROM quarantine WHERE tenant_id = ? "
                "AND last_seen_at < ? AND raw != ''",
                (tenant_id, cutoff),
            ).fetchall()
            quarantined = [(redact(reason), tenant_id, kind, rid) for rid, kind, reason in rows]
            if not dry_run:
                conn.executemany(
                    "UPDATE binding SET booking = ?, attendance = ? "
                    "WHERE tenant_id = ? AND booking_id = ?",
                    bindings,
                )
                conn.executemany("UPDATE outbox SET entry = ? WHERE id = ?", entries)
                conn.executemany(
                    "UPDATE quarantine SET raw = '', reason = ? WHERE tenant_id = ? AND kind = ? "
                    "AND record_id = ?",
                    quarantined,
                )
        return {"bindings": len(bindings), "outbox": len(entries), "quarantine": len(quarantined)}

    def forget_sent(self, tenant_id: str, key: str) -> None:
        """Drop a sent-message mark (a pending mark whose send surely did not happen)."""
        with self._tx() as conn:
            conn.execute(
                "DELETE FROM sent_message WHERE tenant_id = ? AND key = ?", (tenant_id, key)
            )

    # -- attendance events (from webhooks, before the servant's form) -------------------------

    def add_events(
        self, tenant_id: str, events: Sequence[AttendanceEvent], *, now: datetime
    ) -> int:
        """Keep join/leave events until the outcome is recorded; a repeated event id (webhook
        retries) is stored once. Returns how many were new."""
        with self._tx() as conn:
            before = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO attendance_event (tenant_id, event_id, booking_id, event, "
                "received_at) VALUES (?, ?, ?, ?, ?)",
                [
                    (tenant_id, e.event_id, e.booking_id, e.model_dump_json(), stamp(now))
                    for e in events
                ],
            )
            return conn.total_changes - before

    def events_for(self, tenant_id: str, booking_id: str) -> list[AttendanceEvent]:
        """The stored join/leave events of one booking, in arrival order (see
        :meth:`munivideo.store.port.Store.events_for`)."""
        rows = self._read(
            "SELECT event FROM attendance_event WHERE tenant_id = ? AND booking_id = ? "
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
        """Store the attendance on its binding and the entry in the outbox, in one transaction.

        Idempotent per (tenant, external reference): recording the same attendance twice keeps
        the first entry (the one the ERP may already have) and returns ``created=False``.
        """
        if entry.tenant_id != tenant_id or attendance.booking_id != entry.booking_id:
            raise LifecycleError(
                "entry and attendance must belong to the same tenant and booking",
                record_id=entry.booking_id,
                field="tenant_id",
            )
        ts = stamp(now)
        with self._tx() as conn:
            updated = conn.execute(
                "UPDATE binding SET attendance = ?, external_reference = ?, updated_at = ? "
                "WHERE tenant_id = ? AND booking_id = ?",
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
            # Look before inserting: an ignored INSERT still draws an AUTOINCREMENT id, so a
            # duplicate record would leave a gap in the outbox ids. The write transaction
            # (BEGIN IMMEDIATE) makes the look and the insert one step.
            look = conn.execute(
                "SELECT * FROM outbox WHERE tenant_id = ? AND external_reference = ?",
                (tenant_id, entry.external_reference),
            )
            look.row_factory = sqlite3.Row
            existing = look.fetchone()
            if existing is not None:
                return self._item(conn, existing), False
            cur = conn.execute(
                "INSERT OR IGNORE INTO outbox (tenant_id, booking_id, external_reference, entry, "
                "state, attempts, max_attempts, next_attempt_at, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?)",
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
            )
            created = cur.rowcount == 1
            row = self._one(
                conn,
                "SELECT * FROM outbox WHERE tenant_id = ? AND external_reference = ?",
                (tenant_id, entry.external_reference),
            )
            if created:
                self._audit(
                    conn,
                    row["id"],
                    tenant_id,
                    None,
                    OutboxState.PENDING,
                    "engine",
                    "entry prepared and stored",
                    ts,
                )
            item = self._item(conn, row)
        return item, created

    def claim(
        self,
        owner: str,
        *,
        limit: int,
        lease_seconds: float,
        now: datetime,
        tenant_id: str | None = None,
    ) -> list[OutboxItem]:
        """Take up to ``limit`` due pending rows for ``owner`` under a lease, atomically; each
        row's claim counter goes up by one (its :attr:`OutboxItem.fencing_token`)."""
        ts = stamp(now)
        expires = stamp(now + timedelta(seconds=lease_seconds))
        # one statement per case: "(? IS NULL OR tenant_id = ?)" would hide the tenant index
        which = "" if tenant_id is None else "tenant_id = ? AND "
        order = (
            "state, next_attempt_at, id"
            if tenant_id is None
            else ("tenant_id, state, next_attempt_at, id")
        )
        params: list[Any] = [owner, expires, ts, *([tenant_id] if tenant_id else []), ts, limit]
        with self._tx() as conn:
            cur = conn.execute(
                f"""
                UPDATE outbox SET state = 'in_flight', lease_owner = ?, lease_expires_at = ?,
                    fencing_token = fencing_token + 1, attempts = attempts + 1, updated_at = ?
                WHERE id IN (
                    SELECT id FROM outbox
                    WHERE {which}state = 'pending' AND next_attempt_at <= ?
                    ORDER BY {order} LIMIT ?
                ) AND state = 'pending'
                RETURNING *
                """,  # noqa: S608 - two fixed fragments, no input
                params,
            )
            cur.row_factory = sqlite3.Row
            rows = list(cur.fetchall())
            items = []
            for row in sorted(rows, key=lambda r: int(r["id"])):
                self._audit(
                    conn,
                    row["id"],
                    row["tenant_id"],
                    OutboxState.PENDING,
                    OutboxState.IN_FLIGHT,
                    owner,
                    f"claimed, attempt {row['attempts']}, token {row['fencing_token']}",
                    ts,
                )
                items.append(self._item(conn, row))
        return items

    def _held(self, conn: sqlite3.Connection, item_id: int, owner: str, token: int) -> sqlite3.Row:
        row = self._one(conn, _ITEM_SQL, (item_id,))
        check_fence(row, owner, token)
        return row

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
        ts = stamp(now)
        with self._tx() as conn:
            self._held(conn, item_id, owner, token)
            seq = conn.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM outbox_step WHERE outbox_id = ?", (item_id,)
            ).fetchone()[0]
            conn.execute(
                "INSERT OR REPLACE INTO outbox_step (outbox_id, step, detail, done_at, seq) "
                "VALUES (?, ?, ?, ?, ?)",
                (item_id, step, redact(detail)[:_MAX_ERROR], ts, seq),
            )
            if receipt is not None:
                conn.execute(
                    "UPDATE outbox SET receipt = ?, updated_at = ? WHERE id = ?",
                    (receipt.model_dump_json(), ts, item_id),
                )
                conn.execute(
                    "UPDATE binding SET protocol_label = ?, updated_at = ? "
                    "WHERE tenant_id = (SELECT tenant_id FROM outbox WHERE id = ?) "
                    "AND booking_id = (SELECT booking_id FROM outbox WHERE id = ?)",
                    (receipt.label, ts, item_id, item_id),
                )

    def renew_lease(
        self, item_id: int, owner: str, *, token: int, lease_seconds: float, now: datetime
    ) -> datetime:
        """Fence and heartbeat: raise :class:`LeaseLostError` unless ``owner``'s claim ``token``
        still holds the row, else extend its lease to ``now + lease_seconds``; returns the new
        expiry."""
        expires = now + timedelta(seconds=lease_seconds)
        with self._tx() as conn:
            self._held(conn, item_id, owner, token)
            conn.execute(
                "UPDATE outbox SET lease_expires_at = ? WHERE id = ?", (stamp(expires), item_id)
            )
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
        """Right before a step is sent: fence and renew the lease (as :meth:`renew_lease`) and
        record that ``step`` may land from now on, in one transaction."""
        ts = stamp(now)
        with self._tx() as conn:
            self._held(conn, item_id, owner, token)
            conn.execute(
                "UPDATE outbox SET lease_expires_at = ? WHERE id = ?",
                (stamp(now + timedelta(seconds=lease_seconds)), item_id),
            )
            conn.execute(
                "INSERT INTO outbox_attempt (outbox_id, step, attempts, first_at, last_at) "
                "VALUES (?, ?, 1, ?, ?) ON CONFLICT (outbox_id, step) DO UPDATE SET "
                "attempts = outbox_attempt.attempts + 1, last_at = excluded.last_at",
                (item_id, step, ts, ts),
            )

    def clear_attempted(
        self, item_id: int, owner: str, step: str, *, token: int, now: datetime
    ) -> None:
        """Forget ``step``'s attempt marker: the ERP said it did nothing (503, refused
        connection, a declared fault), so the next attempt need not probe. Fenced."""
        with self._tx() as conn:
            self._held(conn, item_id, owner, token)
            conn.execute(
                "DELETE FROM outbox_attempt WHERE outbox_id = ? AND step = ?", (item_id, step)
            )

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
        """Back to ``pending`` until ``next_attempt_at`` without spending an attempt: the
        worker is waiting for a settle window, not failing. Fenced."""
        ts = stamp(now)
        with self._tx() as conn:
            row = self._held(conn, item_id, owner, token)
            self._move(conn, row, OutboxState.PENDING, owner, f"deferred: {reason}", ts)
            conn.execute(
                "UPDATE outbox SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL, "
                "attempts = MAX(attempts - 1, 0), next_attempt_at = ?, updated_at = ? WHERE id = ?",
                (stamp(next_attempt_at), ts, item_id),
            )
            return self._item(conn, self._one(conn, _ITEM_SQL, (item_id,)))

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
        """A person checked the ERP for a dead letter's step: ``landed`` records it done (with
        the protocol's ``receipt`` for the create step), otherwise its attempt marker is
        dropped so the replayed row sends it again. Audited; dead letters only."""
        ts = stamp(now)
        with self._tx() as conn:
            row = self._one(conn, _ITEM_SQL, (item_id,))
            check_resolvable(row, step, landed=landed, receipt=receipt)
            if landed:
                seq = conn.execute(
                    "SELECT COALESCE(MAX(seq), 0) + 1 FROM outbox_step WHERE outbox_id = ?",
                    (item_id,),
                ).fetchone()[0]
                detail = receipt.label if receipt is not None else f"confirmed by {actor}"
                conn.execute(
                    "INSERT OR REPLACE INTO outbox_step (outbox_id, step, detail, done_at, seq) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (item_id, step, redact(detail)[:_MAX_ERROR], ts, seq),
                )
                if receipt is not None:
                    conn.execute(
                        "UPDATE outbox SET receipt = ?, updated_at = ? WHERE id = ?",
                        (receipt.model_dump_json(), ts, item_id),
                    )
            else:
                conn.execute(
                    "DELETE FROM outbox_attempt WHERE outbox_id = ? AND step = ?", (item_id, step)
                )
            verdict = "landed (recorded done)" if landed else "absent (will be sent again)"
            self._audit(
                conn,
                item_id,
                row["tenant_id"],
                OutboxState.FAILED,
                OutboxState.FAILED,
                actor,
                f"step {step} checked in the ERP: {verdict}",
                ts,
            )
            return self._item(conn, self._one(conn, _ITEM_SQL, (item_id,)))

    def complete(self, item_id: int, owner: str, *, token: int, now: datetime) -> OutboxItem:
        """``in_flight`` -> ``delivered``; fenced by ``owner`` and claim ``token`` (see
        :meth:`munivideo.store.port.Store.complete`)."""
        ts = stamp(now)
        with self._tx() as conn:
            row = self._held(conn, item_id, owner, token)
            self._move(conn, row, OutboxState.DELIVERED, owner, "every step done", ts)
            conn.execute(
                "UPDATE outbox SET state = 'delivered', lease_owner = NULL, "
                "lease_expires_at = NULL, delivered_at = ?, updated_at = ? WHERE id = ?",
                (ts, ts, item_id),
            )
            return self._item(
                conn,
                self._one(conn, _ITEM_SQL, (item_id,)),
            )

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
        """Route a failed attempt to ``pending`` (retry later) or ``failed`` (dead letter).
        Fenced."""
        ts = stamp(now)
        safe = redact(message)[:_MAX_ERROR]
        with self._tx() as conn:
            row = self._held(conn, item_id, owner, token)
            self._move(conn, row, to_state, owner, f"{error_type}: {safe}", ts)
            conn.execute(
                "UPDATE outbox SET state = ?, lease_owner = NULL, lease_expires_at = NULL, "
                "next_attempt_at = ?, last_error = ?, last_error_type = ?, updated_at = ? "
                "WHERE id = ?",
                (to_state.value, stamp(next_attempt_at), safe, error_type, ts, item_id),
            )
            return self._item(
                conn,
                self._one(conn, _ITEM_SQL, (item_id,)),
            )

    def requeue_stale(self, *, now: datetime, tenant_id: str | None = None) -> int:
        """Put rows whose lease expired (their worker died or hung) back to ``pending``."""
        ts = stamp(now)
        params: list[Any] = [ts, tenant_id, tenant_id]
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT id, tenant_id, lease_owner, lease_expires_at FROM outbox "
                "WHERE state = 'in_flight' "
                "AND lease_expires_at <= ? AND (? IS NULL OR tenant_id = ?)",
                params,
            ).fetchall()
            for item_id, tenant, holder, expired_at in rows:
                self._audit(
                    conn,
                    item_id,
                    tenant,
                    OutboxState.IN_FLIGHT,
                    OutboxState.PENDING,
                    "store",
                    f"lease of {holder} expired; requeued",
                    ts,
                )
                conn.execute(
                    "UPDATE outbox SET state = 'pending', lease_owner = NULL, "
                    "lease_expires_at = NULL, next_attempt_at = ?, updated_at = ? WHERE id = ?",
                    # due since the lease ran out, not from whenever someone noticed
                    (expired_at, ts, item_id),
                )
        return len(rows)

    def release_owner(self, owner: str, *, now: datetime, tenant_id: str | None = None) -> int:
        """Requeue every row ``owner`` holds, expired or not: a worker restarting under a stable
        id knows its previous incarnation is dead and need not wait for the leases to run out.
        Two live workers sharing an id lose nothing to it but time: a row released under a
        live worker is refused to it by its claim's fencing token, and claimed afresh."""
        ts = stamp(now)
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT id, tenant_id FROM outbox WHERE state = 'in_flight' AND lease_owner = ? "
                "AND (? IS NULL OR tenant_id = ?)",
                (owner, tenant_id, tenant_id),
            ).fetchall()
            for item_id, tenant in rows:
                self._audit(
                    conn,
                    item_id,
                    tenant,
                    OutboxState.IN_FLIGHT,
                    OutboxState.PENDING,
                    owner,
                    "worker restarted; its earlier leases released",
                    ts,
                )
                conn.execute(
                    "UPDATE outbox SET state = 'pending', lease_owner = NULL, "
                    "lease_expires_at = NULL, next_attempt_at = ?, updated_at = ? WHERE id = ?",
                    (ts, ts, item_id),
                )
        return len(rows)

    def replay(
        self,
        *,
        tenant_id: str,
        item_ids: Sequence[int] | None,
        actor: str,
        reason: str,
        now: datetime,
    ) -> list[OutboxItem]:
        """Move dead letters back to ``pending`` with a fresh attempt budget. Steps done and
        attempt markers are kept: a step that may have landed is probed before it is re-sent."""
        ts = stamp(now)
        with self._tx() as conn:
            if item_ids is None:
                rows = conn.execute(
                    "SELECT id FROM outbox WHERE tenant_id = ? AND state = 'failed' ORDER BY id",
                    (tenant_id,),
                ).fetchall()
                ids = [int(r[0]) for r in rows]
            else:
                ids = list(item_ids)
            out = []
            for item_id in ids:
                row = self._one(conn, _ITEM_SQL, (item_id,))
                if row["tenant_id"] != tenant_id:
                    raise NotFoundError(
                        f"outbox item {item_id} does not belong to tenant {tenant_id}",
                        record_id=str(item_id),
                        field="tenant_id",
                    )
                if row["state"] != OutboxState.FAILED:
                    # in_flight -> pending is a requeue, not a replay: only dead letters replay
                    raise LifecycleError(
                        f"only failed items can be replayed; this one is {row['state']}",
                        record_id=row["external_reference"],
                        field="state",
                    )
                self._move(conn, row, OutboxState.PENDING, actor, f"replay: {reason}", ts)
                conn.execute(
                    "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ?, "
                    "lease_owner = NULL, lease_expires_at = NULL, updated_at = ? WHERE id = ?",
                    (ts, ts, item_id),
                )
                out.append(
                    self._item(
                        conn,
                        self._one(conn, _ITEM_SQL, (item_id,)),
                    )
                )
        return out

    def get_item(self, item_id: int) -> OutboxItem:
        """One outbox row with its steps and attempt markers (see
        :meth:`munivideo.store.port.Store.get_item`)."""
        with self._lock:
            row = self._one(self._conn, _ITEM_SQL, (item_id,))
            return self._item(self._conn, row)

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
        sql = (
            "SELECT * FROM outbox WHERE tenant_id = ? AND id > ? ORDER BY tenant_id, id LIMIT ?"
            if state is None
            else "SELECT * FROM outbox WHERE tenant_id = ? AND state = ? AND id > ? "
            "ORDER BY tenant_id, state, id LIMIT ?"
        )
        start = after if after is not None else 0
        params: list[Any] = (
            [tenant_id, start, limit] if state is None else [tenant_id, state.value, start, limit]
        )
        with self._lock:
            cur = self._conn.execute(sql, params)
            cur.row_factory = sqlite3.Row
            rows = cur.fetchall()
            # the page's steps in one query (not one per row)
            steps: dict[int, dict[str, str]] = {int(r["id"]): {} for r in rows}
            if rows:
                marks = ",".join("?" * len(steps))
                for oid, step, detail in self._conn.execute(
                    "SELECT outbox_id, step, detail FROM outbox_step "  # noqa: S608
                    f"WHERE outbox_id IN ({marks}) ORDER BY outbox_id, seq",
                    list(steps),
                ).fetchall():
                    steps[int(oid)][step] = detail
            return [self._item(self._conn, r, steps[int(r["id"])]) for r in rows]

    def audit_trail(self, item_id: int) -> list[AuditEntry]:
        """Every state change of row ``item_id``, oldest first (see
        :meth:`munivideo.store.port.Store.audit_trail`)."""
        rows = self._read("SELECT * FROM outbox_audit WHERE outbox_id = ? ORDER BY id", (item_id,))
        return [audit_from(r, unstamp) for r in rows]

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
        ts = stamp(now)
        with self._tx() as conn:
            conn.execute(
                """
                INSERT INTO quarantine (tenant_id, kind, record_id, field, reason, error_type,
                    raw, occurrences, first_seen_at, last_seen_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?)
                ON CONFLICT (tenant_id, kind, record_id) DO UPDATE SET
                    field = excluded.field, reason = excluded.reason,
                    error_type = excluded.error_type, raw = excluded.raw,
                    occurrences = quarantine.occurrences + 1,
                    last_seen_at = excluded.last_seen_at, resolved_at = NULL
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
            row = self._one(
                conn,
                "SELECT * FROM quarantine WHERE tenant_id = ? AND kind = ? AND record_id = ?",
                (tenant_id, kind.value, record_id),
            )
        return quarantined_from(row, unstamp)

    def resolve_quarantine(
        self, tenant_id: str, kind: QuarantineKind, record_id: str, *, now: datetime
    ) -> bool:
        """Close a record's open quarantine entry; False when none was open (see
        :meth:`munivideo.store.port.Store.resolve_quarantine`)."""
        # Most records were never quarantined: a read spares them a write transaction.
        if not self._read(
            "SELECT 1 FROM quarantine WHERE tenant_id = ? AND kind = ? AND record_id = ? "
            "AND resolved_at IS NULL",
            (tenant_id, kind.value, record_id),
        ):
            return False
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE quarantine SET resolved_at = ? WHERE tenant_id = ? AND kind = ? "
                "AND record_id = ? AND resolved_at IS NULL",
                (stamp(now), tenant_id, kind.value, record_id),
            )
            return cur.rowcount == 1

    def list_quarantine(
        self, tenant_id: str, *, include_resolved: bool = False, limit: int = 1000
    ) -> list[QuarantineItem]:
        """The tenant's quarantined records, by id (see
        :meth:`munivideo.store.port.Store.list_quarantine`)."""
        rows = self._read(
            "SELECT * FROM quarantine WHERE tenant_id = ? AND (? OR resolved_at IS NULL) "
            "ORDER BY id LIMIT ?",
            (tenant_id, int(include_resolved), limit),
        )
        return [quarantined_from(r, unstamp) for r in rows]

    # -- console reads ------------------------------------------------------------------------

    def bindings_starting(
        self,
        tenant_id: str,
        *,
        start: datetime,
        end: datetime,
        servant_registration: str | None = None,
        limit: int = 500,
    ) -> list[Binding]:
        """Bindings whose booking starts in ``[start, end)``; a scan of the tenant's bindings
        (the booking is stored as JSON), fine for a day's agenda of one city."""
        rows = self._read(
            """
            SELECT * FROM binding
            WHERE tenant_id = ?
              AND julianday(json_extract(booking, '$.start')) >= julianday(?)
              AND julianday(json_extract(booking, '$.start')) < julianday(?)
              AND (? IS NULL OR json_extract(booking, '$.servant.registration') = ?)
            ORDER BY julianday(json_extract(booking, '$.start')), booking_id
            LIMIT ?
            """,
            (
                tenant_id,
                stamp(start),
                stamp(end),
                servant_registration,
                servant_registration,
                limit,
            ),
        )
        return [binding_from(r, unstamp) for r in rows]

    def item_for_booking(self, tenant_id: str, booking_id: str) -> OutboxItem | None:
        """The outbox row of a booking's attendance, or None before it is recorded."""
        with self._lock:
            cur = self._conn.execute(
                # through the binding's reference: both lookups use a unique index
                "SELECT o.* FROM binding b JOIN outbox o ON o.tenant_id = b.tenant_id "
                "AND o.external_reference = b.external_reference "
                "WHERE b.tenant_id = ? AND b.booking_id = ?",
                (tenant_id, booking_id),
            )
            cur.row_factory = sqlite3.Row
            row = cur.fetchone()
            return self._item(self._conn, row) if row is not None else None

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
        ts = stamp(now)
        out = []
        with self._tx() as conn:
            for item_id in item_ids:
                row = self._owned(conn, item_id, tenant_id)
                if row["state"] != OutboxState.PENDING:
                    raise LifecycleError(
                        f"only pending items can be requeued (replay dead letters); this one "
                        f"is {row['state']}",
                        record_id=row["external_reference"],
                        field="state",
                    )
                self._move(conn, row, OutboxState.PENDING, actor, f"requeue: {reason}", ts)
                conn.execute(
                    "UPDATE outbox SET next_attempt_at = ?, updated_at = ? WHERE id = ?",
                    (ts, ts, item_id),
                )
                out.append(self._item(conn, self._one(conn, _ITEM_SQL, (item_id,))))
        return out

    def _owned(self, conn: sqlite3.Connection, item_id: int, tenant_id: str) -> sqlite3.Row:
        row = self._one(conn, _ITEM_SQL, (item_id,))
        if row["tenant_id"] != tenant_id:
            raise NotFoundError(
                f"outbox item {item_id} does not belong to tenant {tenant_id}",
                record_id=str(item_id),
                field="tenant_id",
            )
        return row

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
        ts = stamp(now)
        with self._tx() as conn:
            row = self._owned(conn, item_id, tenant_id)
            if row["state"] != OutboxState.FAILED:
                raise LifecycleError(
                    f"only failed items can be marked done elsewhere; this one is {row['state']}",
                    record_id=row["external_reference"],
                    field="state",
                )
            self._move(
                conn,
                row,
                OutboxState.DELIVERED,
                actor,
                f"done elsewhere (protocol {receipt.label}): {reason}",
                ts,
            )
            conn.execute(
                "UPDATE outbox SET state = 'delivered', receipt = ?, delivered_at = ?, "
                "lease_owner = NULL, lease_expires_at = NULL, updated_at = ? WHERE id = ?",
                (receipt.model_dump_json(), ts, ts, item_id),
            )
            conn.execute(
                "UPDATE binding SET protocol_label = ?, updated_at = ? "
                "WHERE tenant_id = ? AND booking_id = ?",
                (receipt.label, ts, tenant_id, row["booking_id"]),
            )
            return self._item(conn, self._one(conn, _ITEM_SQL, (item_id,)))

    # -- overview ---------------------------------------------------------------------------

    def outbox_counts(self, tenant_id: str, *, now: datetime) -> OutboxCounts:
        """The tenant's outbox by state, from the trigger-kept counters and index lookups (the
        oldest pending row is the pending row with the lowest id: ids grow with creation)."""
        row = self._read(
            """
            SELECT c.pending, c.in_flight, c.delivered, c.failed,
              (SELECT COUNT(*) FROM outbox WHERE tenant_id = :t AND state = 'in_flight'
                 AND lease_expires_at <= :now) AS stale,
              (SELECT created_at FROM outbox WHERE tenant_id = :t AND state = 'pending'
                 ORDER BY tenant_id, state, id LIMIT 1) AS oldest,
              (SELECT MIN(next_attempt_at) FROM outbox WHERE tenant_id = :t
                 AND state = 'pending') AS next_at
            FROM (SELECT :t AS tenant_id) AS t LEFT JOIN outbox_count c USING (tenant_id)
            """,
            {"t": tenant_id, "now": stamp(now)},  # type: ignore[arg-type]
        )[0]
        return counts_from(row, unstamp)

    def status(self, tenant_id: str, *, now: datetime) -> TenantStatus:
        """Cursor, bindings, outbox counts and open quarantine of one tenant (see
        :meth:`munivideo.store.port.Store.status`)."""
        quarantined = self._read(
            "SELECT COUNT(*) AS n FROM quarantine WHERE tenant_id = ? AND resolved_at IS NULL",
            (tenant_id,),
        )[0]["n"]
        cursor = self.get_cursor(tenant_id)
        return TenantStatus(
            tenant_id=tenant_id,
            cursor_updated_at=cursor.updated_at if cursor else None,
            cursor_id=cursor.id if cursor else None,
            bindings=self.count_bindings(tenant_id),
            outbox=self.outbox_counts(tenant_id, now=now),
            quarantined=int(quarantined),
        )

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _one(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> sqlite3.Row:
        cur = conn.execute(sql, params)
        cur.row_factory = sqlite3.Row
        row = cur.fetchone()
        if row is None:
            raise NotFoundError("no such outbox item", record_id=str(params[0]), field="id")
        return row  # type: ignore[no-any-return]

    @staticmethod
    def _audit(
        conn: sqlite3.Connection,
        item_id: int,
        tenant_id: str,
        old: OutboxState | None,
        new: OutboxState,
        actor: str,
        reason: str,
        ts: str,
    ) -> None:
        conn.execute(
            "INSERT INTO outbox_audit (outbox_id, tenant_id, from_state, to_state, actor, reason, "
            "at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                item_id,
                tenant_id,
                old.value if old else None,
                new.value,
                actor,
                redact(reason)[:_MAX_ERROR],
                ts,
            ),
        )

    def _move(
        self,
        conn: sqlite3.Connection,
        row: sqlite3.Row,
        new: OutboxState,
        actor: str,
        reason: str,
        ts: str,
    ) -> None:
        old = OutboxState(row["state"])
        if not can_transition(old, new):
            raise LifecycleError(
                f"outbox item cannot go from {old.value} to {new.value}",
                record_id=row["external_reference"],
                field="state",
            )
        self._audit(conn, row["id"], row["tenant_id"], old, new, actor, reason, ts)

    @staticmethod
    def _item(
        conn: sqlite3.Connection, row: sqlite3.Row, steps: dict[str, str] | None = None
    ) -> OutboxItem:
        if steps is None:
            steps = {
                s: d
                for s, d in conn.execute(
                    "SELECT step, detail FROM outbox_step WHERE outbox_id = ? ORDER BY seq",
                    (row["id"],),
                ).fetchall()
            }
        attempted = {
            step: unstamp(at)
            for step, at in conn.execute(
                "SELECT step, last_at FROM outbox_attempt WHERE outbox_id = ? ORDER BY step",
                (row["id"],),
            ).fetchall()
        }
        return item_from(row, unstamp, steps=steps, attempted=attempted)


def _upsert_binding(conn: sqlite3.Connection, binding: Binding) -> None:
    conn.execute(
        """
            INSERT INTO binding (tenant_id, booking_id, booking, fingerprint, room,
                room_link_recorded, invitation_uid, invitation_sequence, invitation_method,
                invitation_key, attendance, external_reference, protocol_label, created_at,
                updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
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
        binding.columns(stamp),
    )


def open_store(url: str, *, base: Path | None = None) -> SqliteStore:
    """Open the store named by ``url``: ``sqlite:///relative/or/absolute.db`` or
    ``sqlite:///:memory:``; ``?synchronous=normal`` trades power-loss durability of the last
    commits for speed (process crashes stay safe). Relative paths resolve against ``base``
    (default: the current directory)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        raise ConfigurationError(
            f"unsupported store url {url!r}: only sqlite:///PATH is built in", field="store.url"
        )
    raw, _, query = url[len(prefix) :].partition("?")
    if not raw:
        raise ConfigurationError("the store url names no file", field="store.url")
    options = dict(part.partition("=")[::2] for part in query.split("&") if part)
    unknown = set(options) - {"synchronous"}
    if unknown:
        raise ConfigurationError(
            f"unknown store url options: {', '.join(sorted(unknown))}", field="store.url"
        )
    mode = options.get("synchronous", "full").upper()
    if mode not in ("NORMAL", "FULL"):
        raise ConfigurationError("synchronous must be normal or full", field="store.url")
    synchronous: Literal["NORMAL", "FULL"] = "NORMAL" if mode == "NORMAL" else "FULL"
    if raw == ":memory:":
        return SqliteStore(raw, synchronous=synchronous)
    path = Path(raw)
    if not path.is_absolute() and base is not None:
        path = base / path
    return SqliteStore(path, synchronous=synchronous)
