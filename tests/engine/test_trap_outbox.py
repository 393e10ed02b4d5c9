"""trap_outbox: what recording queued, checked without delivering it."""

from __future__ import annotations

import pytest

from munivideo.engine import Engine, record
from munivideo.models import Outcome
from munivideo.testing.outbox import trap_outbox

from . import _play
from .conftest import TENANT


def test_trap_sees_exactly_what_record_queued(engine: Engine) -> None:
    attended = engine.erp.get_booking("AG-000001")
    no_show = engine.erp.get_booking("AG-000002")
    with trap_outbox(engine.store, TENANT) as trap:
        assert record(engine, _play.attended(attended), _play.form(attended)).ok
        assert record(engine, _play.citizen_no_show(no_show), _play.form(no_show)).ok
    trap.assert_count(2)
    entry = trap.assert_queued("AG-000001", outcome=Outcome.ATTENDED)
    assert entry.applicant.cpf == attended.citizen.cpf
    trap.assert_queued("AG-000002", outcome=Outcome.CITIZEN_NO_SHOW)
    with pytest.raises(AssertionError, match="queued entry differs"):
        trap.assert_queued("AG-000001", outcome=Outcome.CITIZEN_NO_SHOW)
    with pytest.raises(AssertionError, match="expected one write-back"):
        trap.assert_queued("AG-000003")

    # Recording the same attendance again queues nothing new (the outbox is idempotent).
    with trap_outbox(engine.store, TENANT) as again:
        record(engine, _play.attended(attended), _play.form(attended))
    again.assert_nothing_queued()
    with pytest.raises(AssertionError, match="expected 1"):
        again.assert_count(1)
