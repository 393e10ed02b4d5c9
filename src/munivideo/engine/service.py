"""Wire a tenant configuration into adapters (via the plugin system) and a store."""

from __future__ import annotations

from pathlib import Path

from munivideo.config import TenantConfig
from munivideo.engine.context import Engine
from munivideo.erp_sources import build_erp
from munivideo.plugins import Plugins, load_plugins
from munivideo.redact import install_log_redaction
from munivideo.store.factory import open_store
from munivideo.store.port import Store


def build_engine(
    config: TenantConfig,
    *,
    plugins: Plugins | None = None,
    store: Store | None = None,
    base_dir: Path | None = None,
    worker_id: str | None = None,
) -> Engine:
    """An :class:`Engine` for ``config``: the ERP adapter, video provider and notifiers named in
    the configuration, built by the factories their plugins registered.

    :param plugins: a loaded plugin set (default: :func:`munivideo.plugins.load_plugins`).
    :param store: a store to share between tenants (default: open ``config.store.url``).
    :param base_dir: where a relative store path resolves (default: the current directory).

    Building an engine installs log redaction (:func:`munivideo.redact.install_log_redaction`):
    whatever an embedding application's logging does, records of munivideo and of the
    libraries it drives (zeep, urllib3, ...) are masked.
    """
    install_log_redaction()
    plugins = plugins or load_plugins()
    tenant = config.tenant
    erp = build_erp(plugins, tenant, config.erp)
    video = plugins.video_provider(config.video.provider)(tenant, config.video.settings)
    notifiers = [plugins.notifier(n.name)(tenant, n.settings) for n in config.notifiers]
    engine = Engine(
        config=config,
        store=store or open_store(config.store.url, base=base_dir),
        erp=erp,
        video=video,
        notifiers=notifiers,
        plugins=plugins,
    )
    if worker_id:
        engine.worker_id = worker_id
    return engine
