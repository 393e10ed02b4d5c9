"""The FHIR adapter passes the standard ERP acceptance suite against the sandbox's FHIR endpoint
(faults included), through :class:`erp_peer.FhirPeer`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from erp_peer import FhirPeer
from munivideo_fhir import create_adapter

from munivideo.models import BookingStatus
from munivideo.sandbox import Sandbox
from munivideo.sandbox.fhir_seed import seed_health_unit
from munivideo.testing.acceptance import ErpAdapterAcceptanceSuite


def _settings(sandbox: Any) -> dict[str, Any]:
    return {"base_url": sandbox.fhir_url, "timeouts": {"connect_seconds": 2, "read_seconds": 5}}


class TestFhirAdapter(ErpAdapterAcceptanceSuite):
    adapter_factory = staticmethod(create_adapter)
    settings = staticmethod(_settings)
    document_field = "Patient.identifier"

    @pytest.fixture
    def sandbox(self, munivideo_sandbox: Sandbox) -> Iterator[Any]:  # type: ignore[override]
        yield FhirPeer(munivideo_sandbox)
        munivideo_sandbox.ctx.fhir.reset(seed_health_unit)


def test_the_peer_counts_effects_as_the_sandbox_does(munivideo_sandbox: Sandbox) -> None:
    """The peer's effect view (used by exactly-once scenarios) sees a duplicate Encounter."""
    peer = FhirPeer(munivideo_sandbox)
    try:
        adapter = create_adapter(TestFhirAdapter.tenant, _settings(peer))
        suite = TestFhirAdapter()
        entry = suite.entry()
        adapter.create_protocol(entry, suite.key("AG-000001"))
        adapter.create_protocol(entry, suite.key("AG-000001"))
        adapter.update_booking_status("AG-000001", BookingStatus.ATTENDED, "ok")
        effects = peer.effects()
        assert effects[entry.external_reference] == {"create": 1}
        assert effects["AG-000001"] == {"status:CF": 1, "status:AT": 1}
        assert peer.duplicates() == []
        encounter = next(iter(munivideo_sandbox.ctx.fhir.current("Encounter"))).resource
        assert encounter is not None
        munivideo_sandbox.ctx.fhir.create("Encounter", dict(encounter))  # a duplicate
        assert peer.duplicates() == [(entry.external_reference, "create", 2)]
        adapter.close()
    finally:
        munivideo_sandbox.ctx.fhir.reset(seed_health_unit)
