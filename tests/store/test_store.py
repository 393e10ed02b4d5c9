"""The store contract: every test here runs against SQLite and PostgreSQL (the ``store`` and
``store_url`` fixtures of tests/conftest.py are parametrized by store kind)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from munivideo.errors import LifecycleError, NotFoundError
from munivideo.models import Cursor, ProtocolReceipt
from munivideo.store import (
    LeaseLostError,
    OutboxState,
    QuarantineKind,
    Store,
    open_store,
)

from ._factories import T0, attendance, binding, entry


def _enqueue(store: Store, booking_id: str = "AG-1", max_attempts: int = 3) -> int:
    store.save_binding(binding(booking_id))
    item, created = store.enqueue(
        "gravatai", attendance(booking_id), entry(booking_id), max_attempts=max_attempts, now=T0
    )
    assert created
    return item.id


# -- bindings and cursors ---------------------------------------------------------------------


def test_binding_is_unique_per_tenant_and_booking(store: Store) -> None:
    store.save_binding(binding("AG-1"))
    store.save_binding(binding("AG-1").model_copy(update={"fingerprint": "f2"}))
    store.save_binding(binding("AG-1", tenant="canoas"))
    assert store.count_bindings("gravatai") == 1
    got = store.get_binding("gravatai", "AG-1")
    assert got is not None
    assert got.fingerprint == "f2"
    assert got.booking.citizen.cpf is not None
    assert store.get_binding("gravatai", "nope") is None


def test_cursor_round_trip(store: Store) -> None:
    assert store.get_cursor("gravatai") is None
    store.set_cursor("gravatai", Cursor(updated_at=T0, id="AG-9"), now=T0)
    store.set_cursor("gravatai", Cursor(updated_at=T0 + timedelta(seconds=1), id="AG-2"), now=T0)
    assert store.get_cursor("gravatai") == Cursor(updated_at=T0 + timedelta(seconds=1), id="AG-2")
    assert store.get_cursor("canoas") is None


def test_sent_messages_are_remembered(store: Store) -> None:
    assert not store.was_sent("gravatai", "k1")
    store.mark_sent("gravatai", "AG-1", "k1", "/tmp/x.eml", now=T0)
    store.mark_sent("gravatai", "AG-1", "k1", "/tmp/x.eml", now=T0)
    assert store.was_sent("gravatai", "k1")
    assert not store.was_sent("canoas", "k1")


# -- outbox -------------------------------------------------------------------------------------


def test_enqueue_needs_a_binding_and_is_atomic(store: Store) -> None:
    with pytest.raises(NotFoundError) as info:
        store.enqueue("gravatai", attendance(), entry(), max_attempts=3, now=T0)
    assert info.value.record_id == "AG-1"
    assert store.list_items("gravatai") == []


def test_enqueue_keeps_the_first_entry_and_the_attendance(store: Store) -> None:
    item_id = _enqueue(store)
    item, created = store.enqueue(
        "gravatai", attendance(), entry(summary="changed"), max_attempts=3, now=T0
    )
    assert not created
    assert item.id == item_id
    assert item.entry.summary == "ok"
    assert item.state is OutboxState.PENDING
    b = store.get_binding("gravatai", "AG-1")
    assert b is not None
    assert b.attendance is not None
    assert b.external_reference == "munivideo:gravatai:AG-1"
    trail = store.audit_trail(item_id)
    assert [(a.from_state, a.to_state) for a in trail] == [(None, OutboxState.PENDING)]


def test_a_duplicate_record_uses_up_no_outbox_id(store: Store) -> None:
    # An ignored INSERT still draws an id (SQLite AUTOINCREMENT, a PostgreSQL sequence): the
    # store looks for the row first, so ids after a duplicate stay consecutive.
    first = _enqueue(store, "AG-1")
    for _ in range(2):
        again, created = store.enqueue(
            "gravatai", attendance("AG-1"), entry("AG-1"), max_attempts=3, now=T0
        )
        assert not created and again.id == first
    assert _enqueue(store, "AG-2") == first + 1


def test_claim_leases_and_steps_then_delivers(store: Store) -> None:
    item_id = _enqueue(store)
    claimed = store.claim("w1", limit=10, lease_seconds=30, now=T0)
    assert [c.id for c in claimed] == [item_id]
    assert claimed[0].attempts == 1
    assert claimed[0].lease_owner == "w1"
    assert claimed[0].lease_expires_at == T0 + timedelta(seconds=30)
    assert store.claim("w2", limit=10, lease_seconds=30, now=T0) == []
    receipt = ProtocolReceipt(external_reference="r", number=7, year=2030, created_at=T0)
    store.record_step(item_id, "w1", "create", "7/2030", token=1, now=T0, receipt=receipt)
    store.record_step(item_id, "w1", "status", "attended", token=1, now=T0)
    with pytest.raises(LeaseLostError):
        store.record_step(item_id, "w2", "status", "x", token=1, now=T0)
    done = store.complete(item_id, "w1", token=1, now=T0)
    assert done.state is OutboxState.DELIVERED
    assert list(done.steps) == ["create", "status"]
    assert done.receipt == receipt
    b = store.get_binding("gravatai", "AG-1")
    assert b is not None
    assert b.protocol_label == "7/2030"
    with pytest.raises(LeaseLostError):
        store.complete(item_id, "w1", token=1, now=T0)


def test_not_due_rows_are_not_claimed(store: Store) -> None:
    item_id = _enqueue(store)
    store.claim("w1", limit=1, lease_seconds=30, now=T0)
    store.fail(
        item_id,
        "w1",
        token=1,
        to_state=OutboxState.PENDING,
        next_attempt_at=T0 + timedelta(seconds=60),
        error_type="TransientError",
        message="503 from ERP, token=abc123secret",
        now=T0,
    )
    assert store.claim("w1", limit=1, lease_seconds=30, now=T0 + timedelta(seconds=59)) == []
    again = store.claim("w1", limit=1, lease_seconds=30, now=T0 + timedelta(seconds=60))
    assert again[0].attempts == 2
    assert again[0].last_error is not None
    assert "abc123secret" not in again[0].last_error


def test_failed_is_a_dead_letter_and_replay_audits(store: Store) -> None:
    item_id = _enqueue(store)
    store.claim("w1", limit=1, lease_seconds=30, now=T0)
    dead = store.fail(
        item_id,
        "w1",
        token=1,
        to_state=OutboxState.FAILED,
        next_attempt_at=T0,
        error_type="RejectedError",
        message="subject unknown",
        now=T0,
    )
    assert dead.state is OutboxState.FAILED
    assert store.claim("w1", limit=1, lease_seconds=30, now=T0 + timedelta(days=1)) == []
    replayed = store.replay(
        tenant_id="gravatai", item_ids=None, actor="ops", reason="subject fixed", now=T0
    )
    assert [r.id for r in replayed] == [item_id]
    assert replayed[0].attempts == 0
    trail = store.audit_trail(item_id)
    assert trail[-1].from_state is OutboxState.FAILED
    assert trail[-1].to_state is OutboxState.PENDING
    assert trail[-1].actor == "ops"
    assert "subject fixed" in trail[-1].reason
    # a pending row cannot be "replayed": that transition is not in the table
    with pytest.raises(LifecycleError):
        store.replay(tenant_id="gravatai", item_ids=[item_id], actor="ops", reason="x", now=T0)
    with pytest.raises(NotFoundError):
        store.replay(tenant_id="canoas", item_ids=[item_id], actor="ops", reason="x", now=T0)


def test_stale_lease_is_requeued_and_the_old_holder_is_fenced(store: Store) -> None:
    item_id = _enqueue(store)
    store.claim("dead-worker", limit=1, lease_seconds=10, now=T0)
    assert store.requeue_stale(now=T0 + timedelta(seconds=9)) == 0
    status = store.status("gravatai", now=T0 + timedelta(seconds=11))
    assert status.outbox.stale_leases == 1
    assert store.requeue_stale(now=T0 + timedelta(seconds=11)) == 1
    taken = store.claim("w2", limit=1, lease_seconds=10, now=T0 + timedelta(seconds=11))
    assert [t.id for t in taken] == [item_id]
    assert taken[0].attempts == 2
    with pytest.raises(LeaseLostError):
        store.record_step(item_id, "dead-worker", "create", "late", token=1, now=T0)
    reasons = [a.reason for a in store.audit_trail(item_id)]
    assert any("dead-worker" in r and "expired" in r for r in reasons)


def test_status_counts(store: Store) -> None:
    for i in range(3):
        _enqueue(store, f"AG-{i}")
    store.claim("w", limit=1, lease_seconds=60, now=T0)
    store.quarantine(
        "gravatai",
        QuarantineKind.BOOKING,
        "AG-X",
        field="cidadao.cpfCnpj",
        reason="CPF check digits do not match",
        error_type="InvalidRecordError",
        raw='{"id": "AG-X"}',
        now=T0,
    )
    status = store.status("gravatai", now=T0)
    assert status.bindings == 3
    assert status.outbox.pending == 2
    assert status.outbox.in_flight == 1
    assert status.quarantined == 1
    assert status.outbox.next_attempt_at == T0


def test_quarantine_keeps_raw_and_counts_repeats(store: Store) -> None:
    for _ in range(2):
        q = store.quarantine(
            "gravatai",
            QuarantineKind.BOOKING,
            "AG-X",
            field="cidadao.cpfCnpj",
            reason="CPF 123.456.789-09 check digits do not match",
            error_type="InvalidRecordError",
            raw='{"cpfCnpj": "12345678909"}',
            now=T0,
        )
    assert q.occurrences == 2
    assert q.raw == '{"cpfCnpj": "12345678909"}'
    assert "123.456.789-09" not in q.reason
    assert "12345678909" not in repr(q)
    assert store.resolve_quarantine("gravatai", QuarantineKind.BOOKING, "AG-X", now=T0)
    assert store.list_quarantine("gravatai") == []
    assert len(store.list_quarantine("gravatai", include_resolved=True)) == 1


def test_concurrent_claimers_never_share_a_row(store_url: str) -> None:
    seed = open_store(store_url)
    ids = {_enqueue(seed, f"AG-{i}") for i in range(200)}
    seed.close()
    taken: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        store = open_store(store_url)
        mine: list[int] = []
        try:
            while True:
                batch = store.claim(name, limit=3, lease_seconds=60, now=T0)
                if not batch:
                    break
                mine.extend(b.id for b in batch)
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)
        finally:
            store.close()
        taken[name] = mine

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    every = [i for ids_ in taken.values() for i in ids_]
    assert sorted(every) == sorted(ids)
    assert len(every) == len(set(every))


def test_a_restarted_worker_takes_back_its_own_leases_only(store: Store) -> None:
    mine = _enqueue(store, "AG-1")
    theirs = _enqueue(store, "AG-2")
    store.claim("w1", limit=1, lease_seconds=600, now=T0)
    store.claim("w2", limit=1, lease_seconds=600, now=T0)
    assert store.release_owner("w1", now=T0) == 1
    assert store.get_item(mine).state is OutboxState.PENDING
    assert store.get_item(theirs).state is OutboxState.IN_FLIGHT
    assert store.audit_trail(mine)[-1].reason.startswith("worker restarted")


def test_list_items_pages_by_keyset(store: Store) -> None:
    ids = [_enqueue(store, f"AG-{i}") for i in range(7)]
    store.claim("w", limit=2, lease_seconds=60, now=T0)
    pages: list[list[int]] = []
    after = None
    while True:
        page = store.list_items("gravatai", limit=3, after=after)
        if not page:
            break
        pages.append([p.id for p in page])
        after = page[-1].id
    assert pages == [ids[0:3], ids[3:6], ids[6:7]]
    pending = store.list_items("gravatai", state=OutboxState.PENDING, limit=2, after=ids[2])
    assert [p.id for p in pending] == ids[3:5]
    assert store.list_items("canoas") == []


def test_outbox_counts_follow_every_transition(store: Store) -> None:
    ids = [_enqueue(store, f"AG-{i}") for i in range(4)]
    claimed = store.claim("w", limit=3, lease_seconds=10, now=T0)
    store.complete(claimed[0].id, "w", token=1, now=T0)
    store.fail(
        claimed[1].id,
        "w",
        token=1,
        to_state=OutboxState.FAILED,
        next_attempt_at=T0,
        error_type="RejectedError",
        message="no",
        now=T0,
    )
    counts = store.outbox_counts("gravatai", now=T0 + timedelta(seconds=11))
    assert (counts.pending, counts.in_flight, counts.delivered, counts.failed) == (1, 1, 1, 1)
    assert counts.stale_leases == 1
    assert counts.oldest_pending_at == T0
    assert store.requeue_stale(now=T0 + timedelta(seconds=11)) == 1
    store.replay(tenant_id="gravatai", item_ids=[claimed[1].id], actor="ops", reason="x", now=T0)
    counts = store.outbox_counts("gravatai", now=T0)
    assert (counts.pending, counts.in_flight, counts.delivered, counts.failed) == (3, 0, 1, 0)
    assert store.status("gravatai", now=T0).outbox == counts
    assert len(ids) == 4
    empty = store.outbox_counts("canoas", now=T0)
    assert (empty.pending, empty.delivered, empty.next_attempt_at) == (0, 0, None)


# -- console reads and operator actions ----------------------------------------------------------


def test_bindings_starting_is_the_servants_day(store: Store) -> None:
    from munivideo.models import Servant

    def at(booking_id: str, hours: float, servant: str | None) -> None:
        made = binding(booking_id)
        start = T0 + timedelta(hours=hours)
        moved = made.booking.model_copy(
            update={
                "start": start,
                "end": start + timedelta(minutes=30),
                "servant": Servant(registration=servant, name="Ana") if servant else None,
            }
        )
        store.save_binding(made.model_copy(update={"booking": moved}))

    at("AG-3", 5, "AF-1")
    at("AG-1", 1, "AF-1")
    at("AG-2", 2, "AF-2")
    at("AG-4", 24, "AF-1")  # the next day
    at("AG-5", 3, None)
    day = store.bindings_starting("gravatai", start=T0, end=T0 + timedelta(hours=24))
    assert [b.booking_id for b in day] == ["AG-1", "AG-2", "AG-5", "AG-3"]
    mine = store.bindings_starting(
        "gravatai", start=T0, end=T0 + timedelta(hours=24), servant_registration="AF-1"
    )
    assert [b.booking_id for b in mine] == ["AG-1", "AG-3"]
    assert store.bindings_starting("canoas", start=T0, end=T0 + timedelta(days=9)) == []


def test_item_for_booking(store: Store) -> None:
    assert store.item_for_booking("gravatai", "AG-1") is None
    item_id = _enqueue(store)
    found = store.item_for_booking("gravatai", "AG-1")
    assert found is not None and found.id == item_id
    assert store.item_for_booking("canoas", "AG-1") is None


def test_operator_requeue_and_done_elsewhere_are_audited(store: Store) -> None:
    item_id = _enqueue(store)
    later = T0 + timedelta(minutes=5)
    (claimed,) = store.claim("w1", limit=1, lease_seconds=60, now=T0)
    store.fail(
        claimed.id,
        "w1",
        token=1,
        to_state=OutboxState.PENDING,
        next_attempt_at=T0 + timedelta(hours=1),
        error_type="TransientError",
        message="busy",
        now=T0,
    )
    (item,) = store.requeue(
        tenant_id="gravatai", item_ids=[item_id], actor="rui", reason="ERP back", now=later
    )
    assert item.state is OutboxState.PENDING
    assert item.next_attempt_at == later
    assert item.attempts == 1  # kept
    assert store.audit_trail(item_id)[-1].reason == "requeue: ERP back"
    with pytest.raises(NotFoundError):
        store.requeue(tenant_id="canoas", item_ids=[item_id], actor="rui", reason="x", now=later)
    receipt = ProtocolReceipt(
        external_reference=item.external_reference, number=9, year=2026, created_at=later
    )
    with pytest.raises(LifecycleError):  # only dead letters are marked done elsewhere
        store.mark_done_elsewhere(
            item_id, tenant_id="gravatai", actor="rui", reason="x", receipt=receipt, now=later
        )
    assert len(store.claim("w1", limit=1, lease_seconds=60, now=later)) == 1
    store.fail(
        item_id,
        "w1",
        token=2,  # the row's second claim
        to_state=OutboxState.FAILED,
        next_attempt_at=later,
        error_type="RejectedError",
        message="no",
        now=later,
    )
    done = store.mark_done_elsewhere(
        item_id, tenant_id="gravatai", actor="rui", reason="by hand", receipt=receipt, now=later
    )
    assert done.state is OutboxState.DELIVERED
    assert done.receipt == receipt
    assert store.audit_trail(item_id)[-1].reason == "done elsewhere (protocol 9/2026): by hand"
    bound = store.get_binding("gravatai", "AG-1")
    assert bound is not None and bound.protocol_label == "9/2026"
    with pytest.raises(LifecycleError):
        store.requeue(tenant_id="gravatai", item_ids=[item_id], actor="rui", reason="x", now=later)
    assert store.outbox_counts("gravatai", now=later).delivered == 1


# -- write-back leases, attempt markers, settle deferrals, requeue, resolved steps -------------


def test_renew_and_mark_attempted_fence_the_lease(store: Store) -> None:
    item_id = _enqueue(store)
    store.claim("w1", limit=1, lease_seconds=10, now=T0)
    expires = store.renew_lease(
        item_id, "w1", token=1, lease_seconds=30, now=T0 + timedelta(seconds=5)
    )
    assert expires == T0 + timedelta(seconds=35)
    assert store.get_item(item_id).lease_expires_at == expires
    # not yet stale at 34 s: the renewal counted
    assert store.requeue_stale(now=T0 + timedelta(seconds=34)) == 0
    store.mark_attempted(
        item_id, "w1", "create", token=1, lease_seconds=30, now=T0 + timedelta(seconds=6)
    )
    store.mark_attempted(
        item_id, "w1", "create", token=1, lease_seconds=30, now=T0 + timedelta(seconds=7)
    )
    assert store.get_item(item_id).attempted == {"create": T0 + timedelta(seconds=7)}
    with pytest.raises(LeaseLostError):
        store.renew_lease(item_id, "w2", token=1, lease_seconds=30, now=T0)
    with pytest.raises(LeaseLostError):
        store.mark_attempted(item_id, "w2", "attach:x", token=1, lease_seconds=30, now=T0)
    assert store.release_owner("w1", now=T0 + timedelta(seconds=8)) == 1
    with pytest.raises(LeaseLostError):
        store.mark_attempted(item_id, "w1", "attach:x", token=1, lease_seconds=30, now=T0)
    assert set(store.get_item(item_id).attempted) == {"create"}


def test_a_superseded_claim_is_fenced_even_under_the_same_worker_id(store: Store) -> None:
    """Two live processes share the worker id "w": the first one's claim is released (the
    second one starting up) and the row claimed again. Every fenced method refuses the first
    claim's token, changes nothing, and names the row and the field; the second claim works."""
    item_id = _enqueue(store)
    (first,) = store.claim("w", limit=1, lease_seconds=10, now=T0)
    assert first.fencing_token == 1
    assert store.release_owner("w", now=T0) == 1
    (second,) = store.claim("w", limit=1, lease_seconds=10, now=T0)
    assert second.lease_owner == "w" and second.fencing_token == 2
    stale = first.fencing_token
    fenced = {
        "renew_lease": lambda: store.renew_lease(
            item_id, "w", token=stale, lease_seconds=60, now=T0
        ),
        "mark_attempted": lambda: store.mark_attempted(
            item_id, "w", "create", token=stale, lease_seconds=60, now=T0
        ),
        "clear_attempted": lambda: store.clear_attempted(
            item_id, "w", "create", token=stale, now=T0
        ),
        "record_step": lambda: store.record_step(
            item_id, "w", "create", "1/2030", token=stale, now=T0
        ),
        "defer": lambda: store.defer(
            item_id, "w", token=stale, next_attempt_at=T0, reason="x", now=T0
        ),
        "complete": lambda: store.complete(item_id, "w", token=stale, now=T0),
        "fail": lambda: store.fail(
            item_id,
            "w",
            token=stale,
            to_state=OutboxState.FAILED,
            next_attempt_at=T0,
            error_type="RejectedError",
            message="x",
            now=T0,
        ),
    }
    for name, call in fenced.items():
        with pytest.raises(LeaseLostError) as info:
            call()
        assert info.value.field == "fencing_token", name
        assert info.value.record_id == first.external_reference, name
    row = store.get_item(item_id)
    assert (row.state, row.lease_owner, row.fencing_token) == (OutboxState.IN_FLIGHT, "w", 2)
    assert row.lease_expires_at == second.lease_expires_at
    assert row.steps == {} and row.attempted == {}
    store.mark_attempted(item_id, "w", "create", token=2, lease_seconds=10, now=T0)
    store.record_step(item_id, "w", "create", "1/2030", token=2, now=T0)
    dead = store.fail(
        item_id,
        "w",
        token=2,
        to_state=OutboxState.FAILED,
        next_attempt_at=T0,
        error_type="RejectedError",
        message="x",
        now=T0,
    )
    assert dead.fencing_token == 2
    # tokens only grow, across replays too: the replayed row's next claim is the third
    store.replay(tenant_id="gravatai", item_ids=None, actor="a", reason="r", now=T0)
    (third,) = store.claim("w", limit=1, lease_seconds=10, now=T0)
    assert third.fencing_token == 3
    with pytest.raises(LeaseLostError):
        store.complete(item_id, "w", token=2, now=T0)
    assert store.complete(item_id, "w", token=3, now=T0).state is OutboxState.DELIVERED
    assert any("token 3" in a.reason for a in store.audit_trail(item_id))


def test_clear_defer_requeue_keep_history(store: Store) -> None:
    item_id = _enqueue(store)
    store.claim("w1", limit=1, lease_seconds=10, now=T0)
    store.mark_attempted(item_id, "w1", "create", token=1, lease_seconds=10, now=T0)
    store.mark_attempted(item_id, "w1", "status", token=1, lease_seconds=10, now=T0)
    store.clear_attempted(item_id, "w1", "status", token=1, now=T0)
    later = T0 + timedelta(seconds=30)
    item = store.defer(item_id, "w1", token=1, next_attempt_at=later, reason="settling", now=T0)
    assert item.state is OutboxState.PENDING
    assert item.attempts == 0  # waiting for a settle window is not a failed attempt
    assert item.next_attempt_at == later
    assert item.attempted == {"create": T0}
    assert store.claim("w1", limit=1, lease_seconds=10, now=T0) == []
    (requeued,) = store.requeue(
        tenant_id="gravatai", item_ids=[item_id], actor="ana", reason="ERP back", now=T0
    )
    assert requeued.next_attempt_at == T0 and requeued.attempted == {"create": T0}
    assert store.audit_trail(item_id)[-1].actor == "ana"
    store.claim("w1", limit=1, lease_seconds=10, now=T0)
    with pytest.raises(LifecycleError):
        store.requeue(tenant_id="gravatai", item_ids=[item_id], actor="a", reason="r", now=T0)
    with pytest.raises(NotFoundError):
        store.requeue(tenant_id="canoas", item_ids=[item_id], actor="a", reason="r", now=T0)


def test_resolve_step_on_a_dead_letter(store: Store) -> None:
    item_id = _enqueue(store)
    store.claim("w1", limit=1, lease_seconds=10, now=T0)
    store.mark_attempted(item_id, "w1", "create", token=1, lease_seconds=10, now=T0)
    store.mark_attempted(item_id, "w1", "attach:ab", token=1, lease_seconds=10, now=T0)
    with pytest.raises(LifecycleError):  # in flight: not for people
        store.resolve_step(item_id, "create", landed=False, actor="ana", now=T0)
    store.fail(
        item_id,
        "w1",
        token=1,
        to_state=OutboxState.FAILED,
        next_attempt_at=T0,
        error_type="UnverifiableCreateError",
        message="check",
        now=T0,
    )
    with pytest.raises(LifecycleError):  # a create found by hand needs its number
        store.resolve_step(item_id, "create", landed=True, actor="ana", now=T0)
    receipt = ProtocolReceipt(external_reference="r", number=7, year=2030, created_at=T0)
    store.resolve_step(item_id, "create", landed=True, actor="ana", now=T0, receipt=receipt)
    item = store.resolve_step(item_id, "attach:ab", landed=False, actor="ana", now=T0)
    assert item.steps == {"create": "7/2030"} and item.receipt == receipt
    assert item.attempted == {"create": T0}
    assert item.state is OutboxState.FAILED
    assert "checked in the ERP" in store.audit_trail(item_id)[-1].reason
