"""Write-back: deliver outbox rows to the ERP exactly once, whatever the ERP can do.

A row is a list of steps: create the protocol -> attach each verified document -> forward each
demand -> set the booking's status. For every step, in this order:

1. **done?** A step recorded done is never sent again.
2. **may it have landed?** A step is marked *attempted* in the store (fenced, lease renewed)
   right before it is sent, and the marker survives crashes, replays and requeues. When the
   marker is there, the step is resolved by what the ERP can do (:data:`RESOLUTION`): probe it
   (ask the ERP what landed) when it can be asked; re-send it with the same idempotency key when
   the ERP honours keys; otherwise the row becomes a dead letter saying what a person must
   check. A probe's "not found" counts only once the settle window has passed since the step was
   last sent (commits that land after our timeout); before that the row waits, pending.
3. **send**, then record it done. Every receipt and probe answer is checked against what we sent
   (external reference, booking id, protocol number); a mismatch is a contract violation and a
   dead letter, never ``delivered``.

Leases: one row is claimed at a time; its lease is renewed before every ERP call (probe or
write) and checked in the same store transaction (the fence), so a worker that lost the row
sends nothing more for it. The fence compares the claim's fencing token
(:attr:`OutboxItem.fencing_token`, one more per claim of the row), not just the worker id: a
stale claim is refused even when a process sharing its worker id holds the row again.
``lease_seconds`` must outlast one ERP call (:func:`munivideo.engine.leases.timing`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

from munivideo.config import ErpConfig
from munivideo.engine.context import Engine
from munivideo.engine.leases import STORE_MARGIN_SECONDS, WritebackTiming, timing
from munivideo.engine.results import WritebackResult
from munivideo.error_catalogue import coded
from munivideo.errors import (
    AmbiguousError,
    ContractViolationError,
    MunivideoError,
    RejectedError,
    TransientError,
)
from munivideo.models import (
    OUTCOME_STATUS,
    ForwardedDemand,
    ProtocolEntry,
    ProtocolReceipt,
    ProtocolRecord,
    VerifiedDocument,
)
from munivideo.ports import ErpCapabilities
from munivideo.store.port import LeaseLostError
from munivideo.store.records import OutboxItem
from munivideo.store.states import backoff_delay, next_attempt_at, route_failure
from munivideo.transport.classify import lookup_failure
from munivideo.transport.deadline import within
from munivideo.transport.idempotency import idempotency_key

log = logging.getLogger("munivideo.engine.writeback")

Progress = Callable[[int], None]

RESOLUTION: dict[tuple[bool, bool], str] = {
    # (the ERP can be asked, the step's write carries a key the ERP honours) -> what to do
    # with a step whose earlier attempt may have landed
    (True, True): "probe; if not found, re-send with the same key",
    (True, False): "probe; if not found after the settle window, re-send",
    (False, True): "re-send with the same key (the ERP answers it as a replay)",
    (False, False): "dead letter: a person checks the ERP",
}
"""How a step that may have landed is resolved, by capability. Status updates carry no key but
can always be probed (:meth:`munivideo.ports.ErpAdapter.read_booking_status`)."""


def lookup_setting(erp: ErpConfig) -> str:
    """The configuration key that declares the write-back's lookup by external reference:
    ``erp.protocols.settings.capabilities.lookup_by_external_reference`` when protocols go to
    their own system (``[erp.protocols]``), else ``erp.settings.capabilities...``."""
    section = "erp.protocols.settings" if erp.protocols is not None else "erp.settings"
    return f"{section}.capabilities.lookup_by_external_reference"


class UnverifiableStepError(RejectedError):
    """A step may have reached the ERP, and the ERP can neither deduplicate it by key nor be
    asked whether it landed: re-sending could duplicate it, so the row is a dead letter whose
    message says what a person must check in the ERP before replaying it."""


class UnverifiableCreateError(UnverifiableStepError):
    """The create step of :class:`UnverifiableStepError`."""


class _Settling(Exception):
    """A probe found nothing, but the step was sent too recently to trust it."""

    def __init__(self, step: str, until: datetime) -> None:
        super().__init__(step)
        self.step = step
        self.until = until


def verify_receipt(entry: ProtocolEntry, receipt: ProtocolReceipt, source: str) -> None:
    """Check that a receipt (a create's answer, a lookup's result) is the protocol of
    ``entry``: same external reference and, when the ERP echoes it, same booking id.

    :raises ContractViolationError: naming the field that differs (the row becomes a dead
        letter; nothing is marked delivered on another booking's protocol).
    """
    if receipt.external_reference != entry.external_reference:
        raise coded(
            ContractViolationError,
            "writeback.foreign_reference",
            record_id=entry.external_reference,
            field="external_reference",
            source=source,
            label=receipt.label,
            reference=receipt.external_reference,
        )
    if receipt.booking_id and receipt.booking_id != entry.booking_id:
        raise coded(
            ContractViolationError,
            "writeback.foreign_booking",
            record_id=entry.external_reference,
            field="booking_id",
            source=source,
            label=receipt.label,
            other=receipt.booking_id,
            booking=entry.booking_id,
        )


def _verify_record(
    entry: ProtocolEntry, receipt: ProtocolReceipt, record: ProtocolRecord
) -> ProtocolRecord:
    verify_receipt(entry, record.receipt, "obterProtocolo")
    if (record.receipt.number, record.receipt.year) != (receipt.number, receipt.year):
        raise coded(
            ContractViolationError,
            "writeback.foreign_number",
            record_id=entry.external_reference,
            field="number",
            asked=receipt.label,
            label=record.receipt.label,
        )
    return record


def writeback(
    engine: Engine,
    *,
    limit: int | None = None,
    batch: int = 1,
    wait_seconds: float = 0.0,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> WritebackResult:
    """Claim due outbox rows and deliver them, one row (and one lease) at a time.

    :param limit: stop after this many rows (default: all that are due).
    :param batch: rows claimed per store round trip; each row's lease is renewed when its
        turn comes, and a row whose lease was lost meanwhile is skipped.
    :param wait_seconds: also wait (up to this long) for rows whose next attempt is near, so a
        run can drain retries and settle windows; 0 means one pass over what is due now.
    :raises ConfigurationError: ``writeback.lease_seconds`` cannot outlast one ERP call.
    """
    budget = timing(engine.erp, engine.config.writeback)
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
            lease_seconds=budget.lease_seconds,
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
        for index, item in enumerate(items):
            # the first row's lease is as fresh as its claim; later rows of a batch are
            # renewed (and fenced) when their turn comes
            deliver(engine, item, result, budget, renew=index > 0)
            if progress is not None:
                progress(1)
    final = store.outbox_counts(tid, now=engine.now())
    result.pending_left = final.pending + final.in_flight
    result.failed_total = final.failed
    return result


def deliver(
    engine: Engine,
    item: OutboxItem,
    result: WritebackResult,
    budget: WritebackTiming | None = None,
    *,
    renew: bool = True,
) -> None:
    """Run one claimed row's steps and route the outcome (delivered, retry, settle, dead
    letter); a lost lease stops the row without another ERP call. ``renew``: renew (and fence)
    the lease first - a row claimed a while ago in a batch."""
    budget = budget or timing(engine.erp, engine.config.writeback)
    try:
        if renew:
            engine.store.renew_lease(
                item.id,
                engine.worker_id,
                token=item.fencing_token,
                lease_seconds=budget.lease_seconds,
                now=engine.now(),
            )
        receipt = _Row(engine, item, budget).run()
    except LeaseLostError as exc:
        log.warning("lost the lease on %s: %s", item.external_reference, exc)
        result.lease_lost += 1
        return
    except _Settling as settle:
        _defer(engine, item, settle, result)
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


@dataclass
class _Step:
    name: str
    what: str  # "the protocol", "attachment 'rg.pdf' (sha256 ab12...)" - for people
    keyed: bool  # the write carries an idempotency key the ERP honours
    probeable: bool
    safe_in_call: bool  # the transport may retry it in-call: an error does not prove "not done"
    send: Callable[[], str]  # returns the detail recorded
    probe: Callable[[], str | None]  # the detail if it landed, None if not (yet) there
    # what a person must check when it can be neither deduplicated nor probed: the dead
    # letter's code in munivideo.error_catalogue and its params
    check: tuple[str, dict[str, str]]
    before: str = ""  # crash points around the send
    after: str = ""


class _Row:
    """One claimed row being delivered by this worker."""

    def __init__(self, engine: Engine, item: OutboxItem, budget: WritebackTiming) -> None:
        self.engine = engine
        self.item = item
        self.entry = item.entry
        self.budget = budget
        self.caps: ErpCapabilities = engine.erp.capabilities
        self.done = dict(item.steps)
        self.attempted = dict(item.attempted)
        self.receipt: ProtocolReceipt | None = item.receipt
        self.token = item.fencing_token  # this claim's: every fenced store call passes it

    # -- the steps ----------------------------------------------------------------------------

    def run(self) -> ProtocolReceipt:
        entry, crash = self.entry, self.engine.crash
        if "create" not in self.done or self.receipt is None:
            self._step(self._create_step())
            crash.hit("after_create_recorded")
        for document in entry.documents:
            self._step(self._attach_step(document))
        for index, demand in enumerate(entry.forwards):
            self._step(self._forward_step(index, demand))
        self._step(self._status_step())
        crash.hit("before_complete")
        self.engine.store.complete(
            self.item.id, self.engine.worker_id, token=self.token, now=self.engine.now()
        )
        assert self.receipt is not None
        return self.receipt

    def _key(self, operation: str, *parts: str) -> str:
        return idempotency_key(self.engine.tenant_id, self.entry.booking_id, operation, *parts)

    def _create_step(self) -> _Step:
        erp, entry = self.engine.erp, self.entry
        key = self._key("criarProtocolo")

        def send() -> str:
            try:
                receipt = erp.create_protocol(entry, key)
            except RejectedError:
                # An ERP with a unique external reference refuses a second create: if the
                # first one landed, that refusal is the answer.
                if not self.caps.lookup_by_external_reference:
                    raise
                found = probe()
                if found is None:
                    raise
                return found
            verify_receipt(entry, receipt, "criarProtocolo")
            self.receipt = receipt
            return receipt.label

        def probe() -> str | None:
            self._renew()
            try:
                found = erp.find_protocol(entry.external_reference)
            except MunivideoError as exc:
                # a declared lookup the ERP refuses is our configuration, not a busy ERP
                raise lookup_failure(
                    exc,
                    setting=lookup_setting(self.engine.config.erp),
                    record_id=entry.external_reference,
                ) from exc
            if found is None:
                return None
            verify_receipt(entry, found, "buscarPorReferenciaExterna")
            self.receipt = found
            return found.label

        return _Step(
            name="create",
            what="the protocol",
            keyed=self.caps.honours_idempotency_key,
            probeable=self.caps.lookup_by_external_reference,
            safe_in_call=False,
            send=send,
            probe=probe,
            check=(
                "writeback.unverifiable_create",
                {"reference": entry.external_reference, "booking": entry.booking_id},
            ),
            before="before_create",
            after="after_create",
        )

    def _attach_step(self, document: VerifiedDocument) -> _Step:
        erp, receipt = self.engine.erp, self._receipt()
        name = f"attach:{document.sha256[:16]}"
        key = self._key("anexarDocumento", document.sha256[:32])

        def send() -> str:
            erp.attach_document(receipt, document, key)
            return document.name

        def probe() -> str | None:
            seen = self._read(receipt)
            landed = sum(1 for d in seen.documents if d.sha256 == document.sha256)
            return f"{document.name} (found)" if landed else None

        return self._write_step(
            name,
            f"attachment {document.name!r}",
            send,
            probe,
            (
                "writeback.unverifiable_attach",
                {"protocol": receipt.label, "document": document.name, "sha256": document.sha256},
            ),
            enabled=self.caps.attachments,
            skipped="skipped: the ERP stores no attachments",
            after="after_attach",
        )

    def _forward_step(self, index: int, demand: ForwardedDemand) -> _Step:
        erp, receipt = self.engine.erp, self._receipt()
        name = f"forward:{index}:{demand.department_code}"
        key = self._key("tramitarProtocolo", str(index))
        # the same demand may be forwarded twice on purpose: count, do not just look
        wanted = sum(1 for d in self.entry.forwards[: index + 1] if d == demand)

        def send() -> str:
            erp.forward_protocol(receipt, demand, key)
            return demand.department_code

        def probe() -> str | None:
            seen = self._read(receipt)
            landed = sum(
                1
                for f in seen.forwards
                if f.department_code == demand.department_code
                and f.description == demand.description
            )
            return f"{demand.department_code} (found)" if landed >= wanted else None

        return self._write_step(
            name,
            f"forward to {demand.department_code}",
            send,
            probe,
            (
                "writeback.unverifiable_forward",
                {
                    "protocol": receipt.label,
                    "department": demand.department_code,
                    "times": str(wanted),
                    "dispatch": demand.description[:80],
                },
            ),
            enabled=self.caps.forwarding,
            skipped="skipped: the ERP does not route protocols",
            after="after_forward",
        )

    def _write_step(
        self,
        name: str,
        what: str,
        send: Callable[[], str],
        probe: Callable[[], str | None],
        check: tuple[str, dict[str, str]],
        *,
        enabled: bool,
        skipped: str,
        after: str,
    ) -> _Step:
        keyed = self.caps.honours_idempotency_key
        if not enabled:
            return _Step(name, what, True, False, True, lambda: skipped, lambda: None, ("", {}))
        return _Step(
            name=name,
            what=what,
            keyed=keyed,
            probeable=self.caps.lookup_by_external_reference,
            # the adapters let the transport retry attachments and forwards in-call only
            # when the ERP honours keys
            safe_in_call=keyed,
            send=send,
            probe=probe,
            check=check,
            after=after,
        )

    def _status_step(self) -> _Step:
        erp, entry = self.engine.erp, self.entry
        status = OUTCOME_STATUS[entry.outcome]
        note = f"Protocolo {self._receipt().label}"

        def send() -> str:
            erp.update_booking_status(entry.booking_id, status, note)
            return status.value

        def probe() -> str | None:
            self._renew()
            now = erp.read_booking_status(entry.booking_id)
            return f"{status.value} (found)" if now is status else None

        return _Step(
            name="status",
            what=f"status {status.value}",
            keyed=False,
            probeable=True,
            safe_in_call=True,
            send=send,
            probe=probe,
            check=("", {}),  # always probeable: never unverifiable
            before="before_status",
            after="after_status",
        )

    # -- the machinery ------------------------------------------------------------------------

    def _step(self, step: _Step) -> None:
        if step.name in self.done:
            return
        engine, store, owner = self.engine, self.engine.store, self.engine.worker_id
        sent_at = self.attempted.get(step.name)
        if sent_at is not None:
            if step.probeable:
                with self._under_lease(f"probe {step.name}"):
                    found = step.probe()
                if found is not None:
                    self._record(step.name, found)
                    return
                trusted_at = sent_at + timedelta(seconds=self.budget.settle_seconds)
                if not step.keyed and engine.now() < trusted_at:
                    raise _Settling(step.name, trusted_at)
            elif not step.keyed:
                raise self._unverifiable(step, sent_at)
        if step.before:
            engine.crash.hit(step.before)
        store.mark_attempted(
            self.item.id,
            owner,
            step.name,
            token=self.token,
            lease_seconds=self.budget.lease_seconds,
            now=engine.now(),
        )
        self.attempted[step.name] = engine.now()
        try:
            with self._under_lease(step.name):
                detail = step.send()
        except AmbiguousError as exc:
            if not (step.keyed or step.probeable):
                raise self._unverifiable(step, self.attempted[step.name]) from exc
            raise
        except RejectedError:
            # The ERP refused it: not done (a status already set is a no-op, not a refusal;
            # an attachment or forward refused after a keyed replay would be answered, too).
            store.clear_attempted(
                self.item.id, owner, step.name, token=self.token, now=engine.now()
            )
            raise
        except TransientError as exc:
            # Surely not processed (refused connection, 503, a declared fault): the next
            # attempt need not probe. A transport that retried in-call may have hidden an
            # ambiguous try behind it, so then the marker stays.
            if not step.safe_in_call and not isinstance(exc, LeaseLostError):
                store.clear_attempted(
                    self.item.id, owner, step.name, token=self.token, now=engine.now()
                )
            raise
        if step.after:
            engine.crash.hit(step.after)
        self._record(step.name, detail)

    def _record(self, step: str, detail: str) -> None:
        receipt = self.receipt if step == "create" else None
        store, owner = self.engine.store, self.engine.worker_id
        store.record_step(
            self.item.id,
            owner,
            step,
            detail,
            token=self.token,
            now=self.engine.now(),
            receipt=receipt,
        )
        self.done[step] = detail

    def _renew(self) -> None:
        self.engine.store.renew_lease(
            self.item.id,
            self.engine.worker_id,
            token=self.token,
            lease_seconds=self.budget.lease_seconds,
            now=self.engine.now(),
        )

    def _under_lease(self, what: str) -> AbstractContextManager[float]:
        """Bound every ERP call in the block by the lease it works under (just renewed): a call
        still running when the lease could expire is cut (:class:`DeadlineExceededError`, an
        ambiguous outcome handled as a read timeout), so no call outlives its lease even when
        an adapter's own timeouts are longer than it declared."""
        return within(self.budget.lease_seconds - STORE_MARGIN_SECONDS, what=what)

    def _read(self, receipt: ProtocolReceipt) -> ProtocolRecord:
        self._renew()
        with self._under_lease("read protocol"):
            found = self.engine.erp.read_protocol(receipt)
        return _verify_record(self.entry, receipt, found)

    def _receipt(self) -> ProtocolReceipt:
        if self.receipt is None:  # run() creates first; a row never gets here without one
            raise ContractViolationError(
                "no protocol receipt recorded before a later step",
                record_id=self.entry.external_reference,
                field="receipt",
            )
        return self.receipt

    def _unverifiable(self, step: _Step, sent_at: datetime) -> UnverifiableStepError:
        kind = UnverifiableCreateError if step.name == "create" else UnverifiableStepError
        code, params = step.check
        return coded(
            kind,
            code,
            record_id=self.entry.external_reference,
            field=step.name,
            sent_at=f"{sent_at:%Y-%m-%d %H:%M:%S} UTC",
            id=self.item.id,
            step=step.name,
            **params,
        )


def _defer(engine: Engine, item: OutboxItem, settle: _Settling, result: WritebackResult) -> None:
    try:
        engine.store.defer(
            item.id,
            engine.worker_id,
            token=item.fencing_token,
            next_attempt_at=settle.until,
            reason=f"{settle.step}: not found yet; probing again after the settle window",
            now=engine.now(),
        )
    except LeaseLostError:
        result.lease_lost += 1
        return
    result.settling += 1


def _failed(engine: Engine, item: OutboxItem, exc: MunivideoError, result: WritebackResult) -> None:
    cfg = engine.config.writeback
    to_state = route_failure(exc.recovery, item.attempts, item.max_attempts)
    delay = backoff_delay(
        item.attempts,
        base=cfg.backoff_base_seconds,
        cap=cfg.backoff_max_seconds,
        rng=engine.rng,
        retry_after=getattr(exc, "retry_after", None),
        retry_after_cap=cfg.max_retry_after_seconds,
    )
    now: datetime = engine.now()
    try:
        engine.store.fail(
            item.id,
            engine.worker_id,
            token=item.fencing_token,
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
