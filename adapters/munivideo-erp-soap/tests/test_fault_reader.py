"""A mapping's own fault reader keeps the platform-failure rule of the reference one: a Server
fault without the ERP's detail is the HTTP 500 it arrived with (transient for reads, ambiguous
for creates), not an ERP-declared fault."""

from __future__ import annotations

from lxml import etree
from munivideo_erp_soap.adapter import fault_reader
from zeep.exceptions import Fault

from munivideo.mapping.errors_spec import ErrorSpec
from munivideo.transport.classify import ErpFault, HttpStatusError


def test_server_fault_without_detail_is_a_platform_500() -> None:
    read = fault_reader(ErrorSpec(code="erro_codigo", message="erro_texto"))
    got = read(Fault("ORA-00060: deadlock detected while waiting for resource", code="soap:Server"))
    assert isinstance(got, HttpStatusError)
    assert got.status == 500


def test_a_declared_fault_is_read_from_the_mapped_detail() -> None:
    detail = etree.fromstring(
        "<d xmlns='urn:x'><erro_codigo>NAO_ENCONTRADO</erro_codigo><erro_texto>sem registro"
        "</erro_texto></d>"
    )
    read = fault_reader(ErrorSpec(code="erro_codigo", message="erro_texto"))
    got = read(Fault("falhou", code="soap:Server", detail=detail))
    assert isinstance(got, ErpFault)
    assert got.code == "NAO_ENCONTRADO"
