"""Prometheus metrics of ``munivideo worker`` (prometheus_client, the ``metrics`` extra).

Every metric lives in the :class:`Metrics` object's own registry (no process-global state):

* ``munivideo_outbox_rows{tenant,state}``: rows by state, read at scrape time;
* ``munivideo_outbox_oldest_seconds{tenant,state}``: age of the oldest pending row
  (``state="pending"``) and how long the most overdue row has been due (``state="due"``);
* ``munivideo_outbox_stale_leases{tenant}``: in-flight rows whose lease ran out;
* ``munivideo_writeback_lag_seconds{tenant}``: outcome recorded -> protocol delivered;
* ``munivideo_erp_call_seconds{operation}``: ERP call latency;
* ``munivideo_erp_errors_total{operation,classification}``: ERP failures by error class;
* ``munivideo_dead_letters_total{tenant}`` and ``munivideo_delivered_total{tenant}``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from munivideo.errors import MunivideoError
from munivideo.store.port import Store

LAG_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, float("inf"))
ERP_OPERATIONS = frozenset(
    {
        "create_protocol",
        "find_protocol",
        "read_protocol",
        "attach_document",
        "forward_protocol",
        "update_booking_status",
        "read_booking_status",
        "get_booking",
        "list_bookings",
        "record_room_link",
    }
)
"""The ERP adapter methods whose calls are timed and whose failures are counted."""


class Metrics:
    """The worker's metrics, in their own registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.erp_seconds = Histogram(
            "munivideo_erp_call_seconds",
            "ERP call latency by adapter operation",
            ["operation"],
            registry=self.registry,
        )
        self.erp_errors = Counter(
            "munivideo_erp_errors",
            "ERP call failures by operation and error class",
            ["operation", "classification"],
            registry=self.registry,
        )
        self.lag = Histogram(
            "munivideo_writeback_lag_seconds",
            "From the outcome recorded in the outbox to the protocol delivered in the ERP",
            ["tenant"],
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "munivideo_dead_letters",
            "Rows that became dead letters",
            ["tenant"],
            registry=self.registry,
        )
        self.delivered = Counter(
            "munivideo_delivered", "Rows delivered to the ERP", ["tenant"], registry=self.registry
        )

    def watch_outbox(
        self, store: Store, tenants: Sequence[str], clock: Callable[[], datetime]
    ) -> None:
        """Report ``tenants``' outbox depth and oldest rows from ``store`` at every scrape."""
        self.registry.register(_OutboxCollector(store, tenants, clock))

    def serve(self, port: int, addr: str = "127.0.0.1") -> None:
        """Serve ``/metrics`` on ``addr:port`` from a daemon thread."""
        start_http_server(port, addr=addr, registry=self.registry)

    def timed_erp(self, erp: Any) -> Any:
        """``erp`` with every :data:`ERP_OPERATIONS` call timed and its failures counted."""
        return _TimedErp(erp, self)


class _TimedErp:
    def __init__(self, inner: Any, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in ERP_OPERATIONS or not callable(attr):
            return attr
        metrics = self._metrics

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            except MunivideoError as exc:
                metrics.erp_errors.labels(name, type(exc).__name__).inc()
                raise
            except Exception:
                metrics.erp_errors.labels(name, "unexpected").inc()
                raise
            finally:
                metrics.erp_seconds.labels(name).observe(time.perf_counter() - started)

        return timed


class _OutboxCollector(Collector):
    def __init__(self, store: Store, tenants: Sequence[str], clock: Callable[[], datetime]) -> None:
        self.store = store
        self.tenants = list(tenants)
        self.clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        rows = GaugeMetricFamily(
            "munivideo_outbox_rows", "Outbox rows by tenant and state", labels=["tenant", "state"]
        )
        oldest = GaugeMetricFamily(
            "munivideo_outbox_oldest_seconds",
            "Age of the oldest pending row (state=pending) and of the most overdue due row "
            "(state=due)",
            labels=["tenant", "state"],
        )
        stale = GaugeMetricFamily(
            "munivideo_outbox_stale_leases", "In-flight rows whose lease expired", labels=["tenant"]
        )
        now = self.clock()
        for tenant in self.tenants:
            c = self.store.outbox_counts(tenant, now=now)
            for state, n in (
                ("pending", c.pending),
                ("in_flight", c.in_flight),
                ("delivered", c.delivered),
                ("failed", c.failed),
            ):
                rows.add_metric([tenant, state], n)
            pending_age = (now - c.oldest_pending_at).total_seconds() if c.oldest_pending_at else 0
            due_age = (now - c.next_attempt_at).total_seconds() if c.next_attempt_at else 0
            oldest.add_metric([tenant, "pending"], max(0.0, pending_age))
            oldest.add_metric([tenant, "due"], max(0.0, due_age))
            stale.add_metric([tenant], c.stale_leases)
        yield from (rows, oldest, stale)

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return []
