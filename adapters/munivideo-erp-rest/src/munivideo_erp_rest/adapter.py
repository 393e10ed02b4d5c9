"""The REST ERP adapter: the only code here that speaks HTTP+JSON to the ERP.

Everything ERP-specific comes from the mapping file: ``[operations.<name>]`` (method, path
template, query, headers, body and result shapes, success statuses), ``[paging]`` and
``[errors]``; see ``docs/integrate-by-configuration.md``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict, Field

from munivideo.config import parse_settings
from munivideo.errors import ConfigurationError, NotFoundError
from munivideo.mapping import ErpMappers, RoomLink
from munivideo.mapping.errors_spec import ErrorSpec
from munivideo.mapping.operations import OperationSpec, expand_path, expand_value
from munivideo.mapping.paging import Pager
from munivideo.mapping.paths import set_path, split_path, value_at
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

#: Operations every REST mapping must describe.
REQUIRED_OPERATIONS = (
    "list_bookings",
    "get_booking",
    "update_status",
    "room_link",
    "create_protocol",
    "find_protocol",
    "attach_document",
    "forward_protocol",
    "get_protocol",
)


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


def _problem(response: requests.Response, errors: ErrorSpec) -> HttpStatusError:
    body: Any = None
    if "json" in response.headers.get("Content-Type", ""):
        try:
            body = response.json()
        except ValueError:
            body = None
    read = errors.read(body if isinstance(body, Mapping) else {})
    if read["message"] is None and isinstance(body, Mapping):
        read["message"] = str(body.get("title") or "") or None
    return HttpStatusError(
        response.status_code,
        headers=dict(response.headers),
        code=read["code"],
        message=read["message"] or str(response.reason or ""),
        field=read["field"],
        record_id=read["record_id"],
    )


def check_mapping(mappers: ErpMappers) -> None:
    """Refuse a mapping the REST adapter cannot run (what ``config check`` reports).

    :raises ConfigurationError: naming ``operations.<name>`` or ``paging``.
    """
    dialect = mappers.dialect
    for name in REQUIRED_OPERATIONS:
        if name not in dialect.operations:
            raise ConfigurationError(
                f"mapping {dialect.name}: no [operations.{name}]", field=f"operations.{name}"
            )
        if not dialect.operations[name].path.startswith("/"):
            raise ConfigurationError(
                f"mapping {dialect.name}: operations.{name}.path must start with /",
                field=f"operations.{name}.path",
            )
    if dialect.paging is None:
        raise ConfigurationError(f"mapping {dialect.name}: no [paging]", field="paging")
    if dialect.paging.style == "record" and mappers.cursor is None:
        raise ConfigurationError(
            f"mapping {dialect.name}: paging style 'record' needs [records.cursor]",
            field="paging.style",
        )


class RestErpAdapter:
    """:class:`munivideo.ports.ErpAdapter` over a REST ERP described by a mapping file."""

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
        self.mappers = ErpMappers.from_file(settings.mapping, tenant.timezone)
        check_mapping(self.mappers)
        self.dialect = self.mappers.dialect
        self.ops: Mapping[str, OperationSpec] = self.dialect.operations
        self._base = settings.base_url.rstrip("/")
        assert self.dialect.paging is not None  # check_mapping
        self.pager = Pager(self.dialect.paging, self.mappers, origin=self._base)
        self.session = build_session(
            settings.timeouts,
            pool_size=settings.pool_size,
            auth=auth_for(settings.auth, settings.timeouts),
            headers={"Accept": "application/json"},
        )
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"RestErpAdapter(tenant={self.tenant.id!r}, base_url={self._base!r})"

    # -- plumbing ---------------------------------------------------------------------------

    def _request(
        self,
        name: str,
        values: Mapping[str, Any],
        *,
        safe: bool,
        record_id: str | None = None,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        url: str | None = None,
    ) -> tuple[Any, requests.structures.CaseInsensitiveDict[str]]:
        """Call operation ``name``; the JSON answer (None when empty) and the headers."""
        op = self.ops[name]
        if url is None:
            url = self._base + expand_path(op.path, values)
        query = {k: expand_value(t, values) for k, t in op.query.items()}
        query.update(params or {})
        query = {k: v for k, v in query.items() if v is not None}
        headers = {k: str(expand_value(t, values)) for k, t in op.headers.items()}
        if op.idempotency_header and values.get("key"):
            headers[op.idempotency_header] = str(values["key"])
        if body is not None and op.body_path:
            wrapped: dict[str, Any] = {}
            set_path(wrapped, split_path(op.body_path), body)
            body = wrapped
        operation = op.operation or name
        errors = self.dialect.errors or ErrorSpec()

        def attempt() -> tuple[Any, Any]:
            response = self.session.request(
                op.method, url, params=query or None, json=body, headers=headers or None
            )
            if response.status_code not in op.success:
                if response.status_code in op.not_found:
                    raise NotFoundError(
                        f"{operation}: the ERP has no such record", record_id=record_id
                    )
                raise _problem(response, errors)
            if not response.content:
                return None, response.headers
            try:
                return response.json(), response.headers
            except ValueError:
                raise MalformedResponseError(f"{operation}: body is not JSON") from None

        result: tuple[Any, Any] = call_with_retry(
            attempt,
            self.settings.retry,
            operation=operation,
            safe=safe,
            record_id=record_id,
            sleep=self._sleep,
        )
        return result

    def _result(self, name: str, answer: Any) -> Any:
        found = value_at(answer, self.ops[name].result)
        if isinstance(found, list):
            found = found[0] if found else None
        return found

    def _receipt(self, name: str, answer: Any) -> ProtocolReceipt:
        doc = self._result(name, answer)
        if not isinstance(doc, Mapping):
            raise MalformedResponseError(f"{name}: the answer has no protocol")
        return self.mappers.receipt.to_canonical(doc)

    @staticmethod
    def _receipt_values(receipt: ProtocolReceipt, key: str | None = None) -> dict[str, Any]:
        return {
            "number": receipt.number,
            "year": receipt.year,
            "erp_id": receipt.erp_id or f"{receipt.number}/{receipt.year}",
            "reference": receipt.external_reference,
            "key": key,
        }

    # -- bookings ---------------------------------------------------------------------------

    def list_bookings(self, cursor: Cursor | None, limit: int) -> BookingPage:
        limit = min(limit, self.settings.page_limit)
        request = self.pager.request(cursor, limit)
        answer, headers = self._request(
            "list_bookings",
            {"limit": self.pager.limit(limit)},
            safe=True,
            params=request.params,
            url=request.url,
        )
        return self.pager.page(
            cursor,
            limit,
            answer,
            self.tenant.id,
            link=headers.get("Link"),
            operation=self.ops["list_bookings"].operation or "list_bookings",
        )

    def get_booking(self, booking_id: str) -> Booking:
        answer, _ = self._request(
            "get_booking", {"booking_id": booking_id}, safe=True, record_id=booking_id
        )
        doc = self._result("get_booking", answer)
        if doc is None:
            raise NotFoundError("get_booking: the ERP has no such record", record_id=booking_id)
        if not isinstance(doc, Mapping):
            raise MalformedResponseError("get_booking: the answer is not a record")
        return self.mappers.booking.to_canonical(doc, {"tenant_id": self.tenant.id})

    def update_booking_status(self, booking_id: str, status: BookingStatus, note: str) -> None:
        code = self.mappers.status_to_erp(booking_id, status)
        body = self.mappers.status_body(booking_id, status, note)
        self._request(
            "update_status",
            {"booking_id": booking_id, "status": code, "note": note},
            safe=True,
            record_id=booking_id,
            body=body,
        )

    def record_room_link(self, booking_id: str, url: str, valid_until: datetime) -> None:
        body = self.mappers.room.to_erp(RoomLink(url=url, valid_until=valid_until))
        self._request(
            "room_link", {"booking_id": booking_id}, safe=True, record_id=booking_id, body=body
        )

    # -- protocols --------------------------------------------------------------------------

    def create_protocol(self, entry: ProtocolEntry, idempotency_key: str) -> ProtocolReceipt:
        answer, _ = self._request(
            "create_protocol",
            {
                "booking_id": entry.booking_id,
                "reference": entry.external_reference,
                "key": idempotency_key,
            },
            safe=False,
            record_id=entry.booking_id,
            body=self.mappers.protocol.to_erp(entry),
        )
        receipt = self._receipt("create_protocol", answer)
        if not receipt.external_reference:
            receipt = receipt.model_copy(update={"external_reference": entry.external_reference})
        return receipt

    def find_protocol(self, external_reference: str) -> ProtocolReceipt | None:
        try:
            answer, _ = self._request(
                "find_protocol",
                {"reference": external_reference},
                safe=True,
                record_id=external_reference,
            )
        except NotFoundError:
            return None
        items = value_at(answer, self.ops["find_protocol"].result)
        if items is None or items == []:
            return None
        if isinstance(items, list):
            items = items[0]
        if not isinstance(items, Mapping):
            raise MalformedResponseError("find_protocol: the answer is not a protocol")
        return self.mappers.receipt.to_canonical(items)

    def read_protocol(self, receipt: ProtocolReceipt) -> ProtocolRecord:
        answer, _ = self._request(
            "get_protocol",
            self._receipt_values(receipt),
            safe=True,
            record_id=receipt.external_reference,
        )
        doc = self._result("get_protocol", answer)
        if not isinstance(doc, Mapping):
            raise MalformedResponseError("get_protocol: the answer is not a protocol")
        op = self.ops["get_protocol"]
        return self.mappers.protocol_record(
            doc, value_at(doc, op.attachments), value_at(doc, op.routing)
        )

    def read_booking_status(self, booking_id: str) -> BookingStatus:
        return self.get_booking(booking_id).status

    def attach_document(
        self, receipt: ProtocolReceipt, document: VerifiedDocument, idempotency_key: str
    ) -> None:
        self._request(
            "attach_document",
            self._receipt_values(receipt, idempotency_key),
            safe=self.capabilities.honours_idempotency_key,
            record_id=receipt.external_reference,
            body=self.mappers.document.to_erp(document),
        )

    def forward_protocol(
        self, receipt: ProtocolReceipt, demand: ForwardedDemand, idempotency_key: str
    ) -> None:
        self._request(
            "forward_protocol",
            self._receipt_values(receipt, idempotency_key),
            safe=self.capabilities.honours_idempotency_key,
            record_id=receipt.external_reference,
            body=self.mappers.forward.to_erp(demand),
        )

    def close(self) -> None:
        self.session.close()


def create_adapter(tenant: Tenant, settings: Mapping[str, Any]) -> RestErpAdapter:
    """The ``rest`` factory: validates ``[erp.settings]`` and builds the adapter."""
    validated = parse_settings(
        RestSettings, settings, tenant=tenant, section="erp.settings", adapter="rest"
    )
    return RestErpAdapter(tenant, validated)
