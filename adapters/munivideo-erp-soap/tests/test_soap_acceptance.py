"""The SOAP adapter passes the standard acceptance suite against the sandbox ERP."""

from __future__ import annotations

from typing import Any

from munivideo_erp_soap import create_adapter

from munivideo.sandbox import Sandbox
from munivideo.testing.acceptance import ErpAdapterAcceptanceSuite


def _basic(sandbox: Sandbox) -> dict[str, Any]:
    user, password = sandbox.credentials
    return {
        "base_url": sandbox.base_url,
        "auth": {"scheme": "basic", "username": user, "password": password},
        "timeouts": {"connect_seconds": 2, "read_seconds": 5},
    }


def _wsse(sandbox: Sandbox) -> dict[str, Any]:
    user, password = sandbox.credentials
    return {
        "base_url": sandbox.base_url,
        "auth": {"scheme": "wsse", "username": user, "password": password},
        "timeouts": {"connect_seconds": 2, "read_seconds": 5},
    }


class TestSoapAdapterBasicAuth(ErpAdapterAcceptanceSuite):
    adapter_factory = staticmethod(create_adapter)
    settings = staticmethod(_basic)


class TestSoapAdapterWsSecurity(ErpAdapterAcceptanceSuite):
    adapter_factory = staticmethod(create_adapter)
    settings = staticmethod(_wsse)


def _basic_v2(sandbox: Sandbox) -> dict[str, Any]:
    return {**_basic(sandbox), "pack_version": "v2"}


class TestSoapAdapterPackV2(ErpAdapterAcceptanceSuite):
    """The whole suite against an ERP on the v2 packs, with the v2 WSDL (``pack_version``)."""

    adapter_factory = staticmethod(create_adapter)
    settings = staticmethod(_basic_v2)
    pack_version = "v2"
