"""What both stores do the same way with a table row's values, whatever their SQL dialect: the
row -> record readers (one per table) and the retention purge's erasing of JSON columns.

Each reader takes the store's own timestamp decoding, ``when`` (SQLite keeps times as
fixed-width UTC text, PostgreSQL as ``timestamptz``), as
:meth:`munivideo.store.records.Binding.columns` takes each store's encoding for writing. A row is
anything indexed by column name: a ``sqlite3.Row`` or a psycopg ``dict_row``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from munivideo.models import Attendance, Booking, Cursor, ProtocolEntry, ProtocolReceipt, Room
from munivideo.store.records import (
    AuditEntry,
    Binding,
    OutboxCounts,
    OutboxItem,
    QuarantineItem,
    QuarantineKind,
)
from munivideo.store.states import OutboxState


class Row(Protocol):
    """A table row as a store's driver hands it back, read by column name."""

    def __getitem__(self, key: str, /) -> Any: ...


Decode = Callable[[Any], datetime]
"""A store's timestamp decoding: a stored time (SQLite text, PostgreSQL ``timestamptz``) ->
a tz-aware :class:`~datetime.datetime`."""


def _maybe(when: Decode, value: Any) -> datetime | None:
    return None if value is None else when(value)


def binding_from(row: Row, when: Decode) -> Binding:
    """A ``binding`` row as a :class:`Binding` (booking, room and attendance parsed from JSON)."""
    return Binding(
        tenant_id=row["tenant_id"],
        booking_id=row["booking_id"],
        booking=Booking.model_validate_json(row["booking"]),
        fingerprint=row["fingerprint"],
        room=Room.model_validate_json(row["room"]) if row["room"] else None,
        room_link_recorded=row["room_link_recorded"],
        invitation_uid=row["invitation_uid"],
        invitation_sequence=row["invitation_sequence"],
        invitation_method=row["invitation_method"],
        invitation_key=row["invitation_key"],
        attendance=(
            Attendance.model_validate_json(row["attendance"]) if row["attendance"] else None
        ),
        external_reference=row["external_reference"],
        protocol_label=row["protocol_label"],
        created_at=when(row["created_at"]),
        updated_at=when(row["updated_at"]),
    )


def cursor_from(row: Row, when: Decode) -> Cursor:
    """A ``sync_cursor`` row as the tenant's :class:`Cursor`."""
    return Cursor(updated_at=when(row["updated_at"]), id=row["record_id"])


def quarantined_from(row: Row, when: Decode) -> QuarantineItem:
    """A ``quarantine`` row as a :class:`QuarantineItem`."""
    return QuarantineItem(
        id=row["id"],
        tenant_id=row["tenant_id"],
        kind=QuarantineKind(row["kind"]),
        record_id=row["record_id"],
        field=row["field"],
        reason=row["reason"],
        error_type=row["error_type"],
        raw=row["raw"],
        occurrences=row["occurrences"],
        first_seen_at=when(row["first_seen_at"]),
        last_seen_at=when(row["last_seen_at"]),
        resolved_at=_maybe(when, row["resolved_at"]),
    )


def audit_from(row: Row, when: Decode) -> AuditEntry:
    """An ``outbox_audit`` row as an :class:`AuditEntry`."""
    return AuditEntry(
        id=row["id"],
        outbox_id=row["outbox_id"],
        tenant_id=row["tenant_id"],
        from_state=OutboxState(row["from_state"]) if row["from_state"] else None,
        to_state=OutboxState(row["to_state"]),
        actor=row["actor"],
        reason=row["reason"],
        at=when(row["at"]),
    )


def item_from(
    row: Row, when: Decode, *, steps: dict[str, str], attempted: dict[str, datetime]
) -> OutboxItem:
    """An ``outbox`` row as an :class:`OutboxItem`, with its steps done (name -> detail, in
    order) and its attempt markers (step -> last sent), read by the store from
    ``outbox_step`` and ``outbox_attempt``."""
    return OutboxItem(
        id=row["id"],
        tenant_id=row["tenant_id"],
        booking_id=row["booking_id"],
        external_reference=row["external_reference"],
        entry=ProtocolEntry.model_validate_json(row["entry"]),
        state=OutboxState(row["state"]),
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        lease_owner=row["lease_owner"],
        lease_expires_at=_maybe(when, row["lease_expires_at"]),
        fencing_token=row["fencing_token"],
        next_attempt_at=when(row["next_attempt_at"]),
        last_error=row["last_error"],
        last_error_type=row["last_error_type"],
        steps=steps,
        attempted=attempted,
        receipt=(ProtocolReceipt.model_validate_json(row["receipt"]) if row["receipt"] else None),
        created_at=when(row["created_at"]),
        updated_at=when(row["updated_at"]),
        delivered_at=_maybe(when, row["delivered_at"]),
    )


def counts_from(row: Row, when: Decode) -> OutboxCounts:
    """The outbox-count query's row (columns ``pending``, ``in_flight``, ``delivered``,
    ``failed``: the counters, NULL before the tenant's first row; ``stale``, ``oldest``,
    ``next_at``) as :class:`OutboxCounts`."""
    return OutboxCounts(
        pending=int(row["pending"] or 0),
        in_flight=int(row["in_flight"] or 0),
        delivered=int(row["delivered"] or 0),
        failed=int(row["failed"] or 0),
        stale_leases=int(row["stale"]),
        oldest_pending_at=_maybe(when, row["oldest"]),
        next_attempt_at=_maybe(when, row["next_at"]),
    )


Eraser = Callable[[dict[str, Any]], dict[str, Any]]
"""A function that returns a JSON document (dict) without its personal data
(see :mod:`munivideo.retention`)."""


def erased_binding(
    booking_json: str, attendance_json: str | None, *, booking: Eraser, attendance: Eraser
) -> tuple[str, str | None] | None:
    """A binding's ``booking`` and ``attendance`` columns (JSON text) rewritten by the erasers,
    or None when they are already erased (nothing to write, nothing to count)."""
    erased = json.dumps(booking(json.loads(booking_json)), ensure_ascii=False)
    done = json.dumps(attendance(json.loads(attendance_json))) if attendance_json else None
    if erased == booking_json and done == attendance_json:
        return None
    return erased, done


def erased_entry(entry_json: str, *, entry: Eraser) -> str | None:
    """An outbox row's ``entry`` column (JSON text) rewritten by ``entry``, or None when it is
    already erased."""
    erased = json.dumps(entry(json.loads(entry_json)), ensure_ascii=False)
    return None if erased == entry_json else erased
