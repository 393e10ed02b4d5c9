"""Exactly-once delivery of one message through one notifier, as far as the notifier allows.

A send and its durable mark cannot be one transaction, so a crash or a full disk between them
would send the invitation again on the next run. Each delivery is therefore marked *pending*
before the send and *sent* after it; what a later run does with a pending mark is a decision
of the notifier's kind (:data:`ON_PENDING`):

==========================  =================================================================
pending mark found and ...  next run
==========================  =================================================================
the notifier dedupes        send again: the peer drops the repeat (same file name, the
                            webhook's ``Idempotency-Key``), so the message exists once
the notifier cannot dedupe  do not send; count it ``unconfirmed`` and log it (at most once:
                            an operator checks, rather than the citizen getting it twice)
==========================  =================================================================

A failure that surely sent nothing (:class:`~munivideo.errors.TransientError` that is not
ambiguous, or a refusal) clears the pending mark, so the next run sends normally.
"""

from __future__ import annotations

import logging
from typing import Literal

from munivideo.engine.context import Engine
from munivideo.errors import AmbiguousError, MunivideoError
from munivideo.models import OutboundMessage
from munivideo.ports import Notifier

log = logging.getLogger("munivideo.engine.delivery")

Outcome = Literal["sent", "already", "unconfirmed"]
PENDING_PREFIX = "pending:"
"""Key prefix of the mark written before a send (in the store's sent-message table)."""
UNCONFIRMED_REFERENCE = "unconfirmed"
"""Receipt reference of a delivery that may have happened but was never confirmed."""

ON_PENDING: dict[bool, Literal["resend", "hold"]] = {True: "resend", False: "hold"}
"""Pending mark found: ``notifier.dedupes`` -> what to do (see the module's table)."""


def dedupes(notifier: Notifier) -> bool:
    """Whether the notifier's peer drops a repeated message (attribute ``dedupes``)."""
    return bool(getattr(notifier, "dedupes", False))


def deliver(engine: Engine, notifier: Notifier, message: OutboundMessage) -> Outcome:
    """Send ``message`` through ``notifier`` at most once per idempotency key (exactly once for
    notifiers that dedupe). Returns what happened; re-raises the notifier's typed errors."""
    store, tenant_id = engine.store, engine.tenant_id
    key = f"{message.idempotency_key}:{notifier.name}"
    if store.was_sent(tenant_id, key):
        return "already"
    pending = PENDING_PREFIX + key
    if store.was_sent(tenant_id, pending):
        if ON_PENDING[dedupes(notifier)] == "hold":
            log.warning(
                "booking %s: a send through %s may have happened without its mark; not sent "
                "again (check the recipient got it)",
                message.booking_id,
                notifier.name,
            )
            store.mark_sent(
                tenant_id, message.booking_id, key, UNCONFIRMED_REFERENCE, now=engine.now()
            )
            return "unconfirmed"
    else:
        store.mark_sent(tenant_id, message.booking_id, pending, "", now=engine.now())
    try:
        receipt = notifier.send(message)
    except MunivideoError as exc:
        if not isinstance(exc, AmbiguousError):
            store.forget_sent(tenant_id, pending)  # surely not sent: a normal retry later
        raise
    engine.crash.hit("after_send")
    store.mark_sent(tenant_id, message.booking_id, key, receipt.reference, now=engine.now())
    return "sent"
