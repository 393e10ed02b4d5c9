"""The public Python API for vendor developers: one object per tenant, one method per job.

.. code-block:: python

    from munivideo.api import Munivideo

    with Munivideo.from_config("gravatai.toml") as mv:
        mv.sync()                                   # bookings in, rooms, invitations
        mv.record(events, form)                     # attendance -> durable outbox
        mv.writeback(wait_seconds=30)               # outbox -> ERP, exactly once
        print(mv.status())
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from zoneinfo import ZoneInfo

from munivideo.config import TenantConfig, load_config
from munivideo.engine import (
    Engine,
    RecordResult,
    ReplayResult,
    SyncResult,
    WritebackResult,
    build_engine,
)
from munivideo.engine import ingest_events as _ingest_events
from munivideo.engine import ingest_webhook as _ingest_webhook
from munivideo.engine import record as _record
from munivideo.engine import replay as _replay
from munivideo.engine import requeue as _requeue
from munivideo.engine import sync as _sync
from munivideo.engine import writeback as _writeback
from munivideo.engine.sync import Progress
from munivideo.models import AttendanceEvent, OutcomeForm
from munivideo.plugins import Plugins
from munivideo.store import (
    AuditEntry,
    OutboxItem,
    OutboxState,
    QuarantineItem,
    Store,
    TenantStatus,
)


class Munivideo:
    """The attendance cycle for one tenant. Build it with :meth:`from_config`.

    A context manager: leaving the ``with`` block calls :meth:`close`. Each method is one job
    of the cycle and returns a typed result (the same models ``munivideo ... --json`` prints);
    what fails for one record is quarantined or retried, not raised, so a job raises only
    when it cannot go on at all (typed errors from :mod:`munivideo.errors`). One object is
    not meant to be shared between threads: open one per worker thread.

    :param engine: the wired engine (see :func:`munivideo.engine.build_engine`); ``engine``
        stays reachable as :attr:`engine` for what this class does not wrap.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def from_config(
        cls,
        config: str | Path | TenantConfig,
        *,
        plugins: Plugins | None = None,
        store: Store | None = None,
        worker_id: str | None = None,
    ) -> Munivideo:
        """Load (a path) or take (a :class:`TenantConfig`) the tenant's configuration and build
        its adapters through the installed plugins. A relative store path in a file resolves
        next to that file.

        :param plugins: a loaded plugin set (default: the installed plugins, see
            :func:`munivideo.plugins.load_plugins`).
        :param store: a store to share between tenants (default: open ``[store] url``).
        :param worker_id: this worker's id in outbox leases; pass a stable one to take back
            a crashed incarnation's rows at once (default: unique per process).
        :raises munivideo.errors.ConfigurationError: the file is unreadable or invalid (the
            error names the field), an adapter or provider is unknown, or the store cannot be
            opened.
        """
        base: Path | None = None
        if isinstance(config, str | Path):
            base = Path(config).resolve().parent
            config = load_config(config)
        return cls(
            build_engine(config, plugins=plugins, store=store, base_dir=base, worker_id=worker_id)
        )

    @property
    def tenant_id(self) -> str:
        """The tenant's id (``[tenant] id`` in its configuration)."""
        return self.engine.tenant_id

    def restart_sync(self, since: datetime | None = None) -> None:
        """Make the next :meth:`sync` read bookings again: from the beginning (``since`` None),
        or from those changed at or after ``since`` (naive: the tenant's local time). Bookings
        read again repeat no side effect (rooms, invitations are keyed)."""
        from munivideo.mapping.paging import since_cursor
        from munivideo.values import from_local

        if since is None:
            moment = datetime(1970, 1, 1, tzinfo=UTC)
        elif since.tzinfo is None:
            moment = from_local(since, ZoneInfo(self.engine.config.tenant.timezone))
        else:
            moment = since.astimezone(UTC)
        self.engine.store.set_cursor(self.tenant_id, since_cursor(moment), now=self.engine.now())

    def sync(
        self,
        *,
        page_size: int = 100,
        max_pages: int | None = None,
        progress: Progress | None = None,
    ) -> SyncResult:
        """Pull bookings changed since the last sync; provision rooms; record their links in
        the ERP; send invitations. Safe to run again at any time: every side effect is keyed,
        so a booking read twice repeats nothing.

        :param page_size: bookings asked of the ERP per page.
        :param max_pages: stop after this many pages (default: ``[sync] max_pages``); the
            result's ``more`` says whether bookings are left for the next run.
        :param progress: called after each page with the number of bookings it held.
        :raises munivideo.errors.StalledSyncError: the ERP's paging did not advance; pages
            read before it keep their saved cursor.
        """
        return _sync(self.engine, page_size=page_size, max_pages=max_pages, progress=progress)

    def record(
        self,
        events: Iterable[AttendanceEvent] = (),
        form: OutcomeForm | None = None,
        *,
        booking_id: str | None = None,
    ) -> RecordResult:
        """Classify one booking's attendance and put its protocol entry in the outbox.

        Join/leave events kept earlier (webhooks, :meth:`ingest_events`) are used with the ones
        given. Recording a booking again keeps the first entry (``result.created`` is False). An
        attendance that cannot be recorded (unknown booking, a form for another booking, a
        plugin's veto, invalid data) is quarantined and reported in the result, not raised.

        :param events: the video provider's join/leave events for the booking.
        :param form: what the servant filled in (outcome, notes, documents checked).
        :param booking_id: the booking (default: the form's, else the first event's).
        :raises munivideo.errors.InvalidRecordError: no form, no events and no ``booking_id``.
        """
        return _record(self.engine, events, form, booking_id=booking_id)

    def ingest_events(self, events: Iterable[AttendanceEvent]) -> int:
        """Keep join/leave events until :meth:`record`; returns how many were new."""
        return _ingest_events(self.engine, events)

    def ingest_webhook(self, headers: Mapping[str, str], body: bytes) -> int:
        """Parse a video-provider webhook call and keep its events (see :meth:`ingest_events`);
        an unreadable payload is quarantined and its error raised."""
        return _ingest_webhook(self.engine, headers, body)

    def writeback(
        self,
        *,
        limit: int | None = None,
        wait_seconds: float = 0.0,
        progress: Progress | None = None,
    ) -> WritebackResult:
        """Deliver due outbox rows to the ERP, exactly once.

        Rows of dead workers are taken back first (expired leases). Each row is claimed under
        a lease of ``[writeback] lease_seconds`` and its steps (create, attach, forward,
        status) are sent with idempotency keys, or probed first when an earlier answer was
        lost; failures are routed by :data:`munivideo.store.states.FAILURE_ROUTES`.

        :param limit: stop after this many rows (default: every due row).
        :param wait_seconds: also wait, up to this many seconds, for rows whose retry or
            settle window ends soon; ``0`` makes one pass over what is due now.
        :param progress: called with ``1`` after each row.
        :raises munivideo.errors.ConfigurationError: ``[writeback] lease_seconds`` cannot
            outlast one ERP call (timeouts).
        """
        return _writeback(self.engine, limit=limit, wait_seconds=wait_seconds, progress=progress)

    def replay(
        self,
        item_ids: Sequence[int] | None = None,
        *,
        reason: str = "replayed",
        actor: str = "api",
        landed: Sequence[str] = (),
        absent: Sequence[str] = (),
        protocol: tuple[int, int] | None = None,
    ) -> ReplayResult:
        """Move dead letters (all, or ``item_ids``) back to pending; steps that may have
        landed are probed first. ``landed``/``absent``/``protocol``: what a person found in
        the ERP for one row's steps (see :func:`munivideo.engine.replay.replay`)."""
        return _replay(
            self.engine,
            item_ids=item_ids,
            actor=actor,
            reason=reason,
            landed=landed,
            absent=absent,
            protocol=protocol,
        )

    def requeue(
        self, item_ids: Sequence[int] | None = None, *, reason: str = "requeued", actor: str = "api"
    ) -> ReplayResult:
        """Make waiting (``pending``) rows (``item_ids``, or every one of the tenant's when
        None) due now, keeping attempts, steps and attempt markers; each gets an audit entry
        ``requeue: <reason>`` by ``actor``.

        :raises munivideo.errors.LifecycleError: a named row is not ``pending`` (a dead letter
            is replayed with :meth:`replay` instead); with None, a row a worker claims meanwhile
            is skipped.
        :raises munivideo.errors.NotFoundError: a row is unknown or another tenant's.
        """
        return _requeue(self.engine, item_ids, actor=actor, reason=reason)

    def status(self) -> TenantStatus:
        """The tenant at a glance, now: sync cursor, bindings, outbox by state (with stale
        leases and the oldest waiting row) and open quarantine entries."""
        return self.engine.store.status(self.tenant_id, now=self.engine.now())

    def quarantine(self, *, include_resolved: bool = False) -> list[QuarantineItem]:
        """Records that could not be processed, oldest first (at most 1,000), with the field
        at fault, the reason and the raw record.

        :param include_resolved: also entries whose record was processed since.
        """
        return self.engine.store.list_quarantine(self.tenant_id, include_resolved=include_resolved)

    def outbox(self, state: OutboxState | None = None, *, limit: int = 1000) -> list[OutboxItem]:
        """The tenant's write-back rows in id order (oldest first), with their steps done.

        :param state: only rows in this state (``failed``: the dead letters).
        :param limit: at most this many rows; page further with
            :meth:`munivideo.store.port.Store.list_items` (``after``).
        """
        return self.engine.store.list_items(self.tenant_id, state=state, limit=limit)

    def audit_trail(self, item_id: int) -> list[AuditEntry]:
        """Every state change of outbox row ``item_id``, oldest first: who (worker, operator),
        why and when (UTC). Empty for an unknown id."""
        return self.engine.store.audit_trail(item_id)

    def close(self) -> None:
        """Close the ERP adapter's connections and the store (also a store passed to
        :meth:`from_config`). The object must not be used afterwards."""
        self.engine.close()
        self.engine.store.close()

    def __enter__(self) -> Munivideo:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


__all__ = [
    "AuditEntry",
    "Munivideo",
    "OutboxItem",
    "OutboxState",
    "QuarantineItem",
    "RecordResult",
    "ReplayResult",
    "SyncResult",
    "TenantStatus",
    "WritebackResult",
]
