"""LGPD retention: erase personal data the store no longer needs, after a configured period.

``munivideo retention purge --config FILE`` (and :func:`purge`) rewrites, for one tenant, every
row older than ``[retention] personal_data_days`` (or ``--days``):

==========================================  ===============================================
Rows                                        What is erased
==========================================  ===============================================
bindings not changed since the cutoff,      the citizen (name, CPF/CNPJ, e-mail, phone),
with no outbox row still to deliver         notes, the servant's e-mail, the attendance's
                                            participants and summary
outbox rows ``delivered`` before the        the applicant (name, CPF/CNPJ), summary, dispatch
cutoff                                      text, documents' names
quarantine rows last seen before the        the raw record (the reason is kept, redacted)
cutoff
==========================================  ===============================================

Ids, states, times, receipts and the audit trail stay: they are what shows that the work was
done. The ERP stays the system of record. Placeholders keep every row readable by the models
(:data:`ERASED_NAME`, :data:`ERASED_CPF`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click
from pydantic import BaseModel

from munivideo.errors import MunivideoError
from munivideo.store.port import Store

ERASED_NAME = "[removido - LGPD]"
"""Name written in place of an erased person's name."""
ERASED_CPF = "00000000191"
"""A CPF with valid check digits that identifies nobody, so erased rows still validate."""


class RetentionResult(BaseModel):
    """How many rows had personal data erased, per table."""

    tenant_id: str
    cutoff: datetime
    bindings: int = 0
    outbox: int = 0
    quarantine: int = 0
    dry_run: bool = False


def erase_booking(doc: dict[str, Any]) -> dict[str, Any]:
    """A booking (JSON dict) without its personal data."""
    doc = dict(doc)
    doc["citizen"] = {
        **{k: v for k, v in dict(doc.get("citizen") or {}).items() if k == "locale"},
        "name": ERASED_NAME,
        "cpf": ERASED_CPF,
        "cnpj": None,
        "email": None,
        "phone": None,
    }
    doc["notes"] = ""
    servant = doc.get("servant")
    if isinstance(servant, dict):
        doc["servant"] = {**servant, "email": None}
    return doc


def erase_attendance(doc: dict[str, Any]) -> dict[str, Any]:
    """An attendance (JSON dict) without participants' names and the free-text summary."""
    return {**doc, "participants": [], "summary": ""}


def erase_entry(doc: dict[str, Any]) -> dict[str, Any]:
    """A protocol entry (JSON dict) without the applicant and the free texts."""
    doc = dict(doc)
    doc["applicant"] = {"name": ERASED_NAME, "cpf": ERASED_CPF, "cnpj": None}
    doc["summary"] = ERASED_NAME
    doc["dispatch"] = ""
    doc["documents"] = [{**d, "name": ERASED_NAME} for d in doc.get("documents") or []]
    doc["forwards"] = [{**f, "description": ERASED_NAME} for f in doc.get("forwards") or []]
    return doc


def purge(
    store: Store, tenant_id: str, *, now: datetime, days: int, dry_run: bool = False
) -> RetentionResult:
    """Erase the personal data of ``tenant_id`` older than ``days`` (see the module's table)
    through :meth:`munivideo.store.port.Store.purge_personal_data`, on either store."""
    cutoff = now - timedelta(days=days)
    counts = store.purge_personal_data(
        tenant_id,
        before=cutoff,
        booking=erase_booking,
        attendance=erase_attendance,
        entry=erase_entry,
        dry_run=dry_run,
    )
    return RetentionResult(tenant_id=tenant_id, cutoff=cutoff, dry_run=dry_run, **counts)


@click.group()
def retention() -> None:
    """LGPD retention: erase personal data older than the configured period."""


@retention.command("purge")
@click.option(
    "--config",
    "configs",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Tenant configuration file (repeat for several tenants).",
)
@click.option(
    "--days",
    type=click.IntRange(1),
    default=None,
    help="Override [retention] personal_data_days.",
)
@click.option("--dry-run", is_flag=True, help="Count what would be erased; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def purge_command(configs: Sequence[Path], days: int | None, dry_run: bool, as_json: bool) -> None:
    """Erase personal data older than the retention period from bindings, delivered outbox
    rows and the quarantine. Exit 0, or 2 on a configuration error."""
    from munivideo.cli import fail
    from munivideo.config import load_config
    from munivideo.store.factory import open_store
    from munivideo.values import utcnow

    results = []
    try:
        for path in configs:
            config = load_config(path)
            store = open_store(config.store.url, base=Path(path).resolve().parent)
            try:
                results.append(
                    purge(
                        store,
                        config.tenant.id,
                        now=utcnow(),
                        days=days or config.retention.personal_data_days,
                        dry_run=dry_run,
                    )
                )
            finally:
                store.close()
    except MunivideoError as exc:
        fail(exc, as_json=as_json)
    if as_json:
        click.echo(json.dumps([r.model_dump(mode="json") for r in results], ensure_ascii=False))
        return
    for r in results:
        verb = "would erase" if r.dry_run else "erased"
        click.echo(
            f"{r.tenant_id}: {verb} personal data older than {r.cutoff:%Y-%m-%d} in "
            f"{r.bindings} bindings, {r.outbox} outbox rows, {r.quarantine} quarantine rows"
        )
