"""The REST ERP adapter: the only code here that speaks HTTP+JSON to the ERP."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict, Field

from munivideo.config import parse_settings
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
from munivideo.ports import ErpCapabilities
from munivideo.transport import (
    AuthSettings,
    HttpStatusError,
    MalformedResponseError,
    RetryPolicy,
    Timeouts,
    auth_for,
    build_session,
    call_with_retry,
)

DEFAULT_MAPPING = Path(__file__).parent / "mappings" / "rest-v1.toml"


class RestSettings(BaseModel):
    """``[erp.settings]`` of a tenant using the ``rest`` adapter."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = Field(pattern=r"^https?://[^\s]+$", description="ERP root, no trailing /")
    auth: AuthSettings = AuthSettings()
    timeouts: Timeouts = Timeouts()
    retry: RetryPolicy = RetryPolicy()
    pool_size: int = Field(default=10, ge=1, le=100)
    mapping: Path = DEFAULT_MAPPING
    capabilities: ErpCapabilities = ErpCapabilities()
    page_limit: int = Field(default=500, ge=1, le=10_000, description="the ERP's page cap")


def _problem(response: requests.Response) -> HttpStatusError:
    body: Any = None
    if "json" in response.headers.get("Content-Type", ""):
        try:
            body = response.json()
        except ValueError:
            body = None
    body = body if isinstance(body, dict) else {}
    return HttpStatusError(
        response.status_code,
        headers=dict(response.headers),
        code=body.get("codigo") if isinstance(body.get("codigo"), str) else None,
        message=str(body.get("detail") or body.get("title") or response.reason or ""),
        field=body.get("campo") if isinstance(body.get("campo"), str) else None,
        record_id=body.get("idRegistro") if isinstance(body.get("idRegistro"), str) else None,
    )


class RestErpAdapter:
    """:class:`munivideo.ports.ErpAdapter` over a REST ERP."""

    name = "rest"

    def __init__(
        self,
        tenant: Tenant,
        settings: RestSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.tenant = tenant
        self.settings = settings
        self.capabilities = settings.capabilities
        self.mappers = ErpMappers.from_file(settings.mapping)
        self.api: dict[str, Any] = dict(self.mappers.dialect.adapter)
        self.session = build_session(
            settings.timeouts,
            pool_size=settings.pool_size,
            auth=auth_for(settings.auth, settings.timeouts),
            headers={"Accept": "application/json"},
        )
        self._base = settings.base_url.rstrip("/")
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"RestErpAdapter(tenant={self.tenant.id!r}, base_url={self._base!r})"

    # -- plumbing ---------------------------------------------------------------------------

    def _url(self, key: str, **parts: Any) -> str:
        return self._base + str(self.api[key]).format(**parts)

    def _call(
        self,
        method: str,
        url: str,
        *,
        operation: str,
        safe: bool,
        record_id: str | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        key: str | None = None,
    ) -> Any:
        headers = {"Idempotency-Key": key} if key else None

        def attempt() -> Any:
            response = self.session.request(method, url, params=params, json=json, headers=headers)
            if response.status_code >= 400:
                raise _problem(response)
            if not response.content:
                return None
            try:
                return response.json()
            except ValueError:
                raise MalformedResponseError(f"{operation}: body is not JSON") from None

        return call_with_retry(
            attempt,
            self.settings.retry,
            operation=operation,
            safe=safe,
            record_id=record_id,
            sleep=self._sleep,
        )

    def _receipt(self, doc: Any) -> ProtocolReceipt:
        if not isinstance(doc, Mapping):
            raise MalformedResponseError("protocol answer is not an object")
        return self.mappers.receipt.to_canonical(doc)

    # -- bookings ---------------------------------------------------------------------------

    def list_bookings(self, cursor: Cursor | None, limit: int) -> BookingPage:
        # The contract's cursor is opaque: Cursor.id carries the ERP's token verbatim and
        # Cursor.updated_at the last booking's change time (for operators to read).
        params: dict[str, Any] = {
            self.api["limit_param"]: max(1, min(limit, self.settings.page_limit))
        }
        if cursor is not None:
            params[self.api["cursor_param"]] = cursor.id
        body = self._call(
            "GET", self._url("list_bookings"), operation="listarAlterados", safe=True, params=params
        )
        if not isinstance(body, Mapping) or not isinstance(body.get(self.api["items"]), list):
            raise MalformedResponseError("listarAlterados: no item list")
        records: list[Mapping[str, Any]] = body[self.api["items"]]
        token = body.get(self.api["next_cursor"])
        next_cursor = cursor
        if records and isinstance(token, str):
            stamp: datetime | None = None
            for record in reversed(records):
                stamp = self.mappers.updated_at_of(record)
                if stamp is not None:
                    break
            if stamp is None and cursor is not None:
                stamp = cursor.updated_at
            if stamp is not None:
                next_cursor = Cursor(updated_at=stamp, id=token)
        return self.mappers.bookings_page(
            records,
            self.tenant.id,
            next_cursor=next_cursor,
            has_more=bool(body.get(self.api["has_more"])),
        )

    def get_booking(self, booking_id: str) -> Booking:
        doc = self._call(
            "GET",
            self._url("get_booking", id=booking_id),
            operation="obterAgendamento",
            safe=True,
            record_id=booking_id,
        )
        return self.mappers.booking.to_canonical(doc, {"tenant_id": self.tenant.id})

    def update_booking_status(self, booking_id: str, status: BookingStatus, note: str) -> None:
        body: dict[str, Any] = {
            self.api["status_field"]: self.mappers.status_to_erp(booking_id, status)
        }
        if note:
            body[self.api["note_field"]] = note
        self._call(
            "PUT",
            self._url("update_status", id=booking_id),
            operation="atualizarSituacao",
            safe=True,
            record_id=booking_id,
            json=body,
        )

    def record_room_link(self, booking_id: str, url: str, valid_until: datetime) -> None:
        body = self.mappers.room.to_erp(RoomLink(url=url, valid_until=valid_until))
        self._call(
            "PUT",
            self._url("room_link", id=booking_id),
            operation="registrarSala",
            safe=True,
            record_id=booking_id,
            json=body,
        )

    # -- protocols --------------------------------------------------------------------------

    def create_protocol(self, entry: ProtocolEntry, idempotency_key: str) -> ProtocolReceipt:
        body = self.mappers.protocol.to_erp(entry)
        doc = self._call(
            "POST",
            self._url("create_protocol"),
            operation="criarProtocolo",
            safe=False,
            record_id=entry.booking_id,
            json=body,
            key=idempotency_key,
        )
        return self._receipt(doc)

    def find_protocol(self, external_reference: str) -> ProtocolReceipt | None:
        body = self._call(
            "GET",
            self._url("find_protocol"),
            operation="buscarPorReferenciaExterna",
            safe=True,
            record_id=external_reference,
            params={self.api["reference_param"]: external_reference},
        )
        items = body.get(self.api["items"]) if isinstance(body, Mapping) else None
        if not isinstance(items, list):
            raise MalformedResponseError("buscarPorReferenciaExterna: no item list")
        return self._receipt(items[0]) if items else None

    def read_protocol(self, receipt: ProtocolReceipt) -> ProtocolRecord:
        doc = self._call(
            "GET",
            self._url("get_protocol", ano=receipt.year, numero=receipt.number),
            operation="obterProtocolo",
            safe=True,
            record_id=receipt.external_reference,
        )
        if not isinstance(doc, Mapping):
            raise MalformedResponseError("obterProtocolo: protocol answer is not an object")
        return self.mappers.protocol_record(
            doc,
            doc.get(self.api.get("attachments", "anexos")),
            doc.get(self.api.get("routing", "tramitacoes")),
        )

    def read_booking_status(self, booking_id: str) -> BookingStatus:
        return self.get_booking(booking_id).status

    def attach_document(
        self, receipt: ProtocolReceipt, document: VerifiedDocument, idempotency_key: str
    ) -> None:
        self._call(
            "POST",
            self._url("attach_document", ano=receipt.year, numero=receipt.number),
            operation="anexarDocumento",
            safe=self.capabilities.honours_idempotency_key,
            record_id=receipt.external_reference,
            json=self.mappers.document.to_erp(document),
            key=idempotency_key,
        )

    def forward_protocol(
        self, receipt: ProtocolReceipt, demand: ForwardedDemand, idempotency_key: str
    ) -> None:
        self._call(
            "POST",
            self._url("forward_protocol", ano=receipt.year, numero=receipt.number),
            operation="tramitarProtocolo",
            safe=self.capabilities.honours_idempotency_key,
            record_id=receipt.external_reference,
            json=self.mappers.forward.to_erp(demand),
            key=idempotency_key,
        )

    def close(self) -> None:
        self.session.close()


def create_adapter(tenant: Tenant, settings: Mapping[str, Any]) -> RestErpAdapter:
    """The ``rest`` factory: validates ``[erp.settings]`` and builds the adapter."""
    validated = parse_settings(
        RestSettings, settings, tenant=tenant, section="erp.settings", adapter="rest"
    )
    return RestErpAdapter(tenant, validated)
