"""SIGMUN (REST, shaped unlike the reference contract) integrated by configuration only: the
unchanged ``rest`` adapter plus ``sigmun/mapping.toml`` pass the whole acceptance suite,
write-back included."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from munivideo_erp_rest import create_adapter

from munivideo.sandbox import Sandbox
from munivideo.testing.acceptance import ErpAdapterAcceptanceSuite

from . import sigmun

MAPPING = Path(__file__).parent / "sigmun" / "mapping.toml"


def settings(peer: Sandbox) -> dict[str, Any]:
    return {
        "base_url": peer.base_url,
        "mapping": str(MAPPING),
        "auth": {"scheme": "api_key", "header": "X-Chave-Api", "api_key": peer.credentials[1]},
        "capabilities": {"honours_idempotency_key": False},
        "timeouts": {"connect_seconds": 2, "read_seconds": 5},
    }


class TestSigmun(ErpAdapterAcceptanceSuite):
    adapter_factory = staticmethod(create_adapter)
    settings = staticmethod(settings)
    document_field = "cidadao.cpf"

    @pytest.fixture
    def sandbox(self) -> Iterator[Sandbox]:
        peer = sigmun.serve()
        yield peer
        peer.stop()

    @pytest.fixture
    def peer_factory(self) -> Iterator[Callable[..., Sandbox]]:
        started: list[Sandbox] = []

        def factory(**kwargs: Any) -> Sandbox:
            started.append(sigmun.serve(**kwargs))
            return started[-1]

        yield factory
        for peer in started:
            peer.stop()
