"""The SOAP adapter registers itself and validates its settings."""

from __future__ import annotations

import pytest
from munivideo_erp_soap import SoapErpAdapter, create_adapter

from munivideo.errors import ConfigurationError
from munivideo.models import Tenant
from munivideo.plugins import load_plugins
from munivideo.transport.soap import parsed_document

TENANT = Tenant(id="gravatai", name="Gravataí")


def test_registered_as_the_soap_entry_point() -> None:
    assert load_plugins().erp_adapter("soap") is create_adapter


def test_addresses_are_required() -> None:
    with pytest.raises(ConfigurationError) as info:
        create_adapter(TENANT, {})
    assert info.value.field == "erp.settings.base_url"


def test_second_tenant_reuses_the_parsed_contract() -> None:
    first = create_adapter(TENANT, {"base_url": "http://127.0.0.1:9"})
    misses = parsed_document.cache_info().misses
    second = create_adapter(
        Tenant(id="cachoeirinha", name="Cachoeirinha"),
        {
            "agendamentos_url": "http://10.0.0.1/ws/ag",
            "protocolos_url": "http://10.0.0.1/ws/pr",
            "auth": {"scheme": "wsse", "username": "u", "password": "s3cr3t-pw"},
        },
    )
    assert isinstance(second, SoapErpAdapter)
    assert parsed_document.cache_info().misses == misses
    assert first.client.wsdl is second.client.wsdl
    assert second.services["bookings"]._binding_options["address"] == "http://10.0.0.1/ws/ag"
    assert "s3cr3t-pw" not in repr(second) + repr(second.settings)
