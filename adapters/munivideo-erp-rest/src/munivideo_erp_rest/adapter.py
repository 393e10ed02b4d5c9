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
from typing import Any, Literal

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
from munivideo.packs import check_carried
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

    #: The ERP's root URL; the mapping's operation paths are appended to it.
    base_url: str = Field(pattern=r"^https?://[^\s]+$", description="ERP root, no trailing /")
    #: How to authenticate (``none``, ``basic``, ``bearer``, ``oauth2``, ``api_key``).
    auth: AuthSettings = AuthSettings()
    #: Connect/read timeouts and the whole-call budget (seconds), and the answer size cap (bytes).
    timeouts: Timeouts = Timeouts()
    #: In-call retry bounds (attempts, total seconds, backoff).
    retry: RetryPolicy = RetryPolicy()
    #: Pooled HTTP connections to the ERP (1-100).
    pool_size: int = Field(default=10, ge=1, le=100)
    #: The mapping file (TOML) describing the ERP; default: the reference contract ``erp-rest/v1``.
    mapping: Path = DEFAULT_MAPPING
    #: What the ERP can do (idempotency keys, lookup); the write-back's strategy follows it.
    capabilities: ErpCapabilities = ErpCapabilities()
    #: The most bookings one list call asks for; larger ``limit`` values are capped to it.
    page_limit: int = Field(default=500, ge=1, le=10_000, description="the ERP's page cap")
    #: The version of the reference packs the ERP speaks (``v1``, ``v2``; same wire). ``v1``
    #: carries 11- or 14-digit CPF/CNPJ only: an entry whose applicant has an alphanumeric CNPJ is
    #: not sent but kept as a dead letter (:class:`munivideo.errors.PackCannotCarryError`);
    #: ``v2`` carries it (docs/contracts.md, "Which version an ERP speaks").
    pack_version: Literal["v1", "v2"] = "v1"


class DeclaredNotFoundError(NotFoundError):
    """The ERP answered one of the operation's ``not_found`` statuses: the mapping says that
    means "no such record" (unlike a 404 from a route the ERP does not have)."""


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
    """:class:`munivideo.ports.ErpAdapter` over a REST ERP described by a mapping file.

    Every call goes through one pooled session (``pool_size`` connections) with the
    ``timeouts`` bounds and one retry policy (``retry``). Failures are classified by
    :mod:`munivideo.transport.classify`: HTTP statuses by ``STATUS_TABLE``, the ERP's declared
    codes (problem+json, RFC 9457, read where the mapping's ``[errors]`` says) by
    ``FAULT_TABLE``. Reads and idempotent updates retry ambiguous failures in-call; creates
    never do.

    :param tenant: the tenant whose ERP this is (its zone places the ERP's naive local times).
    :param settings: the validated ``[erp.settings]``.
    :param sleep: how retries wait, in seconds (tests pass a no-op).
    :raises ConfigurationError: the mapping file is unreadable or lacks an operation, a path or
        ``[paging]`` the adapter needs.
    """

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
                    raise DeclaredNotFoundError(
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

    def _receipt(self, name: str, answer: Any, record_id: str) -> ProtocolReceipt:
        doc = self._result(name, answer)
        if not isinstance(doc, Mapping):
            raise self.ops[name].malformed_result(
                name, "the answer has no protocol", record_id, safe=False
            )
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
        """One page of bookings changed after ``cursor``: ``list_bookings`` of the mapping
        (reference contract: ``listarAlterados``, ``GET /api/v1/agendamentos``), paged as
        ``[paging]`` says. A read: transient and ambiguous failures are retried under
        ``settings.retry``.

        :param cursor: where the previous page ended; None reads from the beginning.
        :param limit: the most bookings wanted; capped at ``settings.page_limit`` (default 500).
        :returns: the bookings in (updated_at, id) order; records the mapping cannot read are in
            ``rejected`` (record id, field, reason), not raised, so one bad record never stops a
            sync.
        :raises TransientError: the ERP was unreachable, rate-limited (429) or unavailable (503), or
            an ambiguous failure persisted, past the retry policy.
        :raises ConfigurationError: the ERP refused our credentials or access (401/403).
        :raises ContractViolationError: the answer is not JSON, has no item list where ``[paging]
            items`` says, a count is not a number, or a ``Link`` points off the ERP's host
            (``field`` names the path or ``Link``); the sync stops with its cursor kept.
        """
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
        """One booking by id (reference contract: ``obterAgendamento``, ``GET
        /api/v1/agendamentos/{booking_id}``), mapped to the canonical model (times in UTC, the ERP's
        naive local times placed in the tenant's zone).

        :param booking_id: the booking's id in the ERP.
        :raises NotFoundError: the ERP answered one of the operation's ``not_found`` statuses (404)
            or an empty result; ``record_id`` is ``booking_id``.
        :raises InvalidRecordError: the record does not map (naming the field).
        :raises TransientError: unreachable, 429 or 503, past the retry policy.
        :raises ContractViolationError: the answer is not JSON or its result is not a record
            (``field`` the operation's ``result`` path).
        """
        answer, _ = self._request(
            "get_booking", {"booking_id": booking_id}, safe=True, record_id=booking_id
        )
        doc = self._result("get_booking", answer)
        if doc is None:
            raise NotFoundError("get_booking: the ERP has no such record", record_id=booking_id)
        if not isinstance(doc, Mapping):
            raise self.ops["get_booking"].malformed_result(
                "get_booking", "the answer is not a record", booking_id, safe=True
            )
        return self.mappers.booking.to_canonical(doc, {"tenant_id": self.tenant.id})

    def update_booking_status(self, booking_id: str, status: BookingStatus, note: str) -> None:
        """Set the booking's status in the ERP (reference contract: ``atualizarSituacao``, ``PUT
        /api/v1/agendamentos/{booking_id}/situacao``) with the ERP's code from the mapping's
        ``statuses`` table. Idempotent (a PUT), so ambiguous failures are retried in-call.

        :param note: free text for the ERP's history; may be empty.
        :raises RejectedError: the ERP has no code for ``status`` (field ``status``), or it refused
            the change (e.g. ``TRANSICAO_INVALIDA``).
        :raises ConfigurationError: the mapping has no ``[records.status]``.
        :raises NotFoundError: the ERP does not know ``booking_id``.
        :raises TransientError: unreachable, 429 or 503, past the retry policy.
        """
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
        """Store the servant-facing room link on the booking (reference contract: ``registrarSala``,
        ``PUT /api/v1/agendamentos/{booking_id}/sala``); idempotent, so ambiguous failures are
        retried.

        :param url: the room's URL for the servant.
        :param valid_until: end of the room window, timezone-aware; written as the mapping's
            ``room`` record says.
        :raises NotFoundError: the ERP does not know ``booking_id``.
        :raises TransientError: unreachable, 429 or 503, past the retry policy.
        """
        body = self.mappers.room.to_erp(RoomLink(url=url, valid_until=valid_until))
        self._request(
            "room_link", {"booking_id": booking_id}, safe=True, record_id=booking_id, body=body
        )

    # -- protocols --------------------------------------------------------------------------

    def create_protocol(self, entry: ProtocolEntry, idempotency_key: str) -> ProtocolReceipt:
        """Create the protocol entry (reference contract: ``criarProtocolo``, ``POST
        /api/v1/protocolos``) sending ``idempotency_key`` in the operation's ``idempotency_header``
        (``Idempotency-Key``, draft-ietf-httpapi-idempotency-key-header: the ERP answers a repeat
        with the first answer). Never retried in-call on an ambiguous failure:
        :func:`munivideo.transport.create_exactly_once` decides.

        :param idempotency_key: the same for every attempt of this entry
            (:func:`munivideo.transport.idempotency_key`).
        :returns: the ERP's receipt (number, year); its ``external_reference`` is the entry's when
            the ERP does not echo one.
        :raises AmbiguousError: read timeout, connection dropped after sending, 500/502/504, a
            malformed answer, the call's deadline passed, or the same key still in progress
            (``CHAVE_EM_ANDAMENTO``): the protocol may exist.
        :raises RejectedError: the ERP refused the entry (400, 409, 422, a declared fault such as
            ``REQUISICAO_INVALIDA``), naming the field when the problem+json (RFC 9457) ``campo``
            does.
        :raises ContractViolationError: the ERP reports the key missing (``CHAVE_AUSENTE``) or
            reused with another payload (``CHAVE_CONFLITANTE``).
        :raises TransientError: the request surely did not arrive (refused, 429, 503).
        :raises PackCannotCarryError: the applicant's CPF/CNPJ is a value the ERP's
            ``pack_version`` cannot carry (an alphanumeric CNPJ on ``v1``); nothing was sent.
        """
        check_carried(entry, f"erp-rest/{self.settings.pack_version}")
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
        receipt = self._receipt("create_protocol", answer, entry.booking_id)
        if not receipt.external_reference:
            receipt = receipt.model_copy(update={"external_reference": entry.external_reference})
        return receipt

    def find_protocol(self, external_reference: str) -> ProtocolReceipt | None:
        """The protocol created for ``external_reference`` (reference contract:
        ``buscarPorReferenciaExterna``, ``GET /api/v1/protocolos?referenciaExterna=...``): the first
        item of the result, or None when the list is empty or the ERP answers "not found". The
        engine checks the receipt's reference itself.

        Only the operation's own ``not_found`` statuses mean "not found" (the reference mapping
        lists none: the contract answers an empty list). Any other 404 - a route the ERP does
        not have - is raised, so a declared lookup the ERP lacks is not taken for "this protocol
        does not exist" (which would let the write-back re-create it).

        :raises TransientError: unreachable, 429, 503 or ambiguous, past the retry policy.
        :raises NotFoundError: a 404 outside ``not_found`` (the write-back reads it as a missing
            lookup, :data:`munivideo.transport.classify.LOOKUP_FAILURES`).
        :raises ContractViolationError: the answer is not JSON or an item is not a protocol
            record (``field`` the operation's ``result`` path).
        """
        try:
            answer, _ = self._request(
                "find_protocol",
                {"reference": external_reference},
                safe=True,
                record_id=external_reference,
            )
        except DeclaredNotFoundError:
            return None
        items = value_at(answer, self.ops["find_protocol"].result)
        if items is None or items == []:
            return None
        if isinstance(items, list):
            items = items[0]
        if not isinstance(items, Mapping):
            raise self.ops["find_protocol"].malformed_result(
                "find_protocol", "the answer is not a protocol", external_reference, safe=True
            )
        return self.mappers.receipt.to_canonical(items)

    def read_protocol(self, receipt: ProtocolReceipt) -> ProtocolRecord:
        """The protocol ``receipt`` names, with its attachments and routing history as the ERP holds
        them now (reference contract: ``obterProtocolo``, ``GET
        /api/v1/protocolos/{year}/{number}``; the lists at the operation's ``attachments`` and
        ``routing`` paths). The write-back's probe before re-sending an attachment or forward to an
        ERP without idempotency keys.

        :raises NotFoundError: the ERP has no such protocol.
        :raises ContractViolationError: the answer is not a protocol record (``field`` the
            operation's ``result`` path) or lacks the attachment or routing list.
        :raises TransientError: unreachable, 429, 503 or ambiguous, past the retry policy.
        """
        answer, _ = self._request(
            "get_protocol",
            self._receipt_values(receipt),
            safe=True,
            record_id=receipt.external_reference,
        )
        doc = self._result("get_protocol", answer)
        if not isinstance(doc, Mapping):
            raise self.ops["get_protocol"].malformed_result(
                "get_protocol",
                "the answer is not a protocol",
                receipt.external_reference,
                safe=True,
            )
        op = self.ops["get_protocol"]
        return self.mappers.protocol_record(
            doc, value_at(doc, op.attachments), value_at(doc, op.routing)
        )

    def read_booking_status(self, booking_id: str) -> BookingStatus:
        """The booking's status in the ERP now (a :meth:`get_booking`): the probe before a status
        update whose answer was lost is re-sent.

        :raises NotFoundError: the ERP does not know ``booking_id``.
        """
        return self.get_booking(booking_id).status

    def attach_document(
        self, receipt: ProtocolReceipt, document: VerifiedDocument, idempotency_key: str
    ) -> None:
        """Append a verified document's record (name, kind, SHA-256, size in bytes) to the protocol
        (reference contract: ``anexarDocumento``, ``POST
        /api/v1/protocolos/{year}/{number}/anexos``, append-only). Ambiguous failures are retried
        in-call only when the ERP honours idempotency keys
        (``capabilities.honours_idempotency_key``); otherwise they raise for the engine to probe.

        :param idempotency_key: stable per document (the engine's includes its SHA-256).
        :raises AmbiguousError: the attachment may have landed (without key support only).
        :raises RejectedError: the ERP refused it, or has no such protocol (:class:`NotFoundError`).
        :raises TransientError: the request surely did not arrive, past the retry policy.
        """
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
        """Forward the protocol to another department (reference contract: ``tramitarProtocolo``,
        ``POST /api/v1/protocolos/{year}/{number}/tramitacoes``). Retries as
        :meth:`attach_document`.

        :param idempotency_key: stable per forward (the engine's includes its position).
        :raises AmbiguousError: the forward may have landed (without key support only).
        :raises RejectedError: the ERP refused it (e.g. an unknown department), or has no such
            protocol (:class:`NotFoundError`).
        :raises TransientError: the request surely did not arrive, past the retry policy.
        """
        self._request(
            "forward_protocol",
            self._receipt_values(receipt, idempotency_key),
            safe=self.capabilities.honours_idempotency_key,
            record_id=receipt.external_reference,
            body=self.mappers.forward.to_erp(demand),
        )

    def close(self) -> None:
        """Close the pooled HTTP connections. The adapter must not be used afterwards."""
        self.session.close()


def create_adapter(tenant: Tenant, settings: Mapping[str, Any]) -> RestErpAdapter:
    """The ``rest`` factory: validates ``[erp.settings]`` and builds the adapter."""
    validated = parse_settings(
        RestSettings, settings, tenant=tenant, section="erp.settings", adapter="rest"
    )
    return RestErpAdapter(tenant, validated)
