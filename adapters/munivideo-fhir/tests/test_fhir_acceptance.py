"""The FHIR adapter passes the standard ERP acceptance suite against the sandbox's FHIR endpoint
(faults included), through :class:`erp_peer.FhirPeer`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from erp_peer import FhirPeer
from munivideo_fhir import create_adapter

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
