"""The SOAP ERP adapter: the only code here that speaks SOAP to the ERP."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from munivideo.config import parse_settings
from munivideo.errors import ConfigurationError
from munivideo.mapping import ErpMappers, RoomLink
from munivideo.models import (
    Booking,
    BookingPage,
    BookingStatus,
    Cursor,
    ForwardedDemand,
    ProtocolEntry,
    ProtocolReceipt,
    ProtocolRecord,
    Tenant,
    VerifiedDocument,
)
from munivideo.packs import pack_dir
from munivideo.ports import ErpCapabilities
from munivideo.transport import AuthSettings, MalformedResponseError, RetryPolicy, Timeouts
from munivideo.transport.soap import call_soap, create_service, tenant_client

DEFAULT_MAPPING = Path(__file__).parent / "mappings" / "soap-v1.toml"


def _default_wsdl() -> Path:
    return pack_dir("erp-soap", "v1") / "erp.wsdl"


class SoapSettings(BaseModel):
    """``[erp.settings]`` of a tenant using the ``soap`` adapter."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s]+$",
        description="ERP root; services at {base_url}/soap/agendamentos and /soap/protocolos",
    )
    agendamentos_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    protocolos_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    wsdl: Path | None = Field(default=None, description="vendored WSDL; default: erp-soap/v1")
    agendamentos_binding: str = "AgendamentosBinding"
    protocolos_binding: str = "ProtocolosBinding"
    auth: AuthSettings = AuthSettings()
    timeouts: Timeouts = Timeouts()
    retry: RetryPolicy = RetryPolicy()
    pool_size: int = Field(default=10, ge=1, le=100)
    mapping: Path = DEFAULT_MAPPING
    capabilities: ErpCapabilities = ErpCapabilities()
    page_limit: int = Field(default=500, ge=1, le=10_000)

    def addresses(self) -> tuple[str, str]:
        base = (self.base_url or "").rstrip("/")
        agendamentos = self.agendamentos_url or (f"{base}/soap/agendamentos" if base else None)
        protocolos = self.protocolos_url or (f"{base}/soap/protocolos" if base else None)
        if agendamentos is None or protocolos is None:
            raise ValueError("set base_url, or both agendamentos_url and protocolos_url")
        return agendamentos, protocolos


def _unwrap(answer: Any, name: str) -> Any:
    """zeep returns a one-element response's only child itself; several children as a dict."""
    if isinstance(answer, Mapping) and set(answer) <= {name, "repeticao"}:
        return answer.get(name)
    return answer


def _items(wrapper: Any, name: str) -> Any:
    """The repeated children of a SOAP list element (``<anexos><anexo/>...</anexos>``). zeep
    already validated the answer against the XSD (strict), so an absent wrapper is empty."""
    if wrapper is None:
        return []
    if isinstance(wrapper, Mapping):
        items = wrapper.get(name)
        return list(items) if items else []
    return wrapper if isinstance(wrapper, list) else None


class SoapErpAdapter:
    """:class:`munivideo.ports.ErpAdapter` over a SOAP ERP (zeep)."""

    name = "soap"

    def __init__(
        self,
        tenant: Tenant,
        settings: SoapSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.tenant = tenant
        self.settings = settings
        self.capabilities = settings.capabilities
        self.mappers = ErpMappers.from_file(settings.mapping)
        agendamentos_url, protocolos_url = settings.addresses()
        self.client = tenant_client(
            settings.wsdl or _default_wsdl(),
            settings.timeouts,
            settings.auth,
            pool_size=settings.pool_size,
        )
        self.agendamentos = create_service(
            self.client, settings.agendamentos_binding, agendamentos_url
        )
        self.protocolos = create_service(self.client, settings.protocolos_binding, protocolos_url)
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"SoapErpAdapter(tenant={self.tenant.id!r})"

    def _call(
        self, service: Any, operation: str, *, safe: bool, record_id: str | None = None, **kw: Any
    ) -> Any:
        return call_soap(
            getattr(service, operation),
            self.settings.retry,
            name=operation,
            safe=safe,
            record_id=record_id,
            sleep=self._sleep,
            **kw,
        )

    def _receipt(self, answer: Any) -> ProtocolReceipt:
        doc = _unwrap(answer, "protocolo")
        if not isinstance(doc, Mapping):
            raise MalformedResponseError("answer without protocolo")
        return self.mappers.receipt.to_canonical(doc)

    # -- bookings ---------------------------------------------------------------------------

    def list_bookings(self, cursor: Cursor | None, limit: int) -> BookingPage:
        assert self.mappers.cursor is not None, "the SOAP dialect declares records.cursor"
        kw: dict[str, Any] = {"limite": max(1, min(limit, self.settings.page_limit))}
        if cursor is not None:
            kw["cursor"] = self.mappers.cursor.to_erp(cursor)
        answer = self._call(self.agendamentos, "listarAlterados", safe=True, **kw)
        records = (answer.get("agendamentos") or {}).get("agendamento") or []
        next_doc = answer.get("proximoCursor")
        next_cursor = cursor
        if records and isinstance(next_doc, Mapping):
            next_cursor = self.mappers.cursor.to_canonical(next_doc)
        return self.mappers.bookings_page(
            list(records),
            self.tenant.id,
            next_cursor=next_cursor,
            has_more=bool(answer.get("haMais")),
        )

    def get_booking(self, booking_id: str) -> Booking:
        answer = self._call(
            self.agendamentos, "obterAgendamento", safe=True, record_id=booking_id, id=booking_id
        )
        return self.mappers.booking.to_canonical(
            _unwrap(answer, "agendamento"), {"tenant_id": self.tenant.id}
        )

    def update_booking_status(self, booking_id: str, status: BookingStatus, note: str) -> None:
        kw: dict[str, Any] = {"situacao": self.mappers.status_to_erp(booking_id, status)}
        if note:
            kw["observacao"] = note
        self._call(
            self.agendamentos,
            "atualizarSituacao",
            safe=True,
            record_id=booking_id,
            id=booking_id,
            **kw,
        )

    def record_room_link(self, booking_id: str, url: str, valid_until: datetime) -> None:
        sala = self.mappers.room.to_erp(RoomLink(url=url, valid_until=valid_until))
        self._call(
            self.agendamentos,
            "registrarSala",
            safe=True,
            record_id=booking_id,
            id=booking_id,
            sala=sala,
        )

    # -- protocols --------------------------------------------------------------------------

    def create_protocol(self, entry: ProtocolEntry, idempotency_key: str) -> ProtocolReceipt:
        answer = self._call(
            self.protocolos,
            "criarProtocolo",
            safe=False,
            record_id=entry.booking_id,
            chaveIdempotencia=idempotency_key,
            protocolo=self.mappers.protocol.to_erp(entry),
        )
        return self._receipt(answer)

    def find_protocol(self, external_reference: str) -> ProtocolReceipt | None:
        answer = self._call(
            self.protocolos,
            "buscarPorReferenciaExterna",
            safe=True,
            record_id=external_reference,
            referenciaExterna=external_reference,
        )
        if _unwrap(answer, "protocolo") is None:
            return None
        return self._receipt(answer)

    def read_protocol(self, receipt: ProtocolReceipt) -> ProtocolRecord:
        answer = self._call(
            self.protocolos,
            "obterProtocolo",
            safe=True,
            record_id=receipt.external_reference,
            numero=receipt.number,
            ano=receipt.year,
        )
        doc = _unwrap(answer, "protocolo")
        if not isinstance(doc, Mapping):
            raise MalformedResponseError("obterProtocolo: answer without protocolo")
        return self.mappers.protocol_record(
            doc,
            _items(doc.get("anexos"), "anexo"),
            _items(doc.get("tramitacoes"), "tramitacao"),
        )

    def read_booking_status(self, booking_id: str) -> BookingStatus:
        return self.get_booking(booking_id).status

    def attach_document(
        self, receipt: ProtocolReceipt, document: VerifiedDocument, idempotency_key: str
    ) -> None:
        self._call(
            self.protocolos,
            "anexarDocumento",
            safe=self.capabilities.honours_idempotency_key,
            record_id=receipt.external_reference,
            chaveIdempotencia=idempotency_key,
            numero=receipt.number,
            ano=receipt.year,
            anexo=self.mappers.document.to_erp(document),
        )

    def forward_protocol(
        self, receipt: ProtocolReceipt, demand: ForwardedDemand, idempotency_key: str
    ) -> None:
        self._call(
            self.protocolos,
            "tramitarProtocolo",
            safe=self.capabilities.honours_idempotency_key,
            record_id=receipt.external_reference,
            chaveIdempotencia=idempotency_key,
            numero=receipt.number,
            ano=receipt.year,
            **self.mappers.forward.to_erp(demand),
        )

    def close(self) -> None:
        self.client.transport.session.close()


def create_adapter(tenant: Tenant, settings: Mapping[str, Any]) -> SoapErpAdapter:
    """The ``soap`` factory: validates ``[erp.settings]`` and builds the adapter."""
    validated = parse_settings(
        SoapSettings, settings, tenant=tenant, section="erp.settings", adapter="soap"
    )
    try:
        validated.addresses()
    except ValueError as exc:
        raise ConfigurationError(
            f"soap settings: {exc}", record_id=tenant.id, field="erp.settings.base_url"
        ) from None
    return SoapErpAdapter(tenant, validated)
