"""The outbox state machine: states, allowed transitions, where each failure goes, backoff.

Modelled on an EDI exchange record: every write-back is a row with an explicit state, and a
failure is routed by :data:`FAILURE_ROUTES` (a table, not scattered ``if``s), so an operator can
read in one place what happens to a row after a timeout, a refusal or a contract violation.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from enum import StrEnum

from munivideo.errors import Recovery


class OutboxState(StrEnum):
    """Where a write-back stands; :data:`TRANSITIONS` lists the moves between states."""

    PENDING = "pending"  #: durable, waiting for its next attempt time
    IN_FLIGHT = "in_flight"  #: claimed by one worker, under a lease (owner + expiry)
    DELIVERED = "delivered"  #: every sub-step done in the ERP
    FAILED = "failed"  #: dead letter: refused, contract broken or out of attempts; replayable


TRANSITIONS: dict[OutboxState, frozenset[OutboxState]] = {
    # pending -> pending: an operator's requeue (due now), with an audit entry
    OutboxState.PENDING: frozenset({OutboxState.IN_FLIGHT, OutboxState.PENDING}),
    OutboxState.IN_FLIGHT: frozenset(
        # back to pending: transient failure, lease expired (requeue), released, or deferred
        # until a probe's "not found" can be trusted (settle window)
        {OutboxState.PENDING, OutboxState.DELIVERED, OutboxState.FAILED}
    ),
    OutboxState.DELIVERED: frozenset(),
    OutboxState.FAILED: frozenset({OutboxState.PENDING}),  # replay, with an audit entry
}
# An operator's "done elsewhere": a person did the write-back in the ERP and says which protocol.
TRANSITIONS[OutboxState.FAILED] |= {OutboxState.DELIVERED}
# An operator's requeue: a waiting row made due now (audit entry), attempts kept.
TRANSITIONS[OutboxState.PENDING] |= {OutboxState.PENDING}
"""Allowed state changes; the store refuses anything else."""

FAILURE_ROUTES: dict[Recovery, OutboxState] = {
    # surely not done, or ambiguous (the next attempt re-sends with the same idempotency key or
    # probes by external reference first): try again later
    Recovery.RETRY: OutboxState.PENDING,
    # the ERP refused the data: retrying the same payload will not help; fix and replay
    Recovery.REJECT: OutboxState.FAILED,
    # the ERP (or we) broke the contract: a developer must look; replay after the fix
    Recovery.CONTRACT: OutboxState.FAILED,
    # our configuration is wrong (bad credentials, unknown adapter): an operator must fix it
    Recovery.CONFIGURE: OutboxState.FAILED,
}
"""Which state a failed attempt goes to, by the error's recovery class. A row that runs out of
attempts goes to ``failed`` whatever the route says."""


def can_transition(old: OutboxState, new: OutboxState) -> bool:
    """Whether :data:`TRANSITIONS` allows ``old`` -> ``new``; stores refuse a move it does not
    allow with :class:`munivideo.errors.LifecycleError`."""
    return new in TRANSITIONS[old]


def route_failure(recovery: Recovery, attempts: int, max_attempts: int) -> OutboxState:
    """The state after a failed attempt number ``attempts`` (1-based)."""
    target = FAILURE_ROUTES[recovery]
    if target is OutboxState.PENDING and attempts >= max_attempts:
        return OutboxState.FAILED
    return target


def backoff_delay(
    attempts: int,
    *,
    base: float,
    cap: float,
    rng: random.Random,
    retry_after: float | None = None,
    retry_after_cap: float | None = None,
) -> float:
    """Seconds to wait before attempt ``attempts + 1``: exponential with "equal jitter".

    Half the exponential step is kept so retries never bunch at zero; the other half is random so
    many workers that failed together do not retry together. A peer's ``Retry-After`` is a floor,
    capped at ``retry_after_cap`` seconds (default: ``cap``): a peer asking for a year does not
    park a row for a year.
    """
    step = min(cap, base * (2 ** max(0, attempts - 1)))
    delay = step / 2 + rng.uniform(0, step / 2)
    if retry_after is not None:
        limit = cap if retry_after_cap is None else retry_after_cap
        delay = max(delay, min(max(retry_after, 0.0), limit))
    return float(delay)


def next_attempt_at(now: datetime, delay_seconds: float) -> datetime:
    """When a row that failed at ``now`` is due again: ``now`` plus ``delay_seconds`` (seconds,
    from :func:`backoff_delay`), in ``now``'s time zone."""
    return now + timedelta(seconds=delay_seconds)
