"""Replay and requeue: operators move rows back to work, keeping their history.

Replay moves dead letters back to ``pending`` (fresh attempt budget); requeue makes ``pending``
rows due now (a long ``Retry-After``, an ERP fixed). Neither forgets a step's attempt marker:
a step that may have landed is probed before it is re-sent. When the ERP can neither
deduplicate nor be asked, the person who checked it tells the replay what they found
(``landed`` / ``absent`` steps).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from munivideo.engine.context import Engine
from munivideo.engine.leases import settle_seconds
from munivideo.engine.results import ReplayResult
from munivideo.errors import ConfigurationError, LifecycleError
from munivideo.models import ProtocolReceipt
from munivideo.store.states import OutboxState


def replay(
    engine: Engine,
    *,
    item_ids: Sequence[int] | None = None,
    actor: str = "operator",
    reason: str = "replayed",
    landed: Sequence[str] = (),
    absent: Sequence[str] = (),
    protocol: tuple[int, int] | None = None,
) -> ReplayResult:
    """Move dead letters (all of the tenant's, or ``item_ids``) back to ``pending``.

    :param landed: steps (``create``, ``attach:<sha>``, ``forward:<i>:<dept>``, ``status``)
        a person found done in the ERP: recorded done, never sent again.
    :param absent: steps a person found missing: sent again without a probe. A step last
        sent less than the settle window ago (:func:`munivideo.engine.leases.settle_seconds`)
        is refused: the ERP may still commit that attempt, so "missing" is not yet the answer.
    :param protocol: ``(number, year)`` of the protocol found, with ``landed=["create"]``.
    :raises ConfigurationError: ``landed``/``absent`` without exactly one ``item_ids``.
    :raises LifecycleError: an ``absent`` step inside its settle window (``field="absent"``,
        the message says from when the check counts); nothing was changed.
    """
    if (landed or absent) and (item_ids is None or len(item_ids) != 1):
        raise ConfigurationError("name one outbox row to resolve steps of", field="id")
    store, now = engine.store, engine.now()
    for item_id in item_ids or ():
        if not (landed or absent):
            break
        item = store.get_item(item_id)
        _settled(engine, item.attempted, absent, item.external_reference)
        for step in landed:
            receipt = None
            if step == "create" and protocol is not None:
                receipt = ProtocolReceipt(
                    external_reference=item.external_reference,
                    booking_id=item.booking_id,
                    number=protocol[0],
                    year=protocol[1],
                    created_at=now,
                )
            store.resolve_step(item_id, step, landed=True, actor=actor, now=now, receipt=receipt)
        for step in absent:
            store.resolve_step(item_id, step, landed=False, actor=actor, now=now)
    items = store.replay(
        tenant_id=engine.tenant_id, item_ids=item_ids, actor=actor, reason=reason, now=now
    )
    return ReplayResult(tenant_id=engine.tenant_id, replayed=[i.id for i in items])


def _settled(
    engine: Engine, attempted: dict[str, datetime], absent: Sequence[str], reference: str
) -> None:
    """Refuse a person's "absent" for a step whose last attempt may still commit."""
    window = timedelta(seconds=settle_seconds(engine.erp, engine.config.writeback))
    for step in absent:
        sent = attempted.get(step)
        if sent is not None and engine.now() < sent + window:
            sent = sent.astimezone(UTC)
            raise LifecycleError(
                f"step {step} was last sent at {sent:%Y-%m-%d %H:%M:%S} UTC and the ERP may "
                f"still commit it until {sent + window:%Y-%m-%d %H:%M:%S} UTC (the settle "
                f"window): check the ERP again after that before replaying it as absent",
                record_id=reference,
                field="absent",
            )


REQUEUE_PAGE = 500
"""Rows read per store round trip when every pending row is requeued."""


def requeue(
    engine: Engine,
    item_ids: Sequence[int] | None,
    *,
    actor: str = "operator",
    reason: str = "requeued",
) -> ReplayResult:
    """Make ``pending`` rows (``item_ids``, or all of the tenant's when None) due now, keeping
    attempts, steps and attempt markers; each gets an audit entry ``requeue: <reason>``.

    :raises LifecycleError: a named row is not pending (a dead letter is replayed instead).
        With ``item_ids=None`` a row a worker claims meanwhile is left to it, not an error.
    """
    store, tid = engine.store, engine.tenant_id
    if item_ids is not None:
        items = store.requeue(
            tenant_id=tid, item_ids=item_ids, actor=actor, reason=reason, now=engine.now()
        )
        return ReplayResult(tenant_id=tid, replayed=[i.id for i in items])
    result, after = ReplayResult(tenant_id=tid), None
    while page := store.list_items(tid, state=OutboxState.PENDING, limit=REQUEUE_PAGE, after=after):
        for item in page:
            with contextlib.suppress(LifecycleError):  # claimed since it was listed
                store.requeue(
                    tenant_id=tid, item_ids=[item.id], actor=actor, reason=reason, now=engine.now()
                )
                result.replayed.append(item.id)
        after = page[-1].id
    return result
