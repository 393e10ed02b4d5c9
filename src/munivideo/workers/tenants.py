"""The tenants one worker serves, and the engines it builds for them (per thread: an ERP
adapter's HTTP session is not shared between threads)."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from munivideo.config import TenantConfig, load_config
from munivideo.engine.context import Engine
from munivideo.engine.service import build_engine
from munivideo.errors import ConfigurationError
from munivideo.plugins import Plugins, load_plugins
from munivideo.store.port import Store
from munivideo.workers.drain import ObservedStore


@dataclass
class TenantSet:
    """Tenant configurations by id, with where each file's relative paths resolve."""

    configs: dict[str, TenantConfig]
    bases: dict[str, Path | None]
    plugins: Plugins
    metrics: Any | None = None  #: munivideo.workers.metrics.Metrics when metrics are on
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _engines: dict[tuple[str, str, int], list[Engine]] = field(default_factory=dict, repr=False)

    @classmethod
    def load(
        cls, paths: Iterable[Path], *, plugins: Plugins | None = None, metrics: Any | None = None
    ) -> TenantSet:
        """Read every tenant file; a tenant id found twice is a configuration error.

        :raises munivideo.errors.ConfigurationError: a file is invalid, a tenant id is
            configured twice (field ``tenant.id``), or no file is given (field ``config``).
        """
        configs: dict[str, TenantConfig] = {}
        bases: dict[str, Path | None] = {}
        for path in paths:
            config = load_config(path)
            tid = config.tenant.id
            if tid in configs:
                raise ConfigurationError(f"tenant {tid} is configured twice", field="tenant.id")
            configs[tid] = config
            bases[tid] = Path(path).resolve().parent
        if not configs:
            raise ConfigurationError("no tenant configuration given", field="config")
        return cls(configs=configs, bases=bases, plugins=plugins or load_plugins(), metrics=metrics)

    @property
    def ids(self) -> list[str]:
        """The tenant ids, sorted."""
        return sorted(self.configs)

    def store_url(self) -> str:
        """The one store every tenant names (a worker serves one store); relative SQLite
        paths resolved next to each tenant's file.

        :raises munivideo.errors.ConfigurationError: the tenants name different stores (field
            ``store.url``).
        """
        urls = {self._resolved_url(t) for t in self.configs}
        if len(urls) != 1:
            raise ConfigurationError(
                "the tenants of one worker must share one store; found: " + ", ".join(sorted(urls)),
                field="store.url",
            )
        return urls.pop()

    def _resolved_url(self, tenant_id: str) -> str:
        url = self.configs[tenant_id].store.url
        base = self.bases[tenant_id]
        prefix = "sqlite:///"
        if url.startswith(prefix) and base is not None:
            raw = url[len(prefix) :]
            if raw != ":memory:" and not raw.startswith("/"):
                return f"{prefix}{base / raw}"
        return url

    def engines(
        self, tenant_id: str, store: Store, worker: str, purpose: str = "writeback"
    ) -> list[Engine]:
        """The ``worker.concurrency`` engines for ``tenant_id`` and ``purpose``, built once.

        Shared by the threads of this process: both workers run at most one turn per tenant and
        purpose at a time (the local scheduler has one slot per tenant; Procrastinate's per-city
        lock one running job), so an engine (its ERP session) is never used by two threads at
        once, and a city costs one set of engines, not one per thread.

        :raises munivideo.errors.ConfigurationError: ``tenant_id`` is not one of this worker's
            tenants (field ``tenant.id``), or building its adapters failed.
        """
        if tenant_id not in self.configs:
            raise ConfigurationError(
                f"this worker has no configuration for tenant {tenant_id}", field="tenant.id"
            )
        key = (tenant_id, purpose, id(store))
        with self._lock:
            built = self._engines.get(key)
            if built is None:
                built = self._build(tenant_id, store, worker)
                self._engines[key] = built
        return built

    def _build(self, tenant_id: str, store: Store, worker: str) -> list[Engine]:
        config = self.configs[tenant_id]
        observed = cast(Store, ObservedStore(store, self.metrics, worker))
        built = []
        for _ in range(config.worker.concurrency):
            engine = build_engine(
                config, plugins=self.plugins, store=observed, base_dir=self.bases[tenant_id]
            )
            if self.metrics is not None:
                engine.erp = self.metrics.timed_erp(engine.erp)
            built.append(engine)
        return built

    def close(self) -> None:
        """Close every engine built (their ERP sessions)."""
        with self._lock:
            engines, self._engines = self._engines, {}
        for group in engines.values():
            for engine in group:
                engine.close()
