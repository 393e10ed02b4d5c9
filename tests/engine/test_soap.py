"""The same cycle through the SOAP adapter: SOAP and REST ERPs are peers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from munivideo.engine import Engine, record, sync, writeback
from munivideo.sandbox import Sandbox

from . import _play
from .test_writeback import _exactly_once


def _soap(sb: Sandbox) -> dict[str, Any]:
    return {
        "adapter": "soap",
        "settings": {
            "base_url": sb.base_url,
            "auth": {
                "scheme": "basic",
                "username": sb.credentials[0],
                "password": {"env": "MV_TEST_ERP_SECRET"},
            },
            "timeouts": {"connect_seconds": 2, "read_seconds": 2, "total_seconds": 4},
            "retry": {
                "max_attempts": 2,
                "initial_backoff_seconds": 0.01,
                "max_backoff_seconds": 0.05,
                "max_retry_after_seconds": 1,
            },
        },
    }


def test_soap_erp_sync_and_exactly_once_writeback(
    munivideo_sandbox_factory: Callable[..., Sandbox], make_engine: Callable[..., Engine]
) -> None:
    sb = munivideo_sandbox_factory(dialect="soap")
    engine = make_engine(sb, erp=_soap(sb))
    assert engine.erp.name == "soap"
    result = sync(engine)
    assert result.bound == 30
    assert result.quarantined == 0
    assert sb.booking("AG-000001")["sala"]["url"].startswith("https://meet.")
    ids = ["AG-000001", "AG-000002", "AG-000011"]
    for booking_id in ids:
        binding = engine.store.get_binding("gravatai", booking_id)
        assert binding is not None
        booking = binding.booking
        assert record(
            engine,
            _play.attended(booking),
            _play.form(booking, documents=("a.pdf", "b.pdf"), demands=(("SMF-CAD", "Vistoria."),)),
        ).created
    sb.inject("criarProtocolo=drop_after_commit@0.5,anexarDocumento=drop_after_commit@0.3", seed=2)
    assert writeback(engine, wait_seconds=20).ok
    sb.inject("")
    _exactly_once(sb, engine, ids, docs=2, demands=1)
