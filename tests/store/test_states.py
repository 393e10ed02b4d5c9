from __future__ import annotations

import random

import pytest

from munivideo.errors import Recovery
from munivideo.store import (
    FAILURE_ROUTES,
    TRANSITIONS,
    OutboxState,
    backoff_delay,
    can_transition,
    route_failure,
)


def test_every_state_and_recovery_is_in_the_tables() -> None:
    assert set(TRANSITIONS) == set(OutboxState)
    assert set(FAILURE_ROUTES) == set(Recovery)


@pytest.mark.parametrize(
    ("old", "new", "ok"),
    [
        (OutboxState.PENDING, OutboxState.IN_FLIGHT, True),
        (OutboxState.PENDING, OutboxState.DELIVERED, False),
        (OutboxState.IN_FLIGHT, OutboxState.PENDING, True),
        (OutboxState.IN_FLIGHT, OutboxState.FAILED, True),
        (OutboxState.DELIVERED, OutboxState.PENDING, False),
        (OutboxState.FAILED, OutboxState.PENDING, True),
        (OutboxState.FAILED, OutboxState.IN_FLIGHT, False),
    ],
)
def test_transitions(old: OutboxState, new: OutboxState, ok: bool) -> None:
    assert can_transition(old, new) is ok


def test_failure_routing() -> None:
    assert route_failure(Recovery.RETRY, 1, 3) is OutboxState.PENDING
    assert route_failure(Recovery.RETRY, 3, 3) is OutboxState.FAILED
    assert route_failure(Recovery.REJECT, 1, 3) is OutboxState.FAILED
    assert route_failure(Recovery.CONTRACT, 1, 3) is OutboxState.FAILED


def test_backoff_grows_is_jittered_capped_and_honours_retry_after() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(n, base=2, cap=60, rng=rng) for n in range(1, 8)]
    for n, d in enumerate(delays, start=1):
        step = min(60, 2 * 2 ** (n - 1))
        assert step / 2 <= d <= step
    assert len({round(d, 6) for d in delays}) == len(delays)
    assert backoff_delay(1, base=2, cap=60, rng=rng, retry_after=30) == 30
    assert backoff_delay(1, base=2, cap=60, rng=rng, retry_after=0.1) <= 2
