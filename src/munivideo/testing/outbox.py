"""``trap_outbox``: check what was queued for write-back, apart from whether it was delivered.

Like OCA queue_job's ``trap_jobs``: a test of an ERP extension asks "did recording this
attendance queue the right protocol entry?" without running the write-back or talking to an ERP.
Delivery itself is what the adapter acceptance suite and the engine's own tests cover.

.. code-block:: python

    from munivideo.testing.outbox import trap_outbox

    with trap_outbox(mv.engine.store, "gravatai") as trap:
        mv.record(events, form)
    trap.assert_queued("AG-000001", outcome=Outcome.ATTENDED, subject_code="IPTU-VIDEO")
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from munivideo.models import ProtocolEntry
from munivideo.store import OutboxItem, Store

_MAX_ROWS = 100_000


@dataclass
class TrappedOutbox:
    """The outbox rows a block queued. Filled when the ``with`` block ends."""

    items: list[OutboxItem] = field(default_factory=list)

    @property
    def entries(self) -> list[ProtocolEntry]:
        """The protocol entries queued, in queue order, exactly as they will be written back."""
        return [item.entry for item in self.items]

    def for_booking(self, booking_id: str) -> list[ProtocolEntry]:
        """The entries queued for one booking, in queue order (empty when none).

        :param booking_id: the booking's id in the ERP.
        """
        return [e for e in self.entries if e.booking_id == booking_id]

    def assert_count(self, expected: int) -> None:
        """Exactly ``expected`` write-backs were queued (all bookings together).

        :raises AssertionError: listing the booking ids actually queued.
        """
        if len(self.items) != expected:
            queued = ", ".join(i.booking_id for i in self.items) or "nothing"
            raise AssertionError(f"expected {expected} queued write-backs, got {queued}")

    def assert_queued(self, booking_id: str, **expected: Any) -> ProtocolEntry:
        """Exactly one entry was queued for ``booking_id``, and each ``field=value`` matches.

        :param expected: :class:`~munivideo.models.ProtocolEntry` field names and their values.
        :returns: that entry, for further checks.
        :raises AssertionError: no entry or several; or the fields that differ, with their values.
        """
        found = self.for_booking(booking_id)
        if len(found) != 1:
            raise AssertionError(
                f"expected one write-back queued for booking {booking_id}, got {len(found)}"
            )
        entry = found[0]
        wrong = {
            name: getattr(entry, name)
            for name, value in expected.items()
            if getattr(entry, name) != value
        }
        if wrong:
            raise AssertionError(f"booking {booking_id}: queued entry differs: {wrong!r}")
        return entry

    def assert_nothing_queued(self) -> None:
        """Nothing was queued: the block must not have reached the ERP.

        :raises AssertionError: listing the booking ids actually queued.
        """
        self.assert_count(0)


@contextmanager
def trap_outbox(store: Store, tenant_id: str) -> Iterator[TrappedOutbox]:
    """Collect the outbox rows of ``tenant_id`` created inside the ``with`` block."""
    before = {item.id for item in store.list_items(tenant_id, limit=_MAX_ROWS)}
    trapped = TrappedOutbox()
    yield trapped
    after = store.list_items(tenant_id, limit=_MAX_ROWS)
    trapped.items = sorted((i for i in after if i.id not in before), key=lambda i: i.id)
