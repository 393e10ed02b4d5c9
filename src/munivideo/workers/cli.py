"""``munivideo worker``: serve many tenants until SIGTERM."""

from __future__ import annotations

import logging
import os
import signal
import socket
from pathlib import Path
from typing import Any

import click

from munivideo.cli import EXIT_USAGE, fail
from munivideo.errors import ConfigurationError, MunivideoError


def _paths(configs: tuple[Path, ...], config_dir: Path | None) -> list[Path]:
    paths = list(configs)
    if config_dir is not None:
        paths.extend(sorted(config_dir.glob("*.toml")))
    if not paths:
        raise ConfigurationError("give --config FILE or --config-dir DIR", field="config")
    return paths


@click.command()
@click.option(
    "--config",
    "configs",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Tenant configuration file (repeat for several tenants).",
)
@click.option(
    "--config-dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="Serve every *.toml tenant file in this folder.",
)
@click.option(
    "--concurrency",
    default=4,
    show_default=True,
    type=click.IntRange(1, 256),
    help="Tenants worked on at the same moment by this process.",
)
@click.option(
    "--metrics-port",
    default=0,
    type=click.IntRange(0, 65535),
    help="Serve Prometheus metrics on this port (0: off).",
)
@click.option("--metrics-addr", default="127.0.0.1", show_default=True)
@click.option("--log-json", is_flag=True, help="Log as JSON lines (redacted).")
@click.option("--name", default=None, help="Worker name (default: host:pid).")
def worker(
    configs: tuple[Path, ...],
    config_dir: Path | None,
    concurrency: int,
    metrics_port: int,
    metrics_addr: str,
    log_json: bool,
    name: str | None,
) -> None:
    """Serve write-backs and periodic syncs for many tenants until SIGTERM."""
    from munivideo.workers import logs

    logs.configure(json_lines=log_json)
    name = name or f"{socket.gethostname()}:{os.getpid()}"
    try:
        metrics = _metrics(metrics_port)
        from munivideo.workers.tenants import TenantSet

        tenants = TenantSet.load(_paths(configs, config_dir), metrics=metrics)
        url = tenants.store_url()
        runner: Any
        if url.startswith(("postgresql://", "postgres://")):
            try:
                from munivideo.workers.queue import QueueWorker
            except ModuleNotFoundError as exc:
                raise ConfigurationError(
                    "a PostgreSQL store's worker needs the postgres extra: "
                    "pip install 'munivideo[postgres]'",
                    field="store.url",
                ) from exc
            runner = QueueWorker(tenants, concurrency=concurrency, name=name)
        else:
            from munivideo.workers.local import LocalWorker

            runner = LocalWorker(tenants, concurrency=concurrency, name=name)
            signal.signal(signal.SIGTERM, lambda *_: runner.stop())
            signal.signal(signal.SIGINT, lambda *_: runner.stop())
        if metrics is not None:
            from munivideo.store.factory import open_store
            from munivideo.values import utcnow

            metrics.watch_outbox(open_store(url), tenants.ids, utcnow)
            metrics.serve(metrics_port, metrics_addr)
        logging.getLogger("munivideo.worker").info(
            "worker %s serving %d tenants (%s)", name, len(tenants.ids), url.split("://")[0]
        )
        runner.run()
    except MunivideoError as exc:
        fail(exc, as_json=log_json)
    except OSError as exc:  # the metrics port is taken
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_USAGE) from exc


def _metrics(port: int) -> Any:
    if not port:
        return None
    try:
        from munivideo.workers.metrics import Metrics
    except ModuleNotFoundError as exc:
        raise ConfigurationError(
            "--metrics-port needs prometheus_client: pip install 'munivideo[metrics]'",
            field="metrics-port",
        ) from exc
    return Metrics()
