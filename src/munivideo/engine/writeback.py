"""Write-back: deliver outbox rows to the ERP exactly once, resumable at every sub-step.

Each row goes: create the protocol (deterministic idempotency key; ambiguous outcomes re-sent
with the same key or probed by external reference) -> attach each verified document -> forward
each demand -> set the booking's status. Every sub-step is recorded in the store right after the
ERP confirms it, so a crash (even ``kill -9``) between any two steps resumes at the right step
when the lease expires; every ERP write carries its own idempotency key, so a step that landed
but was not recorded is answered as a replay, never done twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

from munivideo.engine.context import Engine
from munivideo.engine.keys import operation_key
from munivideo.engine.results import WritebackResult
from munivideo.errors import (
    AmbiguousError,
    ContractViolationError,
    MunivideoError,
    RejectedError,
)
from munivideo.models import OUTCOME_STATUS, ProtocolEntry, ProtocolReceipt
from munivideo.ports import ErpAdapter
from munivideo.store.port import LeaseLostError
from munivideo.store.records import OutboxItem
from munivideo.store.states import backoff_delay, next_attempt_at, route_failure
from munivideo.transport.idempotency import create_exactly_once

log = logging.getLogger("munivideo.engine.writeback")

Progress = Callable[[int], None]


class UnverifiableCreateError(RejectedError):
    """A create's outcome is unknown and the ERP can neither deduplicate by key nor be asked by
    external reference: retrying could duplicate the protocol, so a person must check the ERP
    (then replay the row, or mark it done there)."""


def create_once(
    erp: ErpAdapter, entry: ProtocolEntry, key: str, *, probe_first: bool
) -> ProtocolReceipt:
    """Create the protocol at most once (see :mod:`munivideo.transport.idempotency`).

    Also covers ERPs that enforce a unique external reference: a refusal of a create whose
    earlier attempt landed is resolved by looking the protocol up.
    """
    caps = erp.capabilities
    if not (caps.honours_idempotency_key or caps.lookup_by_external_reference):
        if probe_first:
            raise UnverifiableCreateError(
                "an earlier attempt may have created this protocol and the ERP cannot tell",
                record_id=entry.external_reference,
                field="external_reference",
            )
        try:
            return erp.create_protocol(entry, key)
        except AmbiguousError as exc:
            raise UnverifiableCreateError(
                f"the create may or may not have happened ({exc.message}); the ERP has neither "
                "idempotency keys nor lookup by reference: check it before replaying",
                record_id=entry.external_reference,
                field="external_reference",
            ) from exc
    try:
        return create_exactly_once(
            erp, entry, key, max_attempts=2, probe_first=probe_first, backoff_seconds=0.05
        )
    except RejectedError:
        if erp.capabilities.lookup_by_external_reference:
            found = erp.find_protocol(entry.external_reference)
            if found is not None:
                return found
        raise


def writeback(
    engine: Engine,
    *,
    limit: int | None = None,
    batch: int = 10,
    wait_seconds: float = 0.0,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> WritebackResult:
    """Claim due outbox rows and deliver them.

    :param limit: stop after this many rows (default: all that are due).
    :param wait_seconds: also wait (up to this long) for rows whose next attempt is near, so a
        run can drain retries; 0 means one pass over what is due now.
    """
    store = engine.store
    tid = engine.tenant_id
    result = WritebackResult(tenant_id=tid, worker=engine.worker_id)
    result.requeued_stale = store.requeue_stale(now=engine.now(), tenant_id=tid)
    # A restarted worker with a stable id takes back what its previous incarnation held.
    result.requeued_stale += store.release_owner(engine.worker_id, now=engine.now(), tenant_id=tid)
    deadline = time.monotonic() + wait_seconds
    while limit is None or result.claimed < limit:
        take = batch if limit is None else min(batch, limit - result.claimed)
        items = store.claim(
            engine.worker_id,
            limit=take,
            lease_seconds=engine.config.writeback.lease_seconds,
            now=engine.now(),
            tenant_id=tid,
        )
        if not items:
            counts = store.outbox_counts(tid, now=engine.now())
            nxt = counts.next_attempt_at
            remaining = deadline - time.monotonic()
            if counts.pending and nxt is not None and remaining > 0:
                gap = (nxt - engine.now()).total_seconds()
                if gap <= remaining:
                    sleep(min(max(gap, 0.01), remaining))
                    continue
            if counts.in_flight and remaining > 0:
                # Another worker holds rows; a stale one comes back when its lease expires.
                sleep(min(0.2, remaining))
                result.requeued_stale += store.requeue_stale(now=engine.now(), tenant_id=tid)
                continue
            break
        result.claimed += len(items)
        for item in items:
            deliver(engine, item, result)
            if progress is not None:
                progress(1)
    final = store.outbox_counts(tid, now=engine.now())
    result.pending_left = final.pending + final.in_flight
    result.failed_total = final.failed
    return result


def deliver(engine: Engine, item: OutboxItem, result: WritebackResult) -> None:
    try:
        receipt = _steps(engine, item)
    except LeaseLostError as exc:
        log.warning("lost the lease on %s: %s", item.external_reference, exc)
        result.lease_lost += 1
        return
    except MunivideoError as exc:
        _failed(engine, item, exc, result)
        return
    except Exception as exc:  # noqa: BLE001 - an adapter bug must not kill the worker silently
        error = ContractViolationError(
            f"unexpected {type(exc).__name__} from an adapter: {exc}",
            record_id=item.external_reference,
        )
        _failed(engine, item, error, result)
        return
    engine.crash.hit("after_complete")
    result.delivered += 1
    engine.plugins.outcome_written(engine.config.tenant, item.entry, receipt)


def _steps(engine: Engine, item: OutboxItem) -> ProtocolReceipt:
    erp, store, crash = engine.erp, engine.store, engine.crash
    entry, tid, owner = item.entry, engine.tenant_id, engine.worker_id
    done = dict(item.steps)
    caps = erp.capabilities

    def mark(step: str, detail: str, receipt: ProtocolReceipt | None = None) -> None:
        store.record_step(item.id, owner, step, detail, now=engine.now(), receipt=receipt)
        done[step] = detail

    receipt = item.receipt
    if "create" not in done or receipt is None:
        crash.hit("before_create")
        key = operation_key(tid, entry.booking_id, "criarProtocolo")
        # A previous attempt may have landed (crash, drop after commit): ask before re-creating.
        receipt = create_once(erp, entry, key, probe_first=item.attempts > 1)
        crash.hit("after_create")
        mark("create", receipt.label, receipt)
        crash.hit("after_create_recorded")
    for document in entry.documents:
        step = f"attach:{document.sha256[:16]}"
        if step in done:
            continue
        if not caps.attachments:
            mark(step, "skipped: the ERP stores no attachments")
            continue
        erp.attach_document(
            receipt,
            document,
            operation_key(tid, entry.booking_id, "anexarDocumento", document.sha256[:32]),
        )
        crash.hit("after_attach")
        mark(step, document.name)
    for index, demand in enumerate(entry.forwards):
        step = f"forward:{index}:{demand.department_code}"
        if step in done:
            continue
        if not caps.forwarding:
            mark(step, "skipped: the ERP does not route protocols")
            continue
        erp.forward_protocol(
            receipt,
            demand,
            operation_key(tid, entry.booking_id, "tramitarProtocolo", str(index)),
        )
        crash.hit("after_forward")
        mark(step, demand.department_code)
    if "status" not in done:
        crash.hit("before_status")
        status = OUTCOME_STATUS[entry.outcome]
        erp.update_booking_status(entry.booking_id, status, f"Protocolo {receipt.label}")
        crash.hit("after_status")
        mark("status", status.value)
    crash.hit("before_complete")
    store.complete(item.id, owner, now=engine.now())
    return receipt


def _failed(engine: Engine, item: OutboxItem, exc: MunivideoError, result: WritebackResult) -> None:
    cfg = engine.config.writeback
    to_state = route_failure(exc.recovery, item.attempts, item.max_attempts)
    delay = backoff_delay(
        item.attempts,
        base=cfg.backoff_base_seconds,
        cap=cfg.backoff_max_seconds,
        rng=engine.rng,
        retry_after=getattr(exc, "retry_after", None),
    )
    now: datetime = engine.now()
    try:
        engine.store.fail(
            item.id,
            engine.worker_id,
            to_state=to_state,
            next_attempt_at=next_attempt_at(now, delay),
            error_type=type(exc).__name__,
            message=str(exc),
            now=now,
        )
    except LeaseLostError:
        result.lease_lost += 1
        return
    result.errors.append(f"{item.external_reference}: {type(exc).__name__}: {exc}")
    if to_state.value == "failed":
        result.dead_lettered += 1
    else:
        result.retrying += 1
