"""The servant's pages: the day's agenda, a booking's page, and the outcome form.

Saving the form calls the engine's :func:`munivideo.engine.record` (the same path as
``munivideo record``): the attendance and its outbox row are written in one transaction, and the
booking's page then follows the write-back until the ERP's protocol number is known.
Uploaded documents are hashed (SHA-256) while they stream in and then dropped: the ERP gets the
document's record (name, kind, hash, size), the console keeps no copy of the file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import RedirectResponse, Response

from munivideo.api import Munivideo
from munivideo.console.users import ConsoleRole
from munivideo.console.web import Page, page
from munivideo.error_catalogue import localized
from munivideo.errors import MunivideoError
from munivideo.models import (
    Booking,
    ForwardedDemand,
    JoinLink,
    Outcome,
    OutcomeForm,
    Participant,
    Role,
    VerifiedDocument,
)
from munivideo.store.records import Binding, OutboxItem
from munivideo.store.states import OutboxState

DOCUMENT_KINDS: tuple[str, ...] = (
    "identidade",
    "cpf",
    "comprovante-residencia",
    "matricula-imovel",
    "contrato",
    "procuracao",
    "nota-fiscal",
    "outro",
)
"""Document kinds offered in the form (the ERP receives the code)."""

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MEDIA_TYPE = re.compile(r"^[a-z0-9.+-]+/[a-z0-9.+-]+$")


@dataclass
class AgendaRow:
    """One booking on a servant's agenda: its binding, the service name, the slot's start and
    end (tenant-local, time-zone aware), the servant's own join link (``None`` before a room
    exists) and the write-back row of its outcome (``None`` before one is recorded).
    """

    binding: Binding
    service: str
    start: datetime
    end: datetime
    link: JoinLink | None
    item: OutboxItem | None


def servant_link(mv: Munivideo, booking: Booking, binding: Binding) -> JoinLink | None:
    """The servant's own join link (moderator), or None without a room or servant."""
    room = binding.room
    if room is None or room.closed or booking.servant is None:
        return None
    servant = Participant(
        id=booking.servant.registration,
        name=booking.servant.name,
        email=booking.servant.email,
        role=Role.SERVANT,
    )
    return mv.engine.video.join_link(room, servant)


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """``[00:00, 24:00)`` of ``day`` in the tenant's zone."""
    start = datetime.combine(day, time(0, 0), tzinfo=zone)
    return start, datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=zone)


def agenda_rows(mv: Munivideo, registration: str, day: date) -> list[AgendaRow]:
    """The bookings of ``registration`` starting on ``day`` (tenant's zone), with links and
    outbox rows."""
    zone = ZoneInfo(mv.engine.config.tenant.timezone)
    start, end = day_bounds(day, zone)
    store = mv.engine.store
    rows = []
    for binding in store.bindings_starting(
        mv.tenant_id, start=start, end=end, servant_registration=registration
    ):
        booking = binding.booking
        service = mv.engine.config.service(booking.service_code)
        rows.append(
            AgendaRow(
                binding=binding,
                service=service.name if service else booking.service_code,
                start=booking.start.astimezone(zone),
                end=booking.end.astimezone(zone),
                link=servant_link(mv, booking, binding),
                item=store.item_for_booking(mv.tenant_id, booking.id)
                if binding.attendance
                else None,
            )
        )
    return rows


def _day(p: Page) -> date:
    raw = p.request.query_params.get("day", "")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return p.now().astimezone(p.zone).date()


@page(ConsoleRole.SERVANT)
async def agenda(p: Page) -> Response:
    """The servant's bookings of one day (``?day=YYYY-MM-DD``, default today in the tenant's
    zone), with times in that zone, the masked citizen, service, status and own join link."""
    day = _day(p)
    registration = p.user.servant_registration or ""
    rows = await run_in_threadpool(agenda_rows, p.mv, registration, day)
    return p.render(
        "agenda.html",
        day=day,
        previous=day - timedelta(days=1),
        following=day + timedelta(days=1),
        rows=rows,
        zone=p.zone,
    )


def _binding(mv: Munivideo, booking_id: str) -> Binding | None:
    return mv.engine.store.get_binding(mv.tenant_id, booking_id)


async def _own_binding(p: Page) -> Binding | Response:
    """The booking named in the path, if it is this servant's (or nobody's yet)."""
    booking_id = str(p.request.path_params["booking_id"])
    binding = await run_in_threadpool(_binding, p.mv, booking_id)
    if binding is None:
        return p.render("error.html", 404, message=p.t("error.no_booking", id=booking_id))
    servant = binding.booking.servant
    if servant is not None and servant.registration != p.user.servant_registration:
        return p.render("error.html", 403, message=p.t("error.not_yours"))
    return binding


@dataclass
class FormState:
    """What the outcome form shows: the values typed and the problems found."""

    outcome: str = ""
    summary: str = ""
    documents: list[dict[str, str]] = field(default_factory=lambda: [{}])
    demands: list[dict[str, str]] = field(default_factory=lambda: [{}])
    errors: list[str] = field(default_factory=list)


def _booking_context(p: Page, binding: Binding, state: FormState) -> dict[str, Any]:
    mv = p.mv
    booking = binding.booking
    service = mv.engine.config.service(booking.service_code)
    return {
        "binding": binding,
        "booking": booking,
        "service": service.name if service else booking.service_code,
        "zone": p.zone,
        "link": servant_link(mv, booking, binding),
        "events": mv.engine.store.events_for(mv.tenant_id, booking.id),
        "item": mv.engine.store.item_for_booking(mv.tenant_id, booking.id),
        "departments": mv.engine.config.departments,
        "outcomes": [o.value for o in Outcome],
        "kinds": DOCUMENT_KINDS,
        "form": state,
    }


@page(ConsoleRole.SERVANT)
async def booking_page(p: Page) -> Response:
    """One booking: details, room window, join link, webhook events, and either the outcome
    form or, once recorded, the write-back's progress up to the protocol number."""
    found = await _own_binding(p)
    if isinstance(found, Response):
        return found
    context = await run_in_threadpool(_booking_context, p, found, FormState())
    return p.render("booking.html", **context)


@page(ConsoleRole.SERVANT)
async def writeback_status(p: Page) -> Response:
    """The write-back panel alone (htmx polls it until the row is delivered or failed)."""
    found = await _own_binding(p)
    if isinstance(found, Response):
        return found
    mv = p.mv
    item = await run_in_threadpool(mv.engine.store.item_for_booking, mv.tenant_id, found.booking_id)
    return p.render("_writeback.html", booking=found.booking, item=item, zone=p.zone)


@page(ConsoleRole.SERVANT)
async def document_row(p: Page) -> Response:
    """One more empty document row (htmx appends it to the form)."""
    return p.render("_document_row.html", row={}, kinds=DOCUMENT_KINDS)


@page(ConsoleRole.SERVANT)
async def demand_row(p: Page) -> Response:
    """One more empty demand row (htmx appends it to the form)."""
    return p.render("_demand_row.html", row={}, departments=p.mv.engine.config.departments)


async def _document(
    p: Page, index: int, name: str, kind: str, typed: str, upload: object
) -> tuple[VerifiedDocument | None, str | None]:
    """One document row -> a verified document, or an error message."""
    digest = typed.lower()
    size = 0
    media_type = "application/pdf"
    if isinstance(upload, UploadFile) and upload.filename:
        hasher = hashlib.sha256()
        while chunk := await upload.read(64 * 1024):
            hasher.update(chunk)
            size += len(chunk)
        computed = hasher.hexdigest()
        if digest and digest != computed:
            return None, p.t("form.sha_mismatch", n=index)
        digest = computed
        name = name or upload.filename
        given_type = (upload.content_type or "").lower()
        if _MEDIA_TYPE.match(given_type):
            media_type = given_type
    if not (name or digest):
        return None, None  # an empty row
    if not digest:
        return None, p.t("form.doc_needs_file", n=index)
    if not _SHA256.match(digest):
        return None, p.t("form.doc_bad_sha", n=index)
    try:
        return (
            VerifiedDocument(
                name=name or kind,
                kind=kind if kind in DOCUMENT_KINDS else "outro",
                sha256=digest,
                media_type=media_type,
                size=size,
            ),
            None,
        )
    except ValidationError as exc:
        return None, p.t("form.doc_invalid", n=index, reason=exc.errors()[0]["msg"])


async def parse_outcome(p: Page, booking_id: str) -> tuple[OutcomeForm | None, FormState]:
    """The posted outcome form -> an :class:`OutcomeForm` (or None and the problems)."""
    assert p.form is not None
    form = p.form
    state = FormState(outcome=p.form_value("outcome"), summary=p.form_value("summary"))
    names = [str(v) for v in form.getlist("doc_name")]
    kinds = [str(v) for v in form.getlist("doc_kind")]
    shas = [str(v) for v in form.getlist("doc_sha256")]
    files = list(form.getlist("doc_file"))
    documents: list[VerifiedDocument] = []
    state.documents = []
    for i in range(max(len(names), len(shas), len(files))):
        name = names[i].strip() if i < len(names) else ""
        kind = kinds[i] if i < len(kinds) else "outro"
        typed = shas[i].strip() if i < len(shas) else ""
        upload = files[i] if i < len(files) else None
        document, error = await _document(p, i + 1, name, kind, typed, upload)
        if error:
            state.errors.append(error)
        if document is not None:
            documents.append(document)
        state.documents.append(
            {"name": name, "kind": kind, "sha256": document.sha256 if document else typed}
        )
    demands: list[ForwardedDemand] = []
    state.demands = []
    departments = {d.code for d in p.mv.engine.config.departments}
    for i, (code, text) in enumerate(
        zip(form.getlist("demand_department"), form.getlist("demand_description"), strict=False)
    ):
        code, text = str(code).strip(), str(text).strip()
        state.demands.append({"department": code, "description": text})
        if not text:
            continue
        if code not in departments:
            state.errors.append(p.t("form.demand_department", n=i + 1))
            continue
        demands.append(ForwardedDemand(department_code=code, description=text[:4000]))
    if state.outcome and state.outcome not in {o.value for o in Outcome}:
        state.errors.append(p.t("form.bad_outcome"))
    state.documents = state.documents or [{}]
    state.demands = state.demands or [{}]
    if state.errors:
        return None, state
    try:
        outcome = OutcomeForm(
            booking_id=booking_id,
            servant_registration=p.user.servant_registration or "",
            summary=state.summary[:8000],
            documents=tuple(documents),
            demands=tuple(demands),
            outcome=Outcome(state.outcome) if state.outcome else None,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        state.errors.append(p.t("form.invalid", field=where, reason=first["msg"]))
        return None, state
    return outcome, state


@page(ConsoleRole.SERVANT, upload_limit=1)
async def record_outcome(p: Page) -> Response:
    """Save the outcome form: attendance + outbox row in one transaction (the engine's
    ``record``); then back to the booking's page, which follows the write-back."""
    found = await _own_binding(p)
    if isinstance(found, Response):
        return found
    form, state = await parse_outcome(p, found.booking_id)
    if form is not None:
        try:
            result = await run_in_threadpool(p.mv.record, [], form, booking_id=found.booking_id)
        except MunivideoError as exc:
            reason = localized(type(exc).__name__, str(exc), p.locale)
            state.errors.append(p.t("form.not_saved", reason=reason))
        else:
            if not result.quarantined:
                return RedirectResponse(f"/bookings/{found.booking_id}", status_code=303)
            reason = localized(None, result.reason or "", p.locale)
            state.errors.append(p.t("form.quarantined", reason=reason))
    context = await run_in_threadpool(_booking_context, p, found, state)
    return p.render("booking.html", 422, **context)


FINAL_STATES = frozenset({OutboxState.DELIVERED, OutboxState.FAILED})
"""Write-back states after which the booking page stops polling."""
