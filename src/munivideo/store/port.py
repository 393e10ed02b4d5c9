"""The store port: what the engine needs from durable storage.

SQLite (:class:`munivideo.store.sqlite.SqliteStore`) is the embedded default;
:class:`munivideo.store.postgres.PostgresStore` (the ``postgres`` extra) serves many cities from
many machines (claims with ``FOR UPDATE SKIP LOCKED``). Every method
is atomic on its own; methods that must change two things together (an attendance and its
outbox row) do so in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from munivideo.errors import LifecycleError, TransientError
from munivideo.models import Attendance, AttendanceEvent, Cursor, ProtocolEntry, ProtocolReceipt
from munivideo.store.records import (
    AuditEntry,
    Binding,
    OutboxCounts,
    OutboxItem,
    QuarantineItem,
    QuarantineKind,
    TenantStatus,
)
from munivideo.store.rows import Eraser
from munivideo.store.states import OutboxState


class LeaseLostError(TransientError):
    """The worker's claim on an outbox row is no longer the row's current claim; stop working
    on it.

    Raised by every fenced store method (:meth:`Store.renew_lease`, :meth:`Store.mark_attempted`,
    :meth:`Store.clear_attempted`, :meth:`Store.record_step`, :meth:`Store.complete`,
    :meth:`Store.fail`, :meth:`Store.defer`) when the row is no longer ``in_flight``, is held
    by another owner (``field="lease_owner"``), or was claimed again since the caller's claim
    - even under the same owner name, as when two live processes share one worker id
    (``field="fencing_token"``). ``record_id`` is the row's external reference. The worker
    sends nothing more for the row, and its new holder probes every step marked attempted
    before re-sending it.
    """


class _Columns(Protocol):
    def __getitem__(self, column: str, /) -> Any: ...


def check_fence(row: _Columns, owner: str, token: int) -> None:
    """The fence both stores run inside the transaction of every fenced method: ``row`` (an
    ``outbox`` row by column name, read under the transaction's lock) must be ``in_flight``,
    leased to ``owner`` under the claim ``token``.

    :raises LeaseLostError: otherwise, naming the row's state, holder and current token.
    """
    state, holder, current = row["state"], row["lease_owner"], row["fencing_token"]
    if state == OutboxState.IN_FLIGHT and holder == owner and current == token:
        return
    raise LeaseLostError(
        f"worker {owner} no longer holds the lease of claim {token} (state {state}, "
        f"holder {holder}, current claim {current})",
        record_id=row["external_reference"],
        field="lease_owner" if holder != owner else "fencing_token",
    )


def check_resolvable(
    row: _Columns, step: str, *, landed: bool, receipt: ProtocolReceipt | None
) -> None:
    """What both stores check, inside the transaction, before recording a person's finding on
    a step (:meth:`Store.resolve_step`): ``row`` (an ``outbox`` row by column name) must be a
    dead letter, and a create confirmed as landed must come with the protocol's ``receipt``.

    :raises LifecycleError: the row is not ``failed`` (field ``state``), or a landed create has
        no receipt (field ``receipt``).
    """
    if row["state"] != OutboxState.FAILED:
        raise LifecycleError(
            f"steps are resolved on dead letters only; this one is {row['state']}",
            record_id=row["external_reference"],
            field="state",
        )
    if landed and step == "create" and receipt is None:
        raise LifecycleError(
            "a create confirmed by hand needs the protocol's number and year",
            record_id=row["external_reference"],
            field="receipt",
        )


@runtime_checkable
class Store(Protocol):
    """Durable state of every tenant: bindings, sync cursors, sent-message marks, attendance
    events, the write-back outbox and the quarantine.

    The contract every implementation keeps (the shared suite in ``tests/store`` runs against
    SQLite and PostgreSQL):

    * **Atomic methods.** Each call commits all of its changes or none; a call that changes two
      things (an attendance and its outbox row, a state and its audit entry) does so in one
      transaction. A store that cannot write raises a :class:`munivideo.errors.TransientError`
      (disk full, connection lost), and nothing was changed.
    * **Times** are tz-aware :class:`datetime.datetime` values, passed in by the caller
      (``now``: the engine's clock, so tests control time); naive ones are refused with
      ``ValueError``. They come back tz-aware. Durations (``lease_seconds``) are seconds.
    * **Tenants never mix.** Every read and write names its tenant (rows found by id are
      checked against it where a tenant is given), so one store can serve many cities.
    * **Outbox rows move only along** :data:`munivideo.store.states.TRANSITIONS`; a method asked
      for any other move raises :class:`munivideo.errors.LifecycleError` and changes nothing.
      Every state change writes an :class:`~munivideo.store.records.AuditEntry` (who, why,
      when) in the same transaction.
    * **Leases fence workers.** :meth:`claim` gives a row to one ``owner`` until its lease
      expires, under a fencing token (:attr:`OutboxItem.fencing_token`, one more per claim of
      the row). Every later call by that worker about the row (:meth:`record_step`,
      :meth:`renew_lease`, :meth:`mark_attempted`, :meth:`clear_attempted`, :meth:`defer`,
      :meth:`complete`, :meth:`fail`) passes ``owner`` and ``token`` and first checks, inside
      its own transaction, that the row is still ``in_flight``, held by ``owner`` under that
      very claim; if not (the lease ran out and :meth:`requeue_stale` gave the row to someone
      else, a process sharing the worker id released and re-claimed it, or an operator moved
      it), it raises :class:`LeaseLostError` and writes nothing, so a worker that lost its
      lease can never record a step, a delivery or a failure over its successor's work.
    * **Messages are redacted.** Error texts, step details and audit reasons pass through
      :func:`munivideo.redact.redact` and are cut to 2,000 characters before they are stored.
    """

    # -- bindings ---------------------------------------------------------------------------
    def get_binding(self, tenant_id: str, booking_id: str) -> Binding | None:
        """The binding of one booking (its room, invitation, attendance and protocol).

        :param tenant_id: the tenant (city) id from its configuration.
        :param booking_id: the booking's id in the ERP.
        :returns: the stored binding, or ``None`` before the booking was first synced.
        """
        ...

    def save_binding(self, binding: Binding) -> None:
        """Insert or replace the binding of (``binding.tenant_id``, ``binding.booking_id``).

        An update keeps what the new value leaves empty: a stored ``attendance`` is kept when
        ``binding.attendance`` is ``None``, and a stored ``external_reference`` or
        ``protocol_label`` is kept when the new one is ``""`` (the sync writes bindings without
        knowing the write-back's results). ``created_at`` is kept from the first insert.
        """
        ...

    def get_bindings(self, tenant_id: str, booking_ids: Sequence[str]) -> dict[str, Binding]:
        """Many bindings in a few reads (a sync page's worth).

        :param booking_ids: any number of ids; unknown ones are simply absent from the result.
        :returns: booking id -> binding, for the ids that have one.
        """
        ...

    def save_bindings(self, bindings: Sequence[Binding], *, now: datetime) -> None:
        """Upsert many bindings (as :meth:`save_binding`) in one transaction, and resolve, at
        ``now``, any open ``booking`` quarantine entry of those bookings: they came back valid.
        All or nothing: a failure leaves every binding as it was."""
        ...

    def count_bindings(self, tenant_id: str) -> int:
        """How many bookings ``tenant_id`` has bound (a row per booking ever synced)."""
        ...

    def dirty_bindings(self, tenant_id: str, *, limit: int = 1000) -> list[Binding]:
        """Bindings whose side effects (room, room link in the ERP, invitation) did not all
        finish: their ``fingerprint`` is ``""``. The sync retries them before reading new
        bookings.

        :param limit: at most this many, least recently updated first.
        """
        ...

    # -- sync cursors -----------------------------------------------------------------------
    def get_cursor(self, tenant_id: str) -> Cursor | None:
        """Where the tenant's last sync stopped: the (``updated_at``, ``id``) of the last
        booking processed, or ``None`` before the first sync (read from the beginning)."""
        ...

    def set_cursor(self, tenant_id: str, cursor: Cursor, *, now: datetime) -> None:
        """Move the tenant's sync cursor to ``cursor`` (saved at ``now``). The sync moves it only
        after every booking up to it is bound, so a crash re-reads at most one page."""
        ...

    # -- messages sent (so a resumed sync never sends twice) -----------------------------------
    def was_sent(self, tenant_id: str, key: str) -> bool:
        """Whether a message with idempotency ``key`` is marked sent for the tenant.

        Keys are built by :mod:`munivideo.engine.keys`; a ``pending:<key>:<notifier>`` mark
        means a send was started and may have happened (see
        :func:`munivideo.engine.delivery.deliver`).
        """
        ...

    def mark_sent(
        self, tenant_id: str, booking_id: str, key: str, reference: str, *, now: datetime
    ) -> None:
        """Mark message ``key`` sent for ``booking_id`` at ``now``, with the notifier's
        ``reference`` (a message id, or ``""`` for a pending mark). Marking a key twice is a
        no-op: the first mark and its reference are kept."""
        ...

    def forget_sent(self, tenant_id: str, key: str) -> None:
        """Drop the mark ``key`` (a pending mark whose send surely did not happen)."""
        ...

    # -- retention (LGPD) ---------------------------------------------------------------------
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
        """Erase ``tenant_id``'s personal data from rows last changed before ``before``
        (tz-aware), in one transaction: bindings with no outbox row still to deliver (their
        ``booking`` and ``attendance`` JSON through ``booking`` and ``attendance``),
        ``delivered`` outbox rows (``entry``) and quarantine rows last seen before it (raw
        payload emptied, reason redacted). A row changed at ``before`` or later is kept, and
        so is one already erased. Returns how many rows were (with ``dry_run``: would be)
        rewritten: ``{"bindings": n, "outbox": n, "quarantine": n}``. The erasers and the
        command are in :mod:`munivideo.retention`."""
        ...

    # -- attendance events -------------------------------------------------------------------
    def add_events(
        self, tenant_id: str, events: Sequence[AttendanceEvent], *, now: datetime
    ) -> int:
        """Keep a video provider's join/leave events until the attendance is recorded.

        Idempotent per (tenant, ``event_id``): a webhook delivered twice stores its event once.

        :param now: when they were received (UTC), the events' order among equal times.
        :returns: how many of ``events`` were new.
        """
        ...

    def events_for(self, tenant_id: str, booking_id: str) -> list[AttendanceEvent]:
        """The stored join/leave events of one booking, in order of arrival (then event id);
        empty when the provider sent none."""
        ...

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
        """Record an attendance: store it on the booking's binding and queue its protocol entry
        as a ``pending`` outbox row due at ``now``, in one transaction (with an audit entry).

        Idempotent per (tenant, ``entry.external_reference``): recording the same attendance
        again keeps the first entry (the one the ERP may already have) and creates nothing.

        :param max_attempts: claims allowed before a retryable failure becomes a dead letter.
        :returns: the outbox row and whether it was created by this call.
        :raises munivideo.errors.LifecycleError: ``entry`` and ``attendance`` belong to
            different tenants or bookings (field ``tenant_id``).
        :raises munivideo.errors.NotFoundError: the booking has no binding (sync it first);
            field ``booking_id``.
        """
        ...

    def claim(
        self,
        owner: str,
        *,
        limit: int,
        lease_seconds: float,
        now: datetime,
        tenant_id: str | None = None,
    ) -> list[OutboxItem]:
        """Take up to ``limit`` due rows (``pending``, ``next_attempt_at <= now``) for ``owner``.

        Atomic per row: two workers claiming at the same moment never get the same row (SQLite
        takes the write lock first; PostgreSQL skips rows locked by another claimer). Each
        claimed row becomes ``in_flight`` with ``lease_owner = owner``, ``lease_expires_at =
        now + lease_seconds`` and one more attempt counted, audited. Oldest due first.

        Each claim also adds one to the row's claim counter and returns it as
        :attr:`OutboxItem.fencing_token` (1 for a row's first claim): the claim's *fencing
        token*. The fenced methods (see the class) take it as ``token``. Tokens only grow (kept
        across requeues and replays), so a superseded claim - its lease ran out and the row was
        claimed again, or a process sharing the worker id released and re-claimed it - never
        passes the fence again, whatever the owner's name (Kleppmann's fencing tokens, Chubby's
        sequencers).

        :param owner: the worker id; best unique among live workers (see :meth:`release_owner`).
        :param lease_seconds: how long the worker may hold each row without renewing it.
        :param tenant_id: claim for one tenant only; ``None`` claims across tenants.
        :returns: the claimed rows in id order; empty when nothing is due.
        """
        ...

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
        """Record that sub-step ``step`` (``create``, ``attach``, ``forward``, ...) is done in
        the ERP, so a later attempt skips it. Recording a step again replaces its detail.

        Fenced (see the class): nothing is written unless ``owner``'s claim ``token`` still
        holds the row.

        :param detail: what the ERP answered (redacted, at most 2,000 characters kept).
        :param receipt: the protocol's number and year, given with the ``create`` step; it is
            stored on the row and its label on the binding, in the same transaction.
        :raises LeaseLostError: ``owner``'s claim ``token`` no longer holds the row.
        :raises munivideo.errors.NotFoundError: no row ``item_id``.
        """
        ...

    def renew_lease(
        self, item_id: int, owner: str, *, token: int, lease_seconds: float, now: datetime
    ) -> datetime:
        """Fence + heartbeat: :class:`LeaseLostError` unless ``owner``'s claim ``token`` (its
        :attr:`OutboxItem.fencing_token`) still holds the in-flight row; else the lease runs
        to ``now + lease_seconds`` (returned)."""
        ...

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
        """Right before ``step`` is sent to the ERP: fence and renew as :meth:`renew_lease`,
        and record the attempt (count, last time) in the same transaction. Markers survive
        replay and requeue; :attr:`OutboxItem.attempted` shows them."""
        ...

    def clear_attempted(
        self, item_id: int, owner: str, step: str, *, token: int, now: datetime
    ) -> None:
        """Forget ``step``'s marker: the ERP surely did nothing. Fenced (see :meth:`claim`)."""
        ...

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
        """in_flight -> pending until ``next_attempt_at``, giving back the claim's attempt
        (waiting for a settle window is not a failure). Fenced; audited."""
        ...

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
        """A person checked a dead letter's ``step`` in the ERP: ``landed`` records it done
        (``receipt`` required for ``create``), else its attempt marker is dropped. Dead letters
        only (:class:`munivideo.errors.LifecycleError` otherwise); audited."""
        ...

    def complete(self, item_id: int, owner: str, *, token: int, now: datetime) -> OutboxItem:
        """``in_flight`` -> ``delivered``: every step is done in the ERP. Clears the lease,
        sets ``delivered_at = now``, audited. Fenced: a worker whose lease was lost cannot
        complete its successor's row.

        :returns: the row as stored after the change.
        :raises LeaseLostError: ``owner``'s claim ``token`` no longer holds the row.
        """
        ...

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
        """End a failed attempt: ``in_flight`` -> ``to_state``, the lease cleared, the error
        kept on the row (``last_error_type``, ``last_error``) and in the audit entry.

        Fenced (``token``: the claim's). The caller picks ``to_state`` with
        :func:`munivideo.store.states.route_failure` and ``next_attempt_at`` with
        :func:`munivideo.store.states.backoff_delay`; the store does not decide retries.

        :param to_state: ``pending`` (retry at ``next_attempt_at``) or ``failed`` (dead letter).
        :param next_attempt_at: when a ``pending`` row is due again (a dead letter waits for a
            replay, which makes it due at once).
        :param error_type: the error's class name, e.g. ``"AmbiguousError"``.
        :param message: the error's text (redacted, at most 2,000 characters kept).
        :raises LeaseLostError: ``owner``'s claim ``token`` no longer holds the row.
        :raises munivideo.errors.LifecycleError: ``to_state`` is not reachable from
            ``in_flight``.
        """
        ...

    def requeue_stale(self, *, now: datetime, tenant_id: str | None = None) -> int:
        """Give back rows whose worker died or hung: every ``in_flight`` row with
        ``lease_expires_at <= now`` goes to ``pending``, due since its lease ran out, lease
        cleared, audited (actor ``store``). Attempts and attempt markers are kept, so the next
        holder probes a step that may have landed before re-sending it. The old holder's next
        fenced call raises :class:`LeaseLostError`.

        :param tenant_id: one tenant only; ``None`` for all.
        :returns: how many rows were requeued.
        """
        ...

    def release_owner(self, owner: str, *, now: datetime, tenant_id: str | None = None) -> int:
        """Requeue every row ``owner`` holds, expired or not, due at ``now`` (audited).

        A worker restarting under a stable id calls it: its previous incarnation is dead and
        need not wait for the leases to run out. Not fenced: if a live process shares the id,
        its claims end here and its next fenced call raises :class:`LeaseLostError` (the row is
        pending, or claimed again under a newer token) - it loses time, nothing is sent twice.

        :returns: how many rows were released.
        """
        ...

    def replay(
        self,
        *,
        tenant_id: str,
        item_ids: Sequence[int] | None,
        actor: str,
        reason: str,
        now: datetime,
    ) -> list[OutboxItem]:
        """Send dead letters again: ``failed`` -> ``pending``, due at ``now``, attempts reset
        to 0, with an audit entry ``replay: <reason>`` by ``actor``. Steps done and attempt
        markers are kept: a step that may have landed is probed before it is re-sent. All the
        rows move or none.

        :param item_ids: the rows to replay; ``None`` replays every dead letter of the tenant.
        :returns: the replayed rows, in the order given (by id when ``item_ids`` is ``None``).
        :raises munivideo.errors.NotFoundError: a row is unknown or belongs to another tenant.
        :raises munivideo.errors.LifecycleError: a row is not ``failed`` (a waiting row is
            requeued with :meth:`requeue` instead).
        """
        ...

    def get_item(self, item_id: int) -> OutboxItem:
        """One outbox row with its steps done and attempt markers.

        :raises munivideo.errors.NotFoundError: no row ``item_id`` (field ``id``).
        """
        ...

    def list_items(
        self,
        tenant_id: str,
        *,
        state: OutboxState | None = None,
        limit: int = 1000,
        after: int | None = None,
    ) -> list[OutboxItem]:
        """A page of ``tenant_id``'s rows in ascending id order, only ``state`` if given;
        ``after`` is the last id of the previous page (keyset pagination)."""
        ...

    def audit_trail(self, item_id: int) -> list[AuditEntry]:
        """Every state change of row ``item_id``, oldest first: from/to state, actor (worker id,
        operator, ``store`` or ``engine``), reason and time. Empty for an unknown id."""
        ...

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
        """Keep a record that could not be processed, never drop it.

        One entry per (tenant, ``kind``, ``record_id``): seeing the record again replaces the
        reason, counts one more occurrence, moves ``last_seen_at`` to ``now`` and reopens a
        resolved entry.

        :param field: the record's field at fault (dotted), or ``None`` for the whole record.
        :param reason: the error's message (redacted, at most 2,000 characters kept).
        :param error_type: the error's class name.
        :param raw: the record as received, for an operator to inspect (the retention purge
            erases it later).
        :returns: the entry as stored.
        """
        ...

    def resolve_quarantine(
        self, tenant_id: str, kind: QuarantineKind, record_id: str, *, now: datetime
    ) -> bool:
        """Close the open entry of a record that was processed after all (resolved at ``now``).

        :returns: ``True`` if an open entry was closed, ``False`` if there was none (the common
            case; it costs one read, no write).
        """
        ...

    def list_quarantine(
        self, tenant_id: str, *, include_resolved: bool = False, limit: int = 1000
    ) -> list[QuarantineItem]:
        """The tenant's quarantined records, oldest entry first.

        :param include_resolved: also the entries already resolved.
        :param limit: at most this many entries.
        """
        ...

    # -- console reads (agenda, a booking's write-back) ------------------------------------------
    def bindings_starting(
        self,
        tenant_id: str,
        *,
        start: datetime,
        end: datetime,
        servant_registration: str | None = None,
        limit: int = 500,
    ) -> list[Binding]:
        """Bindings whose booking starts in ``[start, end)`` (tz-aware), by start time; only the
        ones assigned to ``servant_registration`` when given. The servant's agenda."""
        ...

    def item_for_booking(self, tenant_id: str, booking_id: str) -> OutboxItem | None:
        """The outbox row of a booking's attendance, or None before it is recorded."""
        ...

    def requeue(
        self,
        *,
        tenant_id: str,
        item_ids: Sequence[int],
        actor: str,
        reason: str,
        now: datetime,
    ) -> list[OutboxItem]:
        """An operator makes ``pending`` rows due now, attempts and steps kept, with an audit
        entry ``requeue: <reason>``. Raises :class:`LifecycleError` for other states (a dead
        letter is replayed instead)."""
        ...

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
        """A person did this write-back in the ERP by hand: ``failed`` -> ``delivered``
        with the protocol they found (``receipt``) and an audit entry naming ``actor`` and
        ``reason``. Raises :class:`LifecycleError` from any other state."""
        ...

    # -- overview ---------------------------------------------------------------------------
    def outbox_counts(self, tenant_id: str, *, now: datetime) -> OutboxCounts:
        """The outbox part of :meth:`status`, cheap enough to call on every empty claim."""
        ...

    def status(self, tenant_id: str, *, now: datetime) -> TenantStatus:
        """One tenant at a glance: its sync cursor, bindings, outbox counts (stale leases are
        the ``in_flight`` rows expired at ``now``) and open quarantine entries."""
        ...

    def close(self) -> None:
        """Release the store's connections. The store must not be used afterwards."""
        ...
