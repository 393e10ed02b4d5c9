"""Property test: any sequence of outbox operations keeps the state machine's invariants."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from munivideo.errors import LifecycleError
from munivideo.store import (
    TRANSITIONS,
    LeaseLostError,
    OutboxState,
    Store,
)

from ._factories import T0, attendance, binding, entry

WORKERS = ("w1", "w2", "w3")
IDS = [f"AG-{i}" for i in range(4)]


class OutboxMachine(RuleBasedStateMachine):
    """Each example works on its own tenant of one shared store (a fresh database per example
    would cost more than the example)."""

    store: Store
    examples = 0

    def __init__(self) -> None:
        super().__init__()
        OutboxMachine.examples += 1
        self.tenant = f"city{OutboxMachine.examples}"
        self.now = T0
        self.items: dict[str, int] = {}
        self.delivered: set[int] = set()
        self.claims: dict[int, int] = {}  # row id -> claims seen (its fencing token)
        self.tokens: dict[tuple[str, int], int] = {}  # (worker, row id) -> its last claim's
        for booking_id in IDS:
            self.store.save_binding(binding(booking_id, self.tenant))
            item, _ = self.store.enqueue(
                self.tenant,
                attendance(booking_id, self.tenant),
                entry(booking_id, self.tenant),
                max_attempts=3,
                now=T0,
            )
            self.items[booking_id] = item.id

    @rule(seconds=st.integers(0, 40))
    def time_passes(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @rule(worker=st.sampled_from(WORKERS), limit=st.integers(1, 3))
    def claim(self, worker: str, limit: int) -> None:
        for item in self.store.claim(worker, limit=limit, lease_seconds=30, now=self.now):
            assert item.state is OutboxState.IN_FLIGHT
            assert item.id not in self.delivered
            if item.tenant_id == self.tenant:  # not another example's row
                self.claims[item.id] = self.claims.get(item.id, 0) + 1
                assert item.fencing_token == self.claims[item.id]
            self.tokens[(worker, item.id)] = item.fencing_token

    @rule(worker=st.sampled_from(WORKERS), booking=st.sampled_from(IDS))
    def complete(self, worker: str, booking: str) -> None:
        item_id = self.items[booking]
        token = self.tokens.get((worker, item_id), 0)
        try:
            self.store.record_step(item_id, worker, "create", "x", token=token, now=self.now)
            self.store.complete(item_id, worker, token=token, now=self.now)
        except LeaseLostError:
            return
        assert token == self.claims[item_id]  # only the row's latest claim passes the fence
        self.delivered.add(item_id)

    @rule(
        worker=st.sampled_from(WORKERS),
        booking=st.sampled_from(IDS),
        to=st.sampled_from([OutboxState.PENDING, OutboxState.FAILED]),
    )
    def fail(self, worker: str, booking: str, to: OutboxState) -> None:
        try:
            self.store.fail(
                self.items[booking],
                worker,
                token=self.tokens.get((worker, self.items[booking]), 0),
                to_state=to,
                next_attempt_at=self.now,
                error_type="TransientError",
                message="x",
                now=self.now,
            )
        except LeaseLostError:
            return

    @rule()
    def requeue(self) -> None:
        self.store.requeue_stale(now=self.now, tenant_id=self.tenant)

    @rule(worker=st.sampled_from(WORKERS))
    def restart(self, worker: str) -> None:
        self.store.release_owner(worker, now=self.now, tenant_id=self.tenant)

    @rule(booking=st.sampled_from(IDS))
    def replay(self, booking: str) -> None:
        try:
            self.store.replay(
                tenant_id=self.tenant,
                item_ids=[self.items[booking]],
                actor="ops",
                reason="x",
                now=self.now,
            )
        except LifecycleError:
            assert self.store.get_item(self.items[booking]).state is not OutboxState.FAILED

    @invariant()
    def states_and_trails_are_consistent(self) -> None:
        for item in self.store.list_items(self.tenant):
            trail = self.store.audit_trail(item.id)
            assert trail[0].from_state is None
            for step in trail[1:]:
                assert step.from_state is not None
                assert step.to_state in TRANSITIONS[step.from_state]
            assert trail[-1].to_state is item.state
            if item.id in self.delivered:
                assert item.state is OutboxState.DELIVERED
            assert item.fencing_token == self.claims.get(item.id, 0)
            if item.state is OutboxState.IN_FLIGHT:
                assert item.lease_owner in WORKERS
                assert item.lease_expires_at is not None
            else:
                assert item.lease_owner is None


def test_outbox_state_machine(store: Store, store_url: str) -> None:
    OutboxMachine.store = store
    # PostgreSQL's round trips cost more than SQLite's in-process calls: fewer examples there
    examples = 40 if store_url.startswith("sqlite") else 20
    run_state_machine_as_test(
        OutboxMachine,
        settings=settings(max_examples=examples, stateful_step_count=30, deadline=None),
    )
