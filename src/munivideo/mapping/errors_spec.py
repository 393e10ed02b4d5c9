"""How an ERP writes its errors (``[errors]`` of a mapping file), read by generic adapters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from munivideo.mapping.paths import value_at

#: The fault names munivideo classifies (``munivideo.transport.classify.FAULT_TABLE``).
FAULT_NAMES = (
    "REQUISICAO_INVALIDA",
    "XML_PROIBIDO",
    "NAO_AUTORIZADO",
    "NAO_ENCONTRADO",
    "TRANSICAO_INVALIDA",
    "REFERENCIA_DUPLICADA",
    "CHAVE_AUSENTE",
    "CHAVE_EM_ANDAMENTO",
    "CHAVE_CONFLITANTE",
    "TIPO_DE_MIDIA_NAO_SUPORTADO",
    "LIMITE_EXCEDIDO",
    "INDISPONIVEL",
    "ERRO_INTERNO",
)


class ErrorSpec(BaseModel):
    """Where an error answer keeps its code, message, field and record id (dotted paths; for
    SOAP, element local names inside the fault detail), and which munivideo fault each ERP
    code means (``codes``: ERP code -> one of :data:`FAULT_NAMES`). An ERP code missing from
    ``codes`` is classified by the HTTP status alone."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = "codigo"
    message: str = "detail"
    field: str = "campo"
    record_id: str = "idRegistro"
    codes: dict[str, str] = Field(default_factory=dict)

    @field_validator("codes")
    @classmethod
    def _known(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(v for v in value.values() if v not in FAULT_NAMES)
        if bad:
            raise ValueError(
                f"unknown fault name(s) {', '.join(bad)} (known: {', '.join(FAULT_NAMES)})"
            )
        return value

    def read(self, body: Any) -> dict[str, str | None]:
        """code (translated by ``codes``), message, field, record_id of an error body."""

        def text(path: str) -> str | None:
            value = value_at(body, path) if isinstance(body, Mapping) else None
            return None if value is None or isinstance(value, Mapping | list) else str(value)

        code = text(self.code)
        if isinstance(body, Mapping) and code is not None:
            code = self.codes.get(code, code)
        return {
            "code": code,
            "message": text(self.message),
            "field": text(self.field),
            "record_id": text(self.record_id),
        }
