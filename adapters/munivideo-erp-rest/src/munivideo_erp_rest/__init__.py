"""munivideo ERP adapter for REST ERPs (entry point ``rest``).

Speaks the reference contract ``contracts/erp-rest/v1`` by default; another REST ERP whose
contract differs only in names, formats, codes and paths needs a mapping file (``mapping =``
in ``[erp.settings]``), not new code.
"""

from __future__ import annotations

from collections.abc import Callable

from munivideo.hookspecs import hookimpl
from munivideo.ports import ErpAdapterFactory
from munivideo_erp_rest.adapter import RestErpAdapter, RestSettings, create_adapter

__all__ = ["RestErpAdapter", "RestSettings", "create_adapter", "register_erp_adapters"]


@hookimpl
def register_erp_adapters(register: Callable[[str, ErpAdapterFactory], None]) -> None:
    """pluggy hook (:func:`munivideo.hookspecs.register_erp_adapters`): register
    :func:`create_adapter` under ``rest``, the name tenants use in ``[erp] adapter``.

    :param register: the host's callback, ``register(name, factory)``.
    """
    register("rest", create_adapter)
