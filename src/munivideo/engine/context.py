"""The engine's wiring for one tenant: configuration, store, adapters, plugins, clock."""

from __future__ import annotations

import logging
import os
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from munivideo.config import TenantConfig
from munivideo.engine.crash import CrashPoints
from munivideo.errors import MunivideoError
from munivideo.plugins import Plugins
from munivideo.ports import ErpAdapter, Notifier, VideoProvider
from munivideo.store.port import Store
from munivideo.store.records import QuarantineKind
from munivideo.values import utcnow

log = logging.getLogger("munivideo.engine")


def default_worker_id() -> str:
    """A worker id unique among live workers: ``<hostname>:<pid>:<6 random hex digits>``.

    The random part keeps two processes that reuse a pid (containers) apart; a worker that
    wants its leases back after a restart passes a stable id instead (see
    :meth:`munivideo.store.port.Store.release_owner`).
    """
    return f"{socket.gethostname()}:{os.getpid()}:{random.SystemRandom().randrange(16**6):06x}"


@dataclass
class Engine:
    """Everything a job needs for one tenant. Build it with :func:`munivideo.engine.build_engine`
    (from a configuration) or directly (tests, embedding)."""

    config: TenantConfig
    store: Store
    erp: ErpAdapter
    video: VideoProvider
    notifiers: list[Notifier]
    plugins: Plugins
    clock: Callable[[], datetime] = utcnow
    rng: random.Random = field(default_factory=random.Random)
    worker_id: str = field(default_factory=default_worker_id)
    crash: CrashPoints = field(default_factory=CrashPoints)

    @property
    def tenant_id(self) -> str:
        """The tenant's id (``[tenant] id`` in its configuration); every store call uses it."""
        return self.config.tenant.id

    def now(self) -> datetime:
        """The current time from :attr:`clock`: a tz-aware UTC datetime (tests pass a fake
        clock; every time the engine stores comes from here)."""
        return self.clock()

    def quarantine(
        self, kind: QuarantineKind, record_id: str, error: MunivideoError, raw: str
    ) -> None:
        """Keep a record that could not be processed, with the error's field, message and
        class name (see :meth:`munivideo.store.port.Store.quarantine`), and log a warning.

        :param record_id: the record's id in ``kind``'s namespace (booking id, ...).
        :param error: why; its ``field`` and redacted ``message`` are stored.
        :param raw: the record as received, for an operator to inspect.
        """
        log.warning("quarantined %s %s: %s", kind.value, record_id, error)
        self.store.quarantine(
            self.tenant_id,
            kind,
            record_id,
            field=error.field,
            reason=error.message,
            error_type=type(error).__name__,
            raw=raw,
            now=self.now(),
        )

    def close(self) -> None:
        """Close the ERP adapter's connections. The store belongs to the caller and stays
        open (:meth:`munivideo.api.Munivideo.close` closes both)."""
        self.erp.close()
