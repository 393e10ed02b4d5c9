"""kill -9 at every step of a write-back, then a restart: nothing lost, nothing duplicated."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from munivideo.engine import Engine, record
from munivideo.sandbox import Sandbox
from munivideo.values import utcnow

from . import _play
from .conftest import SECRET_ENV, config_data
from .test_writeback import _exactly_once

WORKER = Path(__file__).with_name("_worker.py")
IDS = ["AG-000001", "AG-000002", "AG-000003"]


def _start(
    config: Path, worker: str, wait: float, crash: str = "", batch: int = 10
) -> subprocess.Popen[str]:
    env = {**os.environ, **SECRET_ENV, "MUNIVIDEO_CRASH_AT": crash}
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(config), worker, str(wait), str(batch)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _prepare(
    sb: Sandbox, tmp_path: Path, make_engine: Callable[..., Engine]
) -> tuple[Engine, Path]:
    engine = make_engine(sb)
    for booking_id in IDS:
        booking = engine.erp.get_booking(booking_id)
        result = record(
            engine,
            _play.attended(booking),
            _play.form(booking, documents=("a.pdf", "b.pdf"), demands=(("SMF-DIV", "Parcelar."),)),
        )
        assert result.created
    config = tmp_path / "config.json"
    data = config_data(sb, tmp_path, store={"url": engine.config.store.url})
    config.write_text(json.dumps(data), encoding="utf-8")
    return engine, config


CHAIN = [
    "after_create@2",  # the ERP committed the 2nd protocol; the store never heard of it
    "after_create_recorded",
    "after_attach@2",  # between the two attachments of an entry
    "after_forward",
    "before_status",
    "after_status",  # the ERP status is set; the row is not marked delivered
    "before_complete",
    "after_complete",  # delivered and recorded; the hook had not run yet
]


@pytest.mark.slow
def test_kill_9_at_every_step_then_restart(
    munivideo_sandbox_factory: Callable[..., Sandbox],
    make_engine: Callable[..., Engine],
    tmp_path: Path,
) -> None:
    """Each run is killed at the next crash point and the next run resumes where it died."""
    sb = munivideo_sandbox_factory(dialect="rest")
    engine, config = _prepare(sb, tmp_path, make_engine)
    for booking_id in ("AG-000004", "AG-000005", "AG-000006"):
        booking = engine.erp.get_booking(booking_id)
        record(
            engine,
            _play.attended(booking),
            _play.form(booking, documents=("a.pdf", "b.pdf"), demands=(("SMF-DIV", "Parcelar."),)),
        )
    killed = 0
    for point in CHAIN:
        # the same stable worker id each time, as a service manager restarts it: a restarted
        # worker takes back its own rows at once instead of waiting for the leases to expire
        run = _start(config, "worker-1", 0, crash=point)
        out, err = run.communicate(timeout=60)
        if run.returncode == -signal.SIGKILL:
            killed += 1
        else:
            assert run.returncode == 0, (point, out, err)
    assert killed >= len(CHAIN) - 1
    final = _start(config, "worker-1", 10)
    out, err = final.communicate(timeout=60)
    assert final.returncode == 0, (out, err)
    _exactly_once(sb, engine, [*IDS, "AG-000004", "AG-000005", "AG-000006"], docs=2, demands=1)


@pytest.mark.slow
def test_workers_killed_at_random_moments_under_faults(
    munivideo_sandbox_factory: Callable[..., Sandbox],
    make_engine: Callable[..., Engine],
    tmp_path: Path,
) -> None:
    """Workers die mid-run while others share the outbox under faults; nothing is lost."""
    sb = munivideo_sandbox_factory(dialect="rest")
    engine, config = _prepare(sb, tmp_path, make_engine)
    for booking_id in ("AG-000004", "AG-000005", "AG-000006", "AG-000011", "AG-000012"):
        booking = engine.erp.get_booking(booking_id)
        record(
            engine,
            _play.attended(booking),
            _play.form(booking, documents=("a.pdf", "b.pdf"), demands=(("SMF-DIV", "Parcelar."),)),
        )
    sb.inject("criarProtocolo=drop_after_commit@0.3,*=latency:20ms", seed=5)
    # w1 dies after its first attachment, holding every row it had claimed
    first = _start(config, "w1", 10, crash="after_attach")
    first.communicate(timeout=60)
    assert first.returncode == -signal.SIGKILL
    assert engine.store.release_owner("w1", now=utcnow()) >= 1  # its supervisor restarts it...
    # ...while two more workers share the outbox, one of them dying on its 2nd create
    procs = [
        _start(config, "w2", 10, crash="after_create@2", batch=1),
        _start(config, "w3", 10, batch=1),
    ]
    for p in procs:
        p.communicate(timeout=90)
    assert procs[1].returncode in (0, 1)
    engine.store.release_owner("w2", now=utcnow())
    sb.inject("")
    final = _start(config, "w4", 10)
    out, err = final.communicate(timeout=60)
    assert final.returncode == 0, (out, err)
    everyone = [*IDS, "AG-000004", "AG-000005", "AG-000006", "AG-000011", "AG-000012"]
    _exactly_once(sb, engine, everyone, docs=2, demands=1)
