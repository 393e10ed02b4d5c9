"""Fencing tokens: a stale claim is refused even when its worker id holds the row again.

The stateful exactly-once test (``MUNIVIDEO_FUZZ=1``) shrank to this: two live processes share
one worker id (a hand-set ``--worker-id`` reused). Process 1 claims a row and stalls; process 2
starts a write-back pass, releases "its own" earlier leases (process 1's claim), claims the row
again and dies right after the ERP created the protocol. Process 1 wakes up: the row is
``in_flight`` under the same owner name, so a fence on the name alone lets it send the create a
second time. Each claim's token tells the two claims apart; the effects are counted at the ERP.
Runs on both stores.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from munivideo.engine import deliver, writeback
from munivideo.engine.results import WritebackResult
from munivideo.store import OutboxState

from ._fake_erp import Killed
from .test_exactly_once import CAPABILITIES, TENANT, World


def test_a_stale_claim_of_a_reused_worker_id_sends_nothing(tmp_path: Path, store_url: str) -> None:
    world = World(tmp_path, CAPABILITIES["lookup"], url=store_url)
    try:
        item = world.enqueue()
        first, second = world.worker("A"), world.worker("A")  # two processes, one id
        (stale,) = first.store.claim(
            "A", limit=1, lease_seconds=5, now=world.clock(), tenant_id=TENANT
        )
        world.erp.inject("create", "kill")  # the ERP commits, then process 2 dies
        with contextlib.suppress(Killed):
            writeback(second)
        assert world.erp.effects[(item.booking_id, "create")] == 1
        retaken = world.store.get_item(item.id)
        assert retaken.state is OutboxState.IN_FLIGHT and retaken.lease_owner == "A"
        assert retaken.fencing_token > stale.fencing_token

        result = WritebackResult(tenant_id=TENANT, worker="A")
        deliver(first, stale, result)  # process 1 wakes up with its old claim

        assert world.erp.effects[(item.booking_id, "create")] == 1
        assert result.lease_lost == 1 and result.delivered == 0
        assert world.store.get_item(item.id).steps == {}
        # the row's real holder is gone; once its lease runs out the row finishes, once
        world.clock.advance(6)
        final = world.drive(world.worker("A"), item.id)
        assert final.state is OutboxState.DELIVERED, final.last_error
        assert world.erp.effects[(item.booking_id, "create")] == 1
        assert world.erp.effects[(item.booking_id, "status")] == 1
    finally:
        world.close()
