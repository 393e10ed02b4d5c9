"""Write-back of COUNT outcomes (200 by default) to the REST sandbox ERP, for each ERP
capability set (keys / lookup only / neither), fault-free and under ~30% mixed faults.

The sandbox runs in its own process and plays the capability set (its behaviour presets); four
write-back workers (threads, one store connection and one ERP session each) share the outbox, as
a deployment with several workers would. Every outcome has one verified document and one
forwarded demand, so each is four ERP writes (create, attach, forward, status).

Under faults every ERP call (probes included) has about a 30% chance to fail - half of those
commit in the ERP and then drop the connection, the case that makes naive integrations create
duplicates. The oracle is the sandbox's own effect counters (what it executed, not a read-back
behind a unique constraint): 0 lost effects (a ``delivered`` row missing one) and 0 duplicated
effects, for every capability set. With neither keys nor lookup, a step whose answer was lost
goes to a person (a dead letter naming what to check): those rows are counted as outcomes
"for a person", never re-sent. Setup (bindings, outcomes recorded in the outbox) is not timed.
The settle window is 1 s: the sandbox commits before it answers (no late commits here).
"""

from __future__ import annotations

import logging
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests

FAULTS = "*=drop_after_commit@0.15,*=drop@0.05,*=error:502@0.05,*=unavailable:0@0.05"
WORKERS = 4
SETS: dict[str, tuple[str, dict[str, bool]]] = {
    # label: (sandbox behaviour preset, capabilities the adapter declares)
    "keys": ("keys", {"honours_idempotency_key": True, "lookup_by_external_reference": False}),
    "lookup only": (
        "lookup_only",
        {"honours_idempotency_key": False, "lookup_by_external_reference": True},
    ),
    "neither": (
        "neither",
        {"honours_idempotency_key": False, "lookup_by_external_reference": False},
    ),
}
SHA = "ab" * 32


def _one_run(count: int, faults: str, capability_set: str) -> dict[str, Any]:
    from benchmarks.bench_sync import _config, _Server
    from munivideo.engine import build_engine, record, writeback
    from munivideo.engine.keys import booking_fingerprint
    from munivideo.invitations.calendar import booking_uid
    from munivideo.models import ForwardedDemand, Outcome, OutcomeForm, VerifiedDocument
    from munivideo.store import Binding, OutboxState
    from munivideo.values import utcnow

    server = _Server(count, "CF")
    base = server.base_url
    try:
        with tempfile.TemporaryDirectory() as tmp:
            preset, declared = SETS[capability_set]
            config = _config(base, Path(tmp))
            settings = {**config.erp.settings, "capabilities": declared}
            config = config.model_copy(
                update={
                    "erp": config.erp.model_copy(update={"settings": settings}),
                    "writeback": config.writeback.model_copy(
                        update={
                            "max_attempts": 30,
                            "backoff_base_seconds": 0.01,
                            "backoff_max_seconds": 0.2,
                            "settle_seconds": 1.0,
                        }
                    ),
                }
            )
            requests.put(f"{base}/_sandbox/behaviour", json={"preset": preset}, timeout=10)
            engines = [build_engine(config) for _ in range(WORKERS)]
            setup = engines[0]
            # Bind the bookings straight from the ERP's pages (no rooms or invitations: this
            # benchmark is about the write-back), then record one outcome each.
            cursor, now = None, utcnow()
            while True:
                page = setup.erp.list_bookings(cursor, 500)
                setup.store.save_bindings(
                    [
                        Binding(
                            tenant_id="bench",
                            booking_id=b.id,
                            booking=b,
                            fingerprint=booking_fingerprint(b),
                            invitation_uid=booking_uid("bench", b.id),
                            created_at=now,
                            updated_at=now,
                        )
                        for b in page.bookings
                    ],
                    now=now,
                )
                cursor = page.next_cursor
                if not page.has_more:
                    break
            for n in range(1, count + 1):
                form = OutcomeForm(
                    booking_id=f"BK-{n:07d}",
                    servant_registration=f"AF-{n % 10 + 1:04d}",
                    summary="Atendimento realizado.",
                    outcome=Outcome.ATTENDED,
                    documents=(VerifiedDocument(name="rg.pdf", kind="RG", sha256=SHA),),
                    demands=(ForwardedDemand(department_code="SMF-DIV", description="Parcelar."),),
                )
                assert record(setup, [], form).created
            requests.put(f"{base}/_sandbox/faults", json={"spec": faults, "seed": 42}, timeout=10)

            results: list[Any] = []
            threads = [
                threading.Thread(target=lambda e=e: results.append(writeback(e, wait_seconds=120)))
                for e in engines
            ]
            started = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            seconds = time.perf_counter() - started

            plan = requests.get(f"{base}/_sandbox/faults", timeout=10).json()
            requests.delete(f"{base}/_sandbox/faults", timeout=10)
            report = requests.get(f"{base}/_sandbox/effects", timeout=60).json()
            items = setup.store.list_items("bench", limit=count + 1)
            for engine in engines:
                engine.close()
                engine.store.close()
    finally:
        server.close()
    effects: dict[str, dict[str, int]] = report["effects"]
    states = Counter(i.state for i in items)
    lost = 0
    for item in items:
        if item.state is not OutboxState.DELIVERED:
            continue
        done = effects.get(item.external_reference, {})
        wanted = (
            done.get("create", 0),
            done.get(f"attach:{SHA}", 0),
            done.get("forward:SMF-DIV", 0),
            effects.get(item.booking_id, {}).get("status:AT", 0),
        )
        lost += sum(1 for n in wanted if n == 0)
    expected = {f"munivideo:bench:BK-{n:07d}" for n in range(1, count + 1)}
    protocol_subjects = {s for s in effects if s.startswith("munivideo:")}
    return {
        "seconds": seconds,
        "delivered": states[OutboxState.DELIVERED],
        "for_a_person": sum(
            1 for i in items if i.state is OutboxState.FAILED and "check" in (i.last_error or "")
        ),
        "left": states[OutboxState.PENDING] + states[OutboxState.IN_FLIGHT],
        "failed_other": sum(
            1
            for i in items
            if i.state is OutboxState.FAILED and "check" not in (i.last_error or "")
        ),
        "lost": lost,
        "duplicated": len(report["duplicates"]),
        "unexpected": len(protocol_subjects - expected),
        "retries": sum(r.retrying + r.settling for r in results),
        "faults_fired": sum(int(r["fired"]) for r in plan["rules"]),
    }


def main(argv: list[str] | None = None, *, smoke: bool = False) -> None:
    """``python -m benchmarks.bench_writeback [COUNT]`` (default 200 per run, six runs);
    ``smoke``: 12 outcomes, same invariants (0 lost, 0 duplicated effects)."""
    logging.getLogger("munivideo").setLevel(logging.CRITICAL)
    count = 12 if smoke else int(argv[0]) if argv else 200
    print(
        f"{'capability set':<15}{'run':<12}{'seconds':>8}{'out/s':>7}{'ratio':>7}{'faults':>8}"
        f"{'retries':>8}{'deliv.':>7}{'person':>7}{'lost':>6}{'dups':>6}"
    )
    ok = True
    for label in SETS:
        clean = _one_run(count, "", label)
        faulty = _one_run(count, FAULTS, label)
        for run, r in (("fault-free", clean), ("~30% faults", faulty)):
            outcomes = r["delivered"] + r["for_a_person"]
            ratio = (outcomes / r["seconds"]) / (count / clean["seconds"])
            print(
                f"{label:<15}{run:<12}{r['seconds']:>8.1f}{outcomes / r['seconds']:>7.0f}"
                f"{ratio:>7.2f}{r['faults_fired']:>8}{r['retries']:>8}{r['delivered']:>7}"
                f"{r['for_a_person']:>7}{r['lost']:>6}{r['duplicated']:>6}"
            )
            ok = ok and r["lost"] == r["duplicated"] == r["unexpected"] == 0
            ok = ok and r["left"] == r["failed_other"] == 0
            ok = ok and (label == "neither" or r["delivered"] == count)
        ok = ok and clean["delivered"] == count
    print(
        f"\n{WORKERS} workers; outcomes = delivered + dead letters naming what a person must "
        "check (only where the ERP can neither deduplicate nor be asked); ratio = outcomes/s "
        "against the fault-free run of the same capability set"
    )
    print("0 lost, 0 duplicated effects" if ok else "INVARIANT BROKEN")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
