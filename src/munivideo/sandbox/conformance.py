"""Whether a booking the sandbox is about to store can be answered under its contracts.

The sandbox validates every answer against the packs (openapi-core for REST, xmlschema for SOAP).
A booking that breaks them, once stored, would break every answer that carries it - one bad
booking makes every ``listarAlterados`` page a 500. So each booking is checked *before* it is
stored, against the very validators and schemas the answers are checked with, rendered the way
each dialect the server serves renders it (``obterAgendamento``'s answer: the same
``Agendamento`` type every listing page repeats). The store runs this check on every write
(:attr:`munivideo.sandbox.store.Store.conforms`): the inspection API's adds, reschedules and
cancels, seeds, and writes through the contracts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from munivideo.sandbox.errors import OutsideContractError
from munivideo.sandbox.records import BookingRecord, booking_doc

if TYPE_CHECKING:
    from munivideo.sandbox.context import Context


def _rest_problem(ctx: Context, record: BookingRecord) -> tuple[str | None, str] | None:
    """The (field, reason) the REST contract finds wrong in ``record``'s answer, or None."""
    return rest_doc_problem(ctx, booking_doc(record, soap=False))


def rest_doc_problem(ctx: Context, doc: Any) -> tuple[str | None, str] | None:
    """The (field, reason) the REST contract finds wrong in ``doc`` as an ``Agendamento``
    answer, or None."""
    from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest
    from openapi_core.contrib.werkzeug.responses import WerkzeugOpenAPIResponse
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    from munivideo.sandbox.rest import _json, _schema_field

    # A fixed, contract-valid id in the path: response validation only uses the request to
    # find the operation; the booking's own id is checked in the body.
    request = Request(EnvironBuilder(path="/api/v1/agendamentos/AG-0", method="GET").get_environ())
    response = _json(doc)
    errors = list(
        ctx.openapi.iter_response_errors(
            WerkzeugOpenAPIRequest(request), WerkzeugOpenAPIResponse(response)
        )
    )
    if not errors:
        return None
    return _schema_field(errors[0])


def _soap_problem(ctx: Context, record: BookingRecord) -> tuple[str | None, str] | None:
    """The (field, reason) the SOAP contract finds wrong in ``record``'s answer, or None."""
    from munivideo.sandbox.soap import _field_of
    from munivideo.sandbox.xml_io import payload_element

    content = {"agendamento": booking_doc(record, soap=True)}
    answer = payload_element("obterAgendamentoResposta", content)
    error: Any = next(iter(ctx.xsd.iter_errors(answer)), None)
    if error is None:
        return None
    field = _field_of(error)
    if field is not None:
        field = field.removeprefix("agendamento").removeprefix("/") or None
    return field, str(error.reason)


def check_booking(ctx: Context, record: BookingRecord) -> None:
    """Refuse ``record`` unless every dialect ``ctx`` serves can answer it under its contract.

    :raises OutsideContractError: naming the booking (``record_id``) and the contract field
        (REST path, ``cidadao/cpfCnpj``); HTTP 422 on the inspection API.
    """
    checks: list[tuple[str, Callable[[Context, BookingRecord], tuple[str | None, str] | None]]]
    checks = []
    if ctx.rest:
        checks.append(("REST", _rest_problem))
    if ctx.soap:
        checks.append(("SOAP", _soap_problem))
    for dialect, problem in checks:
        found = problem(ctx, record)
        if found is not None:
            field, reason = found
            raise OutsideContractError(
                f"the booking breaks the {dialect} contract, so no answer could carry it: {reason}",
                record_id=record.id,
                field=field,
            )
