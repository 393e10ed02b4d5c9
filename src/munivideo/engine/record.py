"""Record: classify what happened in a booking's room and put its protocol entry in the outbox.

The attendance and its outbox row are written in one transaction: once ``record`` returns, the
write-back is durable and nothing downstream can lose it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import timedelta

from pydantic import ValidationError

from munivideo import attendance as attendance_rules
from munivideo.engine.context import Engine
from munivideo.engine.keys import booking_fingerprint, external_reference
from munivideo.engine.results import RecordResult
from munivideo.error_catalogue import coded
from munivideo.errors import (
    ConfigurationError,
    ContractViolationError,
    InvalidRecordError,
    LifecycleError,
    MunivideoError,
    RejectedError,
    UnauthenticatedError,
)
from munivideo.invitations import booking_uid
from munivideo.models import (
    AccessLevel,
    Applicant,
    Attendance,
    AttendanceEvent,
    Booking,
    BookingStatus,
    Outcome,
    OutcomeForm,
    ProtocolEntry,
)
from munivideo.store.records import Binding, QuarantineKind
from munivideo.values import local

SUMMARY_TEMPLATE = {
    Outcome.ATTENDED: "Atendimento por vídeo realizado ({service}).",
    Outcome.CITIZEN_NO_SHOW: "Atendimento por vídeo não realizado: o cidadão não compareceu.",
    Outcome.SERVANT_NO_SHOW: "Atendimento por vídeo não realizado: o servidor não compareceu.",
    Outcome.TECHNICAL_FAILURE: "Atendimento por vídeo interrompido por falha técnica.",
    Outcome.CANCELLED: "Atendimento por vídeo cancelado.",
}
"""First line of the protocol summary per outcome (pt-BR: the ERP's users read it)."""


def classify(
    engine: Engine, booking: Booking, events: list[AttendanceEvent], form: OutcomeForm | None
) -> Attendance:
    """Classify with :func:`munivideo.attendance.classify` and the tenant's thresholds."""
    settings = engine.config.attendance
    return attendance_rules.classify(
        booking,
        events,
        form,
        min_overlap=timedelta(minutes=settings.min_overlap_minutes),
    ).attendance


def build_entry(engine: Engine, booking: Booking, attendance: Attendance) -> ProtocolEntry:
    """Map an attendance to the ERP's protocol entry (subject and department from the
    tenant's service mapping, applicant from the citizen). The summary and dispatch texts are
    pt-BR (they are the ERP's record) and cut to 8,000 characters.

    :raises munivideo.errors.InvalidRecordError: the booking's service is not configured
        (field ``service_code``).
    """
    service = engine.config.service(booking.service_code)
    if service is None:
        raise coded(
            InvalidRecordError,
            "record.unknown_subject",
            record_id=booking.id,
            field="service_code",
            service=booking.service_code,
        )
    when = local(booking.start).strftime("%d/%m/%Y %H:%M")
    lines = [SUMMARY_TEMPLATE[attendance.outcome].format(service=service.name)]
    lines.append(f"Agendamento {booking.id} de {when}.")
    if attendance.summary:
        lines.append(attendance.summary)
    if attendance.documents:
        lines.append(
            "Documentos verificados: " + "; ".join(d.name for d in attendance.documents) + "."
        )
    dispatch = "\n".join(
        f"Encaminhado a {d.department_code}: {d.description}" for d in attendance.demands
    )
    citizen = booking.citizen
    return ProtocolEntry(
        external_reference=external_reference(engine.tenant_id, booking.id),
        tenant_id=engine.tenant_id,
        booking_id=booking.id,
        subject_code=service.erp_subject_code,
        applicant=Applicant(name=citizen.name, cpf=citizen.cpf, cnpj=citizen.cnpj),
        department_code=service.department_code,
        servant_registration=booking.servant.registration if booking.servant else None,
        opened_at=attendance.started_at or booking.start,
        summary="\n".join(lines)[:8000],
        dispatch=dispatch[:8000],
        access_level=AccessLevel.INTERNAL,
        outcome=attendance.outcome,
        documents=attendance.documents,
        forwards=attendance.demands,
    )


def _refuse_outcome_of_cancelled(booking: Booking, form: OutcomeForm | None) -> None:
    """A servant who states an outcome other than ``cancelled`` for a booking the ERP has
    cancelled contradicts the ERP: refused (quarantined, reported in the result) rather than
    silently rewritten to ``cancelled``, so the servant sees the conflict and an operator
    decides. Without a stated outcome, a cancelled booking is still classified ``cancelled``.

    :raises LifecycleError: naming the booking and field ``status``.
    """
    if (
        booking.status is BookingStatus.CANCELLED
        and form is not None
        and form.outcome is not None
        and form.outcome is not Outcome.CANCELLED
    ):
        raise LifecycleError(
            f"the ERP has cancelled this booking, but the form says {form.outcome.value}: "
            "nothing was recorded; check the booking with the ERP",
            record_id=booking.id,
            field="status",
        )


def record(
    engine: Engine,
    events: Iterable[AttendanceEvent],
    form: OutcomeForm | None,
    *,
    booking_id: str | None = None,
) -> RecordResult:
    """Classify and enqueue one booking's outcome. Recording it again keeps the first entry.

    A refused attendance (unknown booking, a form for another booking, a veto, invalid data,
    a stated outcome other than ``cancelled`` for a booking the ERP cancelled: field
    ``status``) is quarantined and reported in the result, not raised.

    :raises munivideo.errors.InvalidRecordError: no form, no events and no ``booking_id``:
        nothing says which booking.
    """
    events = list(events)
    target = (
        booking_id
        or (form.booking_id if form else None)
        or (events[0].booking_id if events else None)
    )
    if target is None:
        raise InvalidRecordError("nothing to record: no form and no events", field="booking_id")
    result = RecordResult(tenant_id=engine.tenant_id, booking_id=target)
    raw = _raw(events, form)
    try:
        booking = _bound_booking(engine, target)
        if form is not None and form.booking_id != target:
            raise InvalidRecordError(
                f"the form is for booking {form.booking_id}", record_id=target, field="booking_id"
            )
        _refuse_outcome_of_cancelled(booking, form)
        # Events that came earlier (webhooks) and the ones given now, each event id once.
        known = {e.event_id: e for e in engine.store.events_for(engine.tenant_id, target)}
        known.update((e.event_id, e) for e in events if e.booking_id == target)
        attendance = classify(engine, booking, list(known.values()), form)
        entry = build_entry(engine, booking, attendance)
        entry = engine.plugins.protocol_entry_prepared(engine.config.tenant, attendance, entry)
    except (RejectedError, ValidationError) as exc:
        error = exc if isinstance(exc, MunivideoError) else _invalid(target, exc)
        engine.quarantine(QuarantineKind.ATTENDANCE, target, error, raw)
        result.quarantined = True
        result.reason = str(error)
        return result
    item, created = engine.store.enqueue(
        engine.tenant_id,
        attendance,
        entry,
        max_attempts=engine.config.writeback.max_attempts,
        now=engine.now(),
    )
    result.outcome = item.entry.outcome
    result.external_reference = item.external_reference
    result.outbox_id = item.id
    result.created = created
    return result


def ingest_events(engine: Engine, events: Iterable[AttendanceEvent]) -> int:
    """Keep join/leave events (deduplicated by event id) until the booking's outcome is
    recorded; returns how many were new."""
    return engine.store.add_events(engine.tenant_id, list(events), now=engine.now())


MAX_WEBHOOK_BYTES = 256 * 1024
"""Largest webhook body read (bytes); a bigger one is refused before it is parsed."""


def ingest_webhook(engine: Engine, headers: Mapping[str, str], body: bytes) -> int:
    """Parse one video-provider webhook call and keep its events; returns how many were new.

    Fails closed, in this order (the decision table of docs/attendance-events):

    * the provider has no webhook secret configured: :class:`ConfigurationError`, nothing read;
    * the caller did not authenticate: :class:`UnauthenticatedError`, the body is **not** kept;
    * an authenticated body the provider cannot read (anything at all, however malformed):
      quarantined with its raw body and a :class:`ContractViolationError` raised (answer 400);
    * an event for a booking this tenant does not know: quarantined (kind ``attendance``, the
      booking id), not kept; the other events of the call are kept.
    """
    if len(body) > MAX_WEBHOOK_BYTES:
        raise ContractViolationError(
            f"webhook body of {len(body)} bytes is over the {MAX_WEBHOOK_BYTES}-byte cap",
            field="body",
        )
    try:
        events = engine.video.parse_webhook(headers, body)
    except (UnauthenticatedError, ConfigurationError):
        raise  # not authenticated: not stored, not parsed further
    except Exception as exc:
        if isinstance(exc, ContractViolationError | RejectedError):
            error: MunivideoError = exc
        else:
            error = ContractViolationError(
                f"webhook: unreadable payload ({type(exc).__name__})", field="body"
            )
        digest = hashlib.sha256(body).hexdigest()[:16]
        engine.quarantine(
            QuarantineKind.ATTENDANCE, f"webhook:{digest}", error, body.decode("utf-8", "replace")
        )
        if error is exc:
            raise
        raise error from None
    known = engine.store.get_bindings(engine.tenant_id, sorted({e.booking_id for e in events}))
    for event in events:
        if event.booking_id not in known:
            engine.quarantine(
                QuarantineKind.ATTENDANCE,
                event.booking_id,
                coded(
                    InvalidRecordError,
                    "record.unknown_booking_event",
                    record_id=event.booking_id,
                    field="booking_id",
                ),
                event.model_dump_json(),
            )
    return ingest_events(engine, [e for e in events if e.booking_id in known])


def _bound_booking(engine: Engine, booking_id: str) -> Booking:
    binding = engine.store.get_binding(engine.tenant_id, booking_id)
    if binding is not None:
        return binding.booking
    # Not synced yet (e.g. a webhook raced the sync): bind it from the ERP's copy.
    booking = engine.erp.get_booking(booking_id)
    now = engine.now()
    engine.store.save_binding(
        Binding(
            tenant_id=engine.tenant_id,
            booking_id=booking.id,
            booking=booking,
            fingerprint=booking_fingerprint(booking),
            invitation_uid=booking_uid(engine.tenant_id, booking.id),
            created_at=now,
            updated_at=now,
        )
    )
    return booking


def _invalid(record_id: str, exc: ValidationError) -> InvalidRecordError:
    first = exc.errors()[0]
    return InvalidRecordError(
        first["msg"], record_id=record_id, field=".".join(str(p) for p in first["loc"])
    )


def _raw(events: list[AttendanceEvent], form: OutcomeForm | None) -> str:
    import json

    return json.dumps(
        {
            "events": [e.model_dump(mode="json") for e in events],
            "form": form.model_dump(mode="json") if form else None,
        },
        ensure_ascii=False,
    )
