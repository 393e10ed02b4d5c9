"""Exactly once under random fault sequences, two workers, one store (issue 10).

A hypothesis state machine enqueues outcomes (0-2 documents, 0-1 forwards), arms faults on the
ERP's next call of a step, lets worker A or B run a write-back pass (or claim a row and deliver
it later), moves the clock past leases and settle windows, steals leases, replays dead letters
and requeues pending rows. After every rule the invariant is checked against the effects the
in-process ERP executed (counted per booking and step, attachments and forwards per document
and demand): never two effects; never ``delivered`` without every effect. The teardown drains
everything; every row ends delivered with exactly one effect per step, or a dead letter whose
message names the step and what to check - then the person's finding (read from the ERP)
replays it and it ends delivered, exactly once. A person who finds a step missing while a late
commit may still land (inside the settle window) is refused, and checks again after it.

Budget: a fixed seed and ~30 examples per capability set in ``make test``;
``MUNIVIDEO_FUZZ=1`` (read here only) runs a larger, still derandomized, budget.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from munivideo.engine import Engine, deliver, replay, requeue, writeback
from munivideo.engine.results import WritebackResult
from munivideo.errors import LifecycleError
from munivideo.models import ForwardedDemand, VerifiedDocument
from munivideo.ports import ErpCapabilities
from munivideo.store import OutboxState
from munivideo.store.records import OutboxItem

from ._fake_erp import Killed
from .test_exactly_once import CAPABILITIES, TENANT, World

FUZZ = os.environ.get("MUNIVIDEO_FUZZ") == "1"
BUDGET = settings(
    max_examples=300 if FUZZ else 30,
    stateful_step_count=50 if FUZZ else 30,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
STEPS = ("create", "attach", "forward", "status")
FAULTS = ("drop_before", "drop_after", "error_after", "late", "unavailable", "kill", "steal")
DOCUMENTS = (
    VerifiedDocument(name="rg.pdf", kind="RG", sha256="ab" * 32),
    VerifiedDocument(name="iptu.pdf", kind="IPTU", sha256="cd" * 32),
)
FORWARD = ForwardedDemand(department_code="SMF-DIV", description="Parcelar.")
MAX_ROWS = 4
WORKERS = ("A", "B")


class ExactlyOnce(RuleBasedStateMachine):
    """Two workers, one store, one counting ERP; ``capabilities`` set by each subclass."""

    capabilities: ErpCapabilities

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="munivideo-eo-"))
        # max_attempts above the number of rules: a row never runs out of attempts here
        self.world = World(self.tmp, self.capabilities, max_attempts=100)
        self.workers: dict[str, Engine] = {"A": self.world.engines[0], "B": self.world.worker("B")}
        for index, engine in enumerate(self.workers.values()):
            engine.rng = random.Random(index)  # backoff jitter, replayable
        self.rows: dict[int, OutboxItem] = {}  # id -> as enqueued
        self.held: dict[str, list[OutboxItem]] = {"A": [], "B": []}
        self.running: list[str] = []
        self.world.erp.on_steal = self._steal_mid_call

    # -- helpers ------------------------------------------------------------------------------

    def _steal_mid_call(self) -> None:
        """The lease of the worker whose call is in flight is taken; the other one runs."""
        if len(self.running) != 1:
            return
        current = self.running[0]
        other = "B" if current == "A" else "A"
        self.world.store.release_owner(self.workers[current].worker_id, now=self.world.clock())
        self._pass(other, None)

    def _pass(self, name: str, limit: int | None) -> None:
        self.running.append(name)
        try:
            with contextlib.suppress(Killed):  # its supervisor restarts it under the same id
                writeback(self.workers[name], limit=limit)
        finally:
            self.running.pop()

    def _tick(self) -> None:
        """Let the ERP commit what is due by now (late commits)."""
        self.world.erp.read_booking_status("-")

    def _effects(self, item: OutboxItem) -> dict[str, int]:
        """Effects the ERP executed for ``item``, per step name the engine uses."""
        erp, booking = self.world.erp, item.booking_id
        mine = [p for p in erp.protocols if p.receipt.booking_id == booking]
        found = {
            "create": erp.effects[(booking, "create")],
            "status": erp.effects[(booking, "status")],
        }
        for document in item.entry.documents:
            found[f"attach:{document.sha256[:16]}"] = sum(
                1 for p in mine for d in p.documents if d.sha256 == document.sha256
            )
        for index, demand in enumerate(item.entry.forwards):
            found[f"forward:{index}:{demand.department_code}"] = sum(
                1 for p in mine for f in p.forwards if f == demand
            )
        attached = sum(v for k, v in found.items() if k.startswith("attach:"))
        forwarded = sum(v for k, v in found.items() if k.startswith("forward:"))
        # every attach/forward the ERP executed is one of this row's
        assert erp.effects[(booking, "attach")] == attached, (booking, found)
        assert erp.effects[(booking, "forward")] == forwarded, (booking, found)
        return found

    def _state(self, item_id: int) -> OutboxItem:
        return self.world.store.get_item(item_id)

    def _rows_in(self, state: OutboxState) -> list[int]:
        return [i for i in sorted(self.rows) if self._state(i).state is state]

    # -- rules --------------------------------------------------------------------------------

    @precondition(lambda self: len(self.rows) < MAX_ROWS)
    @rule(documents=st.integers(0, 2), forwards=st.integers(0, 1))
    def enqueue(self, documents: int, forwards: int) -> None:
        item = self.world.enqueue(
            f"AG-{len(self.rows) + 1}",
            documents=DOCUMENTS[:documents],
            forwards=(FORWARD,) * forwards,
        )
        self.rows[item.id] = item

    @rule(step=st.sampled_from(STEPS), fault=st.sampled_from(FAULTS))
    def arm(self, step: str, fault: str) -> None:
        self.world.erp.inject(step, fault)

    @rule(worker=st.sampled_from(WORKERS), limit=st.sampled_from([1, None]))
    def run(self, worker: str, limit: int | None) -> None:
        self._pass(worker, limit)

    @rule(worker=st.sampled_from(WORKERS))
    def claim(self, worker: str) -> None:
        """The worker claims one row and stalls before delivering it."""
        engine = self.workers[worker]
        self.held[worker].extend(
            engine.store.claim(
                engine.worker_id,
                limit=1,
                lease_seconds=engine.config.writeback.lease_seconds,
                now=self.world.clock(),
                tenant_id=TENANT,
            )
        )

    @precondition(lambda self: any(self.held.values()))
    @rule(worker=st.sampled_from(WORKERS))
    def deliver_held(self, worker: str) -> None:
        """The stalled worker wakes up and delivers what it claimed (fenced if it lost it)."""
        if not self.held[worker]:
            return
        item = self.held[worker].pop(0)
        self.running.append(worker)
        try:
            with contextlib.suppress(Killed):
                result = WritebackResult(tenant_id=TENANT, worker=worker)
                deliver(self.workers[worker], item, result)
        finally:
            self.running.pop()

    @rule(seconds=st.sampled_from([1.0, 6.0, 11.0]))
    def advance(self, seconds: float) -> None:
        """1 s; past the lease (5 s); past the settle window (10 s) and the late commit."""
        self.world.clock.advance(seconds)

    @rule(worker=st.sampled_from(WORKERS), restart=st.booleans())
    def steal(self, worker: str, restart: bool) -> None:
        """``worker`` requeues the other's expired leases, or the other restarts (releasing
        everything it held, as a restarted worker with a stable id does)."""
        engine = self.workers[worker]
        if restart:
            other = self.workers["B" if worker == "A" else "A"]
            engine.store.release_owner(other.worker_id, now=self.world.clock(), tenant_id=TENANT)
        else:
            engine.store.requeue_stale(now=self.world.clock(), tenant_id=TENANT)

    @precondition(lambda self: bool(self.rows))
    @rule(worker=st.sampled_from(WORKERS), data=st.data())
    def replay_dead_letter(self, worker: str, data: st.DataObject) -> None:
        failed = self._rows_in(OutboxState.FAILED)
        if failed:
            item_id = data.draw(st.sampled_from(failed))
            replay(self.workers[worker], item_ids=[item_id], actor="ana", reason="retry")

    @precondition(lambda self: bool(self.rows))
    @rule(worker=st.sampled_from(WORKERS), data=st.data())
    def requeue_pending(self, worker: str, data: st.DataObject) -> None:
        pending = self._rows_in(OutboxState.PENDING)
        if pending:
            item_id = data.draw(st.sampled_from(pending))
            requeue(self.workers[worker], [item_id], actor="ana", reason="ERP is back")

    # -- the invariant ------------------------------------------------------------------------

    @invariant()
    def never_twice_never_delivered_without(self) -> None:
        for item_id in self.rows:
            item = self._state(item_id)
            effects = self._effects(item)
            assert max(effects.values()) <= 1, (item.booking_id, "executed twice", effects)
            if item.state is OutboxState.DELIVERED:
                assert set(effects.values()) == {1}, (item.booking_id, "delivered", effects)
            if item.state is OutboxState.FAILED:
                self._names_what_to_check(item)

    def _names_what_to_check(self, item: OutboxItem) -> str:
        """A dead letter's message names the step and what to check; returns the step."""
        assert item.last_error_type in ("UnverifiableStepError", "UnverifiableCreateError"), (
            item.last_error_type,
            item.last_error,
        )
        message = item.last_error or ""
        named = re.search(r"--landed (\S+) ", message)
        assert named is not None and "check " in message, message
        step = named.group(1)
        assert step in self._effects(item), (step, message)
        return step

    # -- the end: drain everything ------------------------------------------------------------

    def _drain(self) -> None:
        for _ in range(60):
            self.world.clock.advance(11)  # past backoff, leases, settle window, late commits
            self._tick()
            for worker in WORKERS:
                self.held[worker].clear()  # stalled claims: their leases expire
                self._pass(worker, None)
            if not (self._rows_in(OutboxState.PENDING) or self._rows_in(OutboxState.IN_FLIGHT)):
                return
        raise AssertionError("rows still pending after the drain")

    def teardown(self) -> None:
        try:
            if self.rows:
                self._finish()
        finally:
            self.world.close()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _finish(self) -> None:
        self._drain()
        self.never_twice_never_delivered_without()
        for _ in range(10):
            failed = self._rows_in(OutboxState.FAILED)
            if not failed:
                break
            for item_id in failed:
                self._person_checks(item_id)
            self._drain()
            self.never_twice_never_delivered_without()
        for item_id in self.rows:
            item = self._state(item_id)
            assert item.state is OutboxState.DELIVERED, (item.state, item.last_error)
            assert set(self._effects(item).values()) == {1}

    def _person_checks(self, item_id: int) -> None:
        """The person checks the ERP and replays with what they found. A step found missing
        inside its settle window is refused (a late commit may still land): they check again
        once the window has passed."""
        item = self._state(item_id)
        step = self._names_what_to_check(item)
        for _ in range(2):
            landed = self._effects(item)[step] == 1
            protocol = next(
                (
                    (p.receipt.number, p.receipt.year)
                    for p in self.world.erp.protocols
                    if p.receipt.booking_id == item.booking_id
                ),
                None,
            )
            try:
                replay(
                    self.workers["A"],
                    item_ids=[item_id],
                    actor="ana",
                    reason="checked the ERP",
                    landed=[step] if landed else [],
                    absent=[] if landed else [step],
                    protocol=protocol if step == "create" and landed else None,
                )
            except LifecycleError as exc:
                refused = exc
            else:
                return
            assert refused.field == "absent" and not landed, refused
            self.world.clock.advance(11)  # past the settle window and any late commit
            self._tick()
        raise AssertionError(f"{step} of row {item_id} was refused after its settle window")


class KeysMachine(ExactlyOnce):
    capabilities = CAPABILITIES["keys"]


class LookupMachine(ExactlyOnce):
    capabilities = CAPABILITIES["lookup"]


class NeitherMachine(ExactlyOnce):
    capabilities = CAPABILITIES["neither"]


TestKeys = KeysMachine.TestCase
TestKeys.settings = BUDGET
TestLookupOnly = LookupMachine.TestCase
TestLookupOnly.settings = BUDGET
TestNeither = NeitherMachine.TestCase
TestNeither.settings = BUDGET
