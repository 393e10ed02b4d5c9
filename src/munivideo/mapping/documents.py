"""Code functions for the CPF/CNPJ pair: ERPs keep one ``cpfCnpj`` digit string, the canonical
models keep ``cpf`` or ``cnpj``. Mapping files target ``<prefix>.document``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from munivideo.mapping.mapper import CodeFunction


def split_document(prefix: str) -> CodeFunction:
    """ERP -> canonical: move ``<prefix>.document`` to ``cpf`` (11 digits) or ``cnpj`` (14)."""

    def split(out: dict[str, Any], source: Mapping[str, Any]) -> None:
        holder = out.get(prefix)
        if isinstance(holder, dict) and "document" in holder:
            digits = holder.pop("document")
            holder["cpf" if len(digits) == 11 else "cnpj"] = digits

    return split


def join_document(prefix: str) -> Callable[[dict[str, Any]], None]:
    """canonical -> ERP: expose ``cpf`` (preferred) or ``cnpj`` as ``<prefix>.document``."""

    def join(source: dict[str, Any]) -> None:
        holder = source.get(prefix)
        if isinstance(holder, dict):
            holder = dict(holder)
            holder["document"] = holder.get("cpf") or holder.get("cnpj")
            source[prefix] = holder

    return join
