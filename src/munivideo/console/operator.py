"""The operator's pages: the outbox (filters, keyset pages), a row with its sub-step timeline
and audit trail, the actions on it, the quarantine with re-admission, and per-city health.

Every action needs a reason; it is stored in the row's audit trail (or answered) with the
operator's name, exactly as the ``munivideo outbox`` / ``munivideo quarantine`` commands do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from munivideo.api import Munivideo
from munivideo.console.users import ConsoleRole
from munivideo.console.web import Page, page
from munivideo.engine.operate import AGES, mark_done_elsewhere, outbox_page, readmit
from munivideo.error_catalogue import localized
from munivideo.errors import MunivideoError
from munivideo.redact import mask_name, redact
from munivideo.store.records import OutboxItem, QuarantineItem, TenantStatus
from munivideo.store.states import OutboxState


def _tenant(p: Page) -> tuple[str, Munivideo] | Response:
    """The tenant asked for (``?tenant=`` or form field), if this operator may see it."""
    wanted = p.request.query_params.get("tenant") or p.form_value("tenant") or p.user.tenant
    if wanted not in p.user.visible_tenants or wanted not in p.console.tenants:
        return p.render("error.html", 403, message=p.t("error.tenant", tenant=wanted))
    return wanted, p.console.tenants[wanted]


@page(ConsoleRole.OPERATOR)
async def outbox(p: Page) -> Response:
    """The outbox of one tenant, filtered by state and age, 50 rows a page (keyset)."""
    found = _tenant(p)
    if isinstance(found, Response):
        return found
    tenant_id, mv = found
    query = p.request.query_params
    state_name = query.get("state", "")
    state = OutboxState(state_name) if state_name in {s.value for s in OutboxState} else None
    age = query.get("age", "")
    after_raw = query.get("after", "")
    after = int(after_raw) if after_raw.isdigit() else None
    result = await run_in_threadpool(
        lambda: outbox_page(mv.engine, state=state, older_than=AGES.get(age), after=after)
    )
    filters = {"tenant": tenant_id, "state": state.value if state else "", "age": age}
    next_url = (
        "/outbox?" + urlencode({**filters, "after": result.next_after})
        if result.next_after is not None
        else None
    )
    return p.render(
        "outbox.html",
        tenant_id=tenant_id,
        tenants=[t for t in p.user.visible_tenants if t in p.console.tenants],
        states=[s.value for s in OutboxState],
        ages=list(AGES),
        filters=filters,
        items=result.items,
        next_url=next_url,
        first_url="/outbox?" + urlencode(filters) if after is not None else None,
        now=p.now(),
        zone=p.zone,
    )


async def _item(p: Page) -> tuple[Munivideo, OutboxItem] | Response:
    found = _tenant(p)
    if isinstance(found, Response):
        return found
    _, mv = found
    item_id = int(p.request.path_params["item_id"])
    try:
        item = await run_in_threadpool(mv.engine.store.get_item, item_id)
    except MunivideoError:
        item = None
    if item is None or item.tenant_id != mv.tenant_id:
        return p.render("error.html", 404, message=p.t("error.no_item", id=item_id))
    return mv, item


@page(ConsoleRole.OPERATOR)
async def outbox_item(p: Page) -> Response:
    """One row: its entry (applicant masked), sub-steps in order, audit trail, and the
    actions its state allows."""
    found = await _item(p)
    if isinstance(found, Response):
        return found
    mv, item = found
    return await _item_page(p, mv, item, notice=p.request.query_params.get("done", ""))


async def _item_page(
    p: Page, mv: Munivideo, item: OutboxItem, *, notice: str = "", error: str = ""
) -> Response:
    trail = await run_in_threadpool(mv.engine.store.audit_trail, item.id)
    applicant = item.entry.applicant
    document = applicant.cpf or applicant.cnpj
    return p.render(
        "outbox_item.html",
        422 if error else 200,
        item=item,
        trail=trail,
        applicant=mask_name(applicant.name),
        document=document.masked() if document is not None else "",
        zone=p.zone,
        notice=notice if notice in ("replay", "requeue", "done") else "",
        error=error,
        now=p.now(),
    )


async def _act(p: Page, action: str) -> Response:
    found = await _item(p)
    if isinstance(found, Response):
        return found
    mv, item = found
    reason = p.form_value("reason")
    actor = f"console:{p.user.key}"
    error = ""
    if not reason:
        error = p.t("action.reason_required")
    else:
        try:
            if action == "replay":
                await run_in_threadpool(mv.replay, [item.id], reason=reason, actor=actor)
            elif action == "requeue":
                await run_in_threadpool(requeue, mv, item.id, actor=actor, reason=reason)
            else:
                number, _, year = p.form_value("protocol").partition("/")
                if not (number.isdigit() and year.isdigit()):
                    raise ValueError(p.t("action.protocol_format"))
                await run_in_threadpool(
                    lambda: mark_done_elsewhere(
                        mv.engine,
                        item.id,
                        number=int(number),
                        year=int(year),
                        actor=actor,
                        reason=reason,
                    )
                )
        except (MunivideoError, ValueError) as exc:
            error = str(exc)
    if not error:
        query = urlencode({"tenant": mv.tenant_id, "done": action})
        return RedirectResponse(f"/outbox/{item.id}?{query}", status_code=303)
    return await _item_page(p, mv, item, error=error)


def requeue(mv: Munivideo, item_id: int, *, actor: str, reason: str) -> None:
    """Make a pending row due now (the store's operator requeue)."""
    mv.engine.store.requeue(
        tenant_id=mv.tenant_id, item_ids=[item_id], actor=actor, reason=reason, now=mv.engine.now()
    )


@page(ConsoleRole.OPERATOR)
async def replay_item(p: Page) -> Response:
    """Replay a dead letter (failed -> pending, fresh attempts), with a reason."""
    return await _act(p, "replay")


@page(ConsoleRole.OPERATOR)
async def requeue_item(p: Page) -> Response:
    """Requeue a waiting row so it is due now, with a reason."""
    return await _act(p, "requeue")


@page(ConsoleRole.OPERATOR)
async def done_item(p: Page) -> Response:
    """Mark a row done elsewhere (a person created protocol N/YYYY by hand), with a reason."""
    return await _act(p, "done")


def masked_raw(item: QuarantineItem, limit: int = 2000) -> str:
    """The kept payload with CPF/CNPJ, e-mail and secrets masked, cut at ``limit``."""
    return redact(item.raw)[:limit]


@page(ConsoleRole.OPERATOR)
async def quarantine(p: Page) -> Response:
    """Quarantined records of one tenant (unresolved; ``?all=1`` with resolved ones), payload
    masked."""
    found = _tenant(p)
    if isinstance(found, Response):
        return found
    tenant_id, mv = found
    include = p.request.query_params.get("all") == "1"
    items = await run_in_threadpool(lambda: mv.quarantine(include_resolved=include))
    return p.render(
        "quarantine.html",
        tenant_id=tenant_id,
        tenants=[t for t in p.user.visible_tenants if t in p.console.tenants],
        items=items,
        include_resolved=include,
        masked=masked_raw,
        zone=p.zone,
        notice=p.request.query_params.get("notice", ""),
    )


@page(ConsoleRole.OPERATOR)
async def readmit_item(p: Page) -> Response:
    """Re-admit a quarantined record: re-fetch or re-process it, resolve it if it goes
    through; the outcome is shown on the quarantine page."""
    found = _tenant(p)
    if isinstance(found, Response):
        return found
    tenant_id, mv = found
    quarantine_id = int(p.request.path_params["quarantine_id"])
    try:
        result = await run_in_threadpool(readmit, mv.engine, quarantine_id)
        notice = (
            p.t("quarantine.admitted", id=result.record_id)
            if result.admitted
            else p.t(
                "quarantine.still",
                id=result.record_id,
                reason=localized(None, result.reason or "", p.locale),
            )
        )
    except MunivideoError as exc:
        notice = str(exc)
    query = urlencode({"tenant": tenant_id, "notice": notice})
    return RedirectResponse(f"/quarantine?{query}", status_code=303)


@dataclass
class HealthRow:
    """One tenant on the operator's health page.

    ``lag`` is the age of the oldest waiting write-back row and ``sync_age`` how far the sync
    cursor's position lies behind ``now`` (both ``None`` when there is nothing to measure);
    ``status`` is the tenant's :class:`~munivideo.store.records.TenantStatus` as
    ``munivideo status`` reports it.
    """

    tenant_id: str
    name: str
    status: TenantStatus
    lag: timedelta | None
    sync_age: timedelta | None


def health_rows(tenants: list[Munivideo], now: datetime) -> list[HealthRow]:
    """One row per tenant: its status, the write-back lag and the sync cursor's age."""
    rows = []
    for mv in tenants:
        status = mv.status()
        oldest = status.outbox.oldest_pending_at
        rows.append(
            HealthRow(
                tenant_id=mv.tenant_id,
                name=mv.engine.config.tenant.name,
                status=status,
                lag=now - oldest if oldest else None,
                sync_age=now - status.cursor_updated_at if status.cursor_updated_at else None,
            )
        )
    return rows


@page(ConsoleRole.OPERATOR)
async def health(p: Page) -> Response:
    """Per city: write-back lag (age of the oldest waiting row), pending, in flight, stale
    leases, dead letters, quarantined records, and how old the newest synced change is."""
    tenants = [p.console.tenants[t] for t in p.user.visible_tenants if t in p.console.tenants]
    rows = await run_in_threadpool(health_rows, tenants, p.now())
    return p.render("health.html", rows=rows)
