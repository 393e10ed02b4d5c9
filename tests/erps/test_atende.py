"""ATENDE (SOAP 1.2, WS-Security digest, shaped unlike the reference SOAP contract and unlike
SIGMUN) integrated by configuration only: the unchanged ``soap`` adapter plus its WSDL and
``atende/mapping.toml`` pass the whole acceptance suite, write-back included."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from munivideo_erp_soap import create_adapter

from munivideo.errors import ConfigurationError
from munivideo.models import Tenant
from munivideo.sandbox import Sandbox
from munivideo.testing.acceptance import ErpAdapterAcceptanceSuite

from . import atende_soap

MAPPING = Path(__file__).parent / "atende" / "mapping.toml"


def settings(peer: Sandbox, *, digest: bool = True) -> dict[str, Any]:
    user, password = peer.credentials
    return {
        "base_url": peer.base_url,
        "agendamentos_path": "/atende/agenda",
        "protocolos_path": "/atende/processos",
        "wsdl": str(atende_soap.WSDL),
        "agendamentos_binding": "AgendaSoap12",
        "protocolos_binding": "ProcessosSoap12",
        "mapping": str(MAPPING),
        "auth": {"scheme": "wsse", "username": user, "password": password, "wsse_digest": digest},
        "timeouts": {"connect_seconds": 2, "read_seconds": 5},
    }


class TestAtende(ErpAdapterAcceptanceSuite):
    adapter_factory = staticmethod(create_adapter)
    settings = staticmethod(settings)
    document_field = "Interessado.Documento"

    @pytest.fixture
    def sandbox(self) -> Iterator[Sandbox]:
        peer = atende_soap.serve()
        yield peer
        peer.stop()

    @pytest.fixture
    def peer_factory(self) -> Iterator[Callable[..., Sandbox]]:
        started: list[Sandbox] = []

        def factory(**kwargs: Any) -> Sandbox:
            started.append(atende_soap.serve(**kwargs))
            return started[-1]

        yield factory
        for peer in started:
            peer.stop()


TENANT = Tenant(id="canoas", name="Canoas")


def test_text_passwords_work_too() -> None:
    peer = atende_soap.serve()
    adapter = create_adapter(TENANT, settings(peer, digest=False))
    try:
        assert adapter.get_booking("AG-000001").id == "AG-000001"
    finally:
        adapter.close()
        peer.stop()


def test_a_wrong_password_is_a_configuration_error() -> None:
    peer = atende_soap.serve()
    wrong = settings(peer)
    wrong["auth"] = dict(wrong["auth"], password="errada")
    adapter = create_adapter(TENANT, wrong)
    try:
        with pytest.raises(ConfigurationError):
            adapter.get_booking("AG-000001")
    finally:
        adapter.close()
        peer.stop()


def test_an_operation_the_wsdl_lacks_is_named(tmp_path: Path) -> None:
    broken = tmp_path / "mapping.toml"
    broken.write_text(
        MAPPING.read_text("utf-8").replace('"ConsultarAgendamentos"', '"listarAlterados"'),
        "utf-8",
    )
    peer = atende_soap.serve()
    try:
        with pytest.raises(ConfigurationError) as info:
            create_adapter(TENANT, settings(peer) | {"mapping": str(broken)})
    finally:
        peer.stop()
    assert info.value.field == "operations.list_bookings.operation"
    assert "ConsultarAgendamentos" in str(info.value)
