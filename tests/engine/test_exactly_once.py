"""Exactly once per capability set, counted at the ERP (an in-process double that counts every
effect it executes): {keys, lookup only, neither} x {every way an answer gets lost} x
{create, attach, forward, status}. Each cell ends with exactly one effect per step and the row
delivered, or a dead letter that names what to check - never two effects, never ``delivered``
without its effect. The same matrix runs against the sandbox ERP in test_exactly_once_sandbox.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from munivideo.config import parse_config
from munivideo.engine import Engine, replay, requeue, writeback
from munivideo.errors import ConfigurationError, LifecycleError
from munivideo.models import (
    Applicant,
    Attendance,
    Booking,
    Citizen,
    ForwardedDemand,
    Outcome,
    ProtocolEntry,
    VerifiedDocument,
)
from munivideo.plugins import load_plugins
from munivideo.ports import ErpCapabilities
from munivideo.store import OutboxState, open_store
from munivideo.store.records import Binding, OutboxItem
from munivideo.store.sqlite import SqliteStore

from ._fake_erp import FAULTS, Clock, FakeErp, Killed

TENANT = "t"
STEPS = ("create", "attach", "forward", "status")
CAPABILITIES = {
    "keys": ErpCapabilities(honours_idempotency_key=True, lookup_by_external_reference=False),
    "lookup": ErpCapabilities(honours_idempotency_key=False, lookup_by_external_reference=True),
    "neither": ErpCapabilities(honours_idempotency_key=False, lookup_by_external_reference=False),
}
WRITEBACK = {
    "max_attempts": 20,
    "lease_seconds": 5,
    "backoff_base_seconds": 0.5,
    "backoff_max_seconds": 2,
    "settle_seconds": 10,  # > the ERP's late commit (5 s)
    "erp_call_seconds": 1,
}


def _config(**writeback: Any) -> Any:
    return parse_config(
        {
            "tenant": {"id": TENANT, "name": "Prefeitura de Teste"},
            "erp": {"adapter": "fake"},
            "video": {"provider": "none"},
            "notifiers": [],
            "writeback": {**WRITEBACK, **writeback},
        }
    )


class World:
    """One store (a SQLite file, or the store at ``url``), one fake ERP, a clock, and engines
    (workers) sharing them, each with its own connection."""

    def __init__(
        self, tmp: Path, capabilities: ErpCapabilities, *, url: str | None = None, **writeback: Any
    ) -> None:
        self.tmp = tmp
        self.url = url
        self.clock = Clock()
        self.erp = FakeErp(capabilities, self.clock)
        self.config = _config(**writeback)
        self.plugins = load_plugins()
        self.engines: list[Engine] = []
        self.store = self.worker("w1").store

    def worker(self, name: str) -> Engine:
        engine = Engine(
            config=self.config,
            store=(
                open_store(self.url)
                if self.url
                else SqliteStore(self.tmp / "outbox.db", synchronous="NORMAL")
            ),
            erp=self.erp,
            video=None,  # type: ignore[arg-type]  # write-back never meets the video provider
            notifiers=[],
            plugins=self.plugins,
            clock=self.clock,
            worker_id=name,
        )
        self.engines.append(engine)
        return engine

    def enqueue(
        self,
        booking_id: str = "AG-1",
        *,
        documents: tuple[VerifiedDocument, ...] | None = None,
        forwards: tuple[ForwardedDemand, ...] | None = None,
    ) -> OutboxItem:
        """Enqueue an attended outcome; by default one document and one forward."""
        now = self.clock()
        if documents is None:
            documents = (VerifiedDocument(name="rg.pdf", kind="RG", sha256="ab" * 32),)
        if forwards is None:
            forwards = (ForwardedDemand(department_code="SMF-DIV", description="Parcelar."),)
        booking = Booking(
            id=booking_id,
            tenant_id=TENANT,
            service_code="IPTU",
            citizen=Citizen(name="Maria", cpf="05278934123"),
            start=now,
            end=now + timedelta(minutes=30),
            updated_at=now,
        )
        self.store.save_binding(
            Binding(
                tenant_id=TENANT,
                booking_id=booking_id,
                booking=booking,
                fingerprint="x",
                created_at=now,
                updated_at=now,
            )
        )
        entry = ProtocolEntry(
            external_reference=f"munivideo:{TENANT}:{booking_id}",
            tenant_id=TENANT,
            booking_id=booking_id,
            subject_code="IPTU-VIDEO",
            applicant=Applicant(name="Maria", cpf="05278934123"),
            department_code="SMF",
            opened_at=now,
            summary="Atendimento por vídeo.",
            outcome=Outcome.ATTENDED,
            documents=documents,
            forwards=forwards,
        )
        attendance = Attendance(booking_id=booking_id, tenant_id=TENANT, outcome=Outcome.ATTENDED)
        item, _ = self.store.enqueue(
            TENANT, attendance, entry, max_attempts=self.config.writeback.max_attempts, now=now
        )
        return item

    def drive(self, engine: Engine, item_id: int, rounds: int = 40) -> OutboxItem:
        """Run one worker pass at a time, moving the clock, until the row settles."""
        for _ in range(rounds):
            # a Killed process's supervisor restarts it under the same id
            with contextlib.suppress(Killed):
                writeback(engine)
            item = self.store.get_item(item_id)
            if item.state in (OutboxState.DELIVERED, OutboxState.FAILED):
                return item
            self.clock.advance(3)
        return self.store.get_item(item_id)

    def close(self) -> None:
        for engine in self.engines:
            engine.store.close()


@pytest.fixture
def world_factory(tmp_path: Path) -> Iterator[Callable[..., World]]:
    made: list[World] = []

    def make(capabilities: ErpCapabilities, **writeback: Any) -> World:
        made.append(World(tmp_path / str(len(made)), capabilities, **writeback))
        return made[-1]

    yield make
    for world in made:
        world.close()


def assert_exactly_once_or_named(world: World, item: OutboxItem) -> None:
    """The invariant: never two effects; delivered only with every effect exactly once;
    otherwise a dead letter whose message names the step and what to check."""
    effects = {step: world.erp.effects[(item.booking_id, step)] for step in STEPS}
    assert max(effects.values()) <= 1, effects
    if item.state is OutboxState.DELIVERED:
        assert effects == dict.fromkeys(STEPS, 1), effects
        return
    assert item.state is OutboxState.FAILED, item
    assert item.last_error_type in ("UnverifiableStepError", "UnverifiableCreateError"), item
    assert item.last_error is not None and "check" in item.last_error
    assert "replay" in item.last_error


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("fault", [f for f in FAULTS if f != "steal"])
@pytest.mark.parametrize("caps", list(CAPABILITIES))
def test_matrix(world_factory: Callable[..., World], caps: str, fault: str, step: str) -> None:
    world = world_factory(CAPABILITIES[caps])
    item = world.enqueue()
    world.erp.inject(step, fault)
    final = world.drive(world.engines[0], item.id)
    assert_exactly_once_or_named(world, final)
    if caps != "neither" or step == "status":
        # the ERP could deduplicate or be asked: nothing is left for a person
        assert final.state is OutboxState.DELIVERED, final.last_error
    elif fault in ("unavailable",):
        assert final.state is OutboxState.DELIVERED  # nothing was sent: nothing to check


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("caps", list(CAPABILITIES))
def test_lease_lost_mid_call(world_factory: Callable[..., World], caps: str, step: str) -> None:
    """w1's call is in flight when its lease goes; w2 takes the row and probes (or re-sends
    with the key, or gives it to a person) before w1's write commits; w1 sends nothing more."""
    world = world_factory(CAPABILITIES[caps])
    item = world.enqueue()
    w1, w2 = world.engines[0], world.worker("w2")
    results = []

    def steal() -> None:
        assert world.store.release_owner("w1", now=world.clock()) == 1
        results.append(writeback(w2))

    world.erp.on_steal = steal
    world.erp.inject(step, "steal")
    first = writeback(w1)
    assert first.lease_lost == 1
    assert first.delivered == 0
    sends_after_loss = dict(world.erp.effects)
    final = world.drive(w2, item.id)
    assert_exactly_once_or_named(world, final)
    assert {k: v for k, v in world.erp.effects.items() if k[1] != step} == {
        k: v for k, v in world.erp.effects.items() if k[1] != step
    }
    assert sends_after_loss[(item.booking_id, step)] <= 1
    if caps != "neither" or step == "status":
        assert final.state is OutboxState.DELIVERED, final.last_error


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("caps", list(CAPABILITIES))
def test_replay_probes_first(world_factory: Callable[..., World], caps: str, step: str) -> None:
    """A row dead-lettered right after an ambiguous step is replayed: the step is probed (or
    re-sent with its key) before anything is re-sent; where the ERP cannot be asked, the
    person's finding (--landed / --absent) finishes it, exactly once."""
    world = world_factory(CAPABILITIES[caps], max_attempts=1)
    item = world.enqueue()
    world.erp.inject(step, "drop_after")
    engine = world.engines[0]
    first = world.drive(engine, item.id)
    assert first.state is OutboxState.FAILED  # out of attempts, or unverifiable
    assert world.erp.effects[(item.booking_id, step)] == 1
    replay(engine, reason="the ERP is back", actor="ana")
    again = world.drive(engine, item.id)
    assert_exactly_once_or_named(world, again)
    if again.state is OutboxState.FAILED:
        assert caps == "neither"
        assert step in again.last_error_type or "check" in (again.last_error or "")
        name = next(s for s in again.attempted if s.split(":")[0] == step)
        landed = world.erp.effects[(item.booking_id, step)] == 1
        found = world.erp.protocols[0].receipt if step == "create" else None
        replay(
            engine,
            item_ids=[item.id],
            reason="checked the ERP",
            actor="ana",
            landed=[name] if landed else [],
            absent=[] if landed else [name],
            protocol=(found.number, found.year) if found else None,
        )
        again = world.drive(engine, item.id)
    assert again.state is OutboxState.DELIVERED, again.last_error
    assert_exactly_once_or_named(world, again)
    trail = engine.store.audit_trail(item.id)
    assert any(a.actor == "ana" for a in trail)


def test_foreign_receipt_is_a_dead_letter_never_delivered(
    world_factory: Callable[..., World],
) -> None:
    world = world_factory(CAPABILITIES["keys"])
    world.erp.foreign_receipts = True
    item = world.enqueue()
    final = world.drive(world.engines[0], item.id)
    assert final.state is OutboxState.FAILED
    assert final.last_error_type == "ContractViolationError"
    assert final.receipt is None
    assert world.erp.effects[(item.booking_id, "attach")] == 0


def test_a_lookup_that_ignores_its_filter_is_a_dead_letter(
    world_factory: Callable[..., World],
) -> None:
    world = world_factory(CAPABILITIES["lookup"])
    world.erp.lookup_ignores_filter = True
    other = world.enqueue("AG-0")
    assert world.drive(world.engines[0], other.id).state is OutboxState.DELIVERED
    item = world.enqueue("AG-1")
    world.erp.inject("create", "drop_before")  # nothing created; the lookup answers AG-0's
    final = world.drive(world.engines[0], item.id)
    assert final.state is OutboxState.FAILED
    assert final.last_error_type == "ContractViolationError"
    assert final.last_error is not None and "not ours" in final.last_error
    assert world.erp.effects[("AG-1", "create")] == 0


def test_a_commit_after_the_timeout_is_awaited_not_duplicated(
    world_factory: Callable[..., World],
) -> None:
    """The probe right after the timeout finds nothing; the row waits for the settle window
    (pending, its attempt given back) and the next probe finds the late commit."""
    world = world_factory(CAPABILITIES["lookup"])
    item = world.enqueue()
    world.erp.inject("create", "late")
    engine = world.engines[0]
    first = writeback(engine)
    assert first.retrying == 1
    world.clock.advance(2)  # before the ERP commits
    second = writeback(engine)
    assert second.settling == 1
    row = world.store.get_item(item.id)
    assert row.state is OutboxState.PENDING and row.attempts == 1
    assert world.erp.effects[("AG-1", "create")] == 0
    final = world.drive(engine, item.id)
    assert final.state is OutboxState.DELIVERED
    assert world.erp.effects[("AG-1", "create")] == 1


def test_lease_shorter_than_one_call_is_refused(world_factory: Callable[..., World]) -> None:
    world = world_factory(CAPABILITIES["keys"], lease_seconds=1.5)
    with pytest.raises(ConfigurationError) as info:
        writeback(world.engines[0])
    assert info.value.field == "writeback.lease_seconds"


def test_retry_after_is_capped_and_a_pending_row_can_be_requeued(
    world_factory: Callable[..., World],
) -> None:
    world = world_factory(CAPABILITIES["keys"], max_retry_after_seconds=60)
    item = world.enqueue()
    engine = world.engines[0]

    def year_long() -> None:
        from munivideo.errors import TransientError

        raise TransientError("busy", retry_after=31_536_000)

    original = world.erp.update_booking_status
    world.erp.update_booking_status = lambda *a: year_long()  # type: ignore[method-assign]
    writeback(engine)
    row = world.store.get_item(item.id)
    assert row.state is OutboxState.PENDING
    assert (row.next_attempt_at - world.clock()).total_seconds() <= 60
    world.erp.update_booking_status = original  # type: ignore[method-assign]
    requeue(engine, [item.id], reason="ERP is fine now", actor="ana")
    row = world.store.get_item(item.id)
    assert row.next_attempt_at == world.clock()
    assert "status" in row.attempted  # history kept: the status is probed first
    assert world.drive(engine, item.id).state is OutboxState.DELIVERED
    with pytest.raises(LifecycleError):
        requeue(engine, [item.id], reason="again")
    assert world.erp.effects[("AG-1", "create")] == 1
    assert world.erp.effects[("AG-1", "status")] == 1


def test_one_row_lease_never_waits_behind_a_batch(world_factory: Callable[..., World]) -> None:
    """Rows are claimed one at a time: while w1 works on a row, the others stay claimable."""
    world = world_factory(CAPABILITIES["keys"])
    first = world.enqueue("AG-1")
    second = world.enqueue("AG-2")
    w2 = world.worker("w2")
    taken: list[int] = []

    def peek() -> None:
        taken.extend(
            i.id for i in w2.store.claim("w2", limit=5, lease_seconds=5, now=world.clock())
        )

    world.erp.on_steal = peek
    world.erp.inject("create", "steal")
    writeback(world.engines[0], limit=1)
    assert taken == [second.id]
    assert world.store.get_item(first.id).state is OutboxState.DELIVERED


def test_the_attempt_marker_is_kept_until_the_step_is_done(
    world_factory: Callable[..., World],
) -> None:
    world = world_factory(CAPABILITIES["lookup"])
    item = world.enqueue()
    world.erp.inject("attach", "drop_after")
    writeback(world.engines[0])
    row = world.store.get_item(item.id)
    assert set(row.attempted) == {"create", "attach:" + "ab" * 8}
    assert "create" in row.steps and not any(s.startswith("attach") for s in row.steps)
    assert row.attempted["create"] == datetime(2031, 3, 5, 12, 0, tzinfo=UTC)


def test_every_erp_call_is_bounded_by_the_lease(
    world_factory: Callable[..., World], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No call outlives the lease it works under: each write and each probe runs inside a
    wall-clock scope no longer than the (just renewed) lease minus the store's margin."""
    from munivideo.engine.leases import STORE_MARGIN_SECONDS
    from munivideo.transport import deadline

    world = world_factory(CAPABILITIES["lookup"])
    seen: dict[str, float | None] = {}
    for name in ("create_protocol", "attach_document", "forward_protocol", "find_protocol"):
        original = getattr(world.erp, name)

        def spy(*args: Any, _name: str = name, _original: Any = original) -> Any:
            seen[_name] = deadline.remaining()
            return _original(*args)

        monkeypatch.setattr(world.erp, name, spy)
    world.erp.inject("create", "drop_after")  # the next attempt probes before re-sending
    item = world.drive(world.worker("w1"), world.enqueue().id)
    assert item.state is OutboxState.DELIVERED
    limit = world.config.writeback.lease_seconds - STORE_MARGIN_SECONDS
    assert set(seen) == {"create_protocol", "attach_document", "forward_protocol", "find_protocol"}
    for name, left in seen.items():
        assert left is not None, f"{name} ran without a deadline"
        assert 0 < left <= limit, (name, left, limit)


def test_a_step_found_missing_inside_its_settle_window_is_not_replayed_as_absent(
    world_factory: Callable[..., World],
) -> None:
    """The ERP can neither deduplicate nor be asked; the create times out and the ERP commits
    it 5 s later. A person who checks at once finds nothing: "absent" is refused until the
    settle window has passed (the stateful test found the second create this allowed); after
    it the late protocol is there, and the row finishes with one create."""
    world = world_factory(CAPABILITIES["neither"])
    item = world.enqueue()
    world.erp.inject("create", "late")
    engine = world.engines[0]
    writeback(engine)
    dead = world.store.get_item(item.id)
    assert dead.state is OutboxState.FAILED
    assert world.erp.effects[(item.booking_id, "create")] == 0  # not yet
    with pytest.raises(LifecycleError) as info:
        replay(engine, item_ids=[item.id], absent=["create"], actor="ana", reason="not there")
    assert info.value.field == "absent"
    assert "2031-03-05 12:00:10 UTC" in info.value.message  # sent at 12:00:00, settle 10 s
    assert world.store.get_item(item.id).state is OutboxState.FAILED  # nothing changed
    assert "create" in world.store.get_item(item.id).attempted
    world.clock.advance(10)
    world.erp.read_booking_status("-")  # the ERP's late commit lands meanwhile
    assert world.erp.effects[(item.booking_id, "create")] == 1
    found = world.erp.protocols[0].receipt
    replay(
        engine,
        item_ids=[item.id],
        landed=["create"],
        protocol=(found.number, found.year),
        actor="ana",
        reason="found it",
    )
    final = world.drive(engine, item.id)
    assert final.state is OutboxState.DELIVERED, final.last_error
    assert world.erp.effects[(item.booking_id, "create")] == 1
