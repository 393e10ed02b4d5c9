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
