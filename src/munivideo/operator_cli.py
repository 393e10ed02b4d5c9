"""``munivideo outbox list | show | requeue | done`` and ``munivideo quarantine list | readmit``.

``outbox requeue`` is ``munivideo requeue`` itself (:func:`munivideo.jobs_cli.requeue`),
reachable under the outbox's verbs.

The operator's console actions on the command line: the same engine calls
(:mod:`munivideo.engine.operate`), the same audit entries. Every command takes ``--config``
and ``--json``; exit codes as the job commands (0 done, 1 something failed or is waiting,
2 usage or configuration).
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

import click
from pydantic import BaseModel

from munivideo.cli import fail
from munivideo.engine.operate import AGES, ReadmitResult
from munivideo.errors import ConfigurationError, MunivideoError, NotFoundError
from munivideo.jobs_cli import _config_option, _json_option, _open, _run
from munivideo.jobs_cli import quarantine as quarantine_list
from munivideo.jobs_cli import requeue as jobs_requeue
from munivideo.store.states import OutboxState


class OutboxListing(BaseModel):
    """One tenant's page of outbox rows; ``next_after`` continues it (``--after``)."""

    tenant_id: str
    items: list[dict[str, Any]]
    next_after: int | None = None


class OutboxDetail(BaseModel):
    """One row with its audit trail (``outbox show``)."""

    tenant_id: str
    item: dict[str, Any]
    audit: list[dict[str, Any]]


def _row(item: Any) -> dict[str, Any]:
    """An outbox row for listing: no personal data (the entry stays out)."""
    return {
        "id": item.id,
        "booking_id": item.booking_id,
        "state": item.state.value,
        "attempts": item.attempts,
        "max_attempts": item.max_attempts,
        "created_at": item.created_at.isoformat(),
        "next_attempt_at": item.next_attempt_at.isoformat(),
        "last_error_type": item.last_error_type,
        "protocol": item.receipt.label if item.receipt else None,
    }


def _actor(actor: str | None) -> str:
    return actor or getpass.getuser()


@click.group()
def outbox() -> None:
    """List and inspect outbox rows; requeue them or mark them done elsewhere."""


@outbox.command("list")
@_config_option
@_json_option
@click.option("--state", type=click.Choice([s.value for s in OutboxState]), default=None)
@click.option("--older-than", type=click.Choice(list(AGES)), default=None, help="Created before.")
@click.option("--after", type=int, default=None, help="Continue after this id (keyset page).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
def list_cmd(
    configs: tuple[Path, ...],
    as_json: bool,
    state: str | None,
    older_than: str | None,
    after: int | None,
    limit: int,
) -> None:
    """Rows by ascending id (oldest first), filtered by state and age, one page."""
    from munivideo.engine.operate import outbox_page

    def work(mv: Any, _p: Any) -> BaseModel:
        page = outbox_page(
            mv.engine,
            state=OutboxState(state) if state else None,
            older_than=AGES[older_than] if older_than else None,
            after=after,
            size=limit,
        )
        return OutboxListing(
            tenant_id=mv.tenant_id,
            items=[_row(i) for i in page.items],
            next_after=page.next_after,
        )

    def describe(listing: Any) -> str:
        lines = [f"{listing.tenant_id}: {len(listing.items)} rows"]
        lines += [
            f"  #{r['id']} {r['booking_id']} {r['state']} {r['attempts']}/{r['max_attempts']} "
            f"created {r['created_at']}"
            + (f" protocol {r['protocol']}" if r["protocol"] else "")
            + (f" last error {r['last_error_type']}" if r["last_error_type"] else "")
            for r in listing.items
        ]
        if listing.next_after is not None:
            lines.append(f"  more: --after {listing.next_after}")
        return "\n".join(lines)

    _run(configs, as_json, work, lambda _r: True, describe, "outbox")


@outbox.command("show")
@_config_option
@_json_option
@click.option("--id", "item_id", required=True, type=int, help="Outbox id.")
def show(configs: tuple[Path, ...], as_json: bool, item_id: int) -> None:
    """One row: state, attempts, sub-steps done, receipt, and its audit trail."""

    def work(mv: Any, _p: Any) -> BaseModel:
        from munivideo.errors import NotFoundError

        item = mv.engine.store.get_item(item_id)
        if item.tenant_id != mv.tenant_id:
            raise NotFoundError(
                f"outbox item {item_id} is not in tenant {mv.tenant_id}",
                record_id=str(item_id),
                field="id",
            )
        data = _row(item) | {
            "external_reference": item.external_reference,
            "steps": item.steps,
            "last_error": item.last_error,
            "lease_owner": item.lease_owner,
            "delivered_at": item.delivered_at.isoformat() if item.delivered_at else None,
        }
        trail = [a.model_dump(mode="json") for a in mv.audit_trail(item_id)]
        return OutboxDetail(tenant_id=mv.tenant_id, item=data, audit=trail)

    def describe(d: Any) -> str:
        i = d.item
        lines = [
            f"#{i['id']} {i['booking_id']} {i['state']} attempts {i['attempts']}/"
            f"{i['max_attempts']}" + (f" protocol {i['protocol']}" if i["protocol"] else ""),
        ]
        if i["last_error"]:
            # a delivered row keeps the error of the attempt before the one that went through
            label = "an earlier attempt's error" if i["state"] == "delivered" else "last error"
            lines.append(f"  {label} {i['last_error_type']}: {i['last_error']}")
        lines += [f"  step {name}: {detail}" for name, detail in i["steps"].items()]
        lines += [
            f"  {a['at']} {a['from_state'] or '-'} -> {a['to_state']} by {a['actor']}: "
            f"{a['reason']}"
            for a in d.audit
        ]
        return "\n".join(lines)

    _run(configs, as_json, work, lambda _r: True, describe, "outbox")


# `munivideo requeue` (one or more --id, or --all) under the outbox's own verbs too: one
# command, so the two spellings cannot drift apart.
outbox.add_command(jobs_requeue, "requeue")


class _Moved(BaseModel):
    tenant_id: str
    id: int
    state: str
    protocol: str | None = None


@outbox.command("done")
@_config_option
@_json_option
@click.option("--id", "item_id", required=True, type=int, help="Outbox id.")
@click.option("--protocol", required=True, help="The protocol created by hand: NUMBER/YEAR.")
@click.option("--reason", required=True, help="Why (kept in the audit trail).")
@click.option("--actor", default=None, help="Who (default: the current user).")
def done(
    configs: tuple[Path, ...],
    as_json: bool,
    item_id: int,
    protocol: str,
    reason: str,
    actor: str | None,
) -> None:
    """Mark a dead letter delivered: a person created protocol NUMBER/YEAR in the
    ERP by hand."""
    from munivideo.engine.operate import mark_done_elsewhere
    from munivideo.errors import InvalidRecordError

    number, _, year = protocol.partition("/")

    def work(mv: Any, _p: Any) -> _Moved:
        if not (number.isdigit() and year.isdigit()):
            raise InvalidRecordError(
                "give the protocol as NUMBER/YEAR", record_id=str(item_id), field="protocol"
            )
        item = mark_done_elsewhere(
            mv.engine,
            item_id,
            number=int(number),
            year=int(year),
            actor=_actor(actor),
            reason=reason,
        )
        label = item.receipt.label if item.receipt else None
        return _Moved(tenant_id=mv.tenant_id, id=item.id, state=item.state.value, protocol=label)

    _run(
        configs,
        as_json,
        work,
        lambda _r: True,
        lambda r: f"{r.tenant_id}: #{r.id} marked done elsewhere (protocol {r.protocol})",
        "done",
    )


@click.group()
def quarantine() -> None:
    """Records that could not be processed: list them, re-admit them."""


quarantine.add_command(quarantine_list, "list")


def _with_new_reason(mv: Any, result: ReadmitResult) -> ReadmitResult:
    """``result`` with the reason the record was quarantined again (the entry's new reason)
    in place of "see the quarantine entry's new reason", so the line says why."""
    from munivideo.engine.operate import find_quarantined

    if result.admitted or not result.reason.startswith("still refused"):
        return result
    entry = find_quarantined(mv.engine, result.quarantine_id)
    return result.model_copy(update={"reason": f"still refused: {entry.reason}"})


def _holder(configs: tuple[Path, ...], quarantine_id: int, as_json: bool) -> Path:
    """The one ``--config`` whose tenant has quarantine entry ``quarantine_id``: every given
    tenant is searched. Exits 1 (not found) when none has it, 2 when several do (each store
    numbers its own entries, so the id does not say which one)."""
    from munivideo.engine.operate import find_quarantined

    if len(configs) == 1:
        return configs[0]
    holders: list[tuple[Path, str]] = []
    try:
        tenants = _open(configs)
    except MunivideoError as exc:
        fail(exc, as_json=as_json)
        raise  # pragma: no cover - fail() exits
    try:
        for path, mv in zip(configs, tenants, strict=True):
            try:
                find_quarantined(mv.engine, quarantine_id)
            except NotFoundError:
                continue
            holders.append((path, mv.tenant_id))
    finally:
        for mv in tenants:
            mv.close()
    names = ", ".join(mv.tenant_id for mv in tenants)
    if not holders:
        fail(
            NotFoundError(
                f"no quarantined record {quarantine_id} in tenants {names}",
                record_id=str(quarantine_id),
                field="id",
            ),
            as_json=as_json,
        )
    if len(holders) > 1:
        fail(
            ConfigurationError(
                f"quarantine entry {quarantine_id} exists in tenants "
                f"{', '.join(t for _p, t in holders)} (each store numbers its own): pass only "
                "the --config of the tenant you mean",
                record_id=str(quarantine_id),
                field="config",
            ),
            as_json=as_json,
        )
    return holders[0][0]


@quarantine.command("readmit")
@_config_option
@_json_option
@click.option("--id", "quarantine_id", required=True, type=int, help="Quarantine entry id.")
def readmit(configs: tuple[Path, ...], as_json: bool, quarantine_id: int) -> None:
    """Re-process a quarantined record (a booking is fetched again from the ERP; an attendance
    is recorded again from its kept payload) and resolve it when it goes through. With several
    --config, the tenant that has entry --id is used."""
    from munivideo.engine.operate import readmit as do_readmit

    _run(
        (_holder(configs, quarantine_id, as_json),),
        as_json,
        lambda mv, _p: _with_new_reason(mv, do_readmit(mv.engine, quarantine_id)),
        lambda r: r.admitted,
        lambda r: (
            f"{r.tenant_id}: {r.kind.value} {r.record_id} re-admitted from {r.source}"
            + (f" -> outbox #{r.outbox_id}" if r.outbox_id else "")
            if r.admitted
            else f"{r.tenant_id}: {r.kind.value} {r.record_id} still quarantined: {r.reason}"
        ),
        "readmit",
    )
