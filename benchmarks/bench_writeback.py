"""Write-back of COUNT outcomes (1,000 by default; 2,000 with an argument) to the REST sandbox
ERP, fault-free and under ~30% faults.

The sandbox runs in its own process; four write-back workers (threads, one store connection and
one ERP session each) share the outbox, as a deployment with several workers would.

Baseline: the same 2,000 outcomes written back with no faults. Under faults every ERP call has
about a 30% chance to fail - half of those failures commit in the ERP and then drop the
connection, the case that makes naive integrations create duplicates - and the run must end
with 0 lost and 0 duplicated protocols, every booking marked attended. Setup (bindings, outcomes
recorded in the outbox) is not timed.
"""

from __future__ import annotations

import json
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


def _one_run(count: int, faults: str) -> dict[str, Any]:
    from benchmarks.bench_sync import _config, _Server
    from munivideo.engine import build_engine, record, writeback
    from munivideo.engine.keys import booking_fingerprint
    from munivideo.invitations.calendar import booking_uid
    from munivideo.models import Outcome, OutcomeForm
    from munivideo.store import Binding, OutboxState
    from munivideo.values import utcnow

    server = _Server(count, "CF")
    base = server.base_url
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = _config(base, Path(tmp))
            config = config.model_copy(
                update={
                    "writeback": config.writeback.model_copy(
                        update={
                            "max_attempts": 30,
                            "backoff_base_seconds": 0.01,
                            "backoff_max_seconds": 0.2,
                        }
                    )
                }
            )
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
                )
                assert record(setup, [], form).created
            requests.put(f"{base}/_sandbox/faults", json={"spec": faults, "seed": 42}, timeout=10)

            results: list[Any] = []
            threads = [
                threading.Thread(
                    target=lambda e=e: results.append(writeback(e, batch=10, wait_seconds=120))
                )
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
            protocols = requests.get(f"{base}/_sandbox/protocols", timeout=60).json()
            bookings = requests.get(f"{base}/_sandbox/bookings", timeout=60).json()
            delivered = len(
                setup.store.list_items("bench", state=OutboxState.DELIVERED, limit=count + 1)
            )
            for engine in engines:
                engine.close()
                engine.store.close()
    finally:
        server.close()
    refs = Counter(p["referenciaExterna"] for p in protocols)
    expected = {f"munivideo:bench:BK-{n:07d}" for n in range(1, count + 1)}
    return {
        "seconds": seconds,
        "delivered": delivered,
        "lost": len(expected - set(refs)),
        "duplicated": sum(1 for n in refs.values() if n > 1),
        "unexpected": len(set(refs) - expected),
        "attended_in_erp": Counter(b["situacao"] for b in bookings).get("AT", 0),
        "retries": sum(r.retrying for r in results),
        "faults_fired": sum(int(r["fired"]) for r in plan["rules"]),
    }


def main(argv: list[str] | None = None, *, smoke: bool = False) -> None:
    """``python -m benchmarks.bench_writeback [COUNT]`` (default 1,000; 2,000 takes ~100 s);
    ``smoke``: 20 outcomes, same invariant (0 lost, 0 duplicated)."""
    logging.getLogger("munivideo").setLevel(logging.ERROR)
    count = 20 if smoke else int(argv[0]) if argv else 1_000
    clean = _one_run(count, "")
    faulty = _one_run(count, FAULTS)
    print(
        f"{'run':<24}{'seconds':>9}{'per s':>8}{'faults':>8}{'retries':>9}{'lost':>6}"
        f"{'dups':>6}{'AT in ERP':>11}"
    )
    for label, r in (("fault-free (baseline)", clean), ("~30% faults", faulty)):
        print(
            f"{label:<24}{r['seconds']:>9.1f}{count / r['seconds']:>8.0f}{r['faults_fired']:>8}"
            f"{r['retries']:>9}{r['lost']:>6}{r['duplicated']:>6}{r['attended_in_erp']:>11}"
        )
    ratio = clean["seconds"] / faulty["seconds"]
    print(f"\n{WORKERS} workers; throughput under faults: {ratio:.2f}x of fault-free")
    ok = all(
        r["lost"] == r["duplicated"] == r["unexpected"] == 0
        and r["delivered"] == r["attended_in_erp"] == count
        for r in (clean, faulty)
    )
    print("0 lost, 0 duplicated" if ok else "INVARIANT BROKEN: " + json.dumps(faulty))
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
