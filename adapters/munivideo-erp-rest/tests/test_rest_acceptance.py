"""The REST adapter passes the standard acceptance suite against the sandbox ERP."""

from __future__ import annotations

from typing import Any

from munivideo_erp_rest import create_adapter

from munivideo.sandbox import Sandbox
from munivideo.testing.acceptance import ErpAdapterAcceptanceSuite


def _oauth2(sandbox: Sandbox) -> dict[str, Any]:
    client_id, secret = sandbox.credentials
    return {
        "base_url": sandbox.base_url,
        "auth": {
            "scheme": "oauth2",
            "client_id": client_id,
            "client_secret": secret,
            "token_url": sandbox.token_url,
        },
        "timeouts": {"connect_seconds": 2, "read_seconds": 5},
    }


class TestRestAdapter(ErpAdapterAcceptanceSuite):
    adapter_factory = staticmethod(create_adapter)
    settings = staticmethod(_oauth2)


def _oauth2_v2(sandbox: Sandbox) -> dict[str, Any]:
    return {**_oauth2(sandbox), "pack_version": "v2"}


class TestRestAdapterPackV2(ErpAdapterAcceptanceSuite):
    """The whole suite against an ERP on the v2 packs (alphanumeric CNPJ, foreign phones)."""

    adapter_factory = staticmethod(create_adapter)
    settings = staticmethod(_oauth2_v2)
    pack_version = "v2"
