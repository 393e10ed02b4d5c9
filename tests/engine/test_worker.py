"""``munivideo worker`` as operators run it: a real process per worker, on SQLite (the local
loop) and on PostgreSQL (Procrastinate, two processes, one killed with -9), stopped by SIGTERM.
The oracle is the sandbox ERP's own effect counts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from munivideo.engine import Engine
from munivideo.sandbox import Sandbox
from munivideo.store import OutboxState
from munivideo.testing.postgres import free_port

from ._toml import to_toml
from .conftest import SECRET_ENV, config_data
from .test_writeback import _exactly_once, _record_attended

IDS = ["AG-000001", "AG-000002", "AG-000003", "AG-000004"]


def _worker(config: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "munivideo", "worker", "--config", str(config), *extra],
        env={**os.environ, **SECRET_ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_delivered(engine: Engine, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = engine.store.outbox_counts(engine.tenant_id, now=engine.now())
        if counts.delivered == count:
            return
        time.sleep(0.2)
    raise AssertionError(f"not delivered in {timeout} s: {counts}")


def _config(sb: Sandbox, tmp_path: Path, engine: Engine, **worker: object) -> Path:
    data = config_data(
        sb,
        tmp_path,
        store={"url": engine.config.store.url},
        worker={"concurrency": 2, "batch": 2, "max_job_seconds": 5, **worker},
    )
    path = tmp_path / "gravatai.toml"
    path.write_text(to_toml(data), encoding="utf-8")
    return path


@pytest.mark.slow
def test_the_worker_delivers_what_is_recorded_and_stops_on_sigterm(
    munivideo_sandbox_factory: Callable[..., Sandbox],
    make_engine: Callable[..., Engine],
    tmp_path: Path,
) -> None:
    sb = munivideo_sandbox_factory(dialect="rest")
    engine = make_engine(sb)
    port = free_port()
    config = _config(sb, tmp_path, engine, sync_every_seconds=2)
    for booking_id in IDS[:-1]:
        _record_attended(engine, booking_id, documents=("a.pdf",))
    sb.inject("criarProtocolo=drop_after_commit@0.5", seed=3)
    proc = _worker(config, "--metrics-port", str(port), "--log-json", "--concurrency", "2")
    try:
        deadline = time.monotonic() + 30  # the periodic sync ran: the cursor moved
        while engine.store.get_cursor(engine.tenant_id) is None:
            assert time.monotonic() < deadline, "no periodic sync"
            time.sleep(0.2)
        _record_attended(engine, IDS[-1], documents=("a.pdf",))  # while it runs
        _wait_delivered(engine, len(IDS))
        metrics = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert 'munivideo_outbox_rows{state="delivered",tenant="gravatai"} 4.0' in metrics
        assert "munivideo_writeback_lag_seconds_count" in metrics
        assert 'munivideo_erp_call_seconds_count{operation="create_protocol"}' in metrics
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    _exactly_once(sb, engine, IDS, docs=1, demands=0)
    lines = [line for line in err.splitlines() if line.startswith("{")]
    assert any('"step": "create"' in line and '"tenant": "gravatai"' in line for line in lines)
    assert "sandbox-secret" not in err


@pytest.mark.slow
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_postgres_workers_share_tenants_and_survive_a_kill_9(
    munivideo_sandbox_factory: Callable[..., Sandbox],
    make_engine: Callable[..., Engine],
    tmp_path: Path,
) -> None:
    """Procrastinate workers on two "machines"; one dies with its job running and its rows
    leased: the sweep closes the dead worker's job, the lease expires, the other finishes."""
    sb = munivideo_sandbox_factory(dialect="rest")
    # The test's own recording engine is the driver, not the system under test: it shares the
    # sandbox with two starting workers, so on a loaded 2-core machine its calls get a wide
    # deadline (the workers keep the tight one and retry).
    settings = config_data(sb, tmp_path)["erp"]["settings"]
    wide = {"connect_seconds": 10, "read_seconds": 20, "total_seconds": 40}
    engine = make_engine(sb, erp={"settings": {**settings, "timeouts": wide}})
    config = _config(sb, tmp_path, engine, sync_every_seconds=0)
    sb.inject("*=latency:150ms", seed=1)
    first = _worker(config, "--concurrency", "2")
    second = _worker(config, "--concurrency", "2")
    try:
        for booking_id in IDS:
            _record_attended(engine, booking_id, documents=("a.pdf", "b.pdf"))
        deadline = time.monotonic() + 30
        while not engine.store.outbox_counts(engine.tenant_id, now=engine.now()).in_flight:
            assert time.monotonic() < deadline, "nothing claimed"
            time.sleep(0.05)
        first.kill()  # kill -9: its job stays "doing", its rows stay leased
        first.communicate(timeout=30)
        sb.inject("")
        _wait_delivered(engine, len(IDS), timeout=90)
    finally:
        second.send_signal(signal.SIGTERM)
        _out, err = second.communicate(timeout=60)
        if first.poll() is None:
            first.kill()
    assert second.returncode == 0, err[-2000:]
    _exactly_once(sb, engine, IDS, docs=2, demands=0)
    assert all(i.state is OutboxState.DELIVERED for i in engine.store.list_items("gravatai"))
