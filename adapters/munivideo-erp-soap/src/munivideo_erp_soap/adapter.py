"""The SOAP ERP adapter: the only code here that speaks SOAP to the ERP.

Everything ERP-specific comes from the WSDL and the mapping file: ``[operations.<name>]``
(the WSDL operation, the service it belongs to, element paths of its arguments, where the
record goes and where the answer keeps its result), ``[paging]`` and ``[errors]``; see
``docs/integrate-by-configuration.md``. SOAP 1.1 and 1.2 bindings both work (zeep reads the
binding from the WSDL); WS-Security UsernameToken with text or digest passwords comes from
``auth`` (``scheme = "wsse"``, ``wsse_digest = true``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from zeep.exceptions import Fault

from munivideo.config import parse_settings
from munivideo.contract_tools.safexml import local_name, parse_xml
from munivideo.errors import (
    ConfigurationError,
    ContractViolationError,
    NotFoundError,
)
from munivideo.mapping import ErpMappers, RoomLink
from munivideo.mapping.errors_spec import ErrorSpec
from munivideo.mapping.operations import OperationSpec, expand_value
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
from munivideo.packs import check_carried, pack_dir
from munivideo.ports import ErpCapabilities
from munivideo.transport import (
    AuthSettings,
    RetryPolicy,
    Timeouts,
    call_with_retry,
    malformed_answer,
)
from munivideo.transport.classify import ErpFault, HttpStatusError
from munivideo.transport.soap import (
    FaultReader,
    call_soap,
    create_service,
    fault_from_zeep,
    platform_fault,
    tenant_client,
)

DEFAULT_MAPPING = Path(__file__).parent / "mappings" / "soap-v1.toml"

#: Operations every SOAP mapping must describe.
REQUIRED_OPERATIONS = (
    "list_bookings",
    "get_booking",
    "update_status",
    "room_link",
    "create_protocol",
    "find_protocol",
    "get_protocol",
    "attach_document",
    "forward_protocol",
)


def _default_wsdl(version: str = "v1") -> Path:
    return pack_dir("erp-soap", version) / "erp.wsdl"


class SoapSettings(BaseModel):
    """``[erp.settings]`` of a tenant using the ``soap`` adapter."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s]+$",
        description="ERP root; services at {base_url}{agendamentos_path} and {protocolos_path}",
    )
    #: The bookings service's full address, when it is not under ``base_url``.
    agendamentos_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    #: The protocols service's full address, when it is not under ``base_url``.
    protocolos_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    agendamentos_path: str = Field(default="/soap/agendamentos", pattern=r"^/")
    protocolos_path: str = Field(default="/soap/protocolos", pattern=r"^/")
    #: A local copy of the ERP's WSDL (parsed once per process; never fetched from the ERP).
    wsdl: Path | None = Field(
        default=None, description="vendored WSDL; default: erp-soap/<pack_version>"
    )
    #: The WSDL binding (local name or ``{namespace}name``) of the bookings operations.
    agendamentos_binding: str = "AgendamentosBinding"
    #: The WSDL binding of the protocol operations.
    protocolos_binding: str = "ProtocolosBinding"
    #: How to authenticate; ``wsse`` sends a WS-Security UsernameToken (``wsse_digest`` for
    #: the digest form).
    auth: AuthSettings = AuthSettings()
    #: Connect/read timeouts and the whole-call budget (seconds), and the answer size cap (bytes).
    timeouts: Timeouts = Timeouts()
    #: In-call retry bounds (attempts, total seconds, backoff).
    retry: RetryPolicy = RetryPolicy()
    #: Pooled HTTP connections to the ERP (1-100).
    pool_size: int = Field(default=10, ge=1, le=100)
    #: The mapping file (TOML) describing the ERP; default: the reference contract ``erp-soap/v1``.
    mapping: Path = DEFAULT_MAPPING
    #: What the ERP can do (idempotency keys, lookup); the write-back's strategy follows it.
    capabilities: ErpCapabilities = ErpCapabilities()
    #: The most bookings one list call asks for; larger ``limit`` values are capped to it.
    page_limit: int = Field(default=500, ge=1, le=10_000)
    #: The version of the reference packs the ERP speaks (``v1``, ``v2``; same wire). ``v1``
    #: carries 11- or 14-digit CPF/CNPJ only: an entry whose applicant has an alphanumeric CNPJ is
    #: not sent but kept as a dead letter (:class:`munivideo.errors.PackCannotCarryError`);
    #: ``v2`` carries it (docs/contracts.md, "Which version an ERP speaks").
    pack_version: Literal["v1", "v2"] = "v1"

    def addresses(self) -> tuple[str, str]:
        """The two service addresses: ``agendamentos_url`` and ``protocolos_url`` when set, else
        ``base_url`` followed by ``agendamentos_path`` and ``protocolos_path``.

        :returns: ``(bookings service URL, protocols service URL)``.
        :raises ValueError: neither ``base_url`` nor both URLs are set (:func:`create_adapter`
            reports it as a :class:`~munivideo.errors.ConfigurationError` on
            ``erp.settings.base_url``).
        """
        base = (self.base_url or "").rstrip("/")
        agendamentos = self.agendamentos_url or (
            f"{base}{self.agendamentos_path}" if base else None
        )
        protocolos = self.protocolos_url or (f"{base}{self.protocolos_path}" if base else None)
        if agendamentos is None or protocolos is None:
            raise ValueError("set base_url, or both agendamentos_url and protocolos_url")
        return agendamentos, protocolos


def check_mapping(mappers: ErpMappers) -> None:
    """Refuse a mapping the SOAP adapter cannot run (what ``config check`` reports).

    :raises ConfigurationError: naming ``operations.<name>`` or ``paging``.
    """
    dialect = mappers.dialect
    for name in REQUIRED_OPERATIONS:
        if name not in dialect.operations:
            raise ConfigurationError(
                f"mapping {dialect.name}: no [operations.{name}]", field=f"operations.{name}"
            )
    if dialect.paging is None:
        raise ConfigurationError(f"mapping {dialect.name}: no [paging]", field="paging")
    if dialect.paging.style == "link":
        raise ConfigurationError(
            "paging style 'link' needs HTTP headers; SOAP cannot use it", field="paging.style"
        )
    if dialect.paging.style == "record" and mappers.cursor is None:
        raise ConfigurationError(
            f"mapping {dialect.name}: paging style 'record' needs [records.cursor]",
            field="paging.style",
        )


def fault_reader(spec: ErrorSpec | None) -> FaultReader:
    """How to read a SOAP Fault: the reference contract's ``falha`` detail, or the element
    local names of the mapping's ``[errors]`` anywhere in the detail; a Server fault without
    that detail is the platform's HTTP 500 (:func:`munivideo.transport.soap.platform_fault`)."""
    if spec is None:
        return fault_from_zeep

    def read(fault: Fault) -> ErpFault | HttpStatusError:
        detail = fault.detail

        def find(name: str) -> str | None:
            if detail is None:
                return None
            local = name.rsplit(".", 1)[-1]
            found = detail.find(f".//{{*}}{local}")
            return found.text if found is not None and found.text else None

        found = find(spec.code)
        if found is None and (platform := platform_fault(fault)) is not None:
            return platform
        code = found or "DESCONHECIDO"
        return ErpFault(
            spec.codes.get(code, code),
            find(spec.message) or str(fault.message or ""),
            field=find(spec.field),
            record_id=find(spec.record_id),
        )

    return read


class SoapErpAdapter:
    """:class:`munivideo.ports.ErpAdapter` over a SOAP ERP (zeep) described by a mapping.

    The WSDL (``wsdl``, default the vendored ``erp-soap/v1`` one) is parsed once per process;
    this tenant's bookings and protocols services are bound to :meth:`SoapSettings.addresses`
    with its own session (``pool_size``, ``timeouts``) and credentials (``auth``, including
    WS-Security UsernameToken). Messages are validated against the WSDL's schema both ways
    (zeep strict mode). A SOAP Fault is read by :func:`fault_reader` and classified by
    :mod:`munivideo.transport.classify` (``FAULT_TABLE``); reads and idempotent updates retry
    ambiguous failures in-call, creates never do.

    :param tenant: the tenant whose ERP this is (its zone places the ERP's naive local times).
    :param settings: the validated ``[erp.settings]``.
    :param sleep: how retries wait, in seconds (tests pass a no-op).
    :raises ConfigurationError: the mapping lacks an operation or ``[paging]`` the adapter
        needs, or names an operation the WSDL's binding does not have
        (``operations.<name>.operation``).
    """

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
        self.mappers = ErpMappers.from_file(settings.mapping, tenant.timezone)
        check_mapping(self.mappers)
        self.dialect = self.mappers.dialect
        self.ops: Mapping[str, OperationSpec] = self.dialect.operations
        assert self.dialect.paging is not None  # check_mapping
        self.pager = Pager(self.dialect.paging, self.mappers)
        self._read_fault = fault_reader(self.dialect.errors)
        agendamentos_url, protocolos_url = settings.addresses()
        self.client = tenant_client(
            settings.wsdl or _default_wsdl(settings.pack_version),
            settings.timeouts,
            settings.auth,
            pool_size=settings.pool_size,
        )
        self.services = {
            "bookings": create_service(
                self.client, settings.agendamentos_binding, agendamentos_url
            ),
            "protocols": create_service(self.client, settings.protocolos_binding, protocolos_url),
        }
        self._single_child: dict[str, str | None] = {}
        for name, op in self.ops.items():
            self._single_child[name] = self._check_operation(name, op)
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"SoapErpAdapter(tenant={self.tenant.id!r})"

    def _check_operation(self, name: str, op: OperationSpec) -> str | None:
        """The WSDL has the operation; the name of its answer's only child, if it has one
        (zeep hands that child back unwrapped)."""
        service = self.services[op.service]
        operation = op.operation or name
        known = service._binding._operations  # zeep's own table of the binding's operations
        if operation not in known:
            raise ConfigurationError(
                f"the WSDL's {op.service} binding has no operation {operation!r} "
                f"(it has: {', '.join(sorted(known))})",
                record_id=self.tenant.id,
                field=f"operations.{name}.operation",
            )
        try:
            elements = known[operation].output.body.type.elements
        except AttributeError:
            return None
        return str(elements[0][0]) if len(elements) == 1 else None

    def _call(
        self,
        name: str,
        values: Mapping[str, Any],
        *,
        safe: bool,
        record_id: str | None = None,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        return self._answer(name, self._invoke(name, values, safe, record_id, body, params))

    def _kwargs(
        self,
        name: str,
        values: Mapping[str, Any],
        body: Mapping[str, Any] | None,
        params: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        op = self.ops[name]
        kwargs: dict[str, Any] = {}
        for path, template in op.args.items():
            value = expand_value(template, values)
            if value is not None:
                set_path(kwargs, split_path(path), value)
        for path, value in (params or {}).items():
            set_path(kwargs, split_path(path), value)
        if body is not None:
            if op.body_path:
                set_path(kwargs, split_path(op.body_path), dict(body))
            else:
                kwargs.update(body)
        return kwargs

    def _answer(self, name: str, answer: Any) -> Any:
        only = self._single_child.get(name)
        return {only: answer} if only is not None else answer

    def _lenient_page(self, values: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
        """The list answer as plain dicts and strings, read without the schema (so one record
        that breaks it cannot hide the others); item lists are always lists."""
        op = self.ops["list_bookings"]
        operation = op.operation or "list_bookings"
        kwargs = self._kwargs("list_bookings", values, None, params)
        proxy = getattr(self.services[op.service], operation)

        def attempt() -> Any:
            with self.client.settings(raw_response=True):
                response = proxy(**kwargs)
            if response.status_code != 200:
                raise HttpStatusError(response.status_code, headers=dict(response.headers))
            root = parse_xml(response.content, source=operation)
            body = next((e for e in root.iter() if local_name(e.tag) == "Body"), None)
            answer = (
                None if body is None else next((e for e in body if isinstance(e.tag, str)), None)
            )
            return _plain(answer) if answer is not None else {}

        answer = call_with_retry(
            attempt, self.settings.retry, operation=operation, safe=True, sleep=self._sleep
        )
        if not isinstance(answer, dict):
            raise malformed_answer(
                "the answer is not a structure",
                operation=operation,
                field="$",
                record_id=None,
                safe=True,
            )
        *parents, leaf = split_path(self.pager.spec.items)
        holder = value_at(answer, ".".join(str(p) for p in parents)) if parents else answer
        if isinstance(holder, dict) and leaf in holder and not isinstance(holder[leaf], list):
            holder[leaf] = [holder[leaf]]
        more = self.pager.spec.has_more
        if more and isinstance(answer.get(more), str):
            answer[more] = answer[more].strip().lower() in ("true", "1")
        return answer

    def _invoke(
        self,
        name: str,
        values: Mapping[str, Any],
        safe: bool,
        record_id: str | None,
        body: Mapping[str, Any] | None,
        params: Mapping[str, Any] | None,
    ) -> Any:
        op = self.ops[name]
        operation = op.operation or name
        kwargs = self._kwargs(name, values, body, params)
        return call_soap(
            getattr(self.services[op.service], operation),
            self.settings.retry,
            name=operation,
            safe=safe,
            record_id=record_id,
            sleep=self._sleep,
            read_fault=self._read_fault,
            **kwargs,
        )

    def _result(self, name: str, answer: Any) -> Any:
        return value_at(answer, self.ops[name].result)

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
        (reference contract: ``listarAlterados`` on ``AgendamentosBinding``), paged as ``[paging]``
        says. The answer is validated against the WSDL's schema; when one record breaks the schema,
        the page is read again without it, so the mapping rejects that record by id and field
        instead of the whole page failing. A read: transient and ambiguous failures are retried
        under ``settings.retry``.

        :param cursor: where the previous page ended; None reads from the beginning.
        :param limit: the most bookings wanted; capped at ``settings.page_limit`` (default 500).
        :returns: the bookings in (updated_at, id) order; records the mapping cannot read are in
            ``rejected`` (record id, field, reason), not raised.
        :raises TransientError: the ERP was unreachable, rate-limited (429), unavailable (503) or
            failing on its platform (a Server fault without the contract's detail), past the retry
            policy, or declared itself unavailable (``INDISPONIVEL``).
        :raises ConfigurationError: the ERP refused our credentials (fault ``NAO_AUTORIZADO``, or
            HTTP 401/403).
        :raises ContractViolationError: the answer is not well-formed, safe XML, is not a
            structure even when re-read without the schema, has no item list where ``[paging]
            items`` says or a count that is not a number (``field`` names the path); the sync
            stops with its cursor kept.
        """
        limit = min(limit, self.settings.page_limit)
        request = self.pager.request(cursor, limit)
        values = {"limit": self.pager.limit(limit)}
        try:
            answer = self._call("list_bookings", values, safe=True, params=request.params)
        except ContractViolationError:
            # Strict parsing refuses the whole page for one bad record. Read it again without
            # the schema (a safe read): the mapping then rejects each bad record by id and
            # field, and the sync quarantines it and moves on.
            answer = self._lenient_page(values, request.params)
        return self.pager.page(
            cursor,
            limit,
            answer,
            self.tenant.id,
            operation=self.ops["list_bookings"].operation or "list_bookings",
        )

    def get_booking(self, booking_id: str) -> Booking:
        """One booking by id (reference contract: ``obterAgendamento``), mapped to the canonical
        model (times in UTC, the ERP's naive local times placed in the tenant's zone).

        :param booking_id: the booking's id in the ERP.
        :raises NotFoundError: the ERP declared ``NAO_ENCONTRADO`` or answered without a record;
            ``record_id`` is ``booking_id``.
        :raises InvalidRecordError: the record does not map (naming the field).
        :raises ContractViolationError: the answer breaks the WSDL's schema.
        :raises TransientError: unreachable, 429, 503 or a platform fault, past the retry policy.
        :raises ContractViolationError: the answer's result is not a record (``field`` the
            operation's ``result`` path).
        """
        answer = self._call(
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
        """Set the booking's status in the ERP (reference contract: ``atualizarSituacao``) with the
        ERP's code from the mapping's ``statuses`` table. Idempotent, so ambiguous failures are
        retried.

        :param note: free text for the ERP's history; an empty note is not sent.
        :raises RejectedError: the ERP has no code for ``status`` (field ``status``), or it refused
            the change (``TRANSICAO_INVALIDA``).
        :raises ConfigurationError: the mapping has no ``[records.status]``.
        :raises NotFoundError: the ERP does not know ``booking_id``.
        :raises TransientError: unreachable, 429, 503 or a platform fault, past the retry policy.
        """
        code = self.mappers.status_to_erp(booking_id, status)
        self._call(
            "update_status",
            {"booking_id": booking_id, "status": code, "note": note or None},
            safe=True,
            record_id=booking_id,
            body=self.mappers.status_body(booking_id, status, note),
        )

    def record_room_link(self, booking_id: str, url: str, valid_until: datetime) -> None:
        """Store the servant-facing room link on the booking (reference contract:
        ``registrarSala``); idempotent, so ambiguous failures are retried.

        :param url: the room's URL for the servant.
        :param valid_until: end of the room window, timezone-aware; written as the mapping's
            ``room`` record says.
        :raises NotFoundError: the ERP does not know ``booking_id``.
        :raises TransientError: unreachable, 429, 503 or a platform fault, past the retry policy.
        """
        self._call(
            "room_link",
            {"booking_id": booking_id},
            safe=True,
            record_id=booking_id,
            body=self.mappers.room.to_erp(RoomLink(url=url, valid_until=valid_until)),
        )

    # -- protocols --------------------------------------------------------------------------

    def create_protocol(self, entry: ProtocolEntry, idempotency_key: str) -> ProtocolReceipt:
        """Create the protocol entry (reference contract: ``criarProtocolo`` on
        ``ProtocolosBinding``, the key in its ``chaveIdempotencia`` argument: the ERP answers a
        repeat with the first answer). Never retried in-call on an ambiguous failure:
        :func:`munivideo.transport.create_exactly_once` decides.

        :param idempotency_key: the same for every attempt of this entry
            (:func:`munivideo.transport.idempotency_key`).
        :returns: the ERP's receipt (number, year, external reference).
        :raises AmbiguousError: read timeout, connection dropped after sending, HTTP 502/504, a
            platform (Server) fault, a malformed answer, the call's deadline passed, or the same key
            still in progress (``CHAVE_EM_ANDAMENTO``): the protocol may exist.
        :raises RejectedError: the ERP refused the entry (``REQUISICAO_INVALIDA``,
            ``REFERENCIA_DUPLICADA``, an unknown fault code), naming the field when the fault's
            ``campo`` does.
        :raises ContractViolationError: the request or the answer breaks the WSDL's schema, or the
            ERP reports the key missing or reused with another payload.
        :raises TransientError: the request surely did not arrive (refused, 429, 503) or the ERP
            declared ``INDISPONIVEL``/``ERRO_INTERNO`` (it did nothing).
        :raises PackCannotCarryError: the applicant's CPF/CNPJ is a value the ERP's
            ``pack_version`` cannot carry (an alphanumeric CNPJ on ``v1``); nothing was sent.
        """
        check_carried(entry, f"erp-soap/{self.settings.pack_version}")
        answer = self._call(
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
        return self._receipt("create_protocol", answer, entry.booking_id)

    def find_protocol(self, external_reference: str) -> ProtocolReceipt | None:
        """The protocol created for ``external_reference`` (reference contract:
        ``buscarPorReferenciaExterna``): the first one answered, or None when the answer is empty or
        the ERP declares ``NAO_ENCONTRADO``. The engine checks the receipt's reference itself.

        :raises TransientError: unreachable, 429, 503, a platform fault or ambiguous, past the retry
            policy.
        :raises ContractViolationError: the answer is not a protocol record (``field`` the
            operation's ``result`` path).
        """
        try:
            answer = self._call(
                "find_protocol",
                {"reference": external_reference},
                safe=True,
                record_id=external_reference,
            )
        except NotFoundError:
            return None
        found = self._result("find_protocol", answer)
        if isinstance(found, list):
            found = found[0] if found else None
        if found is None:
            return None
        if not isinstance(found, Mapping):
            raise self.ops["find_protocol"].malformed_result(
                "find_protocol", "the answer is not a protocol", external_reference, safe=True
            )
        return self.mappers.receipt.to_canonical(found)

    def read_protocol(self, receipt: ProtocolReceipt) -> ProtocolRecord:
        """The protocol ``receipt`` names (by number and year), with its attachments and routing
        history as the ERP holds them now (reference contract: ``obterProtocolo``; the lists at the
        operation's ``attachments`` and ``routing`` paths, an absent list meaning empty since the
        answer passed schema validation). The write-back's probe before re-sending an attachment or
        forward to an ERP without idempotency keys.

        :raises NotFoundError: the ERP has no such protocol.
        :raises ContractViolationError: the answer breaks the WSDL's schema or is not a protocol
            record (``field`` the operation's ``result`` path).
        :raises TransientError: unreachable, 429, 503, a platform fault or ambiguous, past the retry
            policy.
        """
        answer = self._call(
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
        # zeep validated the answer against the XSD: an absent list element is an empty list.
        return self.mappers.protocol_record(
            doc, value_at(doc, op.attachments) or [], value_at(doc, op.routing) or []
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
        (reference contract: ``anexarDocumento``, append-only, key in ``chaveIdempotencia``).
        Ambiguous failures are retried in-call only when the ERP honours idempotency keys
        (``capabilities.honours_idempotency_key``); otherwise they raise for the engine to probe.

        :param idempotency_key: stable per document (the engine's includes its SHA-256).
        :raises AmbiguousError: the attachment may have landed (without key support only).
        :raises RejectedError: the ERP refused it, or has no such protocol (:class:`NotFoundError`).
        :raises TransientError: the request surely did not arrive, past the retry policy.
        """
        self._call(
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
        key in ``chaveIdempotencia``). Retries as :meth:`attach_document`.

        :param idempotency_key: stable per forward (the engine's includes its position).
        :raises AmbiguousError: the forward may have landed (without key support only).
        :raises RejectedError: the ERP refused it (e.g. an unknown department), or has no such
            protocol (:class:`NotFoundError`).
        :raises TransientError: the request surely did not arrive, past the retry policy.
        """
        self._call(
            "forward_protocol",
            self._receipt_values(receipt, idempotency_key),
            safe=self.capabilities.honours_idempotency_key,
            record_id=receipt.external_reference,
            body=self.mappers.forward.to_erp(demand),
        )

    def close(self) -> None:
        """Close the client's pooled HTTP connections. The adapter must not be used afterwards."""
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


def _plain(element: Any) -> Any:
    """An element as plain data by local names: text for a leaf, a dict for children (a repeated
    child becomes a list)."""
    children = [c for c in element if isinstance(c.tag, str)]
    if not children:
        return element.text
    out: dict[str, Any] = {}
    repeated: set[str] = set()
    for child in children:
        name, value = local_name(child.tag), _plain(child)
        if name not in out:
            out[name] = value
            continue
        if name not in repeated:
            out[name] = [out[name]]
            repeated.add(name)
        out[name].append(value)
    return out
