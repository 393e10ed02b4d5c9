"""LGPD retention purge on both stores (the ``store`` fixture runs SQLite and PostgreSQL): the
same rows, the same cutoff, the same counts; a row changed at the cutoff is kept, one a
microsecond older is erased, and other tenants are never touched."""

from __future__ import annotations

from datetime import datetime, timedelta

from munivideo.retention import ERASED_NAME, purge
from munivideo.store import QuarantineKind, Store

from ._factories import T0, attendance, binding, entry

DAYS = 365
NOW = T0 + timedelta(days=400)
CUTOFF = NOW - timedelta(days=DAYS)
NAME = "João da Conceição"


def _delivered(store: Store, booking_id: str, at: datetime, tenant: str = "gravatai") -> int:
    """A binding saved at T0 whose attendance is recorded and delivered at ``at``."""
    store.save_binding(binding(booking_id, tenant=tenant))
    said = attendance(booking_id, tenant=tenant).model_copy(update={"summary": "CPF dito"})
    item, _ = store.enqueue(tenant, said, entry(booking_id, tenant), max_attempts=3, now=at)
    (claimed,) = store.claim("w", limit=1, lease_seconds=30, now=at, tenant_id=tenant)
    store.complete(claimed.id, "w", token=claimed.fencing_token, now=at)
    return item.id


def _world(store: Store) -> dict[str, int]:
    ids = {
        "AG-OLD": _delivered(store, "AG-OLD", T0),
        "AG-JUST-OUT": _delivered(store, "AG-JUST-OUT", CUTOFF - timedelta(microseconds=1)),
        "AG-AT-CUTOFF": _delivered(store, "AG-AT-CUTOFF", CUTOFF),
        "canoas": _delivered(store, "AG-OLD", T0, tenant="canoas"),
    }
    store.save_binding(binding("AG-BOUND"))  # synced long ago, never attended
    store.save_binding(binding("AG-PENDING"))
    item, _ = store.enqueue(
        "gravatai", attendance("AG-PENDING"), entry("AG-PENDING"), max_attempts=3, now=T0
    )
    ids["AG-PENDING"] = item.id  # old, but not delivered yet: kept, and so is its binding
    for tenant, record_id, at in [
        ("gravatai", "Q-OLD", T0),
        ("gravatai", "Q-AT-CUTOFF", CUTOFF),
        ("canoas", "Q-OLD", T0),
    ]:
        store.quarantine(
            tenant,
            QuarantineKind.BOOKING,
            record_id,
            field="citizen.cpf",
            reason="CPF 052.789.341-23 inválido",
            error_type="ValidationError",
            raw='{"cidadao": "Maria"}',
            now=at,
        )
    return ids


def _erased(store: Store, ids: dict[str, int]) -> dict[str, bool]:
    """Per row, whether its personal data is gone (read back from the store)."""
    seen: dict[str, bool] = {}
    for tenant, booking_id in [
        ("gravatai", "AG-OLD"),
        ("gravatai", "AG-JUST-OUT"),
        ("gravatai", "AG-AT-CUTOFF"),
        ("gravatai", "AG-BOUND"),
        ("gravatai", "AG-PENDING"),
        ("canoas", "AG-OLD"),
    ]:
        got = store.get_binding(tenant, booking_id)
        assert got is not None
        name = got.booking.citizen.name
        assert name in (NAME, ERASED_NAME)
        erased = seen[f"binding {tenant}/{booking_id}"] = name == ERASED_NAME
        if booking_id not in ("AG-BOUND", "AG-PENDING"):  # attendance said "CPF dito"
            assert got.attendance is not None
            assert got.attendance.summary == ("" if erased else "CPF dito")
    for key, item_id in ids.items():
        applicant = store.get_item(item_id).entry.applicant.name
        assert applicant in (NAME, ERASED_NAME)
        seen[f"outbox {key}"] = applicant == ERASED_NAME
    for tenant in ("gravatai", "canoas"):
        for q in store.list_quarantine(tenant):
            seen[f"quarantine {tenant}/{q.record_id}"] = q.raw == ""
            assert "052.789.341-23" not in q.reason or q.raw != ""
    return seen


NOTHING_ERASED = {
    "binding gravatai/AG-OLD": False,
    "binding gravatai/AG-JUST-OUT": False,
    "binding gravatai/AG-AT-CUTOFF": False,
    "binding gravatai/AG-BOUND": False,
    "binding gravatai/AG-PENDING": False,
    "binding canoas/AG-OLD": False,
    "outbox AG-OLD": False,
    "outbox AG-JUST-OUT": False,
    "outbox AG-AT-CUTOFF": False,
    "outbox canoas": False,
    "outbox AG-PENDING": False,
    "quarantine gravatai/Q-OLD": False,
    "quarantine gravatai/Q-AT-CUTOFF": False,
    "quarantine canoas/Q-OLD": False,
}


def test_purge_erases_only_what_is_older_than_the_cutoff_on_both_stores(store: Store) -> None:
    ids = _world(store)
    assert _erased(store, ids) == NOTHING_ERASED

    dry = purge(store, "gravatai", now=NOW, days=DAYS, dry_run=True)
    assert (dry.bindings, dry.outbox, dry.quarantine) == (3, 2, 1)
    assert dry.cutoff == CUTOFF
    assert _erased(store, ids) == NOTHING_ERASED

    done = purge(store, "gravatai", now=NOW, days=DAYS)
    assert (done.bindings, done.outbox, done.quarantine) == (3, 2, 1)
    assert _erased(store, ids) == {
        **NOTHING_ERASED,
        "binding gravatai/AG-OLD": True,
        "binding gravatai/AG-JUST-OUT": True,
        "binding gravatai/AG-BOUND": True,
        "outbox AG-OLD": True,
        "outbox AG-JUST-OUT": True,
        "quarantine gravatai/Q-OLD": True,
    }
    # what shows the work was done stays
    old = store.get_item(ids["AG-OLD"])
    assert old.state.value == "delivered" and old.external_reference == "munivideo:gravatai:AG-OLD"
    assert len(store.audit_trail(ids["AG-OLD"])) == 3

    again = purge(store, "gravatai", now=NOW, days=DAYS)
    assert (again.bindings, again.outbox, again.quarantine) == (0, 0, 0)
