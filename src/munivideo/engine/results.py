"""Typed results of the engine's jobs (also what ``--json`` prints)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from munivideo.models import Cursor, Outcome
from munivideo.store.records import Binding


class _Result(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SyncResult(_Result):
    """What one :func:`munivideo.engine.sync` run did, in counts of bookings or messages.

    ``received``: bookings read from the ERP over ``pages`` pages; ``unchanged``: of those,
    ones whose fingerprint had not moved (nothing sent); ``bound``: bookings seen for the first
    time; ``rooms_*``, ``links_recorded``, ``invitations_sent``, ``messages_sent`` (one per
    recipient and channel), ``cancellations_sent``: side effects done; ``deferred``: bookings
    whose side effects failed transiently, retried on the next sync; ``quarantined``: bookings
    refused; ``cursor``: where the sync stopped; ``errors``: one line per deferred or
    quarantined booking.
    """

    tenant_id: str
    pages: int = 0
    received: int = 0
    unchanged: int = 0
    bound: int = 0
    rooms_created: int = 0
    rooms_updated: int = 0
    rooms_closed: int = 0
    links_recorded: int = 0
    invitations_sent: int = 0
    messages_sent: int = 0
    cancellations_sent: int = 0
    deferred: int = 0  #: side effects failed transiently; retried on the next sync
    quarantined: int = 0
    #: Messages whose send may have happened but was never confirmed (a crash or a full disk
    #: between the send and its mark): not re-sent; see docs/security.md.
    unconfirmed: int = 0
    cursor: Cursor | None = None
    #: True when the run stopped at the page budget (``[sync] max_pages``) with more to read.
    more: bool = False
    errors: list[str] = Field(default_factory=list)
    #: Messages of a channel no configured notifier delivers, by channel (reported, not fatal).
    undeliverable: dict[str, int] = Field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Nothing deferred and nothing quarantined (the job's exit status)."""
        return self.deferred == 0 and self.quarantined == 0


class RecordResult(_Result):
    """What recording one booking's attendance did.

    ``outcome`` is the classified attendance (``None`` when quarantined), ``external_reference``
    the key the ERP will know the protocol by, ``outbox_id`` the write-back row queued;
    ``quarantined`` with ``reason`` when the attendance was refused.
    """

    tenant_id: str
    booking_id: str
    outcome: Outcome | None = None
    external_reference: str = ""
    outbox_id: int | None = None
    created: bool = False  # False: the attendance was already recorded (kept the first)
    quarantined: bool = False
    reason: str = ""

    @property
    def ok(self) -> bool:
        """The attendance was recorded (now or by an earlier call), not quarantined."""
        return not self.quarantined


class WritebackResult(_Result):
    """What one :func:`munivideo.engine.writeback` run did, in outbox rows.

    ``requeued_stale``: rows taken back from dead workers (expired leases, or this worker's
    earlier incarnation); ``claimed``: rows this run took; of those, ``delivered``,
    ``retrying`` (a retryable failure, due again after a backoff), ``settling`` (a probe found
    nothing yet; asked again after the settle window), ``dead_lettered`` (moved to ``failed``)
    and ``lease_lost`` (another worker took the row; this one stopped). ``pending_left`` and
    ``failed_total`` count the tenant's whole outbox after the run (``pending`` + ``in_flight``,
    and ``failed``).
    """

    tenant_id: str
    worker: str
    requeued_stale: int = 0
    claimed: int = 0
    delivered: int = 0
    retrying: int = 0
    settling: int = 0  #: a probe found nothing yet; probing again after the settle window
    dead_lettered: int = 0
    lease_lost: int = 0
    pending_left: int = 0
    failed_total: int = 0
    errors: list[str] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        """The outbox is empty of waiting and dead rows and no lease was lost: everything
        recorded so far is in the ERP."""
        return self.pending_left == 0 and self.failed_total == 0 and self.lease_lost == 0


class ReplayResult(_Result):
    """The outbox ids an operator's replay (or requeue) moved back to ``pending``."""

    tenant_id: str
    replayed: list[int] = Field(default_factory=list)


@dataclass
class BindingSoFar:
    """One booking's binding as far as its side effects went during a sync.

    Each step that succeeds (room closed or made, link recorded, invitation sent) sets
    :attr:`binding` to the binding that includes it, so when a later step fails the caller
    saves exactly what was done and the next sync reuses it instead of repeating it."""

    binding: Binding
