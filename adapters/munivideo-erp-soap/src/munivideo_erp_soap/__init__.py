"""munivideo ERP adapter for SOAP ERPs (zeep; entry point ``soap``).

Speaks the reference contract ``contracts/erp-soap/v1`` by default. The WSDL is parsed once per
process; each tenant gets its own services bound to its own addresses and credentials.
"""

from __future__ import annotations

from collections.abc import Callable

from munivideo.hookspecs import hookimpl
from munivideo.ports import ErpAdapterFactory
from munivideo_erp_soap.adapter import SoapErpAdapter, SoapSettings, create_adapter

__all__ = ["SoapErpAdapter", "SoapSettings", "create_adapter", "register_erp_adapters"]


@hookimpl
def register_erp_adapters(register: Callable[[str, ErpAdapterFactory], None]) -> None:
    """pluggy hook (:func:`munivideo.hookspecs.register_erp_adapters`): register
    :func:`create_adapter` under ``soap``, the name tenants use in ``[erp] adapter``.

    :param register: the host's callback, ``register(name, factory)``.
    """
    register("soap", create_adapter)
